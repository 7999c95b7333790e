// libFuzzer target for the chat-template engine: a hostile Jinja source (and optionally, after a NUL byte, a
// hostile JSON conversation) is parsed and rendered. Any outcome but a crash, a sanitizer report or a hang is
// fine; a failure must come with a message. Work and output limits are lowered so each input runs quickly.
//
// Run and seeds: docs/fuzzing.md (the 68 templates of ../shared/chat-templates).
#include <cstddef>
#include <cstdint>
#include <string>

#include "tokenizer/chat_template.h"

namespace {

void require(bool cond) {
    if (!cond) __builtin_trap();
}

const char* kDefaultConversation = R"({
 "messages": [
  {"role": "system", "content": "sys"},
  {"role": "user", "content": "What's the weather in Paris?"},
  {"role": "assistant", "content": "", "reasoning_content": "think",
   "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
  {"role": "tool", "tool_call_id": "c1", "content": "18 C"},
  {"role": "assistant", "content": [{"type": "text", "text": "It is 18 C."}]},
  {"role": "user", "content": "Thanks"}],
 "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
 "add_generation_prompt": true,
 "enable_thinking": false
})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const size_t nul = input.find('\0');
    const std::string source = input.substr(0, nul);
    frugal::Result<frugal::ChatTemplateInput> conversation = frugal::ChatTemplateInput::from_json(
        nul == std::string::npos ? std::string(kDefaultConversation) : input.substr(nul + 1));
    if (!conversation.ok()) conversation = frugal::ChatTemplateInput::from_json(kDefaultConversation);
    require(conversation.ok());

    frugal::Result<frugal::ChatTemplate> tmpl = frugal::ChatTemplate::create(source, "<s>", "</s>");
    if (!tmpl.ok()) {
        require(!tmpl.status().message().empty());
        return 0;
    }
    frugal::jinja::RenderOptions options;
    options.now = std::tm{};
    options.limits.max_steps = 200'000;
    options.limits.max_output_bytes = 1 << 20;
    options.limits.max_list_items = 1 << 14;
    const frugal::Result<std::string> text = tmpl->render(*conversation, options);
    if (!text.ok()) require(!text.status().message().empty());
    if (text.ok()) require(text.value().size() <= options.limits.max_output_bytes);
    return 0;
}
