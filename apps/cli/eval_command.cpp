// frugal eval: multiple-choice accuracy by log-likelihood, the way lm-evaluation-harness scores MMLU-style tasks.
// Each line of the task file is a JSON object {"context": "...", "choices": ["...", ...], "answer": i}
// ("question" is accepted for "context"). Every choice is scored as the sum of the log-probabilities of its tokens
// after the context (the continuation's tokens are those of context+choice past the context's own tokens, as the
// harness splits them); acc picks the highest sum, acc_norm the highest sum per byte of the choice.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "sampling/log_probs.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

struct EvalOptions {
    ModelOptions model;
    std::string task_path;
    int64_t limit = -1;
    bool json = false;
};

struct Item {
    std::string context;
    std::vector<std::string> choices;
    int64_t answer = 0;
};

Result<std::vector<Item>> read_task(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Status::errorf("cannot read '{}'", path);
    std::vector<Item> items;
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        const char* key = j.is_object() && j.contains("context") ? "context" : "question";
        if (!j.is_object() || !j.contains(key) || !j[key].is_string() || !j.contains("choices") ||
            !j["choices"].is_array() || j["choices"].size() < 2 || !j.contains("answer") ||
            !j["answer"].is_number_integer()) {
            return Status::errorf("{}:{}: expected {{\"context\": str, \"choices\": [str, str, ...], \"answer\": int}}",
                                  path, n);
        }
        Item item;
        item.context = j[key].get<std::string>();
        for (const auto& c : j["choices"]) {
            if (!c.is_string()) return Status::errorf("{}:{}: choices must be strings", path, n);
            item.choices.push_back(c.get<std::string>());
        }
        item.answer = j["answer"].get<int64_t>();
        if (item.answer < 0 || item.answer >= static_cast<int64_t>(item.choices.size())) {
            return Status::errorf("{}:{}: answer {} is not a choice index", path, n, item.answer);
        }
        items.push_back(std::move(item));
    }
    if (items.empty()) return Status::errorf("'{}' has no items", path);
    return items;
}

Status evaluate(const EvalOptions& o) {
    ASSIGN_OR_RETURN(std::vector<Item> items, read_task(o.task_path));
    if (o.limit > 0 && static_cast<int64_t>(items.size()) > o.limit) items.resize(static_cast<size_t>(o.limit));
    ASSIGN_OR_RETURN(LoadedEngine loaded, load_engine(o.model));
    Engine& engine = *loaded.engine;
    const Tokenizer* tok = engine.tokenizer();
    if (tok == nullptr) return Status::error("the model has no tokenizer");
    const bool add_bos = tok->vocab().add_bos && tok->vocab().bos_id >= 0;
    const int64_t vocab = engine.config().vocab_size;
    int64_t correct = 0, correct_norm = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        const Item& item = items[i];
        const std::vector<int32_t> context = tok->encode(item.context, add_bos, false);
        double best = -INFINITY, best_norm = -INFINITY;
        int64_t pick = -1, pick_norm = -1;
        for (size_t c = 0; c < item.choices.size(); ++c) {
            const std::vector<int32_t> whole = tok->encode(item.context + item.choices[c], add_bos, false);
            size_t start = 0;
            while (start < context.size() && start < whole.size() && context[start] == whole[start]) ++start;
            if (start == 0 || start >= whole.size()) {
                return Status::errorf("{}: item {} choice {} adds no tokens to the context", o.task_path, i + 1, c);
            }
            ASSIGN_OR_RETURN(std::vector<float> logits, engine.evaluate(whole));
            double ll = 0;
            std::vector<double> lp;
            for (size_t p = start; p < whole.size(); ++p) {
                log_softmax(logits.data() + static_cast<int64_t>(p - 1) * vocab, vocab, lp);
                ll += lp[static_cast<size_t>(whole[p])];
            }
            const double norm = ll / static_cast<double>(std::max<size_t>(item.choices[c].size(), 1));
            if (ll > best) {
                best = ll;
                pick = static_cast<int64_t>(c);
            }
            if (norm > best_norm) {
                best_norm = norm;
                pick_norm = static_cast<int64_t>(c);
            }
        }
        correct += pick == item.answer;
        correct_norm += pick_norm == item.answer;
        fmt::print(stderr, "\r[{}/{}] acc {:.4f}   ", i + 1, items.size(),
                   static_cast<double>(correct) / static_cast<double>(i + 1));
    }
    fmt::print(stderr, "\n");
    const auto n = static_cast<double>(items.size());
    const double acc = static_cast<double>(correct) / n;
    const double acc_norm = static_cast<double>(correct_norm) / n;
    auto stderr_of = [n](double p) { return n > 1 ? std::sqrt(p * (1 - p) / (n - 1)) : 0.0; };
    if (o.json) {
        const nlohmann::ordered_json j = {{"model", o.model.model_path}, {"task", o.task_path},
                                          {"items", items.size()},       {"acc", acc},
                                          {"acc_stderr", stderr_of(acc)}, {"acc_norm", acc_norm},
                                          {"acc_norm_stderr", stderr_of(acc_norm)}};
        fmt::print("{}\n", j.dump(1));
        return ok_status();
    }
    fmt::print("| task | items | acc | acc_norm |\n|---|---:|---:|---:|\n");
    fmt::print("| {} | {} | {:.4f} ± {:.4f} | {:.4f} ± {:.4f} |\n", o.task_path, items.size(), acc, stderr_of(acc),
               acc_norm, stderr_of(acc_norm));
    return ok_status();
}

}  // namespace

std::function<int()> add_eval_command(CLI::App& app) {
    auto o = std::make_shared<EvalOptions>();
    CLI::App* sub = app.add_subcommand("eval", "Multiple-choice accuracy by log-likelihood (lm-evaluation-harness style)");
    add_model_options(sub, o->model);
    sub->add_option("--task", o->task_path, "JSON lines: {\"context\", \"choices\", \"answer\"}")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--limit", o->limit, "Score at most this many items");
    sub->add_flag("--json", o->json, "Print the results as JSON");
    return [o] {
        const Status st = evaluate(*o);
        if (!st.ok()) {
            fmt::print(stderr, "error: {}\n", st.message());
            return 1;
        }
        return 0;
    };
}

}  // namespace frugal::cli
