// A model's chat template: the Jinja source (from GGUF metadata `tokenizer.chat_template`, a checkpoint's
// chat_template.jinja or tokenizer_config.json) and the context transformers' apply_chat_template gives it:
// messages, tools (None when absent), documents (None), add_generation_prompt, bos_token, eos_token, plus extra
// variables such as enable_thinking.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "tokenizer/jinja/template.h"

namespace frugal {

struct ChatTemplateInput {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    nlohmann::ordered_json tools;  // null: no tools
    bool add_generation_prompt = false;
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more variables; they override the above

    // A messages file: a JSON array of messages, or an object with "messages" and optionally "tools",
    // "add_generation_prompt" and any other variables (the form transformers' apply_chat_template takes).
    static Result<ChatTemplateInput> from_json(const std::string& text);
};

class ChatTemplate {
public:
    static Result<ChatTemplate> create(const std::string& source, std::string bos_token, std::string eos_token);
    // The template in a GGUF's metadata, with the BOS/EOS texts of its vocabulary. Error when it has none.
    static Result<ChatTemplate> from_gguf(const GgufFile& gguf);
    // The template of a Hugging Face checkpoint or tokenizer folder (chat_template_from_hf_dir), with bos_token and
    // eos_token from its tokenizer_config.json (strings or AddedToken objects). Error when it has none.
    static Result<ChatTemplate> from_hf_dir(const std::string& dir);

    Result<std::string> render(const ChatTemplateInput& input, const jinja::RenderOptions& options = {}) const;
    const std::string& source() const { return source_; }

private:
    std::string source_;
    std::string bos_token_;
    std::string eos_token_;
    jinja::Template template_;
};

// The chat template of a Hugging Face checkpoint or tokenizer folder: chat_template.jinja, else tokenizer_config.json's
// "chat_template" (a string, or a list of {name, template} of which "default" is taken). nullopt when there is none.
Result<std::optional<std::string>> chat_template_from_hf_dir(const std::string& dir);

}  // namespace frugal
