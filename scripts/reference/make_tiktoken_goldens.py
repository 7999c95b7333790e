#!/usr/bin/env python3
"""Token ids for OpenAI's cl100k_base from PyPI tiktoken, for tests/tokenizer/tiktoken_vocab_test.cpp.

Builds the Encoding from the local rank file ../shared/tokenizers/cl100k_base.tiktoken.xz (no download) with
cl100k_base's split pattern and special tokens as tiktoken_ext/openai_public.py defines them, encodes the shared
golden corpus (../shared/goldens/llama3.inp) plus extra strings, and writes tests/tokenizer/data/cl100k_goldens.json:
per string `ids` (special tokens parsed: allowed_special="all"), `ids_ordinary` (encode_ordinary: special-token
text is plain text) and `roundtrip_ok` (decode(ids) == text).

Run once (needs PyPI tiktoken):  python3 scripts/reference/make_tiktoken_goldens.py
"""
import json
import lzma
import os
import tempfile

import tiktoken
from tiktoken.load import load_tiktoken_bpe

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHARED = os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "tests", "tokenizer", "data", "cl100k_goldens.json")

# tiktoken_ext/openai_public.py, cl100k_base().
CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
                  r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
CL100K_SPECIALS = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                   "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}

EXTRA = [
    "<|endoftext|>", "a<|endoftext|>b", "<|fim_prefix|>def f(<|fim_suffix|>)<|fim_middle|>", "<|endofprompt|> x",
    "<|im_start|>user\nhi<|im_end|>", "<|endoftext", "endoftext|>", "   \n\n\t  x  \n", "x" * 300,
    "1234567890 12 123 1234 3.14159", "I'm you're they'LL WE'VE it'S", "\U0001F600\U0001F468\u200d\U0001F469 \U00010348",
    "\u00e9\u0301 \uac00\u11a8 \u0915\u094d\u0937", "\u4f60\u597d\u4e16\u754c\u3002\u3053\u3093\u306b\u3061\u306f",
    "tabs\tand\r\nCRLF\rCR", "trailing spaces   ", "    indented code\n        more", "\u00a0\u2003\u3000 odd spaces",
]


def read_corpus():
    with open(os.path.join(SHARED, "goldens", "llama3.inp"), "rb") as f:
        return f.read().decode("utf-8").split("\n__ggml_vocab_test__\n")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cl100k_base.tiktoken")
        with lzma.open(os.path.join(SHARED, "tokenizers", "cl100k_base.tiktoken.xz")) as src, open(path, "wb") as dst:
            dst.write(src.read())
        ranks = load_tiktoken_bpe(path)
    enc = tiktoken.Encoding("cl100k_base", pat_str=CL100K_PATTERN, mergeable_ranks=ranks,
                            special_tokens=CL100K_SPECIALS)
    cases = []
    for text in read_corpus() + EXTRA:
        ids = enc.encode(text, allowed_special="all")
        cases.append({"text": text, "ids": ids, "ids_ordinary": enc.encode_ordinary(text),
                      "roundtrip_ok": enc.decode_bytes(ids) == text.encode("utf-8")})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"tiktoken_version": tiktoken.__version__, "cases": cases}, f, ensure_ascii=True, indent=0)
    print(f"tiktoken {tiktoken.__version__}: {len(cases)} strings -> {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
