#!/usr/bin/env python3
"""Side-by-side table from frugal_matmul_bench and frugal_ggml_matmul_bench JSON outputs.

usage: compare_matmul.py frugal.json ggml.json [isa]   (isa defaults to avx512)
Prints, per (phase, dtype, shape, threads): time, GB/s (decode) or GFLOP/s (prefill), and frugal's speedup.
"""
import json
import sys


def load(path, isa):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        parts = b["name"].split("/")
        phase, impl, dtype, shape, threads = parts[0], parts[1], parts[2], parts[3], parts[4]
        if impl not in (isa, "ggml"):
            continue
        out[(phase, dtype, shape, threads)] = b
    return out


def main():
    isa = sys.argv[3] if len(sys.argv) > 3 else "avx512"
    ours, theirs = load(sys.argv[1], isa), load(sys.argv[2], isa)
    print("| phase | dtype | shape | threads | frugal | llama.cpp (ggml) | speedup |")
    print("|---|---|---|---|---|---|---|")
    for key in sorted(ours):
        if key not in theirs:
            continue
        a, b = ours[key], theirs[key]
        metric = "weight_GBps" if key[0] == "decode" else "GFLOPps"
        unit = "GB/s" if key[0] == "decode" else "GFLOP/s"
        speedup = b["real_time"] / a["real_time"]
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3].split(':')[1]} | "
              f"{a['real_time']:.3g} {a['time_unit']} ({a[metric]:.1f} {unit}) | "
              f"{b['real_time']:.3g} {b['time_unit']} ({b[metric]:.1f} {unit}) | {speedup:.2f}x |")


if __name__ == "__main__":
    main()
