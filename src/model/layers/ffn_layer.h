// Gated feed-forward sub-block: down(act(gate(x)) * up(x)), with an optional post-norm (Gemma).
#pragma once

#include "backend/backend.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace frugal {

// residual[n, dim] += ffn(xn[n, dim]); gate and up [n, ffn_dim] and proj [n, dim] are scratch.
void ffn_layer(Backend& backend, const ModelConfig& config, const LayerWeights& w, const Tensor& xn,
               const Tensor& gate, const Tensor& up, const Tensor& proj, const Tensor& residual);

}  // namespace frugal
