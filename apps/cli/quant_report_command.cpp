// frugal quant-report: the table people ask for when choosing a quantization. For each level (a type, or
// mix:B for --mix auto at B bits per weight) it quantizes the base model, then measures the file size, decode and
// prefill speed (frugal bench), perplexity and KL divergence against the base on an evaluation text (frugal
// perplexity), and optionally a multiple-choice task score (frugal eval). It writes report.md (Markdown table),
// report.json and report.svg (size against KL, decode speed against KL) into the output folder. Each step runs this
// same binary as a subprocess, so the numbers are exactly what those commands report.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "core/status.h"

namespace frugal::cli {
namespace {

namespace fs = std::filesystem;

struct ReportOptions {
    std::string model_path;
    std::string tokenizer_path;
    std::string types = "Q8_0,Q6_K,Q5_K,Q4_K,Q4_0";
    std::string method = "rtn";
    std::string calib_path;
    std::string eval_path;
    std::string task_path;
    std::string output_dir = "quant-report";
    int64_t ctx = 512;
    int64_t chunks = 16;
    int threads = 0;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

// Runs this binary with args; returns stdout, or an error with the tail of stderr.
Result<std::string> run_self(const std::vector<std::string>& args, const fs::path& log) {
    std::string cmd = quote(fs::read_symlink("/proc/self/exe").string());
    for (const std::string& a : args) cmd += " " + quote(a);
    cmd += " 2>>" + quote(log.string());
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return Status::errorf("cannot run '{}'", cmd);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    const int status = ::pclose(pipe);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return Status::errorf("'frugal {}' failed (see {})", args.empty() ? "" : args[0], log.string());
    }
    return out;
}

Result<nlohmann::json> run_json(const std::vector<std::string>& args, const fs::path& log) {
    ASSIGN_OR_RETURN(std::string out, run_self(args, log));
    nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    if (j.is_discarded()) return Status::errorf("'frugal {}' printed no JSON", args[0]);
    return j;
}

std::vector<std::string> model_args(const ReportOptions& o, const std::string& model) {
    std::vector<std::string> a = {"-m", model};
    if (!o.tokenizer_path.empty() && model == o.model_path) {
        a.push_back("--tokenizer");
        a.push_back(o.tokenizer_path);
    }
    if (o.threads > 0) {
        a.push_back("-t");
        a.push_back(std::to_string(o.threads));
    }
    return a;
}

// Two scatter panels: file size and decode speed against mean KL (log scale), one labelled point per level.
std::string svg_chart(const nlohmann::json& rows) {
    const int w = 900, h = 380, pad = 60, panel = (w - 3 * pad) / 2;
    double kl_min = 1e9, kl_max = 0;
    for (const auto& r : rows) {
        const double kl = std::max(r["kl_mean"].get<double>(), 1e-6);
        kl_min = std::min(kl_min, kl);
        kl_max = std::max(kl_max, kl);
    }
    const double lo = std::log10(kl_min) - 0.2, hi = std::log10(kl_max) + 0.2;
    auto y_of = [&](double kl) {
        return pad + (h - 2 * pad) * (hi - std::log10(std::max(kl, 1e-6))) / std::max(hi - lo, 1e-9);
    };
    std::string s = fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
        "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        w, h);
    const char* xs[2] = {"size_mib", "tg_tok_s"};
    const char* titles[2] = {"file size (MiB) vs mean KL divergence", "decode tokens/s vs mean KL divergence"};
    for (int p = 0; p < 2; ++p) {
        const int x0 = pad + p * (panel + pad);
        double vmin = 1e18, vmax = 0;
        for (const auto& r : rows) {
            vmin = std::min(vmin, r[xs[p]].get<double>());
            vmax = std::max(vmax, r[xs[p]].get<double>());
        }
        const double span = std::max(vmax - vmin, 1e-9);
        s += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", x0, pad - 25, titles[p]);
        s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", x0,
                         pad, panel, h - 2 * pad);
        s += fmt::format("<text x=\"{}\" y=\"{}\">{:.3g}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>\n",
                         x0, h - pad + 16, vmin, x0 + panel, h - pad + 16, vmax);
        s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.2g}</text><text x=\"{}\" y=\"{}\" "
                         "text-anchor=\"end\">{:.2g}</text>\n",
                         x0 - 4, pad + 10, std::pow(10.0, hi), x0 - 4, h - pad, std::pow(10.0, lo));
        for (const auto& r : rows) {
            const double x = x0 + 10 + (panel - 20) * (r[xs[p]].get<double>() - vmin) / span;
            const double y = y_of(r["kl_mean"].get<double>());
            s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#1f77b4\"/><text x=\"{:.1f}\" "
                             "y=\"{:.1f}\">{}</text>\n",
                             x, y, x + 6, y - 6, r["level"].get<std::string>());
        }
    }
    s += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#555\">lower is better (log scale); KL against the base model on "
                     "the evaluation text</text>\n</svg>\n",
                     pad, h - 12);
    return s;
}

