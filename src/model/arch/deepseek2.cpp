// DeepSeek-V2 / V2-Lite / V3 (llama.cpp's "deepseek2"): multi-head latent attention and DeepSeekMoE.
//
// Attention: q is projected directly or through a rank-q_lora bottleneck (+ RMSNorm); one shared projection gives
// per token a kv_lora latent (RMSNorm'd) and one rotary key of qk_rope dims shared by all heads. Keys per head are
// [W_k_b c, p], values W_v_b c. The cache stores only c and p; attention runs in the absorbed form (mla_attention).
// RoPE rotates adjacent pairs (the checkpoints' interleaved layout); YaRN scaling also scales the softmax by
// mscale(factor, mscale_all_dim)^2.
// FFN: the first leading_dense_block_count layers are dense; the rest route each token to top-k of n experts
// (softmax scores for V2, sigmoid + a selection bias for V3; optionally limited to the best expert groups), weights
// renormalized (V3) and multiplied by routed_scaling_factor, plus always-on shared experts.
#include <fmt/format.h>

#include <cmath>

#include "model/arch/architecture.h"

namespace frugal {
namespace {

constexpr char kArch[] = "deepseek2";

Status read_deepseek2(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, kArch, c));
    const std::string a = kArch;
    c->rope_mode = RopeMode::kNormal;
    c->kv_lora_rank = file.get_int_or(a + ".attention.kv_lora_rank", 0);
    c->q_lora_rank = file.get_int_or(a + ".attention.q_lora_rank", 0);
    if (c->kv_lora_rank <= 0 || c->kv_lora_rank > (int64_t{1} << 16) || c->q_lora_rank < 0 ||
        c->q_lora_rank > (int64_t{1} << 16)) {
        return Status::errorf("deepseek2 lora ranks out of range: kv {}, q {}", c->kv_lora_rank, c->q_lora_rank);
    }
    // key_length_mla / value_length_mla: the per-head sizes after decompression (current llama.cpp conversions);
    // key_length / value_length then describe the latent cache.
    c->head_dim = file.get_int_or(a + ".attention.key_length_mla", 0);
    c->head_dim_v = file.get_int_or(a + ".attention.value_length_mla", 0);
    if (c->head_dim <= 0 || c->head_dim_v <= 0) {
        return Status::error(
            "deepseek2 file without attention.key_length_mla/value_length_mla: an older llama.cpp "
            "conversion; convert the checkpoint again");
    }
    c->qk_rope_dim = c->n_rot;
    c->qk_nope_dim = c->head_dim - c->qk_rope_dim;
    if (c->qk_nope_dim <= 0 || c->head_dim > (int64_t{1} << 16) || c->head_dim_v > (int64_t{1} << 16)) {
        return Status::errorf("deepseek2 head sizes out of range: qk {}, rope {}, v {}", c->head_dim, c->n_rot,
                              c->head_dim_v);
    }
    c->num_kv_heads = c->num_heads;
    c->attention_scale = 1.0f / std::sqrt(static_cast<float>(c->head_dim));
    const double factor = file.get_float_or(a + ".rope.scaling.factor", 0.0);
    if (file.get_string_or(a + ".rope.scaling.type", "none") == "yarn" && factor > 1.0) {
        // llama.cpp stores 0.1 * mscale_all_dim as the log multiplier.
        const double mscale = file.get_float_or(a + ".rope.scaling.yarn_log_multiplier", 0.0) * std::log(factor) + 1.0;
        c->attention_scale *= static_cast<float>(mscale * mscale);
        // DeepSeek's configs set mscale == mscale_all_dim, so the cos/sin factor is 1 unless stated.
        c->rope_attn_factor = static_cast<float>(file.get_float_or(a + ".rope.scaling.yarn_attn_factor", 1.0));
    }

    RETURN_IF_ERROR(read_moe_config(file, kArch, /*default_normalize=*/false, c));
    if (c->num_experts > 0) {
        c->shared_expert_ffn_dim = file.get_int_or(a + ".expert_shared_count", 0) * c->expert_ffn_dim;
        const int64_t lead = file.get_int_or(a + ".leading_dense_block_count", 0);
        for (int64_t l = 0; l < c->num_layers && l < lead; ++l) c->layer_is_moe[l] = false;
        const int64_t groups = file.get_int_or(a + ".expert_group_count", 0);
        const int64_t used = file.get_int_or(a + ".expert_group_used_count", 0);
        if (groups > 1) {
            if (c->num_experts % groups != 0 || used < 1 || used > groups) {
                return Status::errorf("deepseek2: {} experts in {} groups, {} used", c->num_experts, groups, used);
            }
            c->routing.num_groups = static_cast<int>(groups);
            c->routing.groups_used = static_cast<int>(used);
            c->routing.group_score =
                c->routing.gating == MoeGating::kSigmoid ? MoeGroupScore::kTop2Sum : MoeGroupScore::kMax;
        }
    }
    c->num_nextn_layers = file.get_int_or(a + ".nextn_predict_layers", 0);
    return ok_status();
}

