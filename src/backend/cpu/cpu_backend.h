// The CPU backend: every op runs synchronously on the caller's thread plus a fork-join pool. Matrix products use
// the ISA kernel table chosen at construction (detect_cpu_isa() unless forced); other ops use portable code.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/vector_ops.h"
#include "core/thread_pool.h"

namespace frugal {

class CpuMatmul;

struct CpuBackendOptions {
    int num_threads = 1;
    CpuIsa isa = CpuIsa::kScalar;
    bool detect_isa = true;         // when true, isa is ignored and the best supported variant is used
    bool reference_matmul = false;  // use the scalar double-precision reference matmul (tests only)
    // Copy weights from the file mapping into anonymous memory backed by 2 MiB pages: decode streams every
    // weight per token, and 4 KiB file pages cost TLB misses that show up as lost bandwidth.
    bool huge_page_weights = true;
    // Calibration: called with the weight's name and the F32 input [n, in] of every dense matrix product, before
    // the product runs (the fused products are composed of matmul on this backend, so they are seen too).
    std::function<void(const std::string& weight, const Tensor& x)> matmul_observer;
    // Sensitivity measurement: called with each weight as placed. The bytes are a private copy (weights are always
    // copied when this is set), so the caller may overwrite them between forward passes.
    std::function<void(const std::string& weight, const Tensor& placed)> on_place_weight;
};

class CpuBackend final : public Backend {
public:
    explicit CpuBackend(const CpuBackendOptions& options);
    ~CpuBackend() override;

    std::string name() const override;
    CpuIsa isa() const { return kernels_->isa; }
    int num_threads() const { return pool_.num_threads(); }

    std::unique_ptr<DeviceBuffer> allocate(size_t bytes) override;
    Result<Tensor> place_weight(const std::string& name, DType dtype, std::initializer_list<int64_t> shape,
                                const void* host_data) override;
    void copy_to_device(const Tensor& dst, const void* src, size_t bytes) override;
    void copy_to_host(void* dst, const Tensor& src, size_t bytes) override;
    void fill_zero(const Tensor& t) override;

    void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) override;
    void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override;
    void matmul(const Tensor& w, const Tensor& x, const Tensor& y) override;
    void add(const Tensor& a, const Tensor& b, const Tensor& out) override;
    void scale(const Tensor& x, float s) override;
    void rope(const Tensor& x, const Tensor& positions, const RopeParams& params) override;
    void glu(const Tensor& gate, const Tensor& up, GluKind kind, const Tensor& out) override;
    void store_kv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const Tensor& k_cache,
                  const Tensor& v_cache) override;
    void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                   const AttentionParams& params, const Tensor& out) override;

    // Mixture of experts and multi-head latent attention (cpu_moe_mla.cpp).
    bool supports_moe() const override { return true; }
    bool supports_mla() const override { return true; }
    void moe_route(const Tensor& logits, const MoeRouting& routing, const Tensor& expert_ids,
                   const Tensor& expert_weights) override;
    void moe_ffn(const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps, const Tensor& x,
                 const Tensor& expert_ids, const Tensor& expert_weights, GluKind kind, const Tensor& out) override;
    void sigmoid_scale_rows(const Tensor& x, const Tensor& gate) override;
    void copy_cols(const Tensor& src, int64_t offset, const Tensor& dst) override;
    void matmul_heads(const Tensor& w, const Tensor& x, const Tensor& y) override;
    void mla_attention(const Tensor& q_latent, const Tensor& q_rope, const Tensor& latent_cache,
                       const Tensor& rope_cache, const AttentionBatch& batch, const AttentionParams& params,
                       const Tensor& out) override;

private:
    const CpuKernels* kernels_;
    const VectorOps* vector_ops_;
    bool reference_matmul_;
    ThreadPool pool_;
    std::unique_ptr<CpuMatmul> matmul_;
    bool huge_page_weights_;
    std::function<void(const std::string&, const Tensor&)> matmul_observer_;
    std::function<void(const std::string&, const Tensor&)> on_place_weight_;
    std::unordered_map<const void*, std::string> weight_names_;  // only with matmul_observer_
    struct Mapping {
        void* address;
        size_t bytes;
    };
    std::vector<Mapping> weight_mappings_;  // anonymous mappings holding copied weights; unmapped on destruction
    uint8_t* arena_cursor_ = nullptr;       // next free byte of the newest weight arena
    size_t arena_left_ = 0;
};

}  // namespace frugal
