#!/usr/bin/env python3
"""Side-by-side throughput of llama.cpp (through llama-cpp-python) and frugal on one GGUF, same thread count.

llama.cpp is measured the way llama-bench measures it:
  pp: P fixed pseudo-random token ids (BOS first) decoded into an empty KV cache as one batch
      (n_batch 2048, n_ubatch 512), logits for the last token only; tok/s = P / time.
  tg: after a short prompt (8 tokens), N tokens decoded one at a time (fixed pseudo-random ids, no sampling);
      tok/s = N / time.
Each is warmed up once, then repeated R times; the median is reported, with min and max.
frugal is measured by its own subcommand, `FRUGAL bench -m MODEL -p P -n N -t T --json`, which prints one JSON
object with pp_tok_s, tg_tok_s, bytes_per_token and gb_s. The two engines run one after the other.

    python3 scripts/bench_vs_llamacpp.py --model M.gguf --frugal build/bin/frugal -t 2 [-p 512 -n 128 --repeats 3]
        [--json-out results.json] [--skip-frugal] [--omp-wait-policy passive]

llama.cpp's CPU backend uses OpenMP, whose threads spin while waiting. On a machine whose cores are shared with
other work this collapses throughput (measured on a loaded 2-core VM: tg 1 to 2 tok/s spinning vs about 20
passive); --omp-wait-policy passive sets OMP_WAIT_POLICY for the llama.cpp run. Check the load average printed.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHORT_PROMPT_TOKENS = 8


def summarize(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": [round(v, 3) for v in values]}


def bench_llamacpp(model: Path, threads: int, n_prompt: int, n_gen: int, repeats: int) -> dict:
    import llama_cpp

    llm = llama_cpp.Llama(str(model), n_ctx=max(n_prompt, SHORT_PROMPT_TOKENS + n_gen) + 16, n_batch=2048,
                          n_ubatch=512, n_threads=threads, n_threads_batch=threads, logits_all=False, seed=0,
                          verbose=False)
    n_vocab = llm.n_vocab()
    rng = np.random.default_rng(1234)
    prompt = [llm.token_bos()] + [int(t) for t in rng.integers(0, n_vocab, size=n_prompt - 1)]
    short = prompt[:SHORT_PROMPT_TOKENS]
    gen = [int(t) for t in rng.integers(0, n_vocab, size=n_gen)]

    def run_pp() -> float:
        llm.reset()  # the next eval drops the whole KV cache
        t0 = time.perf_counter()
        llm.eval(prompt)
        return n_prompt / (time.perf_counter() - t0)

    def run_tg() -> float:
        llm.reset()
        llm.eval(short)
        t0 = time.perf_counter()
        for tok in gen:
            llm.eval([tok])
        return n_gen / (time.perf_counter() - t0)

    run_pp()  # warm-up
    pp = [run_pp() for _ in range(repeats)]
    run_tg()
    tg = [run_tg() for _ in range(repeats)]
    model_desc = llm._model.desc()
    result = {
        "engine": "llama.cpp",
        "version": f"llama-cpp-python {llama_cpp.__version__}",
        "model_desc": model_desc,
        "model_size_bytes": llm._model.size(),
        "pp": summarize(pp),
        "tg": summarize(tg),
    }
    llm.close()
    return result


def bench_frugal(binary: Path, model: Path, threads: int, n_prompt: int, n_gen: int) -> dict:
    cmd = [str(binary), "bench", "-m", str(model), "-p", str(n_prompt), "-n", str(n_gen), "-t", str(threads),
           "--json"]
    if not binary.exists():
        return {"engine": "frugal", "error": f"frugal binary not found at {binary} (build it, or pass --frugal)"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except OSError as e:
        return {"engine": "frugal", "error": f"could not run {' '.join(cmd)}: {e}"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"engine": "frugal", "error": f"`{' '.join(cmd)}` exited with {proc.returncode} (does this build "
                                             f"have the bench subcommand?): {' | '.join(tail)}"}
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            missing = [k for k in ("pp_tok_s", "tg_tok_s") if k not in data]
            if missing:
                return {"engine": "frugal", "error": f"frugal bench JSON lacks {missing}: {line[:200]}"}
            return {"engine": "frugal", "command": " ".join(cmd), **data}
    return {"engine": "frugal", "error": f"no JSON object on the stdout of `{' '.join(cmd)}`"}


def fmt(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--frugal", type=Path, default=Path("build/bin/frugal"))
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--skip-frugal", action="store_true", help="measure llama.cpp only")
    ap.add_argument("--omp-wait-policy", choices=["default", "active", "passive"], default="default",
                    help="OMP_WAIT_POLICY for llama.cpp (default: leave the environment as it is)")
    args = ap.parse_args()
    if args.n_prompt < SHORT_PROMPT_TOKENS:
        ap.error(f"-p must be at least {SHORT_PROMPT_TOKENS}")

    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy  # read by libgomp when llama_cpp is first imported
    omp_policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print(f"warning: load average is {load_before:.2f} before the run; other processes will skew the numbers",
              file=sys.stderr)
    llama = bench_llamacpp(args.model, args.threads, args.n_prompt, args.n_gen, args.repeats)
    frugal = None if args.skip_frugal else bench_frugal(args.frugal, args.model, args.threads, args.n_prompt,
                                                        args.n_gen)
    if frugal is not None and "error" in frugal:
        print(f"frugal: {frugal['error']}", file=sys.stderr)

    pp_ref, tg_ref = llama["pp"]["median"], llama["tg"]["median"]
    desc = llama["model_desc"]
    print(f"\nmodel: {args.model.name} ({desc}, {llama['model_size_bytes'] / 2**20:.1f} MiB), "
          f"pp{args.n_prompt} / tg{args.n_gen}, median (min-max) of {args.repeats} after a warm-up, "
          f"{platform.machine()}, load average {load_before:.2f} before, llama.cpp OMP_WAIT_POLICY={omp_policy}\n")
    print("| model | type | threads | engine | pp tok/s | tg tok/s | ratio frugal/llama.cpp (pp, tg) |")
    print("|---|---|---:|---|---:|---:|---|")
    arch, _, qtype = desc.partition(" ")
    size_label, _, qtype = qtype.partition(" ")
    name = f"{arch} {size_label}"
    spread = f" ({fmt(llama['pp']['min'])}-{fmt(llama['pp']['max'])})"
    print(f"| {name} | {qtype} | {args.threads} | {llama['version']} | {fmt(pp_ref)}{spread} | {fmt(tg_ref)} "
          f"({fmt(llama['tg']['min'])}-{fmt(llama['tg']['max'])}) | 1.00, 1.00 |")
    if frugal is not None:
        if "error" in frugal:
            print(f"| {name} | {qtype} | {args.threads} | frugal | - | - | not measured |")
        else:
            pp, tg = frugal.get("pp_tok_s"), frugal.get("tg_tok_s")
            ratio = f"{pp / pp_ref:.2f}, {tg / tg_ref:.2f}" if pp and tg else "-"
            print(f"| {name} | {qtype} | {args.threads} | frugal | {fmt(pp)} | {fmt(tg)} | {ratio} |")
            if "gb_s" in frugal:
                print(f"\nfrugal decode: {frugal.get('bytes_per_token', 0) / 1e6:.1f} MB/token, "
                      f"{frugal['gb_s']:.2f} GB/s")

    if args.json_out:
        out = {"model": str(args.model), "threads": args.threads, "n_prompt": args.n_prompt, "n_gen": args.n_gen,
               "repeats": args.repeats, "machine": platform.machine(),
               "load_average_before": load_before, "omp_wait_policy": omp_policy, "llama_cpp": llama, "frugal": frugal}
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nwrote {args.json_out}", file=sys.stderr)


if __name__ == "__main__":
    main()
