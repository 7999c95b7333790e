// Launchers of the CUDA kernels, one group per .cu file. All take the stream they run on and return at once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/backend.h"
#include "backend/cuda/cuda_common.cuh"

namespace frugal::cuda {

// ---- elementwise.cu ----
// out[i, :] = dequantize(table row ids[i]), F32 [n, table.cols].
void launch_get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out, cudaStream_t stream);
// out_bf16 (optional, [rows, d]): out rounded to BF16 as launch_f32_to_bf16 would, written in the same pass.
void launch_rms_norm(const float* x, const float* weight, float eps, int64_t rows, int64_t d, float* out,
                     cudaStream_t stream, __nv_bfloat16* out_bf16 = nullptr);
// The same, also writing x's quantized copy (as launch_quantize_activations would) in the same pass; with q null, the
// norm alone.
bool rms_norm_quantize_supported(int64_t d);
void launch_rms_norm_quantize(const float* x, const float* weight, float eps, int64_t rows, int64_t d, float* out,
                              int8_t* q, float* qd, float* qsum, cudaStream_t stream);
// out = a + b, b of a's size or one row of `b_cols` values broadcast over a's rows.
void launch_add(const float* a, const float* b, int64_t n, int64_t b_elems, float* out, cudaStream_t stream);
void launch_scale(float* x, int64_t n, float s, cudaStream_t stream);
void launch_rope(float* x, int64_t n, int64_t heads, int64_t head_dim, const int32_t* positions, const RopeParams& p,
                 const float* freq_factors, cudaStream_t stream);
// launch_rope on q and k, then launch_store_kv of k and v, in one pass (head_dim of k and v equal and even).
void launch_rope_store_kv(float* q, float* k, const float* v, int64_t n, int64_t heads, int64_t kv_heads,
                          int64_t head_dim, const int32_t* positions, const RopeParams& p, const float* freq_factors,
                          const int32_t* slots, bool cache_f16, void* k_cache, void* v_cache, cudaStream_t stream);
// out = act(gate) * up; out_bf16 (optional): out rounded to BF16 as launch_f32_to_bf16 would, in the same pass.
void launch_glu(const float* gate, const float* up, int64_t n, GluKind kind, float* out, cudaStream_t stream,
                __nv_bfloat16* out_bf16 = nullptr);
// k: [n, k_row_elems] and v: [n, v_row_elems] F32 into caches (F32 or F16 when cache_f16) at rows slots[i].
void launch_store_kv(const float* k, const float* v, const int32_t* slots, int64_t n, int64_t k_row_elems,
                     int64_t v_row_elems, bool cache_f16, void* k_cache, void* v_cache, cudaStream_t stream);
// Quantizes F32 x [n][cols] into the int8 blocks of QuantizedActivations (q, d, sum point into scratch).
void launch_quantize_activations(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, float* sum,
                                 cudaStream_t stream);
// Writes a weight as BF16 [rows][cols] (rows [row_begin, row_end) only), for the tensor-core GEMM path.
void launch_dequantize_bf16(const WeightView& w, int64_t row_begin, int64_t row_end, __nv_bfloat16* out,
                            cudaStream_t stream);
void launch_f32_to_bf16(const float* x, int64_t n, __nv_bfloat16* out, cudaStream_t stream);

// ---- matvec.cu ----
// y[t][o] = sum_i w[o][i] x[t][i] for n <= kMaxMatvecTokens tokens. Quantized formats read xq (activations
// quantized per 32); float formats read x.
constexpr int kMaxMatvecTokens = 16;
bool matvec_uses_quantized_activations(WeightFormat format);
// Up to three weights of one format and width applied to one input in one launch: y[i] = w[i] x (or y[i] += w[i] x
// with accumulate); with glu, count is 2 and y[0] = act(w[0] x) * (w[1] x).
struct MatvecJob {
    WeightView w[3];
    float* y[3];
    int count = 1;
    bool accumulate = false;
    bool glu = false;
    GluKind glu_kind = GluKind::kSilu;
};
// The q/k/v products' epilogue that launch_rope_store_kv would otherwise run (one token; job: w = wq, wk, wv with
// even row counts; y = q, k, v):
// adjacent-pair rotation (RopeMode::kNormal) of q's and k's first n_rot elements of every head, and k and v written
// into the caches at slots[t].
struct RopeEpilogue {
    const int32_t* positions;  // [n]
    const int32_t* slots;      // [n]
    const float* factors;      // [n_rot / 2] or null
    int head_dim;
    int n_rot;
    float freq_base, freq_scale;
    bool cache_f16;
    void* k_cache;  // [slots, kv rows of wk]
    void* v_cache;  // [slots, rows of wv]
};
// Whether launch_matvec takes a RopeEpilogue for q/k/v weights of this format and width.
bool matvec_rope_epilogue_supported(WeightFormat format, int64_t K);
void launch_matvec(const MatvecJob& job, const float* x, const QuantizedActivations& xq, int64_t n,
                   cudaStream_t stream, const RopeEpilogue* rope = nullptr);

