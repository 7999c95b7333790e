// A byte trie over the special-token texts, used to find which special tokens occur in a text in one pass, so
// that llama.cpp's split-by-each-special-token procedure (exact, but one full scan per special token) only runs
// for the few tokens that are actually present. Gemma 3 has ~6k control/user-defined tokens, most never seen.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace frugal {

class SpecialTokenIndex {
  public:
    // texts[i] is the text of special token i (an index into the caller's list, not a token id).
    explicit SpecialTokenIndex(const std::vector<std::string_view>& texts);

    // present[i] is set for every special token i that occurs somewhere in text.
    std::vector<bool> find_present(std::string_view text) const;

  private:
    int32_t child(int32_t node, uint8_t byte) const {
        auto it = edges_.find((static_cast<uint64_t>(node) << 8) | byte);
        return it == edges_.end() ? -1 : it->second;
    }

    size_t num_texts_ = 0;
    std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child node; node 0 is the root
    std::vector<std::vector<int32_t>> terminals_;  // per node: the texts ending there
};

}  // namespace frugal
