#!/usr/bin/env python3
"""Builds the tiny random-weight Hugging Face fixtures the model tests check frugal against (issue 4).

For each architecture: a model built by transformers from a small config (fixed seed), saved as safetensors +
config.json, and transformers' own F32 outputs for a fixed 24-token prompt followed by its 16-token greedy
continuation:
  reference.json  prompt ids, greedy continuation, the smallest top-1 margin met while generating, versions
  logits.bin      little-endian float32 [40, vocab]: logits at every position of prompt + continuation,
                  from one forward pass over all 40 tokens
Weights are drawn with variance 1/fan_in (norm weights around 1, biases and router biases small) rather than
transformers' initializer_range, so activations keep unit scale, logits spread out and greedy choices and
expert routing are decided by clear margins that float rounding cannot flip.

Runs wherever torch and transformers are installed (CPU is enough):
  python3 scripts/reference/make_hf_fixtures.py --out tests/data/hf [--only NAME ...]
"""
import argparse
import json
import math
import os
import shutil
import sys

import torch
import transformers

PROMPT_LEN = 24
GREEDY_LEN = 16
VOCAB = 256
SEED = 1234

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
)

YARN = dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=128, beta_fast=32, beta_slow=1,
            mscale=0.707, mscale_all_dim=0.707)

FIXTURES = {
    # Dense models through the Hugging Face path (q/k permutation, implicit Qwen2 bias, qk-norm).
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(COMMON, num_hidden_layers=2, intermediate_size=96, rope_theta=10000.0)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM",
              dict(COMMON, num_hidden_layers=2, intermediate_size=96, rope_theta=1000000.0)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM",
              dict(COMMON, num_hidden_layers=2, intermediate_size=96, head_dim=32, rope_theta=1000000.0)),
    # Llama 3.1's RoPE frequency bands (rope_type llama3) and Qwen2 with YaRN: the original context is set small
    # so that the rescaled frequencies matter within 40 positions.
    "llama31": ("LlamaConfig", "LlamaForCausalLM",
                dict(COMMON, num_hidden_layers=2, intermediate_size=96, rope_theta=10000.0,
                     rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                       original_max_position_embeddings=64))),
    "qwen2_yarn": ("Qwen2Config", "Qwen2ForCausalLM",
                   dict(COMMON, num_hidden_layers=2, intermediate_size=96, rope_theta=10000.0,
                        max_position_embeddings=128,
                        rope_scaling=dict(rope_type="yarn", factor=4.0, original_max_position_embeddings=32))),
    # Mixtral: top-2 of 8 experts, softmax routing.
    "mixtral": ("MixtralConfig", "MixtralForCausalLM",
                dict(COMMON, num_hidden_layers=2, intermediate_size=48, num_local_experts=8, num_experts_per_tok=2,
                     rope_theta=1000000.0)),
    # Qwen2-MoE: fine-grained experts (top-4 of 8, not renormalized) plus a sigmoid-gated shared expert.
    "qwen2_moe": ("Qwen2MoeConfig", "Qwen2MoeForCausalLM",
                  dict(COMMON, num_hidden_layers=2, intermediate_size=96, moe_intermediate_size=32, num_experts=8,
                       num_experts_per_tok=4, shared_expert_intermediate_size=64, norm_topk_prob=False,
                       decoder_sparse_step=1, rope_theta=1000000.0)),
    # Qwen3-MoE: top-2 of 8 renormalized, qk-norm, head_dim set apart from hidden/heads.
    "qwen3_moe": ("Qwen3MoeConfig", "Qwen3MoeForCausalLM",
                  dict(COMMON, num_hidden_layers=2, intermediate_size=96, moe_intermediate_size=32, num_experts=8,
                       num_experts_per_tok=2, norm_topk_prob=True, head_dim=32, decoder_sparse_step=1,
                       rope_theta=1000000.0)),
    # DeepSeek-V2-Lite's layout: no q-LoRA, softmax greedy top-k, first layer dense, YaRN.
    "deepseek_v2_lite": ("DeepseekV2Config", "DeepseekV2ForCausalLM",
                         dict(COMMON, num_hidden_layers=3, num_key_value_heads=4, intermediate_size=96,
                              moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=3,
                              n_shared_experts=2, first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=32,
                              qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, topk_method="greedy",
                              norm_topk_prob=False, routed_scaling_factor=1.0, rope_theta=10000.0,
                              rope_scaling=YARN)),
    # DeepSeek-V2's layout: q-LoRA, group-limited greedy routing, routed scaling.
    "deepseek_v2": ("DeepseekV2Config", "DeepseekV2ForCausalLM",
                    dict(COMMON, num_hidden_layers=3, num_key_value_heads=4, intermediate_size=96,
                         moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
                         first_k_dense_replace=1, q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16,
                         qk_rope_head_dim=8, v_head_dim=16, topk_method="group_limited_greedy", n_group=4,
                         topk_group=2, norm_topk_prob=False, routed_scaling_factor=2.0, rope_theta=10000.0,
                         rope_scaling=YARN)),
    # DeepSeek-V3's layout: q-LoRA, sigmoid scores with the correction bias, group-limited top-k (noaux_tc),
    # renormalized and scaled weights.
    "deepseek_v3": ("DeepseekV3Config", "DeepseekV3ForCausalLM",
                    dict(COMMON, num_hidden_layers=3, num_key_value_heads=4, intermediate_size=96,
                         moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
                         first_k_dense_replace=1, q_lora_rank=48, kv_lora_rank=32, qk_nope_head_dim=16,
                         qk_rope_head_dim=8, v_head_dim=16, n_group=4, topk_group=2, norm_topk_prob=True,
                         routed_scaling_factor=2.5, rope_theta=10000.0, rope_scaling=YARN)),
}