// ---- attention.cu ----
struct AttentionLaunch {
    const float* q;            // [n, heads, head_dim]
    const void* k_cache;       // [slots, kv_heads, head_dim]
    const void* v_cache;
    bool cache_f16;
    const int32_t* positions;  // [n]
    const int32_t* token_seq;  // [n]
    const int32_t* block_tables;  // [num_seqs, max_blocks]
    int64_t n, heads, kv_heads, head_dim, max_blocks, block_size;
    float scale, softcap;
    int sliding_window;
    float* out;                // [n, heads, head_dim]
    // Split-KV scratch: partial results of `splits` key ranges per (token, head), combined by a second kernel.
    // Each split takes at least min_split_keys keys (splits past the context's end then see none), so a short
    // context uses fewer blocks and the launch shape still does not depend on the context length.
    int splits;
    int min_split_keys;
    float* partial_acc;        // [n, heads, splits, head_dim]
    float* partial_ml;         // [n, heads, splits, 2]: running max and normalizer
    // Flash kernel only: [num_seqs + 1] first token of each sequence (contiguous batches; else nullptr), and the
    // most tokens one sequence has (each sequence gets that many tokens' worth of query tiles).
    const int32_t* seq_starts;
    int64_t num_seqs, max_seq_tokens;
    // Split-KV kernel: every sequence has exactly one token in this batch (decode), so the keys before a token's
    // position were all written by earlier steps and may be read before the kernel waits on its predecessor.
    bool early_keys;
};
// The fewest keys a split of the key range takes (AttentionLaunch::min_split_keys).
constexpr int kAttentionMinSplitKeys = 32;
// Splits of the key range worth launching for n tokens over keys up to max_keys on a GPU with num_sms SMs.
int attention_splits(int64_t n, int64_t heads, int64_t kv_heads, int64_t max_keys, int num_sms);
bool attention_supported_head_dim(int64_t head_dim);
// With several splits and out_q set (head_dim a multiple of 32), the merge also writes out's int8 copy for the
// matrix-vector kernels (QuantizedActivations: q [n][heads * head_dim], d and sum per 32), so the output projection
// needs no quantization pass of its own. Returns whether it did.
struct QuantizedOut {
    int8_t* q = nullptr;
    float* d = nullptr;
    float* sum = nullptr;
};
bool launch_attention(const AttentionLaunch& a, cudaStream_t stream, const QuantizedOut& out_q = {});

// ---- flash_attention.cu ----
// The tensor-core kernel for prefill (many query tokens per sequence): F16 caches, head_dim 64, 128 or 256. It
// ignores `splits` (one pass over the keys per tile of 64 query tokens).
bool flash_attention_supported(int64_t head_dim, bool cache_f16);
// out_bf16 (optional, [n, heads, head_dim]): out rounded to BF16 as launch_f32_to_bf16 would, in the same pass.
void launch_flash_attention(const AttentionLaunch& a, cudaStream_t stream, __nv_bfloat16* out_bf16 = nullptr);

// ---- moe.cu ----
constexpr int kMaxRoutedExperts = 512;
constexpr int kMaxRoutedTopK = 64;
constexpr int kMaxExpertGroups = 64;
// MoeRouting without its host pointer (the bias travels separately).
struct MoeRouteArgs {
    int top_k = 1;
    bool softmax = true;
    bool normalize = false;
    float scale = 1.0f;
    int num_groups = 0;
    int groups_used = 0;
    bool top2_group_score = false;
};
// Backend::moe_route for logits [n][num_experts]; bias: [num_experts] or nullptr.
void launch_moe_route(const float* logits, int64_t n, int64_t num_experts, const MoeRouteArgs& args,
                      const float* bias, int32_t* ids, float* weights, cudaStream_t stream);
// Matrix-vector products whose weight rows each item picks from device memory: item i's output
// y[i][o] = sum_{j < slots} slot_weights[s] * (w row group(s) * rows + o) . (activation row s / act_div), with
// s = i * slots + j and group(s) = ids[s] (or s % num_groups without ids). With glu (one slot, no weights):
// y[i][o] = act(w row . x) * (w_up row . x). Any n: there is one launch and no host synchronization.
//  routed experts' gate/up: items = tokens * top_k, ids = the router's, act_div = top_k
//  routed experts' down:    items = tokens, slots = top_k, slot_weights = the router's, act_div = 1
//  per-head products:       items = tokens * heads, num_groups = heads, act_div = 1
struct ItemMatvec {
    WeightView w;     // [num_groups * rows][K]
    WeightView w_up;  // glu only: same shape and format
    bool glu = false;
    GluKind glu_kind = GluKind::kSilu;
    int64_t rows = 0;   // output rows per item
    int64_t items = 0;
    int slots = 1;
    const int32_t* ids = nullptr;          // [items * slots] or nullptr
    int64_t num_groups = 1;                // groups in w; a product whose id is outside [0, num_groups) adds nothing
    const float* slot_weights = nullptr;   // [items * slots] or nullptr (all 1)
    int64_t act_div = 1;
    float* y = nullptr;                    // [items][rows]
};
// x: F32 activation rows [.][K] (float weights); xq: the same rows quantized (quantized weights).
void launch_item_matvec(const ItemMatvec& job, const float* x, const QuantizedActivations& xq, cudaStream_t stream);
// Prefill (more tokens than the matrix-vector kernels take): the pairs grouped by expert.
//  launch_moe_sort: inv[s] = pair s's position in expert order (-1: an invalid id), and the chunks of up to 8
//  positions of one expert: chunks [3][max_chunks] = first position, count, expert; *num_chunks of them.
int64_t moe_max_chunks(int64_t pairs, int64_t num_experts);
void launch_moe_sort(const int32_t* ids, int64_t pairs, int64_t num_experts, int32_t* inv, int32_t* chunks,
                     int32_t* num_chunks, cudaStream_t stream);
