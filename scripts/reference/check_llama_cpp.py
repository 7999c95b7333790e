#!/usr/bin/env python3
"""Checks that GGUF files written by `frugal convert` from the Hugging Face fixtures load in llama.cpp
(llama-cpp-python) and give transformers' logits there too (issue 4: the converted files use llama.cpp's tensor
names and metadata keys).

  python3 scripts/reference/check_llama_cpp.py --frugal build/bin/frugal [--fixtures tests/data/hf] [NAME ...]

Prints one row per fixture: whether llama.cpp loaded it and the largest |logit difference| from transformers'
over the 40 positions. llama.cpp computes in F32 with its own kernels, so agreement within ~1e-3 means the
layout and metadata are read as intended.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frugal", required=True)
    p.add_argument("--fixtures", default="tests/data/hf")
    p.add_argument("names", nargs="*", default=["llama", "qwen2", "qwen3", "mixtral", "qwen2_moe", "qwen3_moe"])
    args = p.parse_args()
    import llama_cpp

    print(f"llama-cpp-python {llama_cpp.__version__}")
    print(f"| fixture | loads in llama.cpp | max abs logit diff vs transformers |")
    print(f"|---|---|---:|")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            src = os.path.join(args.fixtures, name)
            ref = json.load(open(os.path.join(src, "reference.json")))
            want = np.fromfile(os.path.join(src, "logits.bin"), dtype="<f4").reshape(ref["logits_shape"])
            out = os.path.join(tmp, name + ".gguf")
            subprocess.run([args.frugal, "convert", "-m", src, "-o", out], check=True, capture_output=True)
            try:
                llm = llama_cpp.Llama(model_path=out, n_ctx=64, n_batch=64, logits_all=True, verbose=False,
                                      type_k=0, type_v=0)  # F32 KV cache, as the reference computes
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"| {name} | no: {e} | |")
                worst = float("inf")
                continue
            ids = ref["prompt_ids"] + ref["greedy_ids"]
            llm.eval(ids)
            got = np.array(llm.scores[: len(ids)], dtype=np.float32)
            diff = float(np.max(np.abs(got - want)))
            worst = max(worst, diff)
            print(f"| {name} | yes | {diff:.2e} |")
            del llm
    return 0 if worst <= 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
