// Smoke tests of the frugal CLI binary (FRUGAL_BINARY), run through popen: greedy generation on stories260K
// against the llama2.c goldens (text on stdout starting with the prompt; ids with --print-ids), errors for
// missing, non-model and truncated model files (non-zero exit and an "error:" line on stderr), and
// convert-then-run giving the same ids as running the llama2.c checkpoint directly.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "format/gguf/gguf_file.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

const std::string kModelDir = std::string(FRUGAL_SHARED_DIR) + "/models/stories260K";
const std::string kBin = kModelDir + "/stories260K.bin";
const std::string kTokenizer = kModelDir + "/tok512.bin";

struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

fs::path scratch() {
    const fs::path dir = fs::path(FRUGAL_TEST_SCRATCH_DIR) / "cli";
    fs::create_directories(dir);
    return dir;
}

// Runs FRUGAL_BINARY with args; stdout is read through the pipe, stderr through a file.
RunResult run_frugal(const std::vector<std::string>& args) {
    static int counter = 0;
    const fs::path err_path = scratch() / ("stderr_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::string cmd = quote(FRUGAL_BINARY);
    for (const std::string& a : args) cmd += " " + quote(a);
    cmd += " 2>" + quote(err_path.string());
    RunResult r;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) {
        ADD_FAILURE() << "popen failed: " << cmd;
        return r;
    }
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream in(err_path);
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
    fs::remove(err_path);
    return r;
}

std::vector<int> parse_ids(const std::string& text) {
    std::vector<int> ids;
    std::istringstream in(text);
    int v;
    while (in >> v) ids.push_back(v);
    return ids;
}

struct GoldenCase {
    std::string prompt;
    std::vector<int> prompt_ids;  // with BOS
    std::vector<int> next_ids;    // next_ids[i] follows position i
    std::string text;
};

