// Prefill attention on tensor cores (flash attention): a block takes 64 consecutive query tokens of one head, walks
// the keys of their sequence in tiles read through the block table, and keeps the scores of a tile in registers
// (online softmax: running max and normalizer per row), so neither scores nor probabilities reach memory.
//
// Each of the 4 warps owns 16 query rows. S = Q K^T and O += P V are mma.sync m16n8k16 products with F16 operands
// and F32 accumulators. The reference computes in float from the F16 cache, and a model's prefill should not lose
// accuracy to the tensor cores, so Q and P (the operands that are not already F16) are split into a high and a low
// F16 part and each product is two mmas: Q = Qh + Ql with Ql = f16(Q - Qh) leaves a relative error of ~2^-22 instead
// of 2^-11. Attention is ~1% of a prefill's FLOPs, so the doubled mma count costs little; the loads are the same.
//
// A tile of query tokens may hold several sequences (continuous batching mixes prefill chunks with decode tokens):
// the block handles one sequence at a time, masking rows of the others, so K/V tiles are always one sequence's.
#include <cfloat>
#include <climits>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kRows = 16 * kWarps;  // query tokens per block

template <int D>
struct FlashTile {
    static constexpr int kKeys = D <= 128 ? 64 : 32;  // keys per tile (D = 256 halves it to fit shared memory)
    static constexpr int kStride = D + 8;             // halves per shared row: +16 bytes keeps fragment loads
                                                      // and ldmatrix rows on distinct banks
    static constexpr size_t kSmemBytes = sizeof(__half) * kStride * (2 * kRows + 2 * kKeys);
};

__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
}

// Splits (lo, hi) into the F16 pair nearest to them and the F16 pair of what that leaves.
__device__ __forceinline__ void split_half2(float lo, float hi, uint32_t* big, uint32_t* small) {
    const __half2 h = __floats2half2_rn(lo, hi);
    const float2 back = __half22float2(h);
    *big = *reinterpret_cast<const uint32_t*>(&h);
    *small = pack_half2(lo - back.x, hi - back.y);
}

// c += a * b: a 16x16 (row-major fragments), b 16x8 (column-major fragments), c 16x8 in F32.
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8x8 matrices from shared memory; lane i gives the address of row i % 8 of matrix i / 8, and gets element
// (lane / 4, 2 (lane % 4) .. + 1) of matrix m in r[m]: the fragment layout of the mma operands.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const __half* row) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// Four transposed 8x8 matrices from shared memory; lane i gives the address of row i % 8 of matrix i / 8.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const __half* row) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

__device__ __forceinline__ void cp_async_16(__half* smem, const __half* gmem) {
    const auto addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(addr), "l"(gmem));
}

__device__ __forceinline__ void cp_async_wait_all() {
    asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
}

