#!/usr/bin/env python3
"""Tiny random Llama-3, Qwen2 and Qwen3 models as F32 GGUF files, with Hugging Face transformers logits.

For each architecture the script
  1. builds a tiny transformers model with a fixed seed (GQA: 4 query heads over 2 KV heads; Qwen3 with a head
     size of 32 != hidden / heads; Qwen2 and Qwen3 with tied embeddings) and saves it as a Hugging Face folder,
  2. converts that folder with llama.cpp's own convert_hf_to_gguf.py (--outtype f32), so tensor names, the
     llama q/k permutation and the metadata keys are exactly llama.cpp's; the only change is that the
     converter writes tokenizer model "none" instead of a vocabulary (frugal runs on token ids here),
  3. runs transformers in float64 on the same float32 weights (so the reference carries no rounding error of
     its own) and writes tests/model/data/arch/<arch>.json: the prompt ids, the teacher-forced logits at every
     prompt position (6 significant digits) and the 8-token greedy continuation from incremental (KV-cached)
     generation, together with the smallest top-2 logit margin along that chain.

llama.cpp's converter ships in the llama-cpp-python source distribution:
    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 && tar xzf llama_cpp_python-0.3.36.tar.gz
    python3 scripts/make_arch_fixtures.py --llama-cpp llama_cpp_python-0.3.36/vendor/llama.cpp
    (add --check-llama-cpp to also compare llama-cpp-python's logits on each file with the reference)
Requires torch and transformers (generated with transformers 5.24.0, torch 2.15.0, CPU).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

SEED = 1234
NUM_PROMPTS = 2
PROMPT_TOKENS = 12
GREEDY_TOKENS = 8
# Greedy chains are checked token by token against frugal, whose logits may differ from the reference by ~1e-5;
# prompts whose chain passes through a closer call than this are redrawn.
MIN_GREEDY_MARGIN = 1e-2

COMMON = dict(
    vocab_size=272,  # not a multiple of 32: exercises the tails of the output projection
    hidden_size=64,
    intermediate_size=96,  # != hidden_size, so a transposed FFN matrix cannot go unnoticed
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-6,
    bos_token_id=1,
    eos_token_id=2,
)

ARCHS = {
    # Llama 3 style: GQA, rope theta 500000, separate output matrix.
    "llama": dict(cls="LlamaForCausalLM", config="LlamaConfig", rope_theta=500000.0, tie_word_embeddings=False,
                  extra=dict(attention_bias=False, mlp_bias=False, head_dim=16)),
    # Qwen2: biases on q, k, v; NeoX RoPE; tied embeddings.
    "qwen2": dict(cls="Qwen2ForCausalLM", config="Qwen2Config", rope_theta=1000000.0, tie_word_embeddings=True,
                  extra=dict(use_sliding_window=False)),
    # Qwen3: per-head q/k RMSNorm, head size 32 while hidden / heads = 16; tied embeddings.
    "qwen3": dict(cls="Qwen3ForCausalLM", config="Qwen3Config", rope_theta=1000000.0, tie_word_embeddings=True,
                  extra=dict(head_dim=32, attention_bias=False, use_sliding_window=False)),
}


def build_model(arch: str, spec: dict):
    import torch
    import transformers

    config_cls = getattr(transformers, spec["config"])
    kwargs = dict(COMMON, **spec["extra"])
    kwargs["tie_word_embeddings"] = spec["tie_word_embeddings"]
    # transformers 5 reads rope_parameters; 4.x reads rope_theta. Pass both, then check what the config holds.
    kwargs["rope_theta"] = spec["rope_theta"]
    kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": spec["rope_theta"]}
    config = config_cls(**kwargs)
    config._attn_implementation = "eager"
    theta = getattr(config, "rope_parameters", None) or {}
    theta = theta.get("rope_theta", getattr(config, "rope_theta", None))
    assert theta == spec["rope_theta"], f"{arch}: config rope theta {theta}"

    torch.manual_seed(SEED)
    model = getattr(transformers, spec["cls"])(config).float().eval()
    # Non-trivial weights: transformers' init (std 0.02, unit norms, zero biases) would hide a missing norm or
    # bias. q/k get a larger scale so attention is peaked and a RoPE mistake moves the logits visibly.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn_like(p))
            elif name.endswith(("q_proj.weight", "k_proj.weight")):
                p.copy_(0.3 * torch.randn_like(p))
            else:
                p.copy_(0.1 * torch.randn_like(p))
    if spec["tie_word_embeddings"]:
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


def convert(llama_cpp: Path, hf_dir: Path, out: Path):
    sys.path.insert(0, str(llama_cpp / "gguf-py"))
    sys.path.insert(0, str(llama_cpp))
    import convert_hf_to_gguf as conv

    original = conv.get_model_class

    # The tiny models have no tokenizer; the converter's own "none" vocabulary stands in for set_vocab, which would
    # otherwise look for tokenizer files (and check the pre-tokenizer hash). Nothing else about the conversion changes.
    def without_vocab(*args, **kwargs):
        cls = original(*args, **kwargs)
        overrides = {"model_arch": cls.model_arch, "set_vocab": lambda self: self._set_vocab_none()}
        return type(cls.__name__, (cls,), overrides)

    conv.get_model_class = without_vocab
    argv = sys.argv
    sys.argv = ["convert_hf_to_gguf.py", str(hf_dir), "--outtype", "f32", "--outfile", str(out)]
    try:
        conv.main()
    finally:
        sys.argv = argv
        conv.get_model_class = original


def check_with_llama_cpp(llama_cpp: Path, gguf_path: Path, arch: str, prompts: list) -> float:
    """Max |logit difference| between llama.cpp (llama-cpp-python, F32 KV cache) and the reference.

    llama.cpp sizes the vocabulary from <arch>.vocab_size or the token list; the converter writes neither for
    qwen2/qwen3 when there is no tokenizer, so this checks a copy with the key added.
    """
    sys.path.insert(0, str(llama_cpp / "gguf-py"))
    import gguf
    import llama_cpp as lcp

    reader = gguf.GGUFReader(gguf_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / gguf_path.name
        writer = gguf.GGUFWriter(copy, arch)
        for key, field in reader.fields.items():
            if key.startswith("GGUF.") or key in ("general.architecture", f"{arch}.vocab_size"):
                continue
            if field.types[0] == gguf.GGUFValueType.ARRAY:
                writer.add_array(key, field.contents())
            else:
                writer.add_key_value(key, field.contents(), field.types[0])
        writer.add_uint32(f"{arch}.vocab_size", COMMON["vocab_size"])
        for t in reader.tensors:
            writer.add_tensor(t.name, np.array(t.data), raw_dtype=t.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        llm = lcp.Llama(str(copy), n_ctx=64, logits_all=True, verbose=False, n_threads=2, type_k=0, type_v=0,
                        flash_attn=False)  # type 0 = GGML_TYPE_F32: the default F16 cache costs ~4e-3
        err = 0.0
        for p in prompts:
            llm.reset()
            llm.eval(p["ids"])
            got = np.array(llm.scores[: len(p["ids"])])
            err = max(err, float(np.abs(got - np.array(p["logits"])).max()))
        del llm
    return err


def round6(x: float) -> float:
    return float(f"{x:.6g}")


def reference(model, rng: np.random.Generator, vocab: int) -> list:
    import torch

    model = model.double()
    prompts = []
    attempts = 0
    while len(prompts) < NUM_PROMPTS:
        attempts += 1
        assert attempts < 50, "could not find prompts with clear greedy margins"
        ids = [int(i) for i in rng.integers(3, vocab, size=PROMPT_TOKENS)]
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0]
            # Incremental greedy decoding through the KV cache, one token per forward, no logits processors.
            out = model(x, use_cache=True)
            greedy, margins = [], []
            for _ in range(GREEDY_TOKENS):
                last = out.logits[0, -1]
                top = torch.topk(last, 2)
                greedy.append(int(top.indices[0]))
                margins.append(float(top.values[0] - top.values[1]))
                out = model(torch.tensor([[greedy[-1]]]), past_key_values=out.past_key_values, use_cache=True)
        # The cached generation must agree with a from-scratch forward over the whole sequence.
        with torch.no_grad():
            full = model(torch.tensor([ids + greedy])).logits[0, PROMPT_TOKENS - 1:-1]
        assert [int(t) for t in full.argmax(-1)] == greedy
        if min(margins) < MIN_GREEDY_MARGIN:
            print(f"  redrawing prompt: greedy margin {min(margins):.2e}")
            continue
        prompts.append({
            "ids": ids,
            "logits": [[round6(v) for v in row] for row in logits.tolist()],
            "greedy": greedy,
            "greedy_min_margin": round6(min(margins)),
        })
    return prompts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp", type=Path, required=True, help="llama.cpp source tree (convert_hf_to_gguf.py)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests/model/data/arch")
    ap.add_argument("--check-llama-cpp", action="store_true",
                    help="also run the GGUF through llama-cpp-python and compare its logits with the reference")
    ap.add_argument("--arch", choices=sorted(ARCHS), action="append", help="only these (default: all)")
    args = ap.parse_args()

    import torch
    import transformers

    torch.set_grad_enabled(False)
    args.out.mkdir(parents=True, exist_ok=True)
    for arch in args.arch or sorted(ARCHS):
        spec = ARCHS[arch]
        print(f"== {arch}")
        model = build_model(arch, spec)
        gguf_path = args.out / f"{arch}.gguf"
        with tempfile.TemporaryDirectory() as tmp:
            hf_dir = Path(tmp) / f"tiny-{arch}"
            model.save_pretrained(hf_dir)
            convert(args.llama_cpp, hf_dir, gguf_path)
        rng = np.random.default_rng(SEED + sum(map(ord, arch)))
        ref = {
            "arch": arch,
            "generator": {
                "script": "scripts/make_arch_fixtures.py",
                "reference": f"transformers {transformers.__version__} (torch {torch.__version__}, float64, eager)",
                "converter": f"llama.cpp convert_hf_to_gguf.py from {args.llama_cpp.resolve().parent.parent.name}",
                "seed": SEED,
            },
            "config": dict(COMMON, **spec["extra"], rope_theta=spec["rope_theta"],
                           tie_word_embeddings=spec["tie_word_embeddings"]),
            "prompts": reference(model, rng, COMMON["vocab_size"]),
        }
        with open(args.out / f"{arch}.json", "w") as f:
            json.dump(ref, f, separators=(",", ":"))
            f.write("\n")
        print(f"  {gguf_path} ({gguf_path.stat().st_size} bytes), greedy margins "
              f"{[p['greedy_min_margin'] for p in ref['prompts']]}")
        if args.check_llama_cpp:
            err = check_with_llama_cpp(args.llama_cpp, gguf_path, arch, ref["prompts"])
            print(f"  llama.cpp vs transformers: max |logit difference| {err:.2e}")
            assert err < 1e-4, f"{arch}: llama.cpp disagrees with transformers on the converted file"


if __name__ == "__main__":
    main()
