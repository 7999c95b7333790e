// frugal calibrate / frugal quantize: collect activation statistics on calibration text once, then quantize a GGUF
// or Hugging Face model to a standard GGUF type with round-to-nearest, an importance-weighted scale search, GPTQ or
// AWQ.
// The output appears only when complete (write_atomically).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "cli_common.h"
#include "commands.h"
#include "core/thread_pool.h"
#include "engine/calibration.h"
#include "engine/mix_search.h"
#include "engine/model_source.h"
#include "quant/model_quantizer.h"

namespace frugal::cli {
namespace {

struct CalibrateOptions {
    std::string model_path;
    std::string tokenizer_path;
    std::string text_path;
    std::string output_path;
    int64_t chunk_size = 512;
    int64_t chunks = -1;
    bool hessians = false;
    int threads = 0;
};

Result<ActivationStats> calibrate(const std::string& model_path, const std::string& tokenizer_path,
                                  const std::string& text_path, int64_t chunk_size, int64_t chunks, bool hessians,
                                  int threads) {
    ASSIGN_OR_RETURN(std::unique_ptr<ModelSource> source, ModelSource::open(model_path, tokenizer_path));
    ASSIGN_OR_RETURN(std::string text, read_text_file(text_path));
    CalibrationOptions co;
    co.chunk_size = chunk_size;
    co.max_chunks = chunks;
    co.hessians = hessians;
    co.num_threads = resolve_threads(threads);
    const auto start = std::chrono::steady_clock::now();
    co.progress = [start](int64_t c, int64_t n) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        fmt::print(stderr, "\rfrugal calibrate: chunk {}/{}, {:.1f} s, ETA {:.0f} s   ", c, n, s,
                   s / static_cast<double>(c) * static_cast<double>(n - c));
        if (c == n) fmt::print(stderr, "\n");
    };
    ASSIGN_OR_RETURN(ActivationStats stats, collect_activation_stats(*source, text, co));
    stats.datasets.push_back(text_path);
    return stats;
}

struct QuantizeOptions {
    std::string model_path;
    std::string tokenizer_path;
    std::string output_path;
    std::string type = "Q4_K";
    std::string method = "rtn";
    std::string calib_path;
    std::string imatrix_path;
    int64_t chunk_size = 512;
    int64_t chunks = -1;
    bool pure = false;
    std::string mix;
    double target_bpw = 5.0;
    bool no_act_order = false;
    double damp = 0.01;
    int threads = 0;
};

Status quantize(const QuantizeOptions& o) {
    const std::optional<DType> type = dtype_from_name(o.type);
    if (!type) return Status::errorf("--type {}: unknown type", o.type);
    ModelQuantizeOptions mo;
    mo.type = *type;
    mo.method = o.method == "gptq"      ? QuantMethod::kGptq
                : o.method == "imatrix" ? QuantMethod::kImatrix
                : o.method == "awq"     ? QuantMethod::kAwq
                                        : QuantMethod::kRtn;
    mo.pure = o.pure;
    mo.gptq.act_order = !o.no_act_order;
    mo.gptq.damp = o.damp;
    ActivationStats stats;
    if (mo.method != QuantMethod::kRtn) {
        if (!o.imatrix_path.empty()) {
            ASSIGN_OR_RETURN(stats, ActivationStats::load(o.imatrix_path));
        } else if (!o.calib_path.empty()) {
            ASSIGN_OR_RETURN(stats, calibrate(o.model_path, o.tokenizer_path, o.calib_path, o.chunk_size, o.chunks,
                                              mo.method == QuantMethod::kGptq || mo.method == QuantMethod::kAwq,
                                              o.threads));
        } else {
            return Status::errorf("--method {} needs --calib TEXT or --imatrix FILE", o.method);
        }
        mo.stats = &stats;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ModelSource> source, ModelSource::open(o.model_path, o.tokenizer_path));
    if (!o.mix.empty()) {
        if (o.mix != "auto") return Status::errorf("--mix {}: only 'auto' is supported", o.mix);
        if (o.calib_path.empty()) return Status::error("--mix auto needs --calib TEXT to measure sensitivities on");
        ASSIGN_OR_RETURN(std::string text, read_text_file(o.calib_path));
        MixOptions mix;
        mix.target_bpw = o.target_bpw;
        mix.chunk_size = std::min<int64_t>(o.chunk_size, 256);
        mix.num_threads = resolve_threads(o.threads);
        mix.progress = [](size_t done, size_t total, const std::string& name) {
            fmt::print(stderr, "\rfrugal quantize: sensitivity {}/{} {:<40}", done, total, name);
            if (done == total) fmt::print(stderr, "\n");
        };
        ASSIGN_OR_RETURN(MixResult result, search_mix(*source, text, mix));
        fmt::print("| tensor | KL by type | chosen |\n|---|---|---|\n");
        for (const TensorSensitivity& s : result.tensors) {
            std::string kls;
            for (size_t i = 0; i < s.candidates.size(); ++i) {
                kls += fmt::format("{}{} {:.5f}", i ? ", " : "", dtype_name(s.candidates[i]), s.kl[i]);
            }
            fmt::print("| {} | {} | {} |\n", s.name, kls, dtype_name(s.chosen));
        }
        fmt::print("\nmix: {:.3f} bits per weight over the quantized matrices (target {:.3f}); KL {:.5f} on the "
                   "calibration text (round-to-nearest)\n\n",
                   result.bpw, o.target_bpw, result.measured_kl);
        mo.type_overrides = result.types;
    }
    ThreadPool pool(resolve_threads(o.threads));
    mo.pool = &pool;
    int64_t total_elements = 0;
    for (const GgufTensorInfo& t : source->gguf().tensors()) total_elements += t.num_elements();
    int64_t done_elements = 0;
    const auto start = std::chrono::steady_clock::now();
    mo.progress = [&](const TensorQuantReport& r, size_t index, size_t total) {
        int64_t elements = 1;
        for (int64_t d : r.shape) elements *= d;
        done_elements += elements;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double eta = s / static_cast<double>(std::max<int64_t>(done_elements, 1)) *
                           static_cast<double>(total_elements - done_elements);
        fmt::print(stderr, "[{:>4}/{}] {:<32} {:>5} -> {:<5} {:<7} err {:.4f}  {:.2f} s  ETA {:.0f} s\n", index, total,
                   r.name, dtype_name(r.from), dtype_name(r.to), r.method, r.rel_rms_error, r.seconds, eta);
    };
    GgufWriter writer;
    ASSIGN_OR_RETURN(std::vector<TensorQuantReport> reports, quantize_model(source->gguf(), mo, &writer));
    RETURN_IF_ERROR(write_atomically(o.output_path, [&](const std::string& p) { return writer.write(p); }));

    int64_t in_bytes = 0, out_bytes = 0, elements = 0;
    fmt::print("| tensor | shape | from | to | method | rel. RMS error | rel. weighted error |\n");
    fmt::print("|---|---|---|---|---|---:|---:|\n");
    for (const TensorQuantReport& r : reports) {
        int64_t n = 1;
        for (int64_t d : r.shape) n *= d;
        elements += n;
        in_bytes += static_cast<int64_t>(dtype_row_bytes(r.from, r.shape[0])) * (n / r.shape[0]);
        out_bytes += r.bytes;
        if (r.method == "copy") continue;
        fmt::print("| {} | {} | {} | {} | {} | {:.5f} | {} |\n", r.name, fmt::join(r.shape, "x"), dtype_name(r.from),
                   dtype_name(r.to), r.method, r.rel_rms_error,
                   r.rel_weighted_error >= 0 ? fmt::format("{:.5f}", r.rel_weighted_error) : "-");
    }
    fmt::print("\n{}: {:.2f} MiB -> {:.2f} MiB of tensors, {:.3f} bits per weight ({}, {})\n", o.output_path,
               static_cast<double>(in_bytes) / 1048576.0, static_cast<double>(out_bytes) / 1048576.0,
               8.0 * static_cast<double>(out_bytes) / static_cast<double>(std::max<int64_t>(elements, 1)),
               dtype_name(*type), o.method);
    return ok_status();
}

int report(const Status& st) {
    if (!st.ok()) {
        fmt::print(stderr, "error: {}\n", st.message());
        return 1;
    }
    return 0;
}

}  // namespace