std::vector<GoldenCase> goldens() {
    std::ifstream in(kModelDir + "/golden_greedy.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    std::vector<GoldenCase> cases;
    for (const auto& c : j.at("cases")) {
        cases.push_back({c.at("prompt").get<std::string>(), c.at("prompt_ids_with_bos").get<std::vector<int>>(),
                         c.at("next_ids").get<std::vector<int>>(), c.at("stdout_text").get<std::string>()});
    }
    return cases;
}

// The ids greedy decoding generates after the prompt: the golden continuation from the last prompt position.
std::vector<int> expected_generation(const GoldenCase& g, size_t n) {
    const size_t first = g.prompt_ids.size() - 1;
    return std::vector<int>(g.next_ids.begin() + static_cast<std::ptrdiff_t>(first),
                            g.next_ids.begin() + static_cast<std::ptrdiff_t>(first + n));
}

// Whether some line of stderr starts with "error:" (the CLI's convention for user-facing errors).
bool has_error_line(const std::string& err) {
    return err.rfind("error:", 0) == 0 || err.find("\nerror:") != std::string::npos;
}

TEST(CliTest, RunPrintsThePromptThenTheGreedyContinuation) {
    const RunResult r = run_frugal({"run", "-m", kBin, "--tokenizer", kTokenizer, "-p", "Once upon a time", "--temp",
                                    "0", "-n", "20", "-t", "1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(r.out.rfind("Once upon a time", 0), 0u) << "stdout: " << r.out;
    EXPECT_GT(r.out.size(), std::string("Once upon a time").size() + 20);
    // llama2.c printed the same story (64 steps); our 20 tokens are a prefix of it.
    const GoldenCase g = goldens()[1];
    ASSERT_EQ(g.prompt, "Once upon a time");
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    EXPECT_EQ(g.text.rfind(out, 0), 0u) << "stdout:\n" << r.out << "\ngolden:\n" << g.text;
    EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(CliTest, PrintIdsMatchesTheLlama2cGoldens) {
    for (const GoldenCase& g : goldens()) {
        if (g.prompt.empty()) continue;
        SCOPED_TRACE(g.prompt);
        const size_t n = 30;
        for (const char* threads : {"1", "3"}) {
            const RunResult r = run_frugal({"run", "-m", kBin, "--tokenizer", kTokenizer, "-p", g.prompt, "--temp", "0",
                                            "-n", std::to_string(n), "-t", threads, "--print-ids"});
            ASSERT_EQ(r.exit_code, 0) << r.err;
            EXPECT_EQ(parse_ids(r.out), expected_generation(g, n)) << "threads " << threads << ", stdout: " << r.out;
        }
    }
}

TEST(CliTest, PromptIdsNeedNoTokenizerAndGiveTheSameIds) {
    const GoldenCase g = goldens()[1];
    std::string ids;
    for (size_t i = 0; i < g.prompt_ids.size(); ++i) ids += (i ? "," : "") + std::to_string(g.prompt_ids[i]);
    const RunResult r = run_frugal({"run", "-m", kBin, "--prompt-ids", ids, "--temp", "0", "-n", "12", "--print-ids"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(parse_ids(r.out), expected_generation(g, 12)) << r.out;
}

// tg @ depth times generation only: a depth prompt longer than --batch-size takes several prefill steps, none of
// them counted (each repetition times exactly -n decode steps).
TEST(CliTest, BenchDepthAboveBatchSizeTimesOnlyDecodeSteps) {
    const RunResult r = run_frugal({"bench", "-m", kModelDir + "/stories260K.bin", "--tokenizer",
                                    kModelDir + "/tok512.bin", "-p", "0", "-n", "8", "-d", "100", "-b", "16", "-r",
                                    "2", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("tg_depth").get<int64_t>(), 100);
    EXPECT_EQ(j.at("tg_steps").get<int64_t>(), 8);
    EXPECT_GT(j.at("tg_tok_s").get<double>(), 0.0);
}

TEST(CliTest, MissingModelIsAnError) {
    const RunResult r = run_frugal({"run", "-m", "/nonexistent/model.gguf", "-p", "hi", "-n", "2"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(has_error_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << "the error names the file: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CliTest, NonModelFilesAreErrors) {
    std::vector<std::string> files;
    if (fs::exists("/etc/hostname")) files.push_back("/etc/hostname");
    const fs::path text = scratch() / "not_a_model.txt";
    std::ofstream(text) << "this is a text file, not a model\n";
    files.push_back(text.string());
    const fs::path empty = scratch() / "empty.bin";
    std::ofstream(empty).flush();
    files.push_back(empty.string());
    for (const std::string& f : files) {
        const RunResult r = run_frugal({"run", "-m", f, "-p", "hi", "-n", "2"});
        EXPECT_NE(r.exit_code, 0) << f;
        EXPECT_LT(r.exit_code, 128) << f << " crashed: " << r.err;
        EXPECT_TRUE(has_error_line(r.err)) << f << ": " << r.err;
    }
}

TEST(CliTest, ConvertThenRunGivesTheSameIdsAsTheCheckpoint) {
    const fs::path gguf = scratch() / "stories260K.gguf";
    fs::remove(gguf);
    const RunResult c = run_frugal({"convert", "-m", kBin, "--tokenizer", kTokenizer, "-o", gguf.string()});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    ASSERT_TRUE(fs::exists(gguf));
    {
        std::ifstream in(gguf, std::ios::binary);
        char magic[4] = {};
        in.read(magic, 4);
        EXPECT_EQ(std::string(magic, 4), "GGUF");
    }
    const std::vector<std::string> common = {"-p", "Once upon a time", "--temp", "0", "-n", "40", "--print-ids"};
    std::vector<std::string> from_bin = {"run", "-m", kBin, "--tokenizer", kTokenizer};
    std::vector<std::string> from_gguf = {"run", "-m", gguf.string()};  // the vocabulary is embedded
    from_bin.insert(from_bin.end(), common.begin(), common.end());
    from_gguf.insert(from_gguf.end(), common.begin(), common.end());
    const RunResult a = run_frugal(from_bin);
    const RunResult b = run_frugal(from_gguf);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(parse_ids(a.out).size(), 40u);
    EXPECT_EQ(parse_ids(b.out), parse_ids(a.out));

    // Text mode from the GGUF also echoes the prompt.
    const RunResult t = run_frugal({"run", "-m", gguf.string(), "-p", "Once upon a time", "--temp", "0", "-n", "5"});
    ASSERT_EQ(t.exit_code, 0) << t.err;
    EXPECT_EQ(t.out.rfind("Once upon a time", 0), 0u) << t.out;
}

TEST(CliTest, TruncatedGgufIsAnError) {
    const fs::path gguf = scratch() / "stories260K_for_truncation.gguf";
    const RunResult c = run_frugal({"convert", "-m", kBin, "--tokenizer", kTokenizer, "-o", gguf.string()});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const auto size = fs::file_size(gguf);
    for (uintmax_t keep : {uintmax_t{10}, uintmax_t{200}, size / 2, size - 1}) {
        const fs::path cut = scratch() / ("truncated_" + std::to_string(keep) + ".gguf");
        fs::copy_file(gguf, cut, fs::copy_options::overwrite_existing);
        fs::resize_file(cut, keep);
        const RunResult r = run_frugal({"run", "-m", cut.string(), "-p", "hi", "-n", "2"});
        EXPECT_NE(r.exit_code, 0) << keep;
        EXPECT_LT(r.exit_code, 128) << "crashed at " << keep << " bytes: " << r.err;
        EXPECT_TRUE(has_error_line(r.err)) << keep << ": " << r.err;
    }
}

TEST(CliTest, ConvertRejectsANonCheckpoint) {
    const fs::path text = scratch() / "not_a_checkpoint.txt";
    std::ofstream(text) << "hello\n";
    const RunResult r = run_frugal({"convert", "-m", text.string(), "-o", (scratch() / "x.gguf").string()});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(has_error_line(r.err)) << r.err;
}

// Commands that write a model (synth, convert, quantize) write a partial file and rename it: an existing output is
// replaced whole, no partial file is left, and an output that cannot be written is an error that creates nothing.
TEST(CliTest, ModelOutputsAppearOnlyWhenComplete) {
    const fs::path dir = scratch() / "atomic_outputs";
    fs::remove_all(dir);
    fs::create_directories(dir);
    const fs::path out = dir / "tiny.gguf";
    std::ofstream(out) << "an older file";
    const RunResult s = run_frugal({"synth", "--shape", "tiny", "--type", "Q8_0", "-o", out.string(), "-t", "2"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    Result<GgufFile> synth = GgufFile::open(out.string());
    ASSERT_TRUE(synth.ok()) << synth.status().message();
    EXPECT_EQ(synth->tensors().size(), 21u);  // token_embd, output_norm, output + 2 layers x 9
    const fs::path converted = dir / "stories.gguf";
    const RunResult c = run_frugal({"convert", "-m", kBin, "--tokenizer", kTokenizer, "-o", converted.string()});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    EXPECT_TRUE(GgufFile::open(converted.string()).ok());
    for (const auto& e : fs::directory_iterator(dir)) {
        EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
    }
    const fs::path missing = dir / "missing" / "x.gguf";
    const RunResult m = run_frugal({"synth", "--shape", "tiny", "--type", "Q8_0", "-o", missing.string(), "-t", "2"});
    EXPECT_EQ(m.exit_code, 1);
    EXPECT_TRUE(has_error_line(m.err)) << m.err;
    EXPECT_FALSE(fs::exists(dir / "missing"));
}

// A Hugging Face checkpoint folder (the DeepSeek-V3 fixture: MLA + MoE) runs directly and after `frugal convert`,
// giving transformers' greedy continuation both ways (F32 KV cache, as the reference computes).
TEST(CliTest, HuggingFaceFolderRunsDirectlyAndAfterConvert) {
    const std::string dir = std::string(FRUGAL_TESTS_DIR) + "/data/hf/deepseek_v3";
    std::ifstream in(dir + "/reference.json");
    const nlohmann::json ref = nlohmann::json::parse(in);
    std::string prompt;
    for (int id : ref.at("prompt_ids").get<std::vector<int>>()) prompt += (prompt.empty() ? "" : ",") + std::to_string(id);
    const std::vector<int> want = ref.at("greedy_ids").get<std::vector<int>>();
    const std::vector<std::string> common = {"--prompt-ids", prompt, "-n", std::to_string(want.size()), "--temp", "0",
                                             "--print-ids", "-ctk", "f32", "-ctv", "f32"};
    std::vector<std::string> direct = {"run", "-m", dir};
    direct.insert(direct.end(), common.begin(), common.end());
    const RunResult a = run_frugal(direct);
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(parse_ids(a.out), want);

    const fs::path gguf = scratch() / "deepseek_v3_tiny.gguf";
    fs::remove(gguf);
    const RunResult c = run_frugal({"convert", "-m", dir, "-o", gguf.string()});
    ASSERT_EQ(c.exit_code, 0) << c.err;
    std::vector<std::string> converted = {"run", "-m", gguf.string()};
    converted.insert(converted.end(), common.begin(), common.end());
    const RunResult b = run_frugal(converted);
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(parse_ids(b.out), want);
}

// frugal tokenize on a Hugging Face tokenizer.json (Llama 3's, from the shared data): ids as HF gives them
// ("Hello world" -> 9906 1917), from an argument and from a file; a missing tokenizer is an error.
TEST(CliTest, TokenizePrintsHuggingFaceIds) {
    const fs::path dir = scratch() / "llama3_tokenizer";
    fs::create_directories(dir);
    const std::string xz = std::string(FRUGAL_SHARED_DIR) + "/tokenizers/llama3/tokenizer.json.xz";
    ASSERT_EQ(std::system(("xz -dc " + quote(xz) + " > " + quote((dir / "tokenizer.json").string())).c_str()), 0);
    const RunResult a = run_frugal({"tokenize", "-m", dir.string(), "--ids", "Hello world"});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(parse_ids(a.out), (std::vector<int>{9906, 1917}));
    const fs::path text = scratch() / "tokenize_input.txt";
    std::ofstream(text) << "Hello world";
    const RunResult b = run_frugal({"tokenize", "-m", (dir / "tokenizer.json").string(), "--ids", "--file", text.string()});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(parse_ids(b.out), (std::vector<int>{9906, 1917}));
    const RunResult c = run_frugal({"tokenize", "-m", (scratch() / "does_not_exist").string(), "hi"});
    EXPECT_NE(c.exit_code, 0);
}

// frugal tokenize --jsonl on cl100k_base's tiktoken rank file: one id array per input line, as tiktoken gives them
// (with allowed_special="all", and encode_ordinary for --no-parse-special); a line that is not a JSON string fails.
TEST(CliTest, TokenizeJsonlOnTiktokenFile) {
    const fs::path rank_file = scratch() / "cl100k_base.tiktoken";
    const std::string xz = std::string(FRUGAL_SHARED_DIR) + "/tokenizers/cl100k_base.tiktoken.xz";
    ASSERT_EQ(std::system(("xz -dc " + quote(xz) + " > " + quote(rank_file.string())).c_str()), 0);
    const fs::path jsonl = scratch() / "strings.jsonl";
    std::ofstream(jsonl) << "\"Hello world\"\n\"<|endoftext|> caf\\u00e9 \\ud83d\\ude00\"\n\n\"\"\n";
    const RunResult a = run_frugal({"tokenize", "-m", rank_file.string(), "--jsonl", jsonl.string()});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(a.out, "[9906,1917]\n[100257,53050,91416]\n[]\n");
    const RunResult b =
        run_frugal({"tokenize", "-m", rank_file.string(), "--jsonl", jsonl.string(), "--no-parse-special"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(b.out, "[9906,1917]\n[27,91,8862,728,428,91,29,53050,91416]\n[]\n");
    std::ofstream(jsonl) << "\"ok\"\nnot json\n";
    const RunResult c = run_frugal({"tokenize", "-m", rank_file.string(), "--jsonl", jsonl.string()});
    EXPECT_NE(c.exit_code, 0);
    EXPECT_NE(c.err.find(":2: not a JSON string"), std::string::npos) << c.err;
}

TEST(CliTest, UsageErrorsExitNonZero) {
    EXPECT_NE(run_frugal({}).exit_code, 0);
    EXPECT_NE(run_frugal({"no-such-command"}).exit_code, 0);
    EXPECT_NE(run_frugal({"run", "-p", "hi"}).exit_code, 0);  // -m is required
}

// ---- chat templates: render-chat and run --chat ----

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
}

TEST(CliTest, RenderChatMatchesHuggingFaceFromACheckpointFolder) {
    const std::string shared = FRUGAL_SHARED_DIR;
    for (const char* name : {"llama3-2", "qwen3-3", "deepseek_v3-2"}) {
        SCOPED_TRACE(name);
        std::ifstream in(shared + "/goldens/chat/" + name + ".json");
        const nlohmann::ordered_json g = nlohmann::ordered_json::parse(in);
        const std::string source = g["template_source_file"];
        const std::string dir = shared + "/" + fs::path(source.substr(0, source.find('#'))).parent_path().string();
        const nlohmann::ordered_json& ctx = g["context"];
        nlohmann::ordered_json messages = {{"messages", ctx["messages"]}};
        for (const auto& [key, value] : ctx.items()) {
            if (key != "messages" && key != "bos_token" && key != "eos_token" && key != "add_generation_prompt") {
                messages[key] = value;
            }
        }
        const fs::path file = scratch() / (std::string(name) + "_messages.json");
        write_file(file, messages.dump());
        std::vector<std::string> args = {"render-chat", "-m", dir, "--messages", file.string()};
        if (ctx.value("add_generation_prompt", false)) args.push_back("--add-generation-prompt");
        const RunResult r = run_frugal(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.out, g["rendered"].get<std::string>());
    }
}

TEST(CliTest, RenderChatErrors) {
    const fs::path messages = scratch() / "chat_messages.json";
    write_file(messages, R"([{"role": "user", "content": "hi"}])");
    // A vocabulary-only GGUF without tokenizer.chat_template.
    RunResult r = run_frugal({"render-chat", "-m", std::string(FRUGAL_SHARED_DIR) + "/vocab-gguf/ggml-vocab-llama-spm.gguf",
                              "--messages", messages.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(has_error_line(r.err)) << r.err;
    EXPECT_NE(r.err.find("chat template"), std::string::npos) << r.err;
    // Malformed messages, a template with a syntax error, a template that raises.
    const fs::path bad = scratch() / "bad_messages.json";
    write_file(bad, "[{\"role\": ");
    const fs::path tmpl = scratch() / "chat.jinja";
    write_file(tmpl, "{% for m in messages %}{{ m.content }}{% endfor %}");
    r = run_frugal({"render-chat", "-m", tmpl.string(), "--messages", bad.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(has_error_line(r.err)) << r.err;
    const fs::path broken = scratch() / "broken.jinja";
    write_file(broken, "{% for m in messages %}{{ m.content }");
    r = run_frugal({"render-chat", "-m", broken.string(), "--messages", messages.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(has_error_line(r.err)) << r.err;
    const fs::path raising = scratch() / "raising.jinja";
    write_file(raising, "{{ raise_exception('System role not supported') }}");
    r = run_frugal({"render-chat", "-m", raising.string(), "--messages", messages.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("System role not supported"), std::string::npos) << r.err;
    // --var values reach the template.
    const fs::path vars = scratch() / "vars.jinja";
    write_file(vars, "{{ enable_thinking }}|{{ add_generation_prompt }}|{{ custom }}");
    r = run_frugal({"render-chat", "-m", vars.string(), "--messages", messages.string(), "--var",
                    "enable_thinking=false", "--var", "custom={\"a\": [1]}", "--add-generation-prompt"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "False|True|{'a': [1]}");
}

TEST(CliTest, RunChatGeneratesFromTheRenderedPrompt) {
    // A template that renders BOS + the user text makes exactly llama2.c's prompt: the greedy continuation must be
    // the golden one, and only the continuation is printed.
    const fs::path tmpl = scratch() / "plain_chat.jinja";
    write_file(tmpl, "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}");
    const GoldenCase g = goldens()[1];
    const RunResult r = run_frugal({"run", "-m", kBin, "--tokenizer", kTokenizer, "--chat", "--chat-template",
                                    tmpl.string(), "-p", g.prompt, "--temp", "0", "-n", "12", "-t", "1",
                                    "--print-ids"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::vector<int> expected = expected_generation(g, 12);
    EXPECT_EQ(parse_ids(r.out), expected) << r.out;
    // Without a template anywhere, --chat is an error that says what to do.
    const RunResult no_template = run_frugal({"run", "-m", kBin, "--tokenizer", kTokenizer, "--chat", "-p", "hi"});
    EXPECT_EQ(no_template.exit_code, 1);
    EXPECT_NE(no_template.err.find("--chat-template"), std::string::npos) << no_template.err;
}

// ---- quantization (issue 6): quantize, calibrate, perplexity ----

double json_number(const std::string& out, const char* key) {
    const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
    return j.is_object() && j.contains(key) ? j[key].get<double>() : -1.0;
}

TEST(CliTest, GptqBeatsRoundToNearestOnHeldOutText) {
    const std::string data = std::string(FRUGAL_TESTS_DIR) + "/data/quant/";
    const fs::path dir = scratch() / "quant";
    fs::create_directories(dir);
    std::map<std::string, double> kl;
    for (const std::string method : {"rtn", "imatrix", "gptq", "awq"}) {
        SCOPED_TRACE(method);
        const std::string out = (dir / ("stories_q4_0_" + method + ".gguf")).string();
        std::vector<std::string> args = {"quantize", "-m", kBin, "--tokenizer", kTokenizer, "-o", out, "--type", "Q4_0",
                                         "--method", method, "-t", "2"};
        if (method != "rtn") {
            for (const char* a : {"--calib", "", "-c", "128"}) args.emplace_back(a);
            args[args.size() - 3] = data + "stories_calib.txt";
        }
        const RunResult q = run_frugal(args);
        ASSERT_EQ(q.exit_code, 0) << q.err;
        EXPECT_NE(q.out.find("| blk.0.attn_q.weight | 64x64 | F32 | Q4_0 | " + method), std::string::npos) << q.out;
        if (method == "awq") {  // the inverse scales went into the norms
            EXPECT_NE(q.out.find("| blk.0.attn_norm.weight | 64 | F32 | F32 | awq"), std::string::npos) << q.out;
        }
        ASSERT_TRUE(fs::exists(out));
        for (const auto& e : fs::directory_iterator(dir)) {
            EXPECT_EQ(e.path().string().find(".partial"), std::string::npos) << e.path();
        }
        const RunResult p = run_frugal({"perplexity", "-m", out, "-f", data + "stories_eval.txt", "-c", "128",
                                        "--kl-base", kBin, "--tokenizer", kTokenizer, "--json", "-t", "2"});
        ASSERT_EQ(p.exit_code, 0) << p.err;
        kl[method] = json_number(p.out, "kl_mean");
        EXPECT_GT(kl[method], 0.0) << p.out;
        EXPECT_GT(json_number(p.out, "top1_agreement"), 0.5) << p.out;
    }
    // GPTQ's error feedback must pay off on text it was not calibrated on; the scale search must not hurt.
    EXPECT_LT(kl["gptq"], 0.9 * kl["rtn"]) << "rtn " << kl["rtn"] << " gptq " << kl["gptq"];
    EXPECT_LE(kl["imatrix"], 1.01 * kl["rtn"]) << "rtn " << kl["rtn"] << " imatrix " << kl["imatrix"];
    EXPECT_LT(kl["awq"], 0.97 * kl["rtn"]) << "rtn " << kl["rtn"] << " awq " << kl["awq"];
    // The base model against itself: KL 0, perplexity as reported for the base.
    const RunResult self = run_frugal({"perplexity", "-m", kBin, "--tokenizer", kTokenizer, "-f",
                                       data + "stories_eval.txt", "-c", "128", "--kl-base", kBin, "--json"});
    ASSERT_EQ(self.exit_code, 0) << self.err;
    EXPECT_EQ(json_number(self.out, "kl_mean"), 0.0);
    EXPECT_DOUBLE_EQ(json_number(self.out, "ppl"), json_number(self.out, "base_ppl"));
    // llama.cpp loads the files and, greedy, continues the prompt as frugal does (when llama-cpp-python is here).
    const std::string check = "import sys\ntry:\n    from llama_cpp import Llama\nexcept ImportError:\n    sys.exit(77)\n"
                              "m = Llama(sys.argv[1], verbose=False, n_ctx=128)\n"
                              "print(m('Once upon a time', max_tokens=12, temperature=0)['choices'][0]['text'])\n";
    const fs::path script = dir / "load_in_llama_cpp.py";
    write_file(script, check);
    const std::string gguf = (dir / "stories_q4_0_gptq.gguf").string();
    const int rc = std::system(("python3 " + script.string() + " " + gguf + " > " + (dir / "llama_cpp.txt").string() +
                                " 2>/dev/null").c_str());
    if (WEXITSTATUS(rc) == 77) GTEST_SKIP() << "llama-cpp-python is not installed";
    ASSERT_EQ(WEXITSTATUS(rc), 0);
    std::ifstream in(dir / "llama_cpp.txt");
    std::string llama_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!llama_text.empty() && llama_text.back() == '\n') llama_text.pop_back();
    const RunResult ours = run_frugal({"run", "-m", gguf, "-p", "Once upon a time", "-n", "12", "--temp", "0"});
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    EXPECT_EQ(ours.out.rfind("Once upon a time" + llama_text, 0), 0u) << "frugal: " << ours.out << "\nllama.cpp: " << llama_text;
}

TEST(CliTest, QuantizeErrors) {
    const fs::path out = scratch() / "never.gguf";
    RunResult r = run_frugal({"quantize", "-m", kBin, "--tokenizer", kTokenizer, "-o", out.string(), "--type", "Q4_0",
                              "--method", "gptq"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("--calib"), std::string::npos) << r.err;
    r = run_frugal({"quantize", "-m", kBin, "--tokenizer", kTokenizer, "-o", out.string(), "--type", "Q9_X"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_TRUE(has_error_line(r.err)) << r.err;
    EXPECT_FALSE(fs::exists(out));
}

TEST(CliTest, MixAutoRespectsItsBudgetAndBeatsUniformQ4_0) {
    const std::string data = std::string(FRUGAL_TESTS_DIR) + "/data/quant/";
    const fs::path dir = scratch() / "quant";
    fs::create_directories(dir);
    auto kl_of = [&](const std::string& gguf) {
        const RunResult p = run_frugal({"perplexity", "-m", gguf, "-f", data + "stories_eval.txt", "-c", "128",
                                        "--kl-base", kBin, "--tokenizer", kTokenizer, "--json", "-t", "2"});
        EXPECT_EQ(p.exit_code, 0) << p.err;
        return json_number(p.out, "kl_mean");
    };
    const std::string uniform = (dir / "uniform_q4_0.gguf").string();
    ASSERT_EQ(run_frugal({"quantize", "-m", kBin, "--tokenizer", kTokenizer, "-o", uniform, "--type", "Q4_0"}).exit_code, 0);
    const std::string mix = (dir / "mix_5.gguf").string();
    const RunResult q = run_frugal({"quantize", "-m", kBin, "--tokenizer", kTokenizer, "-o", mix, "--type", "Q4_0",
                                    "--mix", "auto", "--target-bpw", "5.0", "--calib", data + "stories_calib.txt", "-c",
                                    "128", "-t", "2"});
    ASSERT_EQ(q.exit_code, 0) << q.err;
    const size_t at = q.out.find("mix: ");
    ASSERT_NE(at, std::string::npos) << q.out;
    EXPECT_LE(std::stod(q.out.substr(at + 5)), 5.0) << q.out.substr(at, 120);
    EXPECT_LE(fs::file_size(mix), fs::file_size(uniform));
    EXPECT_LT(kl_of(mix), 0.8 * kl_of(uniform));
}

TEST(CliTest, QuantReportWritesTableJsonAndChart) {
    const std::string data = std::string(FRUGAL_TESTS_DIR) + "/data/quant/";
    const fs::path dir = scratch() / "quant_report";
    fs::remove_all(dir);
    const RunResult r = run_frugal({"quant-report", "-m", kBin, "--tokenizer", kTokenizer, "--types", "Q8_0,Q4_0",
                                    "--eval", data + "stories_eval.txt", "--task", data + "stories_task.jsonl", "-c",
                                    "128", "--chunks", "4", "-o", dir.string(), "-t", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* f : {"report.md", "report.json", "report.svg"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
    EXPECT_NE(r.out.find("| Q8_0 |"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("| Q4_0 |"), std::string::npos) << r.out;
    std::ifstream in(dir / "report.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_EQ(j["rows"].size(), 2u);
    // More bits, less divergence.
    EXPECT_LT(j["rows"][0]["kl_mean"].get<double>(), j["rows"][1]["kl_mean"].get<double>());
    EXPECT_GT(j["rows"][0]["size_mib"].get<double>(), j["rows"][1]["size_mib"].get<double>());
}

TEST(CliTest, EvalScoresMultipleChoiceByLogLikelihood) {
    // 20 TinyStories-style items whose natural continuation is the answer: a correct scorer gets nearly all, a
    // reversed or shifted one nearly none.
    const std::string task = std::string(FRUGAL_TESTS_DIR) + "/data/quant/stories_task.jsonl";
    const RunResult r = run_frugal({"eval", "-m", kBin, "--tokenizer", kTokenizer, "--task", task, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_GE(json_number(r.out, "acc"), 0.8) << r.out;
    EXPECT_EQ(json_number(r.out, "items"), 20.0);
    const fs::path bad = scratch() / "bad_task.jsonl";
    write_file(bad, "{\"context\": \"a\", \"choices\": [\"b\"], \"answer\": 0}\n");
    const RunResult e = run_frugal({"eval", "-m", kBin, "--tokenizer", kTokenizer, "--task", bad.string()});
    EXPECT_EQ(e.exit_code, 1);
    EXPECT_TRUE(has_error_line(e.err)) << e.err;
}

}  // namespace
}  // namespace frugal
