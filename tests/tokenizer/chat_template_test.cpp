// The chat-template engine against Python jinja2 configured as transformers configures it:
// - jinja_cases.json: ~160 small templates, one language feature each (scripts/reference/make_jinja_goldens.py);
// - chat_renders.json.xz: every template in ../shared/chat-templates x 11 conversations (system/user/assistant
//   turns, tools and tool calls, generation prompt on and off, enable_thinking, content parts, unicode)
//   (scripts/reference/make_chat_goldens.py);
// - ../shared/goldens/chat: renderings by Hugging Face's own Jinja implementation of the tokenizer_config.json
//   templates of Llama 3, Qwen3 and DeepSeek-V3.
// Each output must match byte for byte; where jinja2 raised, frugal must return an error. Hostile templates end
// in an error, never a crash or a hang.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/chat_template.h"
#include "tokenizer/jinja/template.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string read_xz(const fs::path& path) {
    std::string out;
    FILE* pipe = ::popen(("xz -dc '" + path.string() + "'").c_str(), "r");
    if (!pipe) return out;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    ::pclose(pipe);
    return out;
}

// The golden generators pin strftime_now to 2026-11-29 12:00:00.
jinja::RenderOptions fixed_now() {
    std::tm t{};
    t.tm_year = 2026 - 1900;
    t.tm_mon = 10;
    t.tm_mday = 29;
    t.tm_hour = 12;
    t.tm_wday = 0;  // a Sunday
    t.tm_yday = 332;
    jinja::RenderOptions o;
    o.now = t;
    return o;
}

Result<std::string> render_source(const std::string& source, const ordered_json& variables) {
    ASSIGN_OR_RETURN(jinja::Template t, jinja::Template::parse(source));
    std::vector<std::pair<std::string, jinja::Value>> vars;
    for (const auto& [key, value] : variables.items()) vars.emplace_back(key, jinja::value_from_json(value));
    return t.render(vars, fixed_now());
}

// A golden's context as template input: bos/eos go to ChatTemplate::create, everything else is a variable.
ChatTemplateInput input_from_context(const ordered_json& context) {
    ChatTemplateInput input;
    for (const auto& [key, value] : context.items()) {
        if (key == "messages") {
            input.messages = value;
        } else if (key == "tools") {
            input.tools = value;
        } else if (key == "add_generation_prompt") {
            input.add_generation_prompt = value.get<bool>();
        } else if (key != "bos_token" && key != "eos_token") {
            input.extra[key] = value;
        }
    }
    return input;
}

TEST(JinjaTest, MatchesJinja2OnFeatureCases) {
    const ordered_json goldens =
        ordered_json::parse(read_file(fs::path(FRUGAL_TESTS_DIR) / "tokenizer" / "data" / "jinja_cases.json"));
    int checked = 0;
    for (const ordered_json& c : goldens["cases"]) {
        const std::string source = c["template"];
        SCOPED_TRACE(source);
        const Result<std::string> r = render_source(source, c["variables"]);
        if (c.contains("rendered")) {
            ASSERT_TRUE(r.ok()) << r.status().message();
            EXPECT_EQ(r.value(), c["rendered"].get<std::string>());
        } else {
            EXPECT_FALSE(r.ok()) << "jinja2 raised " << c["error"].get<std::string>() << "; frugal rendered '"
                                 << r.value() << "'";
        }
        ++checked;
    }
    EXPECT_GE(checked, 150);
}

TEST(JinjaTest, RaiseExceptionMessageReachesTheCaller) {
    const Result<std::string> r = render_source("{{ raise_exception('Only user and assistant roles') }}", {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("Only user and assistant roles"), std::string::npos);
}

TEST(ChatTemplateTest, EveryRealTemplateMatchesJinja2) {
    const ordered_json goldens =
        ordered_json::parse(read_xz(fs::path(FRUGAL_TESTS_DIR) / "tokenizer" / "data" / "chat_renders.json.xz"));
    const fs::path folder = fs::path(FRUGAL_SHARED_DIR) / "chat-templates";
    std::map<std::string, int> templates;
    int rendered = 0;
    for (const ordered_json& c : goldens["cases"]) {
        const std::string name = c["template"];
        SCOPED_TRACE(name + ": " + c["description"].get<std::string>());
        ordered_json context = c["context"];
        Result<ChatTemplate> tmpl = ChatTemplate::create(read_file(folder / name), context["bos_token"],
                                                         context["eos_token"]);
        ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
        const ChatTemplateInput input = input_from_context(context);
        const Result<std::string> r = tmpl->render(input, fixed_now());
        if (c.contains("rendered")) {
            ASSERT_TRUE(r.ok()) << r.status().message();
            EXPECT_EQ(r.value(), c["rendered"].get<std::string>());
            ++rendered;
        } else {
            EXPECT_FALSE(r.ok()) << "jinja2 raised " << c["error"].get<std::string>();
        }
        ++templates[name];
    }
    EXPECT_EQ(templates.size(), 68u);
    EXPECT_GE(rendered, 600);
}

TEST(ChatTemplateTest, MatchesHuggingFaceJsGoldens) {
    const fs::path shared(FRUGAL_SHARED_DIR);
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(shared / "goldens" / "chat")) {
        const ordered_json g = ordered_json::parse(read_file(entry.path()));
        SCOPED_TRACE(entry.path().filename().string() + ": " + g["description"].get<std::string>());
        const std::string source_file = g["template_source_file"];  // tokenizers/<name>/tokenizer_config.json#...
        const fs::path dir = shared / fs::path(source_file.substr(0, source_file.find('#'))).parent_path();
        Result<std::optional<std::string>> source = chat_template_from_hf_dir(dir.string());
        ASSERT_TRUE(source.ok() && source->has_value()) << dir;
        const ordered_json& ctx = g["context"];
        Result<ChatTemplate> tmpl = ChatTemplate::create(**source, ctx.value("bos_token", ""), ctx.value("eos_token", ""));
        ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
        const ChatTemplateInput input = input_from_context(ctx);
        const Result<std::string> r = tmpl->render(input, fixed_now());
        ASSERT_TRUE(r.ok()) << r.status().message();
        EXPECT_EQ(r.value(), g["rendered"].get<std::string>());
        ++checked;
    }
    EXPECT_EQ(checked, 16);
}