def randomize(model: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif "norm" in name or name.endswith("layernorm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:  # biases
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(0.1 * torch.randn(b.shape, generator=gen))


def add_mtp_layer(model, config, path: str, gen: torch.Generator) -> None:
    """DeepSeek-V3 checkpoints store a multi-token-prediction block after the trunk (model.layers.N.*: a decoder
    layer plus enorm, hnorm, eh_proj and a shared head). transformers neither builds nor reads it, so it is added to
    the saved file here: random weights, only for checking that converters and loaders keep it."""
    from safetensors.torch import load_file, save_file
    file = os.path.join(path, "model.safetensors")
    tensors = load_file(file)
    n = config.num_hidden_layers
    last = f"model.layers.{n - 1}."
    mtp = f"model.layers.{n}."
    for key in [k for k in tensors if k.startswith(last)]:
        t = tensors[key]
        tensors[mtp + key[len(last):]] = (torch.randn(t.shape, generator=gen) * t.std().clamp(min=1e-3)).contiguous()
    h = config.hidden_size
    tensors[mtp + "enorm.weight"] = 1.0 + 0.2 * torch.randn(h, generator=gen)
    tensors[mtp + "hnorm.weight"] = 1.0 + 0.2 * torch.randn(h, generator=gen)
    tensors[mtp + "eh_proj.weight"] = torch.randn(h, 2 * h, generator=gen) / math.sqrt(2 * h)
    tensors[mtp + "shared_head.norm.weight"] = 1.0 + 0.2 * torch.randn(h, generator=gen)
    save_file(tensors, file, metadata={"format": "pt"})


def build(name: str, out_dir: str) -> dict:
    config_cls, model_cls, kwargs = FIXTURES[name]
    torch.manual_seed(SEED)
    config = getattr(transformers, config_cls)(**kwargs)
    model = getattr(transformers, model_cls)(config).to(torch.float32).eval()
    gen = torch.Generator().manual_seed(SEED)
    randomize(model, gen)
    prompt = torch.randint(3, VOCAB, (PROMPT_LEN,), generator=gen).tolist()

    ids = list(prompt)
    min_margin = math.inf
    with torch.no_grad():
        for _ in range(GREEDY_LEN):
            logits = model(torch.tensor([ids])).logits[0, -1]
            top2 = torch.topk(logits, 2).values
            min_margin = min(min_margin, float(top2[0] - top2[1]))
            ids.append(int(torch.argmax(logits)))
        all_logits = model(torch.tensor([ids])).logits[0].to(torch.float32).contiguous()

    path = os.path.join(out_dir, name)
    shutil.rmtree(path, ignore_errors=True)
    model.save_pretrained(path, safe_serialization=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(path, extra)):
            os.remove(os.path.join(path, extra))
    if name == "deepseek_v3":
        add_mtp_layer(model, config, path, gen)
    with open(os.path.join(path, "logits.bin"), "wb") as f:
        f.write(all_logits.numpy().astype("<f4").tobytes())
    reference = {
        "architecture": model_cls,
        "prompt_ids": prompt,
        "greedy_ids": ids[PROMPT_LEN:],
        "logits_shape": list(all_logits.shape),
        "min_greedy_margin": round(min_margin, 4),
        "seed": SEED,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    with open(os.path.join(path, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))
    return {"name": name, "bytes": size, "min_greedy_margin": reference["min_greedy_margin"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data/hf")
    parser.add_argument("--only", nargs="*", default=None, help="fixture names (default: all)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = args.only or list(FIXTURES)
    print(f"{'fixture':<18} {'bytes':>9} {'min greedy margin':>18}")
    for name in names:
        row = build(name, args.out)
        print(f"{row['name']:<18} {row['bytes']:>9} {row['min_greedy_margin']:>18}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
