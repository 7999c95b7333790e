#!/usr/bin/env python3
"""Teacher-forcing reference for a GGUF model from llama.cpp (through llama-cpp-python).

For each prompt: tokenize (BOS as the model's metadata says), greedily generate --num-generate tokens (argmax,
one token at a time) and record, at every position from the last prompt token on, the next-token distribution
llama.cpp computed while decoding (so each position's argmax is the continuation token it chose): the top-K ids with their log-probabilities (log-softmax over
the full vocabulary, in float64), the full-vocabulary logsumexp of the raw logits, and the margin between the
two largest raw logits. A C++ test feeds the same ids to frugal and compares (see "comparison" in the output).

    python3 scripts/gemma_reference.py --model PATH --out tests/model/data/gemma3_270m_reference.json

Deterministic for a given llama.cpp build and thread count; the output is small (a few hundred KB).
"""
import argparse
import ctypes
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import llama_cpp

PROMPTS = [
    ("The capital of France is", False),
    ("Once upon a time, in a small village,", False),
    ("def fibonacci(n):", False),
    ("<start_of_turn>user\nWhy is the sky blue?<end_of_turn>\n<start_of_turn>model\n", True),
]

COMPARISON_NOTE = (
    "Positions: entry j of 'positions' is the distribution after consuming ids[0 .. n_prompt-1+j] where "
    "ids = prompt_ids + continuation_ids (j = 0 is the last prompt token, whose argmax is continuation_ids[0]; "
    "the last entry follows the last generated token). Positions are llama.cpp's token-by-token decoding "
    "distributions (the path that chose continuation_ids), because llama.cpp's one-pass batched evaluation of the "
    "same ids disagrees with its own decoding at margins up to 0.2: 'batched_argmax_agrees' counts where the "
    "batched argmax reproduces the continuation, and 'batched_vs_incremental' gives llama.cpp's own "
    "batched-vs-incremental logit difference and bucket KL (its noise floor). "
    "top_logprobs[i] = logits[top_ids[i]] - logsumexp (float64 log-softmax over the full vocabulary). "
    "rest_logprob = log(1 - sum(exp(top_logprobs))), the mass outside the top-K. "
    "margin = largest minus second-largest raw logit. "
    "Suggested checks: (1) argmax agreement with top_ids[0] at positions where margin > 0.1; "
    "(2) KL(ref || ours) over K+1 buckets: sum_i p_i (log p_i - log q_i) over the top-K ids plus "
    "p_rest (log p_rest - log q_rest), where q is frugal's full-vocabulary softmax at the same position, "
    "q_i = q[top_ids[i]] and q_rest = 1 - sum_i q_i. "
    "first_logits_head: the first 16 raw logits (vocab ids 0..15) at position 0, for a numeric smoke check."
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ggml_commit() -> str:
    """The llama.cpp/ggml commit the wheel was built from, or "" when the library does not say."""
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    for name in ("libggml-base.so", "libggml.so", "libggml-base.dylib"):
        try:
            lib = ctypes.CDLL(str(lib_dir / name))
            fn = lib.ggml_commit
            fn.restype = ctypes.c_char_p
            return fn().decode()
        except (OSError, AttributeError):
            continue
    return ""


def position_record(logits: np.ndarray, k: int) -> dict:
    x = logits.astype(np.float64)
    m = x.max()
    lse = m + np.log(np.exp(x - m).sum())
    # Stable order: by logit descending, then by id ascending for ties.
    order = np.lexsort((np.arange(x.size), -x))
    top = order[:k]
    logprobs = x[top] - lse
    top_mass = np.exp(logprobs).sum()
    rest = float(np.log1p(-top_mass)) if top_mass < 1.0 else float("-inf")
    return {
        "top_ids": [int(i) for i in top],
        "top_logprobs": [round(float(v), 6) for v in logprobs],
        "rest_logprob": round(rest, 6) if np.isfinite(rest) else None,
        "logsumexp": round(float(lse), 6),
        "margin": round(float(x[order[0]] - x[order[1]]), 6),
    }


def bucket_kl(p_logits: np.ndarray, q_logits: np.ndarray, k: int) -> float:
    """KL(p || q) over p's top-k ids plus one bucket for the rest, both from full-vocabulary softmax (float64)."""
    lp = p_logits.astype(np.float64)
    lq = q_logits.astype(np.float64)
    lp = lp - (lp.max() + np.log(np.exp(lp - lp.max()).sum()))
    lq = lq - (lq.max() + np.log(np.exp(lq - lq.max()).sum()))
    top = np.argsort(-lp, kind="stable")[:k]
    p, q = np.exp(lp[top]), np.exp(lq[top])
    kl = float((p * (lp[top] - lq[top])).sum())
    p_rest, q_rest = max(1.0 - p.sum(), 0.0), max(1.0 - q.sum(), 1e-300)
    if p_rest > 0:
        kl += p_rest * (np.log(p_rest) - np.log(q_rest))
    return kl


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num-generate", type=int, default=32)
    ap.add_argument("--top-k", type=int, default=64)
    args = ap.parse_args()

    llm = llama_cpp.Llama(str(args.model), n_ctx=512, n_batch=512, logits_all=True, n_threads=args.threads,
                          n_threads_batch=args.threads, seed=0, verbose=False)
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "true") == "true"
    n_vocab = llm.n_vocab()

    prompts = []
    for text, special in PROMPTS:
        prompt_ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

        # Greedy decoding, one token at a time (the way an engine decodes).
        llm.reset()
        llm.eval(prompt_ids)
        continuation = []
        for _ in range(args.num_generate):
            tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            continuation.append(tok)
            llm.eval([tok])
        first = len(prompt_ids) - 1
        incremental = np.array(llm.scores[first:llm.n_tokens], dtype=np.float32)

        # Teacher forcing: prompt + continuation in one batched pass.
        ids = prompt_ids + continuation
        llm.reset()
        llm.eval(ids)
        scores = np.array(llm.scores[first:len(ids)], dtype=np.float32)  # [num_generate + 1, n_vocab]
        positions = [position_record(row, args.top_k) for row in incremental]
        agrees = sum(int(np.argmax(scores[j]) == continuation[j]) for j in range(len(continuation)))
        # llama.cpp against itself (batched vs token-by-token): the noise floor a comparison should allow for.
        kls = [bucket_kl(b, i, args.top_k) for b, i in zip(scores, incremental)]
        self_consistency = {
            "max_abs_logit_diff": round(float(np.abs(scores - incremental).max()), 6),
            "max_abs_top_logit_diff": round(max(
                float(np.abs(b[pos["top_ids"]] - i[pos["top_ids"]]).max())
                for b, i, pos in zip(scores, incremental, positions)), 6),
            "evaluation": "positions are from the incremental (decoding) pass",
            "max_kl": round(float(max(kls)), 9),
            "mean_kl": round(float(np.mean(kls)), 9),
        }

        prompts.append({
            "prompt": text,
            "special_tokens": special,
            "prompt_ids": [int(t) for t in prompt_ids],
            "continuation_ids": continuation,
            "continuation_text": llm.detokenize(continuation, special=True).decode("utf-8", errors="replace"),
            "batched_argmax_agrees": agrees,
            "batched_vs_incremental": self_consistency,
            "first_logits_head": [float(f"{v:.9g}") for v in incremental[0, :16]],
            "positions": positions,
        })
        print(f"{text!r}: {len(prompt_ids)} prompt ids, batched argmax agrees {agrees}/{len(continuation)}, "
              f"batched vs incremental {self_consistency}, continuation {prompts[-1]['continuation_text']!r}",
              file=sys.stderr)

    out = {
        "generator": {
            "script": "scripts/gemma_reference.py",
            "engine": "llama.cpp via llama-cpp-python",
            "llama_cpp_python_version": llama_cpp.__version__,
            "ggml_commit": ggml_commit(),
            "system_info": llama_cpp.llama_print_system_info().decode().strip(),
            "machine": platform.machine(),
            "model_file": args.model.name,
            "model_sha256": sha256_file(args.model),
            "threads": args.threads,
            "n_ctx": 512,
            "n_batch": 512,
            "n_vocab": n_vocab,
            "add_bos": add_bos,
            "num_generate": args.num_generate,
            "top_k": args.top_k,
            "comparison": COMPARISON_NOTE,
        },
        "prompts": prompts,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
