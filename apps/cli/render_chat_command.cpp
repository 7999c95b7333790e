// frugal render-chat: a conversation (JSON) -> the prompt text the model's chat template makes of it, to check a
// model's template from the command line. -m takes a GGUF, a Hugging Face checkpoint or tokenizer folder, or a
// .jinja file (then --bos/--eos give the special-token texts).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "format/gguf/gguf_file.h"
#include "tokenizer/chat_template.h"

namespace frugal::cli {
namespace {

struct RenderChatOptions {
    std::string model_path;
    std::string messages_path;
    std::string template_path;  // overrides the model's template
    std::string bos;
    std::string eos;
    std::vector<std::string> vars;  // key=JSON value
    bool add_generation_prompt = false;
};

Result<std::string> read_text(const std::string& path) {
    std::stringstream ss;
    if (path == "-") {
        ss << std::cin.rdbuf();
        return ss.str();
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::errorf("cannot read '{}'", path);
    ss << in.rdbuf();
    return ss.str();
}

Result<ChatTemplate> open_template(const RenderChatOptions& o) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!o.template_path.empty() || fs::path(o.model_path).extension() == ".jinja") {
        ASSIGN_OR_RETURN(std::string source, read_text(o.template_path.empty() ? o.model_path : o.template_path));
        return ChatTemplate::create(source, o.bos, o.eos);
    }
    if (fs::is_directory(o.model_path, ec)) return ChatTemplate::from_hf_dir(o.model_path);
    if (fs::path(o.model_path).filename() == "tokenizer_config.json") {
        return ChatTemplate::from_hf_dir(fs::path(o.model_path).parent_path().string());
    }
    ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(o.model_path));
    return ChatTemplate::from_gguf(gguf);
}

Status render_chat(const RenderChatOptions& o) {
    ASSIGN_OR_RETURN(ChatTemplate tmpl, open_template(o));
    ASSIGN_OR_RETURN(std::string messages_text, read_text(o.messages_path));
    Result<ChatTemplateInput> input = ChatTemplateInput::from_json(messages_text);
    if (!input.ok()) return input.status().with_context(o.messages_path);
    if (o.add_generation_prompt) input->add_generation_prompt = true;
    for (const std::string& var : o.vars) {
        const size_t eq = var.find('=');
        if (eq == std::string::npos || eq == 0) return Status::errorf("--var '{}': expected NAME=JSON", var);
        nlohmann::ordered_json value = nlohmann::ordered_json::parse(var.substr(eq + 1), nullptr, false);
        if (value.is_discarded()) value = var.substr(eq + 1);  // a bare word is a string
        const std::string name = var.substr(0, eq);
        if (name == "add_generation_prompt" && value.is_boolean()) {
            input->add_generation_prompt = value.get<bool>();
        } else if (name == "tools") {
            input->tools = value;
        } else {
            input->extra[name] = value;
        }
    }
    ASSIGN_OR_RETURN(std::string text, tmpl.render(*input));
    fmt::print("{}", text);
    return ok_status();
}

}  // namespace

std::function<int()> add_render_chat_command(CLI::App& app) {
    auto o = std::make_shared<RenderChatOptions>();
    CLI::App* sub = app.add_subcommand("render-chat", "Print the prompt a model's chat template makes of a conversation");
    sub->add_option("-m,--model", o->model_path, "GGUF, Hugging Face folder, tokenizer_config.json or a .jinja file")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--messages", o->messages_path,
                    "JSON file (- for stdin): an array of messages, or an object with \"messages\", \"tools\" and "
                    "other template variables")
        ->required();
    sub->add_flag("--add-generation-prompt", o->add_generation_prompt, "End with the assistant turn's opening");
    sub->add_option("--template", o->template_path, "Use this .jinja file instead of the model's template")
        ->check(CLI::ExistingFile);
    sub->add_option("--var", o->vars, "Extra template variable NAME=JSON (e.g. enable_thinking=false); repeatable");
    sub->add_option("--bos", o->bos, "bos_token text when -m/--template is a .jinja file");
    sub->add_option("--eos", o->eos, "eos_token text when -m/--template is a .jinja file");
    return [o] {
        const Status st = render_chat(*o);
        if (!st.ok()) {
            fmt::print(stderr, "error: {}\n", st.message());
            return 1;
        }
        return 0;
    };
}

}  // namespace frugal::cli
