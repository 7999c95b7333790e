#include "tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace frugal {
namespace {

Result<std::string> read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::errorf("cannot read '{}'", path.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string token_text(const GgufFile& gguf, const char* id_key) {
    const GgufValue* tokens = gguf.find("tokenizer.ggml.tokens");
    const int64_t id = gguf.get_int_or(id_key, -1);
    if (!tokens || id < 0 || static_cast<uint64_t>(id) >= tokens->array_strings.size()) return "";
    return std::string(tokens->array_strings[static_cast<size_t>(id)]);
}

// A special token in tokenizer_config.json: "<s>" or {"__type": "AddedToken", "content": "<s>", ...}.
std::string config_token(const nlohmann::json& config, const char* key) {
    if (!config.is_object() || !config.contains(key)) return "";
    const nlohmann::json& t = config[key];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
    return "";
}

}  // namespace

Result<ChatTemplateInput> ChatTemplateInput::from_json(const std::string& text) {
    const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
    if (j.is_discarded()) return Status::error("messages are not valid JSON");
    ChatTemplateInput input;
    if (j.is_array()) {
        input.messages = j;
        return input;
    }
    if (!j.is_object()) return Status::error("messages must be a JSON array of messages or an object with \"messages\"");
    if (!j.contains("messages") || !j["messages"].is_array()) {
        return Status::error("the messages object has no \"messages\" array");
    }
    for (const auto& [key, value] : j.items()) {
        if (key == "messages") {
            input.messages = value;
        } else if (key == "tools") {
            input.tools = value;
        } else if (key == "add_generation_prompt") {
            if (!value.is_boolean()) return Status::error("\"add_generation_prompt\" must be true or false");
            input.add_generation_prompt = value.get<bool>();
        } else {
            input.extra[key] = value;
        }
    }
    return input;
}

Result<ChatTemplate> ChatTemplate::create(const std::string& source, std::string bos_token, std::string eos_token) {
    Result<jinja::Template> t = jinja::Template::parse(source);
    if (!t.ok()) return t.status().with_context("chat template");
    ChatTemplate ct;
    ct.source_ = source;
    ct.bos_token_ = std::move(bos_token);
    ct.eos_token_ = std::move(eos_token);
    ct.template_ = std::move(t.value());
    return ct;
}

Result<ChatTemplate> ChatTemplate::from_gguf(const GgufFile& gguf) {
    const GgufValue* source = gguf.find("tokenizer.chat_template");
    if (!source || source->type != GgufType::kString) {
        return Status::error("the model carries no chat template (GGUF key tokenizer.chat_template)");
    }
    return create(std::string(source->string_value), token_text(gguf, "tokenizer.ggml.bos_token_id"),
                  token_text(gguf, "tokenizer.ggml.eos_token_id"));
}

Result<ChatTemplate> ChatTemplate::from_hf_dir(const std::string& dir) {
    ASSIGN_OR_RETURN(std::optional<std::string> source, chat_template_from_hf_dir(dir));
    if (!source) return Status::errorf("'{}' has no chat template (chat_template.jinja or tokenizer_config.json)", dir);
    nlohmann::json config;
    const std::filesystem::path config_path = std::filesystem::path(dir) / "tokenizer_config.json";
    std::error_code ec;
    if (std::filesystem::exists(config_path, ec)) {
        ASSIGN_OR_RETURN(std::string text, read_file(config_path));
        config = nlohmann::json::parse(text, nullptr, false);
    }
    return create(*source, config_token(config, "bos_token"), config_token(config, "eos_token"));
}

Result<std::string> ChatTemplate::render(const ChatTemplateInput& input, const jinja::RenderOptions& options) const {
    if (!input.messages.is_array()) return Status::error("messages must be a JSON array");
    std::vector<std::pair<std::string, jinja::Value>> vars = {
        {"messages", jinja::value_from_json(input.messages)},
        {"tools", jinja::value_from_json(input.tools)},
        {"documents", jinja::Value::none()},
        {"add_generation_prompt", jinja::Value::boolean(input.add_generation_prompt)},
        {"bos_token", jinja::Value::string(bos_token_)},
        {"eos_token", jinja::Value::string(eos_token_)},
    };
    if (input.extra.is_object()) {
        for (const auto& [key, value] : input.extra.items()) {
            bool replaced = false;
            for (auto& [name, v] : vars) {
                if (name == key) {
                    v = jinja::value_from_json(value);
                    replaced = true;
                }
            }
            if (!replaced) vars.emplace_back(key, jinja::value_from_json(value));
        }
    }
    Result<std::string> text = template_.render(vars, options);
    if (!text.ok()) return text.status().with_context("chat template");
    return text;
}

Result<std::optional<std::string>> chat_template_from_hf_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path jinja_file = fs::path(dir) / "chat_template.jinja";
    if (fs::exists(jinja_file, ec)) {
        ASSIGN_OR_RETURN(std::string text, read_file(jinja_file));
        return std::optional<std::string>(std::move(text));
    }
    const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
    if (!fs::exists(config_path, ec)) return std::optional<std::string>();
    ASSIGN_OR_RETURN(std::string text, read_file(config_path));
    const nlohmann::json config = nlohmann::json::parse(text, nullptr, false);
    if (config.is_discarded()) return Status::errorf("'{}' is not valid JSON", config_path.string());
    if (!config.is_object() || !config.contains("chat_template")) return std::optional<std::string>();
    const nlohmann::json& t = config["chat_template"];
    if (t.is_string()) return std::optional<std::string>(t.get<std::string>());
    if (t.is_array()) {
        for (const auto& entry : t) {
            if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
                entry["template"].is_string()) {
                return std::optional<std::string>(entry["template"].get<std::string>());
            }
        }
    }
    return Status::errorf("'{}': chat_template is neither a string nor a list with a \"default\" entry",
                          config_path.string());
}

}  // namespace frugal
