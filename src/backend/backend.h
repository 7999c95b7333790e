// The backend interface: memory placement and the ops the model forward pass is written in.
//
// Contract for every op: tensors are contiguous and live on this backend; activations are F32 unless noted;
// `out` may alias an input only where the op says so. Ops may run asynchronously (CUDA streams): results are
// visible to the host only after copy_to_host(), which synchronizes. On the CPU every op is synchronous.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/check.h"
#include "core/status.h"
#include "core/tensor.h"

namespace frugal {

// Rotary embedding flavour. kNormal rotates adjacent pairs (x[2i], x[2i+1]) as llama.cpp's LLaMA does with
// GGUF's permuted q/k weights; kNeox rotates (x[i], x[i + n_rot/2]) as GPT-NeoX, Qwen and Gemma do.
enum class RopeMode { kNormal, kNeox };

struct RopeParams {
    RopeMode mode = RopeMode::kNormal;
    int n_rot = 0;               // rotated dimensions per head (<= head_dim); the rest pass through
    float freq_base = 10000.0f;  // theta
    float freq_scale = 1.0f;     // linear position scaling (1 / factor)
    const Tensor* freq_factors = nullptr;  // optional F32 [n_rot / 2]: per-frequency divisors (Llama 3.1 style)
};

enum class GluKind { kSilu, kGeluTanh };

// Describes which cached keys each query token attends to. All tensors are I32 on this backend.
struct AttentionBatch {
    Tensor positions;     // [num_tokens] absolute position of each token in its sequence
    Tensor token_seq;     // [num_tokens] index of the token's sequence in block_tables
    Tensor block_tables;  // [num_seqs, max_blocks_per_seq] KV block ids per sequence (-1 = unused)
    int block_size = 16;  // tokens per KV block
    // When every sequence's tokens are contiguous in the batch (the engine's batches): [num_seqs + 1] offsets of
    // each sequence's first token, and the most tokens one sequence has in this batch. Lets a prefill kernel give
    // each sequence query tiles of its own rather than tiles that mix many sequences' decode tokens. Empty and 0
    // otherwise.
    Tensor seq_starts;
    int64_t max_seq_tokens = 0;
};

struct AttentionParams {
    float scale = 1.0f;       // multiplies q·k
    int sliding_window = 0;   // 0 = full causal; else key positions (pos - window, pos] are visible
    float softcap = 0.0f;     // 0 = off; else scores = softcap * tanh(scores / softcap)
};

// How a mixture-of-experts layer picks experts from its router logits (one row per token).
enum class MoeGating { kSoftmax, kSigmoid };  // scores = softmax(logits) over all experts, or sigmoid(logits)
// Group-limited routing (DeepSeek): experts fall into num_groups equal groups; a group's score is its best expert's
// (kMax) or the sum of its best two (kTop2Sum, DeepSeek-V3); only the best groups_used groups are eligible.
enum class MoeGroupScore { kMax, kTop2Sum };

struct MoeRouting {
    int top_k = 1;
    MoeGating gating = MoeGating::kSoftmax;
    bool normalize = false;  // divide the selected scores by their sum
    float scale = 1.0f;      // then multiply them by this (DeepSeek's routed_scaling_factor)
    // Optional F32 [num_experts], added to the scores for choosing experts only (DeepSeek-V3's correction bias).
    const Tensor* selection_bias = nullptr;
    int num_groups = 0;  // 0 or 1: no group limit
    int groups_used = 0;
    MoeGroupScore group_score = MoeGroupScore::kMax;
};

// One row of Backend::sample: llama.cpp's default chain top-k -> top-p -> min-p -> temperature, then a draw.
struct SamplingRow {
    float temperature = 0.0f;  // <= 0: greedy, the first maximum (the other fields are ignored)
    int top_k = 0;             // keep the k largest logits (ties at the k-th broken arbitrarily); <= 0: off
    float top_p = 1.0f;        // then the shortest prefix whose probabilities (at temperature 1) reach top_p
    float min_p = 0.0f;        // then tokens with probability >= min_p * the largest
    // The draw: with the survivors in descending order of logit and p their probabilities at `temperature`, the
    // first token whose cumulative probability exceeds `uniform` (in [0, 1)); the last one if none does.
    double uniform = 0.0;
};

// Owned device memory. Tensors handed out by the backend view into these.
class DeviceBuffer {
public:
    virtual ~DeviceBuffer() = default;
    virtual void* data() = 0;
    virtual size_t size_bytes() const = 0;
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // ---- memory ----
    virtual std::unique_ptr<DeviceBuffer> allocate(size_t bytes) = 0;
    // Places a weight tensor. host_data must stay valid for the backend's lifetime when the backend keeps a
    // view of it (the CPU backend does, over the model's mmap, unless it repacks).
    virtual Result<Tensor> place_weight(const std::string& name, DType dtype, std::initializer_list<int64_t> shape,
                                        const void* host_data) = 0;
    virtual void copy_to_device(const Tensor& dst, const void* src, size_t bytes) = 0;
    virtual void copy_to_host(void* dst, const Tensor& src, size_t bytes) = 0;
    virtual void fill_zero(const Tensor& t) = 0;

