// The architecture registry: adding a model is one file in this folder plus one line here.
#include "model/arch/architecture.h"

namespace frugal {

Architecture llama_architecture();
Architecture qwen2_architecture();
Architecture qwen3_architecture();
Architecture gemma3_architecture();
Architecture qwen2moe_architecture();
Architecture qwen3moe_architecture();
Architecture deepseek2_architecture();

const std::vector<Architecture>& architectures() {
    static const std::vector<Architecture> kArchitectures = {
        llama_architecture(),    qwen2_architecture(),    qwen3_architecture(),     gemma3_architecture(),
        qwen2moe_architecture(), qwen3moe_architecture(), deepseek2_architecture(),
    };
    return kArchitectures;
}

const Architecture* find_architecture(std::string_view name) {
    for (const Architecture& a : architectures()) {
        if (a.name == name) return &a;
    }
    return nullptr;
}

}  // namespace frugal
