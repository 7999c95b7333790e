#!/usr/bin/env python3
"""Live tokenizer parity: frugal against Hugging Face `tokenizers` (and `tiktoken` when installed) on a seeded corpus.

Run by ctest (tests/CMakeLists.txt registers it as tokenizer_live_parity). For every tokenizer.json in
../shared/tokenizers, the SentencePiece-style fixture tests/tokenizer/data/llama_spm_tokenizer.json.xz and two
Metaspace variants of it, it encodes a deterministic corpus of >= 2,000 strings (English, code, multilingual text,
whitespace runs, digits, special-token text, random Unicode including astral planes and combining marks) with
Hugging Face and with ONE `frugal tokenize --jsonl` process per tokenizer and mode, and requires identical ids:

  mode "special":    add_special_tokens=False, special tokens parsed       (frugal: default)
  mode "nospecial":  add_special_tokens=False, encode_special_tokens=True  (frugal: --no-parse-special)
  mode "add":        add_special_tokens=True  (BOS/EOS as tokenizer_config.json's add_bos_token/add_eos_token ask,
                     as transformers applies them; frugal: --add-special)

cl100k_base.tiktoken is compared with tiktoken (allowed_special="all" / encode_ordinary) when tiktoken imports.
Exit 0: all identical; 1: a mismatch (the first ones are printed); 77: `tokenizers` is not installed (ctest SKIP).
"""
import argparse
import json
import lzma
import os
import random
import shutil
import subprocess
import sys
import time

SKIP = 77
SEED = 20261129


def english(rng):
    words = ("the of and to in is was he for it with as his on be at by had not are but from or have an they which "
             "one you were her all she there would their we him been has when who will more no if out so said what up "
             "its about into than them can only other new some could time these two may then do first any my now "
             "such like our over man me even most made after also did many before must through back years where much "
             "your way well down should because each just those people Mr how too little state good very make world "
             "still own see men work long get here between both life being under never day same another know while "
             "last might us great old year off come since against go came right used take three tokenizer parity "
             "Hugging Face llama.cpp frugal").split()
    n = rng.randint(1, 30)
    out = []
    for i in range(n):
        w = rng.choice(words)
        if i == 0 or rng.random() < 0.08:
            w = w.capitalize()
        if rng.random() < 0.03:
            w = w.upper()
        if rng.random() < 0.05:
            w += rng.choice(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL"])
        out.append(w)
        if rng.random() < 0.12:
            out[-1] += rng.choice([",", ".", ";", ":", "!", "?", "...", " -", ")", "\""])
    text = " ".join(out)
    return text + rng.choice(["", ".", "!", "?", "\n", " ", "  ", ".\n\n"])


CODE = [
    "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }", "x = [1, 2, 3]\nprint(x[::-1])",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;", "<div class=\"a\">&nbsp;&lt;b&gt;</div>",
    "{\"key\": [1, 2.5, true, null, {\"nested\": \"value\"}]}", "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
    "if [ -f \"$FILE\" ]; then echo \"ok\" >&2; fi", "    indented\n        twice\n\t\ttabs\n", "a+=b*c/d%e^f|g&h~i",
    "const re = /^[a-z0-9_-]{3,16}$/i;", "// comment\n/* block */\n/** doc */", "lambda x: x if x else None",
    "https://example.com/path?q=1&b=two#frag", "user@example.org", "C:\\Windows\\System32\\drivers",
    "std::vector<std::string> v{\"a\", \"b\"};", "    return self.__dict__['_x']\n\n\n", "0x1F 0b1010 1e-9 3.14f 1_000_000",
]

MULTI = [
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002", "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",
    "\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u0436\u0438\u043a", "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0", "\u0532\u0561\u0580\u0565\u0582", "\u1230\u120b\u121d",
    "Gr\u00fc\u00dfe aus K\u00f6ln, stra\u00dfe", "fa\u00e7ade na\u00efve r\u00e9sum\u00e9 co\u00f6perate", "\u0130stanbul \u0131\u015f\u0131k",
    "Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u", "\u0f56\u0f7c\u0f51\u0f0b\u0f61\u0f72\u0f42", "\u1780\u1798\u17d2\u1796\u17bb\u1787\u17b6",
    "\u0cb8\u0cbe\u0cb9\u0cbf\u0ca4\u0ccd\u0caf", "\u0d2e\u0d32\u0d2f\u0d3e\u0d33\u0d02", "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd",
    "\U0001F600\U0001F680\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",
    "\U0001F1E9\U0001F1EA\U0001F1EF\U0001F1F5", "\u2764\ufe0f \u263a\ufe0e \u0031\ufe0f\u20e3",
    "math \u2200x\u2208\u211d: x\u00b2 \u2265 0, \u2211 \u222b \u221e", "\u212b \u2126 \u00c5 \u03a9 \ufb01 \u2460 \uff21\uff22",
    "e\u0301 a\u0308 n\u0303 o\u0302\u0323 \u1100\u1161\u11a8 \u1112\u1161\u11ab",
]

WHITESPACE = [" ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c",
              "\u2009", "\u200b", "\ufeff", "\u1680", "\u202f"]

RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x250, 0x2FF), (0x300, 0x36F), (0x370, 0x52F), (0x530, 0x10FF),
          (0x1100, 0x11FF), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x1E00, 0x1FFF), (0x2000, 0x2BFF),
          (0x20D0, 0x20FF), (0x2E80, 0x2FDF), (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
          (0xA000, 0xABFF), (0xAC00, 0xD7A3), (0xE000, 0xF8FF), (0xF900, 0xFFFD), (0xFE00, 0xFE0F),
          (0x10000, 0x1FFFF), (0x1F300, 0x1FAFF), (0x20000, 0x2FFFF), (0x30000, 0x3134F), (0xE0000, 0xE01EF),
          (0xF0000, 0x10FFFF)]