Status quant_report(const ReportOptions& o) {
    if (o.eval_path.empty()) return Status::error("--eval TEXT is needed (perplexity and KL are measured on it)");
    const fs::path dir(o.output_dir);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::errorf("cannot create '{}': {}", dir.string(), ec.message());
    const fs::path log = dir / "report.log";
    std::vector<std::string> levels;
    std::stringstream ss(o.types);
    for (std::string t; std::getline(ss, t, ',');) {
        if (!t.empty()) levels.push_back(t);
    }
    if (levels.empty()) return Status::error("--types lists no level");
    nlohmann::json rows = nlohmann::json::array();
    for (size_t i = 0; i < levels.size(); ++i) {
        const std::string& level = levels[i];
        fmt::print(stderr, "frugal quant-report: [{}/{}] {}\n", i + 1, levels.size(), level);
        const std::string file = (dir / (level.substr(0, level.find(':')) + "_" + std::to_string(i) + ".gguf")).string();
        std::vector<std::string> q = {"quantize", "-o", file, "--method", o.method};
        for (const std::string& a : model_args(o, o.model_path)) q.push_back(a);
        if (level.rfind("mix:", 0) == 0) {
            for (const char* a : {"--type", "Q4_K", "--mix", "auto", "--target-bpw"}) q.emplace_back(a);
            q.push_back(level.substr(4));
        } else {
            q.push_back("--type");
            q.push_back(level);
        }
        if (o.method != "rtn" || level.rfind("mix:", 0) == 0) {
            if (o.calib_path.empty()) return Status::errorf("level {} with --method {} needs --calib", level, o.method);
            q.push_back("--calib");
            q.push_back(o.calib_path);
        }
        RETURN_IF_ERROR(run_self(q, log).status());
        std::vector<std::string> p = {"perplexity", "-f", o.eval_path, "-c", std::to_string(o.ctx), "--chunks",
                                      std::to_string(o.chunks), "--json", "--kl-base", o.model_path};
        for (const std::string& a : model_args(o, file)) p.push_back(a);
        if (!o.tokenizer_path.empty()) {
            p.push_back("--tokenizer");
            p.push_back(o.tokenizer_path);
        }
        ASSIGN_OR_RETURN(nlohmann::json ppl, run_json(p, log));
        std::vector<std::string> b = {"bench", "-p", "128", "-n", "64", "-r", "3", "--json"};
        for (const std::string& a : model_args(o, file)) b.push_back(a);
        ASSIGN_OR_RETURN(nlohmann::json bench, run_json(b, log));
        nlohmann::json row = {{"level", level},
                              {"file", file},
                              {"size_mib", static_cast<double>(fs::file_size(file)) / 1048576.0},
                              {"ppl", ppl["ppl"]},
                              {"base_ppl", ppl["base_ppl"]},
                              {"kl_mean", ppl["kl_mean"]},
                              {"kl_p99", ppl["kl_p99"]},
                              {"top1_agreement", ppl["top1_agreement"]},
                              {"tg_tok_s", bench["tg_tok_s"]},
                              {"pp_tok_s", bench["pp_tok_s"]}};
        if (!o.task_path.empty()) {
            std::vector<std::string> e = {"eval", "--task", o.task_path, "--json"};
            for (const std::string& a : model_args(o, file)) e.push_back(a);
            ASSIGN_OR_RETURN(nlohmann::json ev, run_json(e, log));
            row["task_acc"] = ev["acc"];
        }
        rows.push_back(row);
    }
    const double base_size = static_cast<double>(fs::file_size(o.model_path)) / 1048576.0;
    std::string md = fmt::format("# Quantization report: {}\n\nMethod: {}. Evaluation text: {} (up to {} chunks of "
                                 "{} tokens). Base model: {:.2f} MiB, perplexity {:.4f}.\n\n",
                                 o.model_path, o.method, o.eval_path, o.chunks, o.ctx, base_size,
                                 rows[0]["base_ppl"].get<double>());
    md += "| level | size (MiB) | size vs base | perplexity | mean KL | p99 KL | top-1 agreement | decode tok/s | "
          "prefill tok/s |";
    md += o.task_path.empty() ? "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n" : " task acc |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : rows) {
        md += fmt::format("| {} | {:.2f} | {:.1f} % | {:.4f} | {:.5f} | {:.4f} | {:.1f} % | {:.1f} | {:.1f} |",
                          r["level"].get<std::string>(), r["size_mib"].get<double>(),
                          100.0 * r["size_mib"].get<double>() / base_size, r["ppl"].get<double>(),
                          r["kl_mean"].get<double>(), r["kl_p99"].get<double>(),
                          100.0 * r["top1_agreement"].get<double>(), r["tg_tok_s"].get<double>(),
                          r["pp_tok_s"].get<double>());
        md += o.task_path.empty() ? "\n" : fmt::format(" {:.4f} |\n", r["task_acc"].get<double>());
    }
    md += "\n![size and speed against KL divergence](report.svg)\n";
    std::ofstream(dir / "report.md") << md;
    std::ofstream(dir / "report.json") << nlohmann::json({{"model", o.model_path}, {"rows", rows}}).dump(1) << "\n";
    std::ofstream(dir / "report.svg") << svg_chart(rows);
    fmt::print("{}", md);
    fmt::print(stderr, "frugal quant-report: wrote {}/report.md, report.json, report.svg\n", dir.string());
    return ok_status();
}

}  // namespace

