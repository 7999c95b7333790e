#include "model/layers/moe_layer.h"

namespace frugal {

void moe_layer(Backend& backend, const ModelConfig& c, const LayerWeights& w, const Tensor& xn, const MoeScratch& s,
               const Tensor& proj, const Tensor& residual) {
    backend.matmul(w.router, xn, s.router_logits);
    MoeRouting routing = c.routing;
    routing.selection_bias = w.router_bias.data != nullptr ? &w.router_bias : nullptr;
    backend.moe_route(s.router_logits, routing, s.expert_ids, s.expert_weights);
    backend.moe_ffn(w.gate_exps, w.up_exps, w.down_exps, xn, s.expert_ids, s.expert_weights, c.ffn_activation,
                    s.routed);
    backend.add(residual, s.routed, residual);
    if (w.gate_shexp.data == nullptr) return;
    backend.matmul_glu(w.gate_shexp, w.up_shexp, xn, c.ffn_activation, s.gate, s.up, s.gate);
    if (w.shexp_gate.data == nullptr) {
        backend.matmul_add(w.down_shexp, s.gate, proj, residual);
        return;
    }
    backend.matmul(w.down_shexp, s.gate, proj);
    backend.matmul(w.shexp_gate, xn, s.shared_gate);
    backend.sigmoid_scale_rows(proj, s.shared_gate);
    backend.add(residual, proj, residual);
}

}  // namespace frugal