std::function<int()> add_calibrate_command(CLI::App& app) {
    auto o = std::make_shared<CalibrateOptions>();
    CLI::App* sub = app.add_subcommand("calibrate", "Collect activation statistics (imatrix, Hessians) on a text");
    sub->add_option("-m,--model", o->model_path, "Model: GGUF, Hugging Face folder or llama2.c checkpoint")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--tokenizer", o->tokenizer_path, "llama2.c tokenizer.bin (for llama2.c checkpoints)");
    sub->add_option("-f,--file", o->text_path, "Calibration text")->required()->check(CLI::ExistingFile);
    sub->add_option("-o,--output", o->output_path, "Output statistics (GGUF, llama.cpp's imatrix layout)")->required();
    sub->add_option("-c,--ctx-size", o->chunk_size, "Tokens per chunk")->check(CLI::PositiveNumber);
    sub->add_option("--chunks", o->chunks, "At most this many chunks");
    sub->add_flag("--hessian", o->hessians, "Also collect full Hessians (needed by --method gptq)");
    sub->add_option("-t,--threads", o->threads, "CPU threads");
    return [o] {
        Result<ActivationStats> stats =
            calibrate(o->model_path, o->tokenizer_path, o->text_path, o->chunk_size, o->chunks, o->hessians, o->threads);
        if (!stats.ok()) return report(stats.status());
        const Status st = write_atomically(o->output_path, [&](const std::string& p) { return stats->save(p); });
        if (st.ok()) fmt::print(stderr, "frugal calibrate: wrote {} ({} weights)\n", o->output_path, stats->weights.size());
        return report(st);
    };
}

