// Weights of a decoder-only transformer as placed on a backend. Optional tensors have data == nullptr.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace frugal {

struct LayerWeights {
    Tensor attn_norm;       // [dim]
    Tensor wq, wk, wv, wo;  // [q_dim, dim], [kv_dim, dim], [v_dim, dim], [dim, q_dim] (rows × cols)
    Tensor bq, bk, bv;      // optional biases [q_dim], [kv_dim], [v_dim]
    Tensor q_norm, k_norm;  // optional per-head norms [head_dim]
    Tensor post_attn_norm;  // optional [dim]
    Tensor ffn_norm;        // [dim]
    Tensor w_gate, w_up;    // [ffn_dim, dim]
    Tensor w_down;          // [dim, ffn_dim]
    Tensor post_ffn_norm;   // optional [dim]
};

struct ModelWeights {
    Tensor token_embedding;  // [vocab, dim]
    Tensor output_norm;      // [dim]
    Tensor output;           // [vocab, dim]; the token embedding when tied
    Tensor rope_freqs;       // optional [n_rot / 2] (Llama 3.1 frequency factors)
    std::vector<LayerWeights> layers;
};

}  // namespace frugal
