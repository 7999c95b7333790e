#!/usr/bin/env python3
"""A SentencePiece-style Hugging Face tokenizer.json (Llama 2's form) built from llama.cpp's Llama-2 vocab GGUF.

There is no SPM tokenizer.json in ../shared, so this script makes one the way transformers' LlamaConverter does
(SentencePieceExtractor merges, BPE with byte_fallback and fuse_unk, Prepend + Replace normalizer, the
Replace / ByteFallback / Fuse / Strip decoder, a TemplateProcessing post-processor adding <s>), checks that HF
`tokenizers` on it reproduces llama.cpp's transformers-made ids in ggml-vocab-llama-spm.gguf.inp/.out (the fixture
is only valid when all match), and writes

    tests/tokenizer/data/llama_spm_tokenizer.json.xz     the tokenizer.json
    tests/tokenizer/data/llama_spm_goldens.json          more strings, encoded by HF tokenizers (with and without
                                                         special-token parsing, with BOS) and decoded again

Run once (needs PyPI gguf and tokenizers):  python3 scripts/reference/make_spm_tokenizer_json.py
"""
import json
import lzma
import os
import sys

import gguf
import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHARED = os.path.join(ROOT, "..", "shared")
GGUF_PATH = os.path.join(SHARED, "vocab-gguf", "ggml-vocab-llama-spm.gguf")
OUT_DIR = os.path.join(ROOT, "tests", "tokenizer", "data")


def read_vocab(path):
    reader = gguf.GGUFReader(path)

    def array(key):
        field = reader.fields[key]
        return [field.parts[i] for i in field.data]

    tokens = [bytes(p).decode("utf-8") for p in array("tokenizer.ggml.tokens")]
    scores = [float(p[0]) for p in array("tokenizer.ggml.scores")]
    types = [int(p[0]) for p in array("tokenizer.ggml.token_type")]
    return tokens, scores, types


def extract_merges(vocab, scores):
    """transformers' SentencePieceExtractor.extract(vocab_scores): every split of a piece into two vocabulary
    pieces is a merge, ordered by the piece's score (highest first), ties by the ids of the two halves."""
    merges = []
    for piece, score in scores:
        local = []
        for i in range(1, len(piece)):
            left, right = piece[:i], piece[i:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [(m[0], m[1]) for m in merges]


def build_tokenizer(tokens, scores, types):
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = extract_merges(vocab, list(zip(tokens, scores)))
    bpe = models.BPE(vocab, merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True, dropout=None)
    tok = Tokenizer(bpe)
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.pre_tokenizer = None
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    # Control tokens (<unk>, <s>, </s>) are added tokens, as in Llama 2's tokenizer.json.
    control = [AddedToken(t, normalized=False, special=True) for t, ty in zip(tokens, types) if ty in (2, 3)]
    tok.add_special_tokens(control)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", vocab["<s>"])])
    return tok


def read_cases(inp, out):
    with open(inp, "rb") as f:
        texts = f.read().decode("utf-8").split("\n__ggml_vocab_test__\n")
    with open(out, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, lines)]


EXTRA_TEXTS = [
    "", " ", "  ", "\t", "\n", "Hello world", " Hello world", "Hello  world   with   spaces",
    "   leading and trailing   ", "line one\nline two\n\nline four\n", "tabs\tand\r\nwindows newlines",
    "\u00dcmlaut caf\u00e9 na\u00efve fa\u00e7ade", "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "emoji \U0001F600\U0001F680\U0001F44D\U0001F3FD family \U0001F468\u200d\U0001F469\u200d\U0001F467 flag \U0001F1E9\U0001F1EA",
    "astral \U00010348 \U0001D11E \U00020000 \U0002A6D6 \U000E0041", "private use \ue000\uf8ff \U000F0000",
    "rare \u2fd5 \u31ef \ua9c1 \u16a0\u16a1 \u1f00 \u0f00", "combining e\u0301 a\u0308 n\u0303 \u1100\u1161\u11a8",
    "zero width \u200b\u200c\u200d\ufeff joiner", "nbsp\u00a0here and\u2009thin\u3000ideographic",
    "numbers 0 1 12 123 1234 12345 3.14159 -42 1e10 0x1F", "punctuation !!! ??? ... --- ,,, ;;; ::",
    "code: def f(x):\n    return x ** 2  # square\n", "int main() { printf(\"%d\\n\", 42); return 0; }",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>", "{\"key\": [1, 2, {\"nested\": null}]}",
    "special <s> and </s> and <unk> inline", "<s>at start", "ends with </s>", " <s> spaced </s> ",
    "<s><s></s></s>", "not special <S> < s> <s > </ s>", "byte tokens <0x41> <0x0A> literal",
    "\u2581already\u2581escaped \u2581\u2581", "control \x01\x02\x1f\x7f chars", "bell\x07 and form\x0cfeed",
    "URL https://example.com/path?q=1&b=two#frag", "email someone@example.org", "can't won't I'm you're they've",
    "ALL CAPS SHOUTING", "MiXeD CaSe WoRdS", "a" * 50, " " * 20 + "x", "\n\n\n\n", "\r\r\n\n\r",
    "\U0001F9D1\U0001F3FF\u200d\U0001F4BB developer", "\u00e9\u00e8\u00ea\u00eb \u0153\u00e6 \u00df \u0131 \u0130",
    "math \u2200x\u2208\u211d: x\u00b2 \u2265 0, \u2211 \u222b \u221e \u2248 \u2260", "box \u2500\u2502\u250c\u2510 \u2588\u2591",
    "replacement \ufffd char", "noncharacters \ufdd0 \uffff \U0001FFFF", "tibetan \u0f40\u0f72\u0f0b",
]


def main():
    print(f"tokenizers {tokenizers.__version__}, gguf from {gguf.__file__}")
    tokens, scores, types = read_vocab(GGUF_PATH)
    tok = build_tokenizer(tokens, scores, types)

    bad = 0
    cases = read_cases(GGUF_PATH + ".inp", GGUF_PATH + ".out")
    for i, (text, expected) in enumerate(cases):
        got = tok.encode(text, add_special_tokens=False).ids
        if got != expected:
            bad += 1
            print(f"MISMATCH #{i} {text!r}\n  llama.cpp/transformers {expected}\n  tokenizers             {got}")
    print(f"ggml-vocab-llama-spm.gguf.inp: {len(cases) - bad}/{len(cases)} identical")
    if bad:
        sys.exit("the fixture does not reproduce the reference ids; not written")

    goldens = []
    for text in [c[0] for c in cases] + EXTRA_TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        goldens.append({
            "text": text,
            "ids": ids,
            "ids_with_bos": tok.encode(text, add_special_tokens=True).ids,
            "decoded": tok.decode(ids, skip_special_tokens=False),
        })
    # split_special_tokens=True: special-token texts are plain text.
    tok.encode_special_tokens = True
    for g in goldens:
        g["ids_no_special"] = tok.encode(g["text"], add_special_tokens=False).ids
    tok.encode_special_tokens = False

    os.makedirs(OUT_DIR, exist_ok=True)
    with lzma.open(os.path.join(OUT_DIR, "llama_spm_tokenizer.json.xz"), "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(tok.to_str(pretty=False).encode("utf-8"))
    with open(os.path.join(OUT_DIR, "llama_spm_goldens.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizers_version": tokenizers.__version__, "cases": goldens}, f, ensure_ascii=True, indent=0)
    print(f"wrote {len(goldens)} goldens and the tokenizer.json to {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