# Blocks assigned in Unicode 10..16, where Unicode versions of the normalizer, the regex engine and PCRE2 differ.
RECENT = [(0x0860, 0x089F), (0x1AB0, 0x1AFF), (0x1DF00, 0x1DFFF), (0x10D40, 0x10D8F), (0x10EC0, 0x10EFF),
          (0x11F00, 0x11F5F), (0x13460, 0x143FF), (0x16D40, 0x16D7F), (0x1CC00, 0x1CEBF), (0x1E030, 0x1E08F),
          (0x1E4D0, 0x1E4FF), (0x1E5D0, 0x1E5FF), (0x1FA70, 0x1FAFF), (0x2B740, 0x2B81F), (0x2CEB0, 0x2EBEF),
          (0x2EBF0, 0x2EE5F), (0x31350, 0x323AF), (0x1DF9, 0x1DFF), (0x11900, 0x1195F), (0x1E290, 0x1E2FF)]


def recent_unicode(rng):
    words = []
    for _ in range(rng.randint(1, 6)):
        lo, hi = rng.choice(RECENT)
        word = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.3:
            word = rng.choice(["a", "e", "你", "1", "!"]) + word + chr(rng.randint(0x300, 0x36F))
        words.append(word)
    return rng.choice([" ", "", "  ", "\n", ". "]).join(words)


def random_unicode(rng):
    out = []
    for _ in range(rng.randint(1, 24)):
        lo, hi = rng.choice(RANGES)
        c = rng.randint(lo, hi)
        if 0xD800 <= c <= 0xDFFF:
            c = 0xFFFD
        out.append(chr(c))
        if rng.random() < 0.15:
            out.append(chr(rng.randint(0x300, 0x36F)))  # stacked combining marks
        if rng.random() < 0.1:
            out.append(rng.choice(WHITESPACE))
    return "".join(out)


