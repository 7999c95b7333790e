#include "model/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "loader/weight_loader.h"
#include "model/arch/architecture.h"
#include "model/layers/attention_layer.h"
#include "model/layers/ffn_layer.h"
#include "model/layers/mla_attention_layer.h"
#include "model/layers/moe_layer.h"

namespace frugal {

Result<std::unique_ptr<Model>> Model::load(const GgufFile& file, Backend& backend) {
    Result<std::string> arch = file.get_string("general.architecture");
    if (!arch.ok()) return arch.status().with_context(file.path());
    const Architecture* architecture = find_architecture(arch.value());
    if (architecture == nullptr) {
        std::string known;
        for (const Architecture& a : architectures()) known += (known.empty() ? "" : ", ") + std::string(a.name);
        return Status::errorf("'{}': architecture '{}' is not supported (supported: {})", file.path(), arch.value(),
                              known);
    }
    ModelConfig config;
    if (Status s = architecture->read_config(file, &config); !s.ok()) {
        return s.with_context(fmt::format("'{}' ({})", file.path(), arch.value()));
    }
    if (config.num_experts > 0 && !backend.supports_moe()) {
        return Status::errorf("'{}': the {} backend cannot run mixture-of-experts models yet", file.path(),
                              backend.name());
    }
    if (config.mla() && !backend.supports_mla()) {
        return Status::errorf("'{}': the {} backend cannot run multi-head latent attention (DeepSeek) yet",
                              file.path(), backend.name());
    }
    if (!config.mla() && config.rope_attn_factor != 1.0f && config.n_rot != config.head_dim) {
        return Status::errorf("'{}': YaRN's attention factor with partial rotary embeddings ({} of {} dimensions) is "
                              "not supported",
                              file.path(), config.n_rot, config.head_dim);
    }
    std::unique_ptr<Model> model(new Model(config, backend));
    RETURN_IF_ERROR(model->load_weights(file));
    return model;
}

namespace {

// One decoder layer's tensors under `prefix` ("blk.N"): attention (standard or MLA), then the FFN (dense or MoE).
Status load_layer(WeightLoader& loader, const ModelConfig& c, const std::string& prefix, bool moe, LayerWeights* lw) {
    auto name = [&prefix](const char* suffix) { return fmt::format("{}.{}", prefix, suffix); };
    ASSIGN_OR_RETURN(lw->attn_norm, loader.require_f32(name("attn_norm.weight"), c.dim));
    if (c.mla()) {
        const int64_t q_width = c.num_heads * c.head_dim;
        if (c.q_lora_rank > 0) {
            ASSIGN_OR_RETURN(lw->wq_a, loader.require(name("attn_q_a.weight"), {c.dim, c.q_lora_rank}));
            ASSIGN_OR_RETURN(lw->q_a_norm, loader.require_f32(name("attn_q_a_norm.weight"), c.q_lora_rank));
            ASSIGN_OR_RETURN(lw->wq_b, loader.require(name("attn_q_b.weight"), {c.q_lora_rank, q_width}));
        } else {
            ASSIGN_OR_RETURN(lw->wq, loader.require(name("attn_q.weight"), {c.dim, q_width}));
        }
        ASSIGN_OR_RETURN(lw->wkv_a, loader.require(name("attn_kv_a_mqa.weight"), {c.dim, c.kv_lora_rank + c.qk_rope_dim}));
        ASSIGN_OR_RETURN(lw->kv_a_norm, loader.require_f32(name("attn_kv_a_norm.weight"), c.kv_lora_rank));
        if (!loader.has(name("attn_k_b.weight")) && loader.has(name("attn_kv_b.weight"))) {
            return Status::errorf(
                "'{}' stores the MLA projection as one attn_kv_b tensor (an older llama.cpp conversion); frugal needs "
                "it split into attn_k_b and attn_v_b, as current llama.cpp conversions and `frugal convert` write",
                name("attn_kv_b.weight"));
        }
        ASSIGN_OR_RETURN(lw->wk_b, loader.require(name("attn_k_b.weight"), {c.qk_nope_dim, c.kv_lora_rank, c.num_heads}));
        ASSIGN_OR_RETURN(lw->wv_b, loader.require(name("attn_v_b.weight"), {c.kv_lora_rank, c.head_dim_v, c.num_heads}));
        ASSIGN_OR_RETURN(lw->wo, loader.require(name("attn_output.weight"), {c.num_heads * c.head_dim_v, c.dim}));
    } else {
        ASSIGN_OR_RETURN(lw->wq, loader.require(name("attn_q.weight"), {c.dim, c.q_dim()}));
        ASSIGN_OR_RETURN(lw->wk, loader.require(name("attn_k.weight"), {c.dim, c.kv_dim()}));
        ASSIGN_OR_RETURN(lw->wv, loader.require(name("attn_v.weight"), {c.dim, c.v_dim()}));
        ASSIGN_OR_RETURN(lw->wo, loader.require(name("attn_output.weight"), {c.num_heads * c.head_dim_v, c.dim}));
        if (c.qkv_bias) {
            ASSIGN_OR_RETURN(lw->bq, loader.require_f32(name("attn_q.bias"), c.q_dim()));
            ASSIGN_OR_RETURN(lw->bk, loader.require_f32(name("attn_k.bias"), c.kv_dim()));
            ASSIGN_OR_RETURN(lw->bv, loader.require_f32(name("attn_v.bias"), c.v_dim()));
        }
        if (c.qk_norm) {
            ASSIGN_OR_RETURN(lw->q_norm, loader.require_f32(name("attn_q_norm.weight"), c.head_dim));
            ASSIGN_OR_RETURN(lw->k_norm, loader.require_f32(name("attn_k_norm.weight"), c.head_dim));
        }
    }
    if (c.post_norms) {
        ASSIGN_OR_RETURN(lw->post_attn_norm, loader.require_f32(name("post_attention_norm.weight"), c.dim));
        ASSIGN_OR_RETURN(lw->post_ffn_norm, loader.require_f32(name("post_ffw_norm.weight"), c.dim));
    }
    ASSIGN_OR_RETURN(lw->ffn_norm, loader.require_f32(name("ffn_norm.weight"), c.dim));
    if (!moe) {
        ASSIGN_OR_RETURN(lw->w_gate, loader.require(name("ffn_gate.weight"), {c.dim, c.ffn_dim}));
        ASSIGN_OR_RETURN(lw->w_up, loader.require(name("ffn_up.weight"), {c.dim, c.ffn_dim}));
        ASSIGN_OR_RETURN(lw->w_down, loader.require(name("ffn_down.weight"), {c.ffn_dim, c.dim}));
        return ok_status();
    }
    const int64_t e = c.num_experts;
    ASSIGN_OR_RETURN(lw->router, loader.require(name("ffn_gate_inp.weight"), {c.dim, e}));
    ASSIGN_OR_RETURN(lw->router_bias, loader.optional_f32(name("exp_probs_b.bias"), e));
    ASSIGN_OR_RETURN(lw->gate_exps, loader.require(name("ffn_gate_exps.weight"), {c.dim, c.expert_ffn_dim, e}));
    ASSIGN_OR_RETURN(lw->up_exps, loader.require(name("ffn_up_exps.weight"), {c.dim, c.expert_ffn_dim, e}));
    ASSIGN_OR_RETURN(lw->down_exps, loader.require(name("ffn_down_exps.weight"), {c.expert_ffn_dim, c.dim, e}));
    if (c.shared_expert_ffn_dim > 0) {
        ASSIGN_OR_RETURN(lw->gate_shexp, loader.require(name("ffn_gate_shexp.weight"), {c.dim, c.shared_expert_ffn_dim}));
        ASSIGN_OR_RETURN(lw->up_shexp, loader.require(name("ffn_up_shexp.weight"), {c.dim, c.shared_expert_ffn_dim}));
        ASSIGN_OR_RETURN(lw->down_shexp, loader.require(name("ffn_down_shexp.weight"), {c.shared_expert_ffn_dim, c.dim}));
        if (c.shared_expert_gate) {
            ASSIGN_OR_RETURN(lw->shexp_gate, loader.require(name("ffn_gate_inp_shexp.weight"), {c.dim, 1}));
        }
    }
    return ok_status();
}

}  // namespace

Status Model::load_weights(const GgufFile& file) {
    const ModelConfig& c = config_;
    WeightLoader loader(file, backend_);
    ModelWeights& w = weights_;
    ASSIGN_OR_RETURN(w.token_embedding, loader.require("token_embd.weight", {c.dim, c.vocab_size}));
    ASSIGN_OR_RETURN(w.output_norm, loader.require_f32("output_norm.weight", c.dim));
    ASSIGN_OR_RETURN(w.output, loader.optional("output.weight", {c.dim, c.vocab_size}));
    const bool tied = w.output.data == nullptr;
    if (tied) w.output = w.token_embedding;
    ASSIGN_OR_RETURN(w.rope_freqs, loader.optional_f32("rope_freqs.weight", c.n_rot / 2));
    if (w.rope_freqs.data == nullptr && !c.rope_freq_factors.empty()) {
        ASSIGN_OR_RETURN(w.rope_freqs, backend_.place_weight("rope_freqs (from the RoPE scaling)", DType::kF32,
                                                             {static_cast<int64_t>(c.rope_freq_factors.size())},
                                                             c.rope_freq_factors.data()));
    }

    w.layers.resize(static_cast<size_t>(c.num_layers));
    for (int64_t l = 0; l < c.num_layers; ++l) {
        RETURN_IF_ERROR(load_layer(loader, c, fmt::format("blk.{}", l), c.layer_moe(l), &w.layers[l]));
    }
    const uint64_t trunk_bytes = loader.bytes_loaded();
    // DeepSeek-V3's multi-token-prediction blocks follow the trunk as blk.{num_layers + i}; kept for speculative
    // decoding. Files converted without them (llama.cpp drops them by default) load all the same.
    for (int64_t i = 0; i < c.num_nextn_layers; ++i) {
        const std::string prefix = fmt::format("blk.{}", c.num_layers + i);
        if (!loader.has(prefix + ".nextn.eh_proj.weight")) break;
        NextnWeights& mtp = w.nextn.emplace_back();
        ASSIGN_OR_RETURN(mtp.eh_proj, loader.require(prefix + ".nextn.eh_proj.weight", {2 * c.dim, c.dim}));
        ASSIGN_OR_RETURN(mtp.enorm, loader.require_f32(prefix + ".nextn.enorm.weight", c.dim));
        ASSIGN_OR_RETURN(mtp.hnorm, loader.require_f32(prefix + ".nextn.hnorm.weight", c.dim));
        ASSIGN_OR_RETURN(mtp.shared_head_norm, loader.optional_f32(prefix + ".nextn.shared_head_norm.weight", c.dim));
        RETURN_IF_ERROR(load_layer(loader, c, prefix, c.num_experts > 0, &mtp.layer));
    }
    weight_bytes_ = loader.bytes_loaded();
    // A decode step reads every trunk weight once, except the embedding table, of which it reads one row (unless
    // the table doubles as the output projection, which reads all of it), and of each MoE layer's routed experts
    // only the top_k it picks.
    const uint64_t embedding_bytes = loader.file_bytes("token_embd.weight");
    const uint64_t embedding_row_bytes = embedding_bytes / static_cast<uint64_t>(std::max<int64_t>(c.vocab_size, 1));
    // In file bytes, the unit trunk_bytes counts in (a backend may place experts in a wider or repacked layout).
    uint64_t unused_expert_bytes = 0;
    for (int64_t l = 0; l < c.num_layers && c.num_experts > 0; ++l) {
        double expert_bytes = 0;
        for (const char* part : {"gate", "up", "down"}) {
            expert_bytes += static_cast<double>(loader.file_bytes(fmt::format("blk.{}.ffn_{}_exps.weight", l, part)));
        }
        unused_expert_bytes += static_cast<uint64_t>(expert_bytes * static_cast<double>(c.num_experts - c.routing.top_k) /
                                                     static_cast<double>(c.num_experts));
    }
    weight_bytes_per_token_ =
        trunk_bytes - (tied ? 0 : embedding_bytes) + embedding_row_bytes - unused_expert_bytes;
    return ok_status();
}

bool Model::ensure_workspace(int64_t n, int64_t num_logits, int64_t table_size) {
    Workspace& ws = ws_;
    if (n <= ws.capacity_tokens && num_logits <= ws.capacity_logits && table_size <= ws.capacity_tables) return false;
    const ModelConfig& c = config_;
    ws.buffers.clear();
    ws.capacity_tokens = std::max(n, ws.capacity_tokens);
    ws.capacity_logits = std::max(num_logits, ws.capacity_logits);
    ws.capacity_tables = std::max(table_size, ws.capacity_tables);
    const int64_t cap = ws.capacity_tokens;
    auto make = [&](DType dtype, int64_t cols, int64_t rows) {
        Tensor t(nullptr, dtype, {cols, rows});
        ws.buffers.push_back(backend_.allocate(static_cast<size_t>(t.size_bytes())));
        t.data = ws.buffers.back()->data();
        return t;
    };
    ws.x = make(DType::kF32, c.dim, cap);
    ws.xn = make(DType::kF32, c.dim, cap);
    ws.proj = make(DType::kF32, c.dim, cap);
    ws.q = make(DType::kF32, c.q_dim(), cap);
    ws.k = make(DType::kF32, c.kv_dim(), cap);
    ws.v = make(DType::kF32, c.v_dim(), cap);
    ws.attn = make(DType::kF32, c.num_heads * c.head_dim_v, cap);
    const int64_t ffn_width = std::max({c.ffn_dim, c.shared_expert_ffn_dim, int64_t{1}});
    ws.gate = make(DType::kF32, ffn_width, cap);
    ws.up = make(DType::kF32, ffn_width, cap);
    if (c.num_experts > 0) {
        ws.moe.router_logits = make(DType::kF32, c.num_experts, cap);
        ws.moe.expert_ids = make(DType::kI32, c.routing.top_k, cap);
        ws.moe.expert_weights = make(DType::kF32, c.routing.top_k, cap);
        ws.moe.routed = make(DType::kF32, c.dim, cap);
        ws.moe.shared_gate = make(DType::kF32, 1, cap);
    }
    if (c.mla()) {
        ws.mla.q_a = make(DType::kF32, std::max<int64_t>(c.q_lora_rank, 1), cap);
        ws.mla.q = make(DType::kF32, c.num_heads * c.head_dim, cap);
        ws.mla.q_nope = make(DType::kF32, c.num_heads * c.qk_nope_dim, cap);
        ws.mla.q_rope = make(DType::kF32, c.num_heads * c.qk_rope_dim, cap);
        ws.mla.q_latent = make(DType::kF32, c.num_heads * c.kv_lora_rank, cap);
        ws.mla.kv_a = make(DType::kF32, c.kv_lora_rank + c.qk_rope_dim, cap);
        ws.mla.latent = make(DType::kF32, c.kv_lora_rank, cap);
        ws.mla.k_rope = make(DType::kF32, c.qk_rope_dim, cap);
        ws.mla.o_latent = make(DType::kF32, c.num_heads * c.kv_lora_rank, cap);
    }
    // Token ids, positions, sequences, slots and sequence starts (cap + 1), the block tables and the logits
    // indices, each padded to a whole number of kBatchIntsAlign.
    const int64_t batch_ints = 5 * cap + 1 + ws.capacity_tables + ws.capacity_logits + 7 * kBatchIntsAlign;
    ws.batch_ints = make(DType::kI32, batch_ints, 1);
    ws.batch_host.assign(static_cast<size_t>(batch_ints), 0);
    ws.logits_hidden = make(DType::kF32, c.dim, ws.capacity_logits);
    ws.logits = make(DType::kF32, c.vocab_size, ws.capacity_logits);
    ws.sampled_ids = make(DType::kI32, 1, ws.capacity_logits);
    return true;
}

void Model::layer_forward(int64_t l, int64_t n, KvStorage& kv) {
    const ModelConfig& c = config_;
    const LayerWeights& w = weights_.layers[l];
    Workspace& ws = ws_;
    const Tensor x = ws.x.rows_view(0, n);
    const Tensor xn = ws.xn.rows_view(0, n);
    const Tensor proj = ws.proj.rows_view(0, n);
    const Tensor slots(ws.slots.data, DType::kI32, {n});
    const Tensor* rope_freqs = weights_.rope_freqs.data != nullptr ? &weights_.rope_freqs : nullptr;

    backend_.rms_norm(x, w.attn_norm, c.norm_eps, xn);
    if (c.mla()) {
        const MlaScratch& m = ws.mla;
        MlaScratch scratch{m.q_a.rows_view(0, n),      m.q.rows_view(0, n),      m.q_nope.rows_view(0, n),
                           m.q_rope.rows_view(0, n),   m.q_latent.rows_view(0, n), m.kv_a.rows_view(0, n),
                           m.latent.rows_view(0, n),   m.k_rope.rows_view(0, n), m.o_latent.rows_view(0, n),
                           ws.attn.rows_view(0, n)};
        mla_attention_layer(backend_, c, w, rope_freqs, xn, attention_batch_, slots, kv.k(l), kv.v(l), scratch, proj,
                            x);
    } else {
        AttentionScratch scratch{ws.q.rows_view(0, n), ws.k.rows_view(0, n), ws.v.rows_view(0, n),
                                 ws.attn.rows_view(0, n)};
        attention_layer(backend_, c, w, rope_freqs, l, xn, attention_batch_, slots, kv.k(l), kv.v(l), scratch, proj,
                        x);
    }

    backend_.rms_norm(x, w.ffn_norm, c.norm_eps, xn);
    if (c.layer_moe(l)) {
        const MoeScratch& m = ws.moe;
        MoeScratch scratch{m.router_logits.rows_view(0, n), m.expert_ids.rows_view(0, n),
                           m.expert_weights.rows_view(0, n), m.routed.rows_view(0, n),
                           Tensor(ws.gate.data, DType::kF32, {c.shared_expert_ffn_dim, n}),
                           Tensor(ws.up.data, DType::kF32, {c.shared_expert_ffn_dim, n}), m.shared_gate.rows_view(0, n)};
        moe_layer(backend_, c, w, xn, scratch, proj, x);
    } else {
        ffn_layer(backend_, c, w, xn, Tensor(ws.gate.data, DType::kF32, {c.ffn_dim, n}),
                  Tensor(ws.up.data, DType::kF32, {c.ffn_dim, n}), proj, x);
    }
}

Result<int64_t> Model::forward_to_logits(const ForwardBatch& batch, KvStorage& kv) {
    const ModelConfig& c = config_;
    const int64_t n = batch.num_tokens();
    const auto num_logits = static_cast<int64_t>(batch.logits_indices.size());
    if (n == 0) return Status::error("empty batch");
    if (batch.positions.size() != static_cast<size_t>(n) || batch.token_seq.size() != static_cast<size_t>(n) ||
        batch.slot_mapping.size() != static_cast<size_t>(n) ||
        batch.block_tables.size() != static_cast<size_t>(batch.num_seqs) * batch.max_blocks_per_seq) {
        return Status::error("inconsistent forward batch: per-token arrays or block tables have the wrong size");
    }
    const int64_t num_slots = kv.num_blocks() * kv.block_size();
    for (int64_t i = 0; i < n; ++i) {
        if (batch.token_ids[i] < 0 || batch.token_ids[i] >= c.vocab_size) {
            return Status::errorf("token id {} is outside the vocabulary (size {})", batch.token_ids[i], c.vocab_size);
        }
        if (batch.slot_mapping[i] < 0 || batch.slot_mapping[i] >= num_slots) {
            return Status::errorf("KV slot {} is outside the cache ({} slots)", batch.slot_mapping[i], num_slots);
        }
        if (batch.token_seq[i] < 0 || batch.token_seq[i] >= batch.num_seqs || batch.positions[i] < 0 ||
            batch.positions[i] >= static_cast<int64_t>(batch.max_blocks_per_seq) * kv.block_size()) {
            return Status::errorf("token {} has sequence {} / position {} outside the batch's block tables", i,
                                  batch.token_seq[i], batch.positions[i]);
        }
    }
    for (int32_t block : batch.block_tables) {
        if (block < -1 || block >= kv.num_blocks()) {
            return Status::errorf("block table entry {} is outside the KV cache ({} blocks)", block, kv.num_blocks());
        }
    }
    for (int32_t idx : batch.logits_indices) {
        if (idx < 0 || idx >= n) return Status::errorf("logits index {} is outside the batch of {} tokens", idx, n);
    }

    // Block tables are padded to a power-of-two width (entries -1), so a decode step keeps one shape, and one
    // recorded graph, while its sequence grows, instead of changing every block_size tokens.
    int32_t width = 8;
    while (width < batch.max_blocks_per_seq) width *= 2;
    std::vector<int32_t> tables(static_cast<size_t>(batch.num_seqs) * width, -1);
    for (int32_t s = 0; s < batch.num_seqs; ++s) {
        std::copy_n(batch.block_tables.begin() + static_cast<int64_t>(s) * batch.max_blocks_per_seq,
                    batch.max_blocks_per_seq, tables.begin() + static_cast<int64_t>(s) * width);
    }

    if (ensure_workspace(n, std::max<int64_t>(num_logits, 1), static_cast<int64_t>(tables.size()))) {
        backend_.clear_graphs();
    }
    Workspace& ws = ws_;
    // The step's integer arrays are packed into ws.batch_host and reach the device in one copy (a copy per array
    // costs each its own API call and DMA). The offsets depend only on the step's shape (n, logits rows,
    // sequences, table width), which is part of the graph key below, so a replayed graph finds its inputs where
    // it recorded them.
    int64_t packed = 0;
    auto place = [&](Tensor* dst, const int32_t* src, int64_t count) {
        std::copy_n(src, count, ws.batch_host.begin() + packed);
        *dst = Tensor(static_cast<int32_t*>(ws.batch_ints.data) + packed, DType::kI32, {count});
        packed += (count + kBatchIntsAlign - 1) / kBatchIntsAlign * kBatchIntsAlign;
    };
    place(&ws.token_ids, batch.token_ids.data(), n);
    place(&ws.positions, batch.positions.data(), n);
    place(&ws.token_seq, batch.token_seq.data(), n);
    place(&ws.slots, batch.slot_mapping.data(), n);
    place(&ws.block_tables, tables.data(), static_cast<int64_t>(tables.size()));
    place(&ws.logits_indices, batch.logits_indices.data(), num_logits);
    attention_batch_.positions = ws.positions;
    attention_batch_.token_seq = ws.token_seq;
    attention_batch_.block_tables = Tensor(ws.block_tables.data, DType::kI32, {width, batch.num_seqs});
    attention_batch_.block_size = kv.block_size();
    // Per-sequence token ranges, when each sequence's tokens are contiguous and in sequence order.
    std::vector<int32_t> seq_starts(static_cast<size_t>(batch.num_seqs) + 1, 0);
    bool contiguous = true;
    int64_t max_seq_tokens = 0;
    for (int64_t i = 0, run = 0; i < n && contiguous; ++i) {
        const int32_t s = batch.token_seq[static_cast<size_t>(i)];
        if (i > 0 && s == batch.token_seq[static_cast<size_t>(i - 1)]) {
            ++run;
        } else {
            contiguous = s == (i == 0 ? 0 : batch.token_seq[static_cast<size_t>(i - 1)] + 1);
            run = 1;
            if (contiguous) seq_starts[static_cast<size_t>(s)] = static_cast<int32_t>(i);
        }
        max_seq_tokens = std::max(max_seq_tokens, run);
    }
    contiguous = contiguous && n > 0 && batch.token_seq.back() == batch.num_seqs - 1;
    if (contiguous) {
        seq_starts.back() = static_cast<int32_t>(n);
        place(&ws.seq_starts, seq_starts.data(), batch.num_seqs + 1);
        attention_batch_.seq_starts = ws.seq_starts;
        attention_batch_.max_seq_tokens = max_seq_tokens;
    } else {
        attention_batch_.seq_starts = Tensor();
        attention_batch_.max_seq_tokens = 0;
    }
    backend_.copy_to_device(ws.batch_ints, ws.batch_host.data(), static_cast<size_t>(packed) * sizeof(int32_t));

    const Tensor x = ws.x.rows_view(0, n);
    const Tensor hidden = ws.logits_hidden.rows_view(0, std::max<int64_t>(num_logits, 1));
    const Tensor out = ws.logits.rows_view(0, std::max<int64_t>(num_logits, 1));
    // Everything from here to the logits only issues ops over the workspace, the weights and the cache, whose
    // addresses stay put; the step's inputs arrived above through the workspace. So a small step (decode) can be
    // recorded once per shape and replayed (Backend::run_graph).
    auto issue = [&] {
        backend_.get_rows(weights_.token_embedding, Tensor(ws.token_ids.data, DType::kI32, {n}), x);
        if (c.embedding_scale != 1.0f) backend_.scale(x, c.embedding_scale);
        for (int64_t l = 0; l < c.num_layers; ++l) layer_forward(l, n, kv);
        if (num_logits == 0) return;
        backend_.get_rows(x, Tensor(ws.logits_indices.data, DType::kI32, {num_logits}), hidden);
        backend_.rms_norm(hidden, weights_.output_norm, c.norm_eps, hidden);
        backend_.matmul(weights_.output, hidden, out);
    };
    if (n <= kMaxGraphTokens) {
        uint64_t key = std::hash<const void*>()(kv.k(0).data);
        // max_seq_tokens too: a backend may specialize kernels to batches of one token per sequence.
        for (int64_t v : {n, num_logits, static_cast<int64_t>(batch.num_seqs), static_cast<int64_t>(width),
                          attention_batch_.max_seq_tokens}) {
            key = key * 1000003u ^ static_cast<uint64_t>(v);
        }
        backend_.run_graph(key, issue);
    } else {
        issue();
    }
    return num_logits;
}

Status Model::forward(const ForwardBatch& batch, KvStorage& kv, std::vector<float>* logits) {
    const ModelConfig& c = config_;
    ASSIGN_OR_RETURN(const int64_t num_logits, forward_to_logits(batch, kv));
    logits->clear();
    if (num_logits == 0) return ok_status();
    logits->resize(static_cast<size_t>(num_logits * c.vocab_size));
    backend_.copy_to_host(logits->data(), ws_.logits.rows_view(0, num_logits), logits->size() * sizeof(float));
    if (c.final_logit_softcap > 0) {
        for (float& v : *logits) v = c.final_logit_softcap * std::tanh(v / c.final_logit_softcap);
    }
    return ok_status();
}

Status Model::forward_sample(const ForwardBatch& batch, KvStorage& kv, std::span<const SamplingRow> sampling,
                             std::vector<int32_t>* ids) {
    if (sampling.size() != batch.logits_indices.size()) {
        return Status::errorf("{} sampling rows for {} logits rows", sampling.size(), batch.logits_indices.size());
    }
    for (const SamplingRow& row : sampling) {
        if (!backend_.can_sample(row)) return Status::errorf("{} cannot sample this row on the device", backend_.name());
    }
    ASSIGN_OR_RETURN(const int64_t num_logits, forward_to_logits(batch, kv));
    ids->assign(static_cast<size_t>(num_logits), 0);
    if (num_logits == 0) return ok_status();
    const Tensor out = ws_.sampled_ids.rows_view(0, num_logits).reshaped({num_logits});
    backend_.sample(ws_.logits.rows_view(0, num_logits), sampling.data(), num_logits, config_.final_logit_softcap, out);
    backend_.copy_to_host(ids->data(), out, ids->size() * sizeof(int32_t));
    return ok_status();
}

}  // namespace frugal