    // ---- ops ----
    // out[i, :] = dequantize(table[ids[i], :]). table: any storable dtype [rows, d]; ids: I32 [n]; out: F32 [n, d].
    virtual void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
    // out[r, :] = x[r, :] / rms(x[r, :]) * weight. x, out: [rows, d] (may alias); weight: F32 [d].
    virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) = 0;
    // y[t, o] = sum_i x[t, i] * w[o, i]. w: any weight dtype [out, in]; x: F32 [n, in]; y: F32 [n, out].
    virtual void matmul(const Tensor& w, const Tensor& x, const Tensor& y) = 0;
    // out = a + b; b is either a's shape or one row broadcast over a's rows. out may alias a.
    virtual void add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
    // x *= s, in place.
    virtual void scale(const Tensor& x, float s) = 0;
    // In-place rotary embedding of x: [n, heads, head_dim], positions: I32 [n].
    virtual void rope(const Tensor& x, const Tensor& positions, const RopeParams& params) = 0;
    // out = act(gate) * up, elementwise; all [n, d]. out may alias gate.
    virtual void glu(const Tensor& gate, const Tensor& up, GluKind kind, const Tensor& out) = 0;
    // Writes k: [n, kv_heads, head_dim] and v: [n, kv_heads, head_dim_v] F32 into the caches at slot_mapping[i]
    // (I32 [n]), converting to the caches' dtype. k_cache: [num_slots, kv_heads, head_dim], v_cache:
    // [num_slots, kv_heads, head_dim_v], both F32 or both F16. (head_dim_v may differ from head_dim only on backends
    // with supports_mla(), whose latent caches use it.)
    virtual void store_kv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const Tensor& k_cache,
                          const Tensor& v_cache) = 0;
    // Causal attention of each query token over its sequence's cached keys at positions
    // max(0, pos - window + 1) .. pos. q, out: [n, heads, head_dim]; heads is a multiple of kv_heads (GQA/MQA).
    virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                           const AttentionParams& params, const Tensor& out) = 0;

    // ---- mixture of experts and multi-head latent attention (optional: supports_moe() / supports_mla()) ----
    virtual bool supports_moe() const { return false; }
    virtual bool supports_mla() const { return false; }
    // Per token: expert_ids[t, :] = the routing.top_k experts chosen from logits[t, :] (F32 [n, num_experts]), ties
    // to the lower id; expert_weights[t, :] = their weights. expert_ids: I32 [n, top_k]; expert_weights: F32 [n, top_k].
    virtual void moe_route(const Tensor& logits, const MoeRouting& routing, const Tensor& expert_ids,
                           const Tensor& expert_weights) {
        CHECK(false) << name() << " has no mixture-of-experts ops";
    }
    // out[t, :] = sum_j expert_weights[t, j] * down_e(act(gate_e x[t]) * up_e x[t]) with e = expert_ids[t, j]:
    // the routed experts' FFN. gate_exps, up_exps: [num_experts, ffn, dim]; down_exps: [num_experts, dim, ffn];
    // x, out: F32 [n, dim] (out is overwritten; it may not alias x).
    virtual void moe_ffn(const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps, const Tensor& x,
                         const Tensor& expert_ids, const Tensor& expert_weights, GluKind kind, const Tensor& out) {
        CHECK(false) << name() << " has no mixture-of-experts ops";
    }
    // x[r, :] *= sigmoid(gate[r]) (Qwen2-MoE's shared-expert gate). x: F32 [rows, d]; gate: F32 [rows].
    virtual void sigmoid_scale_rows(const Tensor& x, const Tensor& gate) {
        CHECK(false) << name() << " has no mixture-of-experts ops";
    }
    // dst[r, :] = src[r, offset : offset + dst's width]. src: F32 [rows, src_width]; dst: F32 [rows, width].
    virtual void copy_cols(const Tensor& src, int64_t offset, const Tensor& dst) {
        CHECK(false) << name() << " has no multi-head latent attention ops";
    }
    // Per-head products: y[t, h, :] = w[h] x[t, h, :]. w: [heads, out, in] (any weight dtype);
    // x: F32 [n, heads, in]; y: F32 [n, heads, out].
    virtual void matmul_heads(const Tensor& w, const Tensor& x, const Tensor& y) {
        CHECK(false) << name() << " has no multi-head latent attention ops";
    }
    // Multi-head latent attention in its weight-absorbed form: every head attends over one shared cached latent c
    // and rotary key p per token: score = scale * (q_latent[t, h] . c + q_rope[t, h] . p), out[t, h] = the
    // softmax-weighted sum of c, over the same causal window as attention(). q_latent, out: F32 [n, heads, L];
    // q_rope: F32 [n, heads, R]; latent_cache: [num_slots, 1, L] and rope_cache: [num_slots, 1, R] (F32 or F16),
    // as store_kv(latents, rotary keys, ...) writes them.
    virtual void mla_attention(const Tensor& q_latent, const Tensor& q_rope, const Tensor& latent_cache,
                               const Tensor& rope_cache, const AttentionBatch& batch, const AttentionParams& params,
                               const Tensor& out) {
        CHECK(false) << name() << " has no multi-head latent attention ops";
    }

    // ---- fused products (defaults compose the ops above; backends override to save launches and passes) ----
    // ys[i] = ws[i] x for `count` weights applied to one input (the q, k, v projections).
    virtual void matmul_shared_input(const Tensor* ws, const Tensor* ys, int count, const Tensor& x) {
        for (int i = 0; i < count; ++i) matmul(ws[i], x, ys[i]);
    }
    // out = act(w_gate x) * (w_up x). gate and up: [n, ffn] scratch the composition may use; out may alias gate.
    virtual void matmul_glu(const Tensor& w_gate, const Tensor& w_up, const Tensor& x, GluKind kind, const Tensor& gate,
                            const Tensor& up, const Tensor& out) {
        matmul(w_gate, x, gate);
        matmul(w_up, x, up);
        glu(gate, up, kind, out);
    }
    // residual += w x (a projection added onto the residual stream). scratch: [n, out] the composition may use.
    virtual void matmul_add(const Tensor& w, const Tensor& x, const Tensor& scratch, const Tensor& residual) {
        matmul(w, x, scratch);
        add(residual, scratch, residual);
    }

    // rope(q); rope(k); store_kv(k, v): the rotary embedding of one layer's queries and keys and the cache write of
    // its keys and values. q: [n, heads, head_dim], k: [n, kv_heads, head_dim], v: [n, kv_heads, head_dim_v].
    virtual void rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                               const RopeParams& params, const Tensor& slot_mapping, const Tensor& k_cache,
                               const Tensor& v_cache) {
        rope(q, positions, params);
        rope(k, positions, params);
        store_kv(k, v, slot_mapping, k_cache, v_cache);
    }

    // The q/k/v projections of one layer (ws: wq, wk, wv over the input x [n, dim]) into q [n, heads, head_dim],
    // k [n, kv_heads, head_dim] and v [n, kv_heads, head_dim_v], then rope_store_kv: for layers without projection
    // biases or q/k norms. A backend may rotate and store in the products' epilogue, saving a pass over q and k.
    virtual void matmul_qkv_rope_store_kv(const Tensor* ws, const Tensor& x, const Tensor& q, const Tensor& k,
                                          const Tensor& v, const Tensor& positions, const RopeParams& params,
                                          const Tensor& slot_mapping, const Tensor& k_cache, const Tensor& v_cache) {
        const int64_t n = x.rows();
        const Tensor ys[3] = {q.reshaped({q.num_elements() / n, n}), k.reshaped({k.num_elements() / n, n}),
                              v.reshaped({v.num_elements() / n, n})};
        matmul_shared_input(ws, ys, 3, x);
        rope_store_kv(q, k, v, positions, params, slot_mapping, k_cache, v_cache);
    }

    // ---- sampling on the device (optional) ----
    // Whether sample() takes this row (backends without device sampling take none; the caller then copies the
    // logits to the host and samples there).
    virtual bool can_sample(const SamplingRow& row) const { return false; }
    // ids[r] = the token row r of logits (F32 [n, vocab]) draws under rows[r] (n host rows), after softcap (0: off)
    // maps every logit to softcap * tanh(logit / softcap). ids: I32 [n]. Only for rows can_sample() accepts.
    // (A pointer and a count rather than std::span: this header is also compiled as C++17 by nvcc.)
    virtual void sample(const Tensor& logits, const SamplingRow* rows, int64_t n, float softcap, const Tensor& ids) {
        CHECK(false) << name() << " has no device sampling";
    }

    // Device memory bandwidth in GB/s measured by a large device-to-device copy (bytes read plus bytes written), the
    // yardstick for decode on this backend; 0 when the backend has no such measurement (the CPU: bench probes it).
    virtual double measure_copy_bandwidth_gb_s() { return 0; }

    // ---- graphs (optional) ----
    // Runs `issue`, a function that only issues ops (no copies to or from the host), as one unit the backend may
    // record the first time it sees `key` and replay on later calls with that key (CUDA graphs: one launch instead
    // of hundreds). Contract for callers: a key names one sequence of ops over the same buffers with the same
    // shapes; what changes between calls travels in those buffers' contents. Backends without graphs call issue().
    virtual void run_graph(uint64_t key, const std::function<void()>& issue) { issue(); }
    // Drops recorded graphs; call when buffers they use are freed or replaced.
    virtual void clear_graphs() {}
};

}  // namespace frugal