def corpus(shared, specials):
    rng = random.Random(SEED)
    texts = []
    with open(os.path.join(shared, "goldens", "corpus.json"), encoding="utf-8") as f:
        data = json.load(f)
    for item in data if isinstance(data, list) else data.get("strings", data.get("cases", [])):
        texts.append(item["text"] if isinstance(item, dict) else item)
    with open(os.path.join(shared, "vocab-gguf", "ggml-vocab-llama-spm.gguf.inp"), "rb") as f:
        texts += f.read().decode("utf-8").split("\n__ggml_vocab_test__\n")
    texts += CODE + MULTI
    for _ in range(500):
        texts.append(english(rng))
    for _ in range(200):
        texts.append(rng.choice(CODE) * rng.randint(1, 3))
    for _ in range(200):
        texts.append(" ".join(rng.choice(MULTI) for _ in range(rng.randint(1, 4))))
    for _ in range(200):
        texts.append("".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 12))) +
                     rng.choice(["", "x", "word", "\u4f60", "1"]) + "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(0, 5))))
    for _ in range(150):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 25)))
        texts.append(rng.choice(["", "x", " ", "$", "-"]) + digits + rng.choice(["", ".", ",5", " apples", "\u00b2"]))
    specials = sorted(specials)
    for _ in range(250):
        parts = []
        for _ in range(rng.randint(1, 6)):
            r = rng.random()
            if r < 0.4 and specials:
                parts.append(rng.choice(specials))
            elif r < 0.7:
                parts.append(english(rng))
            else:
                parts.append(rng.choice(WHITESPACE))
        texts.append(rng.choice(["", " "]).join(parts))
    for _ in range(500):
        texts.append(random_unicode(rng))
    for _ in range(300):
        texts.append(recent_unicode(rng))
    for _ in range(100):
        texts.append(english(rng) + random_unicode(rng) + rng.choice(CODE) + rng.choice(MULTI))
    texts += ["", " ", "\x00", "a\x00b", "\x01\x02\x1f\x7f", "\U0010FFFF", "\ufffd", "\u2581", "\u2581\u2581 x"]
    return texts


