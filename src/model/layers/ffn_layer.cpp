#include "model/layers/ffn_layer.h"

namespace frugal {

void ffn_layer(Backend& backend, const ModelConfig& c, const LayerWeights& w, const Tensor& xn, const Tensor& gate,
               const Tensor& up, const Tensor& proj, const Tensor& residual) {
    backend.matmul_glu(w.w_gate, w.w_up, xn, c.ffn_activation, gate, up, gate);
    if (w.post_ffn_norm.data != nullptr) {
        backend.matmul(w.w_down, gate, proj);
        backend.rms_norm(proj, w.post_ffn_norm, c.norm_eps, proj);
        backend.add(residual, proj, residual);
    } else {
        backend.matmul_add(w.w_down, gate, proj, residual);
    }
}

}  // namespace frugal