// out_bf16 (optional, [n, heads, D]): the output rounded to BF16, the operand of the GEMM that reads it next.
template <int D>
__global__ void __launch_bounds__(kThreads) flash_attention_kernel(AttentionLaunch a, __nv_bfloat16* out_bf16) {
    begin_dependent_kernel();
    using Tile = FlashTile<D>;
    constexpr int BN = Tile::kKeys, S = Tile::kStride;
    extern __shared__ int4 smem_raw[];
    __half* q_hi = reinterpret_cast<__half*>(smem_raw);  // [kRows][S]: scaled queries, high part
    __half* q_lo = q_hi + kRows * S;                      // [kRows][S]: low part
    __half* k_s = q_lo + kRows * S;                       // [BN][S]
    __half* v_s = k_s + BN * S;                           // [BN][S]
    __shared__ int s_pos[kRows], s_lo[kRows], s_seq[kRows];
    __shared__ bool s_done[kRows];
    // Per key of the tile: its row's offset in the caches (block table, block size and KV head applied), or -1 for a
    // key no row sees. One table read and division per key, not per 16-byte chunk.
    __shared__ int64_t s_key_base[BN];
    __shared__ int s_cur, s_key_begin, s_key_end;

    // Query tiles: kRows tokens of one sequence each when the batch says where sequences start (a decode token is a
    // tile of its own, so many sequences' decode tokens do not queue up in one block); else kRows consecutive tokens.
    int64_t t0, t_end;
    if (a.seq_starts != nullptr) {
        const int64_t tiles_per_seq = (a.max_seq_tokens + kRows - 1) / kRows;
        const int64_t s = blockIdx.x / tiles_per_seq;
        t0 = a.seq_starts[s] + (blockIdx.x % tiles_per_seq) * kRows;
        t_end = min(static_cast<int64_t>(a.seq_starts[s + 1]), t0 + kRows);
        if (t0 >= t_end) return;  // the sequence has fewer tiles than the longest one; uniform over the block
    } else {
        t0 = static_cast<int64_t>(blockIdx.x) * kRows;
        t_end = a.n;
    }
    const int64_t head = blockIdx.y;
    const int64_t kvh = head / (a.heads / a.kv_heads);
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int g = lane / 4, c = lane % 4;  // mma fragment coordinates: row group and column pair
    const int64_t kv_row = a.kv_heads * D;
    const int bs = static_cast<int>(a.block_size);  // 32-bit: a 64-bit division is a ~100-instruction routine

    for (int r = threadIdx.x; r < kRows; r += kThreads) {
        const int64_t t = t0 + r;
        if (t < t_end) {
            const int pos = a.positions[t];
            s_pos[r] = pos;
            s_lo[r] = a.sliding_window > 0 && pos - a.sliding_window + 1 > 0 ? pos - a.sliding_window + 1 : 0;
            s_seq[r] = a.token_seq[t];
        } else {
            s_seq[r] = -1;
        }
        s_done[r] = t >= t_end;
    }
    for (int idx = threadIdx.x; idx < kRows * D / 4; idx += kThreads) {
        const int r = idx / (D / 4), e = (idx % (D / 4)) * 4;
        const int64_t t = t0 + r;
        float4 v = {0, 0, 0, 0};
        if (t < t_end) v = *reinterpret_cast<const float4*>(a.q + (t * a.heads + head) * D + e);
        uint32_t h0, l0, h1, l1;
        split_half2(v.x * a.scale, v.y * a.scale, &h0, &l0);
        split_half2(v.z * a.scale, v.w * a.scale, &h1, &l1);
        *reinterpret_cast<uint2*>(q_hi + r * S + e) = {h0, h1};
        *reinterpret_cast<uint2*>(q_lo + r * S + e) = {l0, l1};
    }
    __syncthreads();

    const int row0 = warp * 16 + g, row1 = row0 + 8;  // the two query rows this thread's fragments touch
    for (;;) {
        if (threadIdx.x == 0) {
            int cur = -1;
            for (int r = 0; r < kRows && cur < 0; ++r) {
                if (!s_done[r]) cur = s_seq[r];
            }
            int begin = INT_MAX, end = -1;
            for (int r = 0; r < kRows && cur >= 0; ++r) {
                if (s_seq[r] == cur) {
                    s_done[r] = true;
                    begin = min(begin, s_lo[r]);
                    end = max(end, s_pos[r]);
                }
            }
            s_cur = cur;
            s_key_begin = begin;
            s_key_end = end;
        }
        __syncthreads();
        const int cur = s_cur;
        if (cur < 0) break;
        const int key_begin = s_key_begin, key_end = s_key_end;
        const int32_t* table = a.block_tables + static_cast<int64_t>(cur) * a.max_blocks;
        // Rows of other sequences (and past n) see no key: lo > pos.
        const bool act0 = s_seq[row0] == cur, act1 = s_seq[row1] == cur;
        const int lo0 = act0 ? s_lo[row0] : INT_MAX, hi0 = act0 ? s_pos[row0] : -1;
        const int lo1 = act1 ? s_lo[row1] : INT_MAX, hi1 = act1 ? s_pos[row1] : -1;
        int warp_lo = min(lo0, lo1), warp_hi = max(hi0, hi1);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            warp_lo = min(warp_lo, __shfl_xor_sync(0xffffffffu, warp_lo, o));
            warp_hi = max(warp_hi, __shfl_xor_sync(0xffffffffu, warp_hi, o));
        }

        float m[2] = {-FLT_MAX, -FLT_MAX}, l[2] = {0.0f, 0.0f};
        float o[D / 8][4];
#pragma unroll
        for (int j = 0; j < D / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;

        for (int kb = key_begin; kb <= key_end; kb += BN) {
            // Which keys of the tile some row of this sequence sees; the others (past the end, or between the
            // windows of non-adjacent rows) are never read: zeros instead, so whatever the cache holds there
            // cannot reach the output through 0 * NaN.
            for (int j = threadIdx.x; j < BN; j += kThreads) {
                const int key = kb + j;
                bool used = false;
                for (int r = 0; r < kRows && !used && key <= key_end; ++r) {
                    used = s_seq[r] == cur && s_lo[r] <= key && key <= s_pos[r];
                }
                const int32_t block = used ? table[key / bs] : -1;
                s_key_base[j] = block >= 0 ? (static_cast<int64_t>(block) * bs + key % bs) * kv_row + kvh * D : -1;
            }
            __syncthreads();
            for (int idx = threadIdx.x; idx < BN * D / 8; idx += kThreads) {
                const int j = idx / (D / 8), e = (idx % (D / 8)) * 8;
                __half* kd = k_s + j * S + e;
                __half* vd = v_s + j * S + e;
                const int64_t base = s_key_base[j];
                if (base >= 0) {
                    cp_async_16(kd, static_cast<const __half*>(a.k_cache) + base + e);
                    cp_async_16(vd, static_cast<const __half*>(a.v_cache) + base + e);
                } else {
                    *reinterpret_cast<int4*>(kd) = {0, 0, 0, 0};
                    *reinterpret_cast<int4*>(vd) = {0, 0, 0, 0};
                }
            }
            cp_async_wait_all();
            __syncthreads();

            if (kb <= warp_hi && kb + BN - 1 >= warp_lo) {
                float s[BN / 8][4];
#pragma unroll
                for (int j = 0; j < BN / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
                // A fragments (the warp's 16 query rows) by ldmatrix: matrices (rows 0-7 | 8-15) x (columns 0-7 |
                // 8-15) are a0..a3. B fragments of key tiles j and j + 1: matrices (keys of j | of j + 1) x (columns
                // 0-7 | 8-15) are b0, b1 of tile j and of tile j + 1.
                const int a_row = warp * 16 + lane % 8 + ((lane / 8) % 2) * 8, a_col = (lane / 16) * 8;
                const int b_key = lane % 8 + (lane / 16) * 8, b_col = ((lane / 8) % 2) * 8;
#pragma unroll 8  // whole for D <= 128; D = 256 spilled at a full unroll
                for (int kk = 0; kk < D / 16; ++kk) {
                    uint32_t ah[4], al[4];
                    ldmatrix_x4(ah, q_hi + a_row * S + kk * 16 + a_col);
                    ldmatrix_x4(al, q_lo + a_row * S + kk * 16 + a_col);
#pragma unroll
                    for (int j = 0; j < BN / 8; j += 2) {
                        uint32_t b[4];
                        ldmatrix_x4(b, k_s + (j * 8 + b_key) * S + kk * 16 + b_col);
                        mma_16816(s[j], ah, b[0], b[1]);
                        mma_16816(s[j], al, b[0], b[1]);
                        mma_16816(s[j + 1], ah, b[2], b[3]);
                        mma_16816(s[j + 1], al, b[2], b[3]);
                    }
                }
                // Fragment element i of tile j: row (i < 2 ? row0 : row1), key kb + 8 j + 2 c + (i & 1).
                float tile_max[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
                for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const int key = kb + 8 * j + 2 * c + (i & 1);
                        const bool visible = i < 2 ? (key >= lo0 && key <= hi0) : (key >= lo1 && key <= hi1);
                        float v = s[j][i];
                        if (a.softcap > 0) v = a.softcap * tanhf(v / a.softcap);
                        s[j][i] = visible ? v : -INFINITY;
                        if (visible) tile_max[i / 2] = fmaxf(tile_max[i / 2], v);
                    }
                }
                float corr[2];
#pragma unroll
                for (int r = 0; r < 2; ++r) {
                    // The four lanes of a quad hold one row's 8 columns of each tile.
                    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
                    tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
                    const float m_new = fmaxf(m[r], tile_max[r]);
                    corr[r] = __expf(m[r] - m_new);
                    m[r] = m_new;
                    l[r] *= corr[r];
                }
#pragma unroll
                for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const float p = __expf(s[j][i] - m[i / 2]);  // exp(-inf) = 0 for masked keys
                        s[j][i] = p;
                        l[i / 2] += p;
                    }
                }
#pragma unroll
                for (int j = 0; j < D / 8; ++j) {
                    o[j][0] *= corr[0];
                    o[j][1] *= corr[0];
                    o[j][2] *= corr[1];
                    o[j][3] *= corr[1];
                }
                // P's accumulator fragments of tiles 2kk and 2kk + 1 are exactly the A fragment of keys
                // [16 kk, 16 kk + 16); V's B fragments come transposed from its row-major tile.
#pragma unroll
                for (int kk = 0; kk < BN / 16; ++kk) {
                    uint32_t ph[4], pl[4];
                    split_half2(s[2 * kk][0], s[2 * kk][1], &ph[0], &pl[0]);
                    split_half2(s[2 * kk][2], s[2 * kk][3], &ph[1], &pl[1]);
                    split_half2(s[2 * kk + 1][0], s[2 * kk + 1][1], &ph[2], &pl[2]);
                    split_half2(s[2 * kk + 1][2], s[2 * kk + 1][3], &ph[3], &pl[3]);
                    const __half* vrow = v_s + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * S + (lane / 16) * 8;
#pragma unroll
                    for (int dd = 0; dd < D / 16; ++dd) {
                        uint32_t b[4];
                        ldmatrix_x4_trans(b, vrow + dd * 16);
                        mma_16816(o[2 * dd], ph, b[0], b[1]);
                        mma_16816(o[2 * dd], pl, b[0], b[1]);
                        mma_16816(o[2 * dd + 1], ph, b[2], b[3]);
                        mma_16816(o[2 * dd + 1], pl, b[2], b[3]);
                    }
                }
            }
            __syncthreads();  // the tile is read; the next one may overwrite it
        }

        // Each lane summed its own columns: the row's normalizer is the quad's total.
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
            l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        }
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            if (!(r == 0 ? act0 : act1)) continue;
            const int64_t t = t0 + (r == 0 ? row0 : row1);
            const float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
            const int64_t first = (t * a.heads + head) * D + 2 * c;
            float* dst = a.out + first;
