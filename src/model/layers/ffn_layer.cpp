#include "model/layers/ffn_layer.h"

namespace frugal {

void ffn_layer(Backend& backend, const ModelConfig& c, const LayerWeights& w, const Tensor& xn, const Tensor& gate,
               const Tensor& up, const Tensor& out) {
    backend.matmul(w.w_gate, xn, gate);
    backend.matmul(w.w_up, xn, up);
    backend.glu(gate, up, c.ffn_activation, gate);
    backend.matmul(w.w_down, gate, out);
    if (w.post_ffn_norm.data != nullptr) backend.rms_norm(out, w.post_ffn_norm, c.norm_eps, out);
}

}  // namespace frugal
