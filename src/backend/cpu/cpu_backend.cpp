#include "backend/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_attention.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/reference/reference_ops.h"
#include "core/half.h"

namespace frugal {
namespace {

constexpr size_t kBufferAlignment = 64;
constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kWeightArenaBytes = size_t{64} << 20;

class HostBuffer final : public DeviceBuffer {
public:
    explicit HostBuffer(size_t bytes) : size_(bytes) {
        const size_t rounded = (std::max<size_t>(bytes, 1) + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
        data_ = std::aligned_alloc(kBufferAlignment, rounded);
        CHECK(data_ != nullptr) << "out of memory allocating " << bytes << " bytes";
    }
    ~HostBuffer() override { std::free(data_); }
    void* data() override { return data_; }
    size_t size_bytes() const override { return size_; }

private:
    void* data_;
    size_t size_;
};

// Rows per parallel chunk for cheap elementwise ops: below this, threading costs more than it saves.
constexpr int64_t kMinElementsPerTask = 16384;

}  // namespace

CpuBackend::CpuBackend(const CpuBackendOptions& options)
    : kernels_(&cpu_kernels(options.detect_isa ? detect_cpu_isa() : options.isa)),
      vector_ops_(&vector_ops(kernels_->isa)),
      reference_matmul_(options.reference_matmul),
      pool_(options.num_threads),
      matmul_(std::make_unique<CpuMatmul>(*kernels_)),
      huge_page_weights_(options.huge_page_weights),
      matmul_observer_(options.matmul_observer),
      on_place_weight_(options.on_place_weight) {
    CHECK(cpu_isa_supported(kernels_->isa)) << "ISA " << cpu_isa_name(kernels_->isa) << " not supported here";
}

CpuBackend::~CpuBackend() {
    for (const Mapping& m : weight_mappings_) ::munmap(m.address, m.bytes);
}

std::string CpuBackend::name() const {
    return "cpu-" + std::string(cpu_isa_name(kernels_->isa)) + (reference_matmul_ ? "-reference" : "");
}

std::unique_ptr<DeviceBuffer> CpuBackend::allocate(size_t bytes) { return std::make_unique<HostBuffer>(bytes); }

Result<Tensor> CpuBackend::place_weight(const std::string& name, DType dtype, std::initializer_list<int64_t> shape,
                                        const void* host_data) {
    if (!has_quant_traits(dtype)) {
        return Status::errorf("tensor '{}' has type {}, which the CPU backend cannot compute with", name,
                              dtype_name(dtype));
    }
    Tensor t(const_cast<void*>(host_data), dtype, shape);
    const auto bytes = static_cast<size_t>(t.size_bytes());
    if ((!huge_page_weights_ || matmul_observer_) && !on_place_weight_) {
        // Zero-copy: the weight stays in the model file's mapping, which outlives the backend.
        if (matmul_observer_) weight_names_[t.data] = name;
        return t;
    }
    // Weights are packed into huge-page arenas: small matrices too (a 0.3 MB projection on 4 KiB pages still
    // costs a TLB miss every 4 KiB); a tensor larger than an arena gets a mapping of its own.
    const size_t padded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
    if (padded > arena_left_) {
        const size_t arena_bytes = std::max(padded, kWeightArenaBytes);
        // Over-allocate by one huge page so the arena can start on a 2 MiB boundary.
        const size_t mapped = (arena_bytes + 2 * kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
        void* region = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (region == MAP_FAILED) {
            return Status::errorf("out of memory placing tensor '{}' ({} bytes) on the CPU", name, bytes);
        }
        weight_mappings_.push_back({region, mapped});
        const auto begin = reinterpret_cast<uintptr_t>(region);
        const auto aligned = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
        // Advisory: without transparent huge pages the copy still works on 4 KiB pages.
        ::madvise(reinterpret_cast<void*>(aligned), mapped - (aligned - begin), MADV_HUGEPAGE);
        arena_cursor_ = reinterpret_cast<uint8_t*>(aligned);
        arena_left_ = mapped - (aligned - begin);
    }
    t.data = arena_cursor_;
    arena_cursor_ += padded;
    arena_left_ -= padded;
    const auto* src = static_cast<const uint8_t*>(host_data);
    auto* dst = static_cast<uint8_t*>(t.data);
    pool_.parallel_for(static_cast<int64_t>(bytes), [&](int64_t b, int64_t e) {
        std::memcpy(dst + b, src + b, static_cast<size_t>(e - b));
    }, 1 << 20);
    if (on_place_weight_) on_place_weight_(name, t);
    return t;
}

void CpuBackend::copy_to_device(const Tensor& dst, const void* src, size_t bytes) { std::memcpy(dst.data, src, bytes); }
void CpuBackend::copy_to_host(void* dst, const Tensor& src, size_t bytes) { std::memcpy(dst, src.data, bytes); }
void CpuBackend::fill_zero(const Tensor& t) { std::memset(t.data, 0, static_cast<size_t>(t.size_bytes())); }

void CpuBackend::get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) {
    CHECK(ids.dtype == DType::kI32 && out.dtype == DType::kF32);
    CHECK_EQ(out.cols(), table.cols());
    const int64_t n = ids.num_elements();
    const int64_t d = table.cols();
    const auto* id = ids.as<int32_t>();
    float* o = out.as<float>();
    pool_.parallel_for(n, [&](int64_t begin, int64_t end) { reference::get_rows(table, id, begin, end, o + begin * d); });
}

void CpuBackend::rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) {
    CHECK_EQ(weight.num_elements(), x.cols());
    const int64_t d = x.cols();
    const int64_t grain = std::max<int64_t>(1, kMinElementsPerTask / d);
    pool_.parallel_for(
        x.rows(), [&](int64_t b, int64_t e) { reference::rms_norm(x.as<float>(), weight.as<float>(), eps, d, b, e, out.as<float>()); },
        grain);
}

void CpuBackend::matmul(const Tensor& w, const Tensor& x, const Tensor& y) {
    CHECK_EQ(x.cols(), w.cols());
    CHECK_EQ(y.cols(), w.rows());
    CHECK_EQ(y.rows(), x.rows());
    if (matmul_observer_) {
        const auto it = weight_names_.find(w.data);
        if (it != weight_names_.end()) matmul_observer_(it->second, x);
    }
    if (reference_matmul_) {
        pool_.parallel_for(w.rows(), [&](int64_t b, int64_t e) {
            reference::matmul(w, x.as<float>(), x.rows(), y.as<float>(), b, e);
        });
        return;
    }
    matmul_->run(pool_, w, x, y);
}

void CpuBackend::add(const Tensor& a, const Tensor& b, const Tensor& out) {
    const int64_t n = a.num_elements();
    const int64_t bn = b.num_elements();
    CHECK(bn == n || bn == a.cols()) << "add: b has " << bn << " elements, a has " << n;
    const float* pa = a.as<float>();
    const float* pb = b.as<float>();
    float* po = out.as<float>();
    pool_.parallel_for(
        n,
        [&](int64_t begin, int64_t end) {
            if (bn == n) {
                for (int64_t i = begin; i < end; ++i) po[i] = pa[i] + pb[i];
            } else {
                for (int64_t i = begin; i < end; ++i) po[i] = pa[i] + pb[i % bn];
            }
        },
        kMinElementsPerTask);
}

void CpuBackend::scale(const Tensor& x, float s) {
    float* p = x.as<float>();
    pool_.parallel_for(
        x.num_elements(), [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) p[i] *= s; },
        kMinElementsPerTask);
}