std::function<int()> add_quantize_command(CLI::App& app) {
    auto o = std::make_shared<QuantizeOptions>();
    CLI::App* sub = app.add_subcommand("quantize", "Quantize a model to a GGUF type (rtn, imatrix or gptq)");
    sub->add_option("-m,--model", o->model_path, "Model: GGUF, Hugging Face folder or llama2.c checkpoint")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--tokenizer", o->tokenizer_path, "llama2.c tokenizer.bin (for llama2.c checkpoints)");
    sub->add_option("-o,--output", o->output_path, "Output GGUF")->required();
    sub->add_option("--type", o->type, "Target type: Q8_0, Q6_K, Q5_K, Q4_K, Q5_0, Q4_0, Q4_1, Q5_1, F16, BF16");
    sub->add_option("--method", o->method,
                    "rtn (round to nearest), imatrix (importance-weighted scales), gptq or awq (activation-aware "
                    "channel scales folded into the preceding norm/linear)")
        ->check(CLI::IsMember({"rtn", "imatrix", "gptq", "awq"}));
    sub->add_option("--calib", o->calib_path, "Calibration text (for imatrix and gptq)")->check(CLI::ExistingFile);
    sub->add_option("--imatrix", o->imatrix_path, "Statistics from frugal calibrate (instead of --calib)")
        ->check(CLI::ExistingFile);
    sub->add_option("-c,--ctx-size", o->chunk_size, "Calibration tokens per chunk")->check(CLI::PositiveNumber);
    sub->add_option("--chunks", o->chunks, "At most this many calibration chunks");
    sub->add_flag("--pure", o->pure, "Every matrix gets --type (no Q6_K output projection)");
    sub->add_option("--mix", o->mix, "auto: per-tensor types from measured sensitivity under --target-bpw (needs --calib)")
        ->check(CLI::IsMember({"auto"}));
    sub->add_option("--target-bpw", o->target_bpw, "Bits per weight the --mix may spend over the quantized matrices");
    sub->add_flag("--no-act-order", o->no_act_order, "GPTQ: quantize columns in their natural order");
    sub->add_option("--damp", o->damp, "GPTQ: diagonal damping as a fraction of the mean diagonal");
    sub->add_option("-t,--threads", o->threads, "CPU threads");
    return [o] { return report(quantize(*o)); };
}

}  // namespace frugal::cli
