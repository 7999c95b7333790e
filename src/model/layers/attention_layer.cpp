#include "model/layers/attention_layer.h"

#include <cmath>

namespace frugal {

void attention_layer(Backend& backend, const ModelConfig& c, const LayerWeights& w, const Tensor* rope_freqs,
                     int64_t layer, const Tensor& xn, const AttentionBatch& batch, const Tensor& slots,
                     const Tensor& k_cache, const Tensor& v_cache, const AttentionScratch& s, const Tensor& proj,
                     const Tensor& residual) {
    const int64_t n = xn.rows();
    const Tensor qkv_weights[3] = {w.wq, w.wk, w.wv};
    const Tensor q_heads = s.q.reshaped({c.head_dim, c.num_heads, n});
    const Tensor k_heads = s.k.reshaped({c.head_dim, c.num_kv_heads, n});
    const Tensor v_heads = s.v.reshaped({c.head_dim_v, c.num_kv_heads, n});
    const bool swa = c.layer_swa(layer);
    RopeParams rope;
    rope.mode = c.rope_mode;
    rope.n_rot = c.n_rot;
    rope.freq_base = swa ? c.rope_freq_base_swa : c.rope_freq_base;
    rope.freq_scale = swa ? c.rope_freq_scale_swa : c.rope_freq_scale;
    rope.freq_factors = rope_freqs;
    const bool plain = w.bq.data == nullptr && w.bk.data == nullptr && w.bv.data == nullptr &&
                       w.q_norm.data == nullptr && w.k_norm.data == nullptr;
    if (plain) {
        backend.matmul_qkv_rope_store_kv(qkv_weights, xn, q_heads, k_heads, v_heads, batch.positions, rope, slots,
                                         k_cache, v_cache);
    } else {
        const Tensor qkv[3] = {s.q, s.k, s.v};
        backend.matmul_shared_input(qkv_weights, qkv, 3, xn);
        if (w.bq.data != nullptr) backend.add(s.q, w.bq, s.q);
        if (w.bk.data != nullptr) backend.add(s.k, w.bk, s.k);
        if (w.bv.data != nullptr) backend.add(s.v, w.bv, s.v);
        if (w.q_norm.data != nullptr) backend.rms_norm(q_heads, w.q_norm, c.norm_eps, q_heads);
        if (w.k_norm.data != nullptr) backend.rms_norm(k_heads, w.k_norm, c.norm_eps, k_heads);
        backend.rope_store_kv(q_heads, k_heads, v_heads, batch.positions, rope, slots, k_cache, v_cache);
    }

    AttentionParams params;
    params.scale = c.attention_scale > 0 ? c.attention_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    // YaRN multiplies cos and sin by rope_attn_factor for q and k: with every dimension rotated (Model::load
    // checks), that scales q.k by its square.
    params.scale *= c.rope_attn_factor * c.rope_attn_factor;
    params.sliding_window = swa ? c.sliding_window : 0;
    params.softcap = c.attn_logit_softcap;
    const Tensor attn_heads = s.attn.reshaped({c.head_dim_v, c.num_heads, n});
    backend.attention(q_heads, k_cache, v_cache, batch, params, attn_heads);

    if (w.post_attn_norm.data != nullptr) {
        backend.matmul(w.wo, s.attn, proj);
        backend.rms_norm(proj, w.post_attn_norm, c.norm_eps, proj);
        backend.add(residual, proj, residual);
    } else {
        backend.matmul_add(w.wo, s.attn, proj, residual);
    }
}

}  // namespace frugal