#pragma unroll
            for (int j = 0; j < D / 8; ++j) {
                const float y0 = o[j][2 * r] * inv, y1 = o[j][2 * r + 1] * inv;
                *reinterpret_cast<float2*>(dst + 8 * j) = {y0, y1};
                if (out_bf16 != nullptr) {
                    *reinterpret_cast<__nv_bfloat162*>(out_bf16 + first + 8 * j) = __floats2bfloat162_rn(y0, y1);
                }
            }
        }
    }
}

template <int D>
void launch_d(const AttentionLaunch& a, cudaStream_t stream, __nv_bfloat16* out_bf16) {
    constexpr size_t smem = FlashTile<D>::kSmemBytes;
    static const bool configured = [] {
        CUDA_CHECK(cudaFuncSetAttribute(flash_attention_kernel<D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        static_cast<int>(smem)));
        return true;
    }();
    (void)configured;
    const int64_t tiles =
        a.seq_starts != nullptr ? a.num_seqs * ceil_div(a.max_seq_tokens, kRows) : ceil_div(a.n, kRows);
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(a.heads));
    launch_kernel(flash_attention_kernel<D>, grid, kThreads, smem, stream, a, out_bf16);
}

}  // namespace

bool flash_attention_supported(int64_t head_dim, bool cache_f16) {
    return cache_f16 && (head_dim == 64 || head_dim == 128 || head_dim == 256);
}

void launch_flash_attention(const AttentionLaunch& a, cudaStream_t stream, __nv_bfloat16* out_bf16) {
    CHECK(flash_attention_supported(a.head_dim, a.cache_f16)) << "head_dim " << a.head_dim;
    if (a.n == 0) return;
    switch (a.head_dim) {
        case 64:
            return launch_d<64>(a, stream, out_bf16);
        case 128:
            return launch_d<128>(a, stream, out_bf16);
        default:
            return launch_d<256>(a, stream, out_bf16);
    }
}

}  // namespace frugal::cuda
