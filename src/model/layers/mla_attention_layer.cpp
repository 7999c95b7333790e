#include "model/layers/mla_attention_layer.h"

#include <cmath>

namespace frugal {

void mla_attention_layer(Backend& backend, const ModelConfig& c, const LayerWeights& w, const Tensor* rope_freqs,
                         const Tensor& xn, const AttentionBatch& batch, const Tensor& slots, const Tensor& latent_cache,
                         const Tensor& rope_cache, const MlaScratch& s, const Tensor& proj, const Tensor& residual) {
    const int64_t n = xn.rows();
    const int64_t heads = c.num_heads;
    if (w.wq_a.data != nullptr) {
        backend.matmul(w.wq_a, xn, s.q_a);
        backend.rms_norm(s.q_a, w.q_a_norm, c.norm_eps, s.q_a);
        backend.matmul(w.wq_b, s.q_a, s.q);
    } else {
        backend.matmul(w.wq, xn, s.q);
    }
    const Tensor q_per_head = s.q.reshaped({c.head_dim, heads * n});
    backend.copy_cols(q_per_head, 0, s.q_nope.reshaped({c.qk_nope_dim, heads * n}));
    backend.copy_cols(q_per_head, c.qk_nope_dim, s.q_rope.reshaped({c.qk_rope_dim, heads * n}));

    backend.matmul(w.wkv_a, xn, s.kv_a);
    backend.copy_cols(s.kv_a, 0, s.latent);
    backend.copy_cols(s.kv_a, c.kv_lora_rank, s.k_rope);
    backend.rms_norm(s.latent, w.kv_a_norm, c.norm_eps, s.latent);

    RopeParams rope;
    rope.mode = c.rope_mode;
    rope.n_rot = static_cast<int>(c.qk_rope_dim);
    rope.freq_base = c.rope_freq_base;
    rope.freq_scale = c.rope_freq_scale;
    rope.freq_factors = rope_freqs;
    const Tensor q_rope = s.q_rope.reshaped({c.qk_rope_dim, heads, n});
    const Tensor k_rope = s.k_rope.reshaped({c.qk_rope_dim, 1, n});
    backend.rope(q_rope, batch.positions, rope);
    backend.rope(k_rope, batch.positions, rope);
    backend.store_kv(s.latent.reshaped({c.kv_lora_rank, 1, n}), k_rope, slots, latent_cache, rope_cache);
    // YaRN multiplies cos and sin of both q and k, so q_rope . k_rope grows by its square; the latent part of the
    // score has no rotation and keeps its scale.
    if (c.rope_attn_factor != 1.0f) backend.scale(s.q_rope, c.rope_attn_factor * c.rope_attn_factor);

    backend.matmul_heads(w.wk_b, s.q_nope, s.q_latent);
    AttentionParams params;
    params.scale = c.attention_scale > 0 ? c.attention_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    backend.mla_attention(s.q_latent.reshaped({c.kv_lora_rank, heads, n}), q_rope, latent_cache, rope_cache, batch,
                          params, s.o_latent.reshaped({c.kv_lora_rank, heads, n}));
    backend.matmul_heads(w.wv_b, s.o_latent, s.attn);
    backend.matmul_add(w.wo, s.attn.reshaped({heads * c.head_dim_v, n}), proj, residual);
}

}  // namespace frugal