void CpuBackend::rope(const Tensor& x, const Tensor& positions, const RopeParams& params) {
    const int64_t n = positions.num_elements();
    const int64_t head_dim = x.shape[0];
    const int64_t heads = x.num_elements() / (n * head_dim);
    CHECK(params.n_rot > 0 && params.n_rot <= head_dim && params.n_rot % 2 == 0) << "n_rot " << params.n_rot;
    pool_.parallel_for(n, [&](int64_t b, int64_t e) {
        reference::rope(x.as<float>(), heads, head_dim, positions.as<int32_t>(), params, b, e);
    });
}

void CpuBackend::glu(const Tensor& gate, const Tensor& up, GluKind kind, const Tensor& out) {
    CHECK_EQ(gate.num_elements(), up.num_elements());
    const auto fn = kind == GluKind::kSilu ? vector_ops_->silu_mul : vector_ops_->gelu_tanh_mul;
    pool_.parallel_for(
        gate.num_elements(),
        [&](int64_t b, int64_t e) { fn(gate.as<float>() + b, up.as<float>() + b, out.as<float>() + b, e - b); },
        kMinElementsPerTask / 4);
}

void CpuBackend::store_kv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const Tensor& k_cache,
                          const Tensor& v_cache) {
    const int64_t n = slot_mapping.num_elements();
    const int64_t k_row = k.num_elements() / n;
    const int64_t v_row = v.num_elements() / n;
    CHECK(k_cache.dtype == DType::kF32 || k_cache.dtype == DType::kF16) << "KV cache dtype";
    CHECK(v_cache.dtype == k_cache.dtype) << "K and V caches differ in dtype";
    const int64_t num_slots = k_cache.num_elements() / k_row;
    CHECK_EQ(v_cache.num_elements() / v_row, num_slots);
    const auto* slots = slot_mapping.as<int32_t>();
    for (int64_t i = 0; i < n; ++i) CHECK(slots[i] >= 0 && slots[i] < num_slots) << "slot " << slots[i];
    reference::store_kv(k.as<float>(), v.as<float>(), slots, k_row, v_row, k_cache.dtype, k_cache.data, v_cache.data,
                        0, n);
}

void CpuBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                           const AttentionParams& params, const Tensor& out) {
    reference::AttentionShape s;
    s.head_dim = q.shape[0];
    s.heads = q.shape[1];
    s.kv_heads = k_cache.shape[1];
    s.max_blocks_per_seq = batch.block_tables.shape[0];
    s.block_size = batch.block_size;
    s.cache_dtype = k_cache.dtype;
    const int64_t n = batch.positions.num_elements();
    CHECK(s.heads % s.kv_heads == 0) << s.heads << " heads, " << s.kv_heads << " kv heads";
    pool_.parallel_for(n * s.kv_heads, [&](int64_t b, int64_t e) {
        cpu_attention(*vector_ops_, q.as<float>(), k_cache.data, v_cache.data, batch.positions.as<int32_t>(),
                      batch.token_seq.as<int32_t>(), batch.block_tables.as<int32_t>(), s, params, b, e,
                      out.as<float>());
    });
}

}  // namespace frugal
