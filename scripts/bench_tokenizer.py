#!/usr/bin/env python3
"""Single-thread encode throughput (MB/s) of frugal against Hugging Face `tokenizers` on the same text, for each
tokenizer.json in ../shared/tokenizers (issue 5). Also checks that both give the same ids.

The text (default 10 MB) is assembled deterministically from what every Debian machine has: Python's standard
library sources (code with English comments), the license texts in /usr/share/common-licenses (English prose)
and the multilingual strings of ../shared/goldens/corpus.json (CJK, Cyrillic, Arabic, emoji, ...), interleaved
in chunks so that no kind of text sits in one block.

    python3 scripts/bench_tokenizer.py --frugal build/bin/frugal [--mb 10] [--json-out F]

frugal's time is its own encode call (`frugal tokenize --file --stats`, the vocabulary already loaded); the HF
time is `Tokenizer.encode` on the same string with TOKENIZERS_PARALLELISM=false. Best of 3 each.
"""
import argparse
import glob
import json
import lzma
import os
import random
import re
import subprocess
import sys
import tempfile
import time

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")


def assemble(total_bytes: int) -> str:
    rng = random.Random(1234)
    code = [open(p, encoding="utf-8", errors="replace").read() for p in sorted(glob.glob(os.path.join(
        os.path.dirname(os.__file__), "*.py")))[:200]]
    prose = [open(p, encoding="utf-8", errors="replace").read() for p in sorted(glob.glob(
        "/usr/share/common-licenses/*")) if os.path.isfile(p)]
    corpus = json.load(open(os.path.join(SHARED, "goldens", "corpus.json")))
    multi = [c["text"] for c in corpus if c["text"]]
    parts, size = [], 0
    while size < total_bytes:
        kind = rng.random()
        if kind < 0.4:
            src = rng.choice(code)
        elif kind < 0.8:
            src = rng.choice(prose)
        else:
            src = "\n".join(rng.choice(multi) for _ in range(40))
        start = rng.randrange(max(1, len(src) - 4096))
        chunk = src[start:start + 4096]
        parts.append(chunk)
        size += len(chunk.encode("utf-8"))
    text = "".join(parts).encode("utf-8")[:total_bytes].decode("utf-8", errors="ignore")
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frugal", required=True)
    p.add_argument("--mb", type=float, default=10.0)
    p.add_argument("--json-out")
    args = p.parse_args()
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer, __version__ as hf_version

    text = assemble(int(args.mb * 1e6))
    data = text.encode("utf-8")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "text.txt")
        open(path, "wb").write(data)
        for name in ("llama3", "qwen3", "deepseek_v3"):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            with lzma.open(os.path.join(SHARED, "tokenizers", name, "tokenizer.json.xz")) as f:
                open(os.path.join(d, "tokenizer.json"), "wb").write(f.read())
            cfg = os.path.join(SHARED, "tokenizers", name, "tokenizer_config.json")
            open(os.path.join(d, "tokenizer_config.json"), "wb").write(open(cfg, "rb").read())
            hf = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            hf_best, hf_ids = None, None
            for _ in range(3):
                t0 = time.perf_counter()
                hf_ids = hf.encode(text, add_special_tokens=False).ids
                dt = time.perf_counter() - t0
                hf_best = dt if hf_best is None else min(hf_best, dt)
            # HF also encoding the text as 4 KB lines-aligned pieces (encode_batch, still one thread): the form its
            # users usually call, and not slower than one long string.
            pieces, start = [], 0
            while start < len(text):
                end = text.find("\n", start + 4096)
                end = len(text) if end < 0 else end + 1
                pieces.append(text[start:end])
                start = end
            hf_batch_best = None
            for _ in range(3):
                t0 = time.perf_counter()
                hf.encode_batch(pieces, add_special_tokens=False)
                dt = time.perf_counter() - t0
                hf_batch_best = dt if hf_batch_best is None else min(hf_batch_best, dt)
            fr_best, fr_ids = None, None
            for _ in range(3):
                r = subprocess.run([args.frugal, "tokenize", "-m", d, "--file", path, "--ids", "--stats"],
                                   capture_output=True, text=True, check=True)
                m = re.search(r"in ([0-9.]+) s", r.stderr)
                dt = float(m.group(1))
                fr_best = dt if fr_best is None else min(fr_best, dt)
                fr_ids = [int(x) for x in r.stdout.split()]
            same = fr_ids == hf_ids
            first_diff = next((i for i, (a, b) in enumerate(zip(fr_ids, hf_ids)) if a != b), None)
            rows.append({"tokenizer": name, "bytes": len(data), "tokens_hf": len(hf_ids), "tokens_frugal": len(fr_ids),
                         "hf_mb_s": len(data) / 1e6 / hf_best,
                         "hf_batch_mb_s": len(data) / 1e6 / hf_batch_best, "frugal_mb_s": len(data) / 1e6 / fr_best,
                         "same_ids": same, "first_difference": first_diff})
    print(f"text: {len(data)} bytes; tokenizers {hf_version}; one thread each, best of 3")
    print("| tokenizer | HF one string MB/s | HF 4 KB pieces MB/s | frugal MB/s | frugal / best HF | same ids |")
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        same = "yes" if r["same_ids"] else f"no (first at token {r['first_difference']}; {r['tokens_frugal']} vs {r['tokens_hf']})"
        best = max(r["hf_mb_s"], r["hf_batch_mb_s"])
        print(f"| {r['tokenizer']} | {r['hf_mb_s']:.2f} | {r['hf_batch_mb_s']:.2f} | {r['frugal_mb_s']:.2f} | "
              f"{r['frugal_mb_s'] / best:.2f}x | {same} |")
    if args.json_out:
        json.dump({"tokenizers_version": hf_version, "rows": rows}, open(args.json_out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
