#include "tokenizer/special_token_index.h"

namespace frugal {

SpecialTokenIndex::SpecialTokenIndex(const std::vector<std::string_view>& texts) : num_texts_(texts.size()) {
    terminals_.emplace_back();
    for (size_t i = 0; i < texts.size(); ++i) {
        int32_t node = 0;
        for (char c : texts[i]) {
            const uint64_t key = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
            auto it = edges_.find(key);
            if (it == edges_.end()) {
                const auto next = static_cast<int32_t>(terminals_.size());
                terminals_.emplace_back();
                it = edges_.emplace(key, next).first;
            }
            node = it->second;
        }
        if (node != 0) terminals_[node].push_back(static_cast<int32_t>(i));
    }
}

std::vector<bool> SpecialTokenIndex::find_present(std::string_view text) const {
    std::vector<bool> present(num_texts_, false);
    for (size_t start = 0; start < text.size(); ++start) {
        int32_t node = 0;
        for (size_t j = start; j < text.size(); ++j) {
            node = child(node, static_cast<uint8_t>(text[j]));
            if (node < 0) break;
            for (int32_t i : terminals_[node]) present[i] = true;
        }
    }
    return present;
}

}  // namespace frugal