TEST(ChatTemplateTest, HfDirBosEosFromTokenizerConfig) {
    // DeepSeek-V3 stores bos/eos as AddedToken objects; its template starts with bos_token.
    Result<ChatTemplate> tmpl = ChatTemplate::from_hf_dir(std::string(FRUGAL_SHARED_DIR) + "/tokenizers/deepseek_v3");
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().message();
    Result<ChatTemplateInput> input = ChatTemplateInput::from_json(R"([{"role": "user", "content": "Hi"}])");
    ASSERT_TRUE(input.ok());
    const Result<std::string> r = tmpl->render(*input);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->rfind("<｜begin▁of▁sentence｜>", 0), 0u) << r.value();
}

TEST(ChatTemplateTest, MessagesFileForms) {
    EXPECT_FALSE(ChatTemplateInput::from_json("{not json").ok());
    EXPECT_FALSE(ChatTemplateInput::from_json(R"({"no_messages": []})").ok());
    EXPECT_FALSE(ChatTemplateInput::from_json(R"({"messages": [], "add_generation_prompt": "yes"})").ok());
    Result<ChatTemplateInput> input = ChatTemplateInput::from_json(
        R"({"messages": [{"role": "user", "content": "x"}], "tools": [], "add_generation_prompt": true, "enable_thinking": false})");
    ASSERT_TRUE(input.ok());
    EXPECT_TRUE(input->add_generation_prompt);
    EXPECT_TRUE(input->tools.is_array());
    EXPECT_EQ(input->extra["enable_thinking"], false);
}

// Hostile templates: each must end in an error (or a bounded result), quickly, without crashing.
TEST(JinjaTest, HostileTemplatesFailCleanly) {
    std::string deep_if;
    for (int i = 0; i < 5000; ++i) deep_if += "{% if true %}";
    EXPECT_FALSE(render_source(deep_if, {}).ok());
    EXPECT_FALSE(render_source("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}", {}).ok());
    EXPECT_FALSE(render_source("{{ " + std::string(100000, '-') + "1 }}", {}).ok());
    EXPECT_FALSE(render_source("{{ [" + std::string(50000, '[') + " }}", {}).ok());
    // Unbounded work: nested loops over the largest range the sandbox allows, runaway recursion, huge strings.
    EXPECT_FALSE(render_source("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {}).ok());
    EXPECT_FALSE(render_source("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {}).ok());
    EXPECT_FALSE(render_source("{{ 'x' * 10000000000 }}", {}).ok());
    EXPECT_FALSE(render_source("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
                               "{% endfor %}", {}).ok());
    EXPECT_FALSE(render_source("{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}"
                               "{% endfor %}", {}).ok());
    const Result<std::string> power = render_source("{{ 2 ** 100000000000 }} {{ (-1) ** 100000000001 }}", {});
    ASSERT_TRUE(power.ok()) << power.status().message();  // Python would compute a huge int; a float here, quickly
    EXPECT_EQ(power.value(), "inf -1");
    // Odd bytes in text and strings pass through; invalid UTF-8 is kept byte for byte.
    const Result<std::string> r = render_source(std::string("a\xff\xfe{{ x }}\0b", 12), {{"x", "\xc3("}});
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r.value(), std::string("a\xff\xfe\xc3(\0b", 7));
    // A 1 MB message renders.
    ordered_json vars = {{"m", std::string(1 << 20, 'w')}};
    const Result<std::string> big = render_source("{{ m|length }} {{ m|trim|length }}", vars);
    ASSERT_TRUE(big.ok());
    EXPECT_EQ(big.value(), "1048576 1048576");
}

}  // namespace
}  // namespace frugal