// out[inv[s]][:] = x[s / div][:] for every placed pair s (x: [.][cols]).
void launch_gather_rows(const float* x, const int32_t* inv, int64_t pairs, int64_t div, int64_t cols, float* out,
                        cudaStream_t stream);
// Per chunk c, row o: y[p][o] = (w row expert(c) * rows + o) . x[p] for its positions p (glu: act(w.x) * (w_up.x)).
struct GroupedMatvec {
    WeightView w, w_up;  // [num_experts * rows][K]
    bool glu = false;
    GluKind glu_kind = GluKind::kSilu;
    int64_t rows = 0;
    const int32_t* chunks = nullptr;  // from launch_moe_sort
    const int32_t* num_chunks = nullptr;
    int64_t max_chunks = 0;
    float* y = nullptr;  // [positions][rows]
};
void launch_grouped_matvec(const GroupedMatvec& job, const float* x, const QuantizedActivations& xq,
                           cudaStream_t stream);
// out[t][:] = sum_j weights[t][j] * d[inv[t * top_k + j]][:] (slots with inv -1 add nothing).
void launch_moe_combine(const float* d, const int32_t* inv, const float* weights, int64_t n, int64_t top_k,
                        int64_t dim, float* out, cudaStream_t stream);
// x[r][:] *= sigmoid(gate[r]), x: [rows][d].
void launch_sigmoid_scale_rows(float* x, const float* gate, int64_t rows, int64_t d, cudaStream_t stream);

// ---- mla.cu ----
// dst[r][:] = src[r][offset : offset + width], src: [rows][src_width], dst: [rows][width].
void launch_copy_cols(const float* src, int64_t src_width, int64_t offset, int64_t rows, int64_t width, float* dst,
                      cudaStream_t stream);
struct MlaLaunch {
    const float* q_latent;     // [n, heads, latent_dim]
    const float* q_rope;       // [n, heads, rope_dim]
    const void* latent_cache;  // [slots, latent_dim]
    const void* rope_cache;    // [slots, rope_dim]
    bool cache_f16;
    const int32_t* positions;     // [n]
    const int32_t* token_seq;     // [n]
    const int32_t* block_tables;  // [num_seqs, max_blocks]
    int64_t n, heads, latent_dim, rope_dim, max_blocks, block_size;
    float scale, softcap;
    int sliding_window;
    float* out;  // [n, heads, latent_dim]
    // Split-KV scratch: partial results of `splits` key slices per (token, head), merged by a second kernel.
    int splits;
    float* partial_acc;  // [n, heads, splits, latent_dim]
    float* partial_ml;   // [n, heads, splits, 2]: running max and normalizer
};
constexpr int64_t kMaxMlaLatentDim = 1024;
constexpr int64_t kMaxMlaRopeDim = 256;
// Key slices worth launching for n tokens of `heads` heads over keys up to max_keys on num_sms SMs.
int mla_attention_splits(int64_t n, int64_t heads, int64_t max_keys, int num_sms);
void launch_mla_attention(const MlaLaunch& a, cudaStream_t stream);

// ---- sampling.cu ----
// The largest top_k the sampling kernel takes (its candidates are sorted in one block's shared memory).
constexpr int kMaxTopK = 1024;
// ids[r] = the token row r of logits [n][vocab] draws under rows[r] (device memory), as Backend::sample.
void launch_sample(const float* logits, int64_t n, int64_t vocab, const SamplingRow* rows, float softcap,
                   int32_t* ids, cudaStream_t stream);
// ids[r] = the first maximum of logits row r, for rows that are all greedy: over many blocks, with `scratch` of
// argmax_scratch_bytes(n, vocab) bytes for the blocks' partial results.
int64_t argmax_scratch_bytes(int64_t n, int64_t vocab);
void launch_argmax(const float* logits, int64_t n, int64_t vocab, void* scratch, int32_t* ids, cudaStream_t stream);

}  // namespace frugal::cuda