def decompress(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with lzma.open(src) as f, open(dst, "wb") as out:
        shutil.copyfileobj(f, out)


def prepare_tokenizers(shared, fixtures, scratch):
    """name -> folder holding tokenizer.json (and tokenizer_config.json where the original has one)."""
    dirs = {}
    root = os.path.join(shared, "tokenizers")
    for name in sorted(os.listdir(root)):
        src = os.path.join(root, name)
        if not os.path.isfile(os.path.join(src, "tokenizer.json.xz")):
            continue
        dst = os.path.join(scratch, name)
        decompress(os.path.join(src, "tokenizer.json.xz"), os.path.join(dst, "tokenizer.json"))
        if os.path.exists(os.path.join(src, "tokenizer_config.json")):
            shutil.copy(os.path.join(src, "tokenizer_config.json"), os.path.join(dst, "tokenizer_config.json"))
        dirs[name] = dst
    spm = os.path.join(scratch, "llama_spm")
    decompress(os.path.join(fixtures, "llama_spm_tokenizer.json.xz"), os.path.join(spm, "tokenizer.json"))
    dirs["llama_spm"] = spm
    # Metaspace variants of the fixture (Mistral / TinyLlama-style tokenizer.json files).
    with open(os.path.join(spm, "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)
    variants = {
        "llama_spm_metaspace_first": ({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                                       "split": False},
                                      {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                                       "split": False}),
        "llama_spm_metaspace_always_split": ({"type": "Metaspace", "replacement": "\u2581",
                                              "prepend_scheme": "always", "split": True},
                                             {"type": "Sequence", "decoders": [
                                                 {"type": "ByteFallback"},
                                                 {"type": "Metaspace", "replacement": "\u2581",
                                                  "prepend_scheme": "always", "split": True}]}),
    }
    lowercase = {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "NFKC"},
                                                     {"type": "Strip", "strip_left": False, "strip_right": True}]}
    variants["llama_spm_lowercase_nfkc_strip"] = (variants["llama_spm_metaspace_first"][0],
                                                  variants["llama_spm_metaspace_first"][1], lowercase)
    for name, (pre, decoder, *normalizer) in variants.items():
        j = dict(base)
        j["normalizer"] = normalizer[0] if normalizer else None
        j["pre_tokenizer"] = pre
        j["decoder"] = decoder
        dst = os.path.join(scratch, name)
        os.makedirs(dst, exist_ok=True)
        with open(os.path.join(dst, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False)
        dirs[name] = dst
    return dirs


def run_frugal(frugal, model, texts, flags, scratch):
    path = os.path.join(scratch, "corpus.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t, ensure_ascii=True) + "\n")
    proc = subprocess.run([frugal, "tokenize", "-m", model, "--jsonl", path] + flags, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"frugal failed on {model}: {proc.stderr.decode(errors='replace')}")
    lines = proc.stdout.decode().splitlines()
    ids = [json.loads(line) for line in lines]
    if len(ids) != len(texts):
        raise RuntimeError(f"frugal printed {len(ids)} lines for {len(texts)} strings")
    return ids


def hf_add_special_ids(tok, config, texts):
    """add_special_tokens=True as transformers applies it: tokenizer_config.json's add_bos_token / add_eos_token
    override a post-processor that does not add them."""
    encs = [e.ids for e in tok.encode_batch(texts, add_special_tokens=True)]
    bos_text = config.get("bos_token")
    eos_text = config.get("eos_token")
    bos_text = bos_text.get("content") if isinstance(bos_text, dict) else bos_text
    eos_text = eos_text.get("content") if isinstance(eos_text, dict) else eos_text
    empty = tok.encode("", add_special_tokens=True).ids
    bos = tok.token_to_id(bos_text) if bos_text else None
    eos = tok.token_to_id(eos_text) if eos_text else None
    if config.get("add_bos_token") and bos is not None and not empty[:1] == [bos]:
        encs = [[bos] + e for e in encs]
    if config.get("add_eos_token") and eos is not None and not empty[-1:] == [eos]:
        encs = [e + [eos] for e in encs]
    return encs


def compare(label, texts, expected, got, failures):
    bad = [i for i in range(len(texts)) if expected[i] != got[i]]
    print(f"  {label:<52} {len(texts) - len(bad)}/{len(texts)} identical")
    for i in bad[:5]:
        failures.append(f"{label} #{i} {texts[i]!r}\n    reference {expected[i]}\n    frugal    {got[i]}")
    return len(bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frugal", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--fixtures", required=True, help="tests/tokenizer/data")
    ap.add_argument("--scratch", required=True)
    args = ap.parse_args()
    try:
        import tokenizers
        from tokenizers import Tokenizer
    except ImportError:
        print("SKIPPED: the PyPI package `tokenizers` is not installed (scripts/install_deps.sh installs it)")
        return SKIP
    start = time.time()
    os.makedirs(args.scratch, exist_ok=True)
    dirs = prepare_tokenizers(args.shared, args.fixtures, args.scratch)
    loaded = {name: Tokenizer.from_file(os.path.join(d, "tokenizer.json")) for name, d in dirs.items()}
    specials = set()
    for tok in loaded.values():
        specials.update(t.content for t in tok.get_added_tokens_decoder().values())
    specials.update(["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"])
    texts = corpus(args.shared, specials)
    print(f"live parity: {len(texts)} strings, tokenizers {tokenizers.__version__}")
    assert len(texts) >= 2000

    total_bad = 0
    failures = []
    for name, d in dirs.items():
        tok = loaded[name]
        config_path = os.path.join(d, "tokenizer_config.json")
        config = json.load(open(config_path, encoding="utf-8")) if os.path.exists(config_path) else {}
        tok.encode_special_tokens = False
        special = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        add = hf_add_special_ids(tok, config, texts)
        tok.encode_special_tokens = True
        nospecial = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        tok.encode_special_tokens = False
        for mode, expected, flags in (("special", special, []), ("nospecial", nospecial, ["--no-parse-special"]),
                                      ("add", add, ["--add-special"])):
            got = run_frugal(args.frugal, d, texts, flags, args.scratch)
            total_bad += compare(f"{name} [{mode}] vs tokenizers", texts, expected, got, failures)

    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError:
        tiktoken = None
        print("  cl100k_base: tiktoken is not installed, not compared")
    if tiktoken is not None:
        path = os.path.join(args.scratch, "cl100k_base.tiktoken")
        decompress(os.path.join(args.shared, "tokenizers", "cl100k_base.tiktoken.xz"), path)
        pattern = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
                   r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
        enc = tiktoken.Encoding("cl100k_base", pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(path),
                                special_tokens={"<|endoftext|>": 100257, "<|fim_prefix|>": 100258,
                                                "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                                                "<|endofprompt|>": 100276})
        expected = [enc.encode(t, allowed_special="all") for t in texts]
        got = run_frugal(args.frugal, path, texts, [], args.scratch)
        total_bad += compare(f"cl100k_base [special] vs tiktoken {tiktoken.__version__}", texts, expected, got,
                             failures)
        expected = [enc.encode_ordinary(t) for t in texts]
        got = run_frugal(args.frugal, path, texts, ["--no-parse-special"], args.scratch)
        total_bad += compare("cl100k_base [nospecial] vs tiktoken", texts, expected, got, failures)

    print(f"live parity: {total_bad} mismatches, {time.time() - start:.1f} s")
    for f in failures[:40]:
        print(f)
    return 1 if total_bad else 0


if __name__ == "__main__":
    sys.exit(main())