std::function<int()> add_quant_report_command(CLI::App& app) {
    auto o = std::make_shared<ReportOptions>();
    CLI::App* sub =
        app.add_subcommand("quant-report", "Quantize to several levels and tabulate size, speed, perplexity and KL");
    sub->add_option("-m,--model", o->model_path, "Base model (16- or 32-bit): GGUF, HF folder or llama2.c checkpoint")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--tokenizer", o->tokenizer_path, "llama2.c tokenizer.bin (for llama2.c checkpoints)");
    sub->add_option("--types", o->types, "Comma-separated levels: GGUF types and mix:B (e.g. Q8_0,Q4_K,mix:4.8)");
    sub->add_option("--method", o->method, "rtn, imatrix, gptq or awq")
        ->check(CLI::IsMember({"rtn", "imatrix", "gptq", "awq"}));
    sub->add_option("--calib", o->calib_path, "Calibration text (methods other than rtn, and mix levels)")
        ->check(CLI::ExistingFile);
    sub->add_option("--eval", o->eval_path, "Evaluation text for perplexity and KL")->check(CLI::ExistingFile);
    sub->add_option("--task", o->task_path, "Multiple-choice task (frugal eval format)")->check(CLI::ExistingFile);
    sub->add_option("-o,--output", o->output_dir, "Output folder (report.md, report.json, report.svg, the files)");
    sub->add_option("-c,--ctx-size", o->ctx, "Perplexity chunk size");
    sub->add_option("--chunks", o->chunks, "Perplexity chunks");
    sub->add_option("-t,--threads", o->threads, "CPU threads");
    return [o] {
        const Status st = quant_report(*o);
        if (!st.ok()) {
            fmt::print(stderr, "error: {}\n", st.message());
            return 1;
        }
        return 0;
    };
}

}  // namespace frugal::cli