// kv_b_proj [heads * (nope + v), kv_lora] -> attn_k_b {nope, kv_lora, heads} (each head's W_k transposed, so it maps
// q_nope into latent space) and attn_v_b {kv_lora, v, heads}, as llama.cpp splits it.
Status split_kv_b(HfCheckpoint& ckpt, const std::string& hf_name, const std::string& gg) {
    const HfConfig& c = ckpt.config();
    std::vector<int64_t> shape;
    ASSIGN_OR_RETURN(std::vector<float> kv_b, ckpt.read_f32(hf_name, &shape));
    const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim, v = c.v_head_dim, lora = c.kv_lora_rank;
    if (shape != std::vector<int64_t>{heads * (nope + v), lora})
        return Status::errorf("tensor '{}' has an unexpected shape", hf_name);
    std::vector<float> k_b(static_cast<size_t>(heads * lora * nope)), v_b(static_cast<size_t>(heads * v * lora));
    for (int64_t h = 0; h < heads; ++h) {
        const float* head = kv_b.data() + h * (nope + v) * lora;
        for (int64_t i = 0; i < nope; ++i) {
            for (int64_t r = 0; r < lora; ++r) k_b[(h * lora + r) * nope + i] = head[i * lora + r];
        }
        std::copy_n(head + nope * lora, v * lora, v_b.data() + h * v * lora);
    }
    RETURN_IF_ERROR(ckpt.add_in_dtype_of(gg + "attn_k_b.weight", hf_name, {nope, lora, heads}, k_b));
    return ckpt.add_in_dtype_of(gg + "attn_v_b.weight", hf_name, {lora, v, heads}, v_b);
}

Status convert_layer(HfCheckpoint& ckpt, int64_t l, bool moe, const std::string& gg) {
    const HfConfig& c = ckpt.config();
    const std::string hf = fmt::format("model.layers.{}.", l);
    using Layout = HfCheckpoint::Layout;
    RETURN_IF_ERROR(ckpt.add(gg + "attn_norm.weight", hf + "input_layernorm.weight", Layout::kF32));
    RETURN_IF_ERROR(ckpt.add(gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", Layout::kF32));
    if (c.q_lora_rank) {
        RETURN_IF_ERROR(ckpt.add(gg + "attn_q_a.weight", hf + "self_attn.q_a_proj.weight"));
        RETURN_IF_ERROR(ckpt.add(gg + "attn_q_a_norm.weight", hf + "self_attn.q_a_layernorm.weight", Layout::kF32));
        RETURN_IF_ERROR(ckpt.add(gg + "attn_q_b.weight", hf + "self_attn.q_b_proj.weight"));
    } else {
        RETURN_IF_ERROR(ckpt.add(gg + "attn_q.weight", hf + "self_attn.q_proj.weight"));
    }
    RETURN_IF_ERROR(ckpt.add(gg + "attn_kv_a_mqa.weight", hf + "self_attn.kv_a_proj_with_mqa.weight"));
    RETURN_IF_ERROR(ckpt.add(gg + "attn_kv_a_norm.weight", hf + "self_attn.kv_a_layernorm.weight", Layout::kF32));
    RETURN_IF_ERROR(split_kv_b(ckpt, hf + "self_attn.kv_b_proj.weight", gg));
    RETURN_IF_ERROR(ckpt.add(gg + "attn_output.weight", hf + "self_attn.o_proj.weight"));
    if (!moe) return ckpt.add_ffn(gg, hf + "mlp.", "");
    RETURN_IF_ERROR(ckpt.add(gg + "ffn_gate_inp.weight", hf + "mlp.gate.weight"));
    RETURN_IF_ERROR(ckpt.add_optional(gg + "exp_probs_b.bias", hf + "mlp.gate.e_score_correction_bias", Layout::kF32));
    RETURN_IF_ERROR(ckpt.add_expert_ffn(gg, hf + "mlp.experts.", {"gate_proj", "up_proj", "down_proj"}, c.num_experts));
    if (c.n_shared_experts > 0) return ckpt.add_ffn(gg, hf + "mlp.shared_experts.", "_shexp");
    for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
        RETURN_IF_ERROR(ckpt.skip_empty(hf + "mlp.shared_experts." + proj + ".weight"));
    }
    return ok_status();
}

Status convert_deepseek2(HfCheckpoint& ckpt) {
    const HfConfig& c = ckpt.config();
    const std::string a = kArch;
    if (c.kv_lora_rank <= 0) return Status::error("config.json has no kv_lora_rank (not an MLA model)");
    if (c.moe_layer_freq != 1) return Status::error("moe_layer_freq other than 1 is not supported");
    RETURN_IF_ERROR(ckpt.add_common_metadata(a, 1e-6, c.intermediate_size));
    GgufWriter& w = ckpt.out();
    auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
    w.set_uint32(a + ".attention.head_count_kv", 1);
    w.set_uint32(a + ".attention.key_length", u32(c.kv_lora_rank + c.qk_rope_head_dim));
    w.set_uint32(a + ".attention.value_length", u32(c.kv_lora_rank));
    w.set_uint32(a + ".attention.key_length_mla", u32(c.qk_nope_head_dim + c.qk_rope_head_dim));
    w.set_uint32(a + ".attention.value_length_mla", u32(c.v_head_dim));
    w.set_uint32(a + ".attention.kv_lora_rank", u32(c.kv_lora_rank));
    if (c.q_lora_rank) w.set_uint32(a + ".attention.q_lora_rank", u32(*c.q_lora_rank));
    w.set_uint32(a + ".rope.dimension_count", u32(c.qk_rope_head_dim));
    const HfRopeScaling& r = c.rope_scaling;
    if (r.type == HfRopeScalingType::kYarn) {
        if (r.mscale_all_dim)
            w.set_float32(a + ".rope.scaling.yarn_log_multiplier", static_cast<float>(0.1 * *r.mscale_all_dim));
        auto mscale = [&](double m) { return r.factor <= 1 ? 1.0 : 0.1 * m * std::log(r.factor) + 1.0; };
        const double attn_factor = r.attention_factor.value_or(
            r.mscale && r.mscale_all_dim ? mscale(*r.mscale) / mscale(*r.mscale_all_dim) : 1.0);
        if (attn_factor != 1.0) w.set_float32(a + ".rope.scaling.yarn_attn_factor", static_cast<float>(attn_factor));
    }
    const bool v3 = c.architecture == "DeepseekV3ForCausalLM";
    if (c.num_experts > 0) {
        w.set_uint32(a + ".leading_dense_block_count", u32(c.first_k_dense_replace));
        w.set_uint32(a + ".expert_count", u32(c.num_experts));
        w.set_uint32(a + ".expert_used_count", u32(c.num_experts_per_tok));
        w.set_uint32(a + ".expert_feed_forward_length", u32(c.moe_intermediate_size));
        w.set_uint32(a + ".expert_shared_count", u32(c.n_shared_experts));
        w.set_float32(a + ".expert_weights_scale", static_cast<float>(c.routed_scaling_factor));
        w.set_bool(a + ".expert_weights_norm", c.norm_topk_prob.value_or(false));
        const bool sigmoid = v3 || c.scoring_func == HfScoringFunc::kSigmoid;
        w.set_uint32(a + ".expert_gating_func", sigmoid ? 2 : 1);
        const bool grouped =
            c.topk_method == "group_limited_greedy" || c.topk_method == "noaux_tc" || (v3 && c.topk_method.empty());
        if (grouped && c.n_group > 1) {
            w.set_uint32(a + ".expert_group_count", u32(c.n_group));
            w.set_uint32(a + ".expert_group_used_count", u32(c.topk_group));
        }
    }
    const int64_t nextn = v3 ? c.num_nextn_predict_layers : 0;
    w.set_uint32(a + ".nextn_predict_layers", u32(nextn));
    RETURN_IF_ERROR(ckpt.add_embeddings_and_output());
    auto is_moe = [&](int64_t l) { return c.num_experts > 0 && l >= c.first_k_dense_replace; };
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        RETURN_IF_ERROR(convert_layer(ckpt, l, is_moe(l), fmt::format("blk.{}.", l)));
    }
    // Multi-token-prediction blocks (V3), stored after the trunk when the checkpoint has them.
    for (int64_t i = 0; i < nextn; ++i) {
        const int64_t l = c.num_hidden_layers + i;
        const std::string hf = fmt::format("model.layers.{}.", l);
        const std::string gg = fmt::format("blk.{}.", l);
        if (!ckpt.has(hf + "eh_proj.weight")) break;
        RETURN_IF_ERROR(convert_layer(ckpt, l, is_moe(l), gg));
        RETURN_IF_ERROR(ckpt.add(gg + "nextn.eh_proj.weight", hf + "eh_proj.weight"));
        RETURN_IF_ERROR(ckpt.add(gg + "nextn.enorm.weight", hf + "enorm.weight", HfCheckpoint::Layout::kF32));
        RETURN_IF_ERROR(ckpt.add(gg + "nextn.hnorm.weight", hf + "hnorm.weight", HfCheckpoint::Layout::kF32));
        RETURN_IF_ERROR(ckpt.add_optional(gg + "nextn.shared_head_norm.weight", hf + "shared_head.norm.weight",
                                          HfCheckpoint::Layout::kF32));
        RETURN_IF_ERROR(ckpt.add_optional(gg + "nextn.shared_head_head.weight", hf + "shared_head.head.weight"));
        RETURN_IF_ERROR(ckpt.add_optional(gg + "nextn.embed_tokens.weight", hf + "embed_tokens.weight"));
    }
    return ok_status();
}

}  // namespace

Architecture deepseek2_architecture() {
    return {kArch, &read_deepseek2, {"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"}, &convert_deepseek2};
}

}  // namespace frugal
