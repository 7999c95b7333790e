#include "tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>

#include "tokenizer/utf8.h"

namespace frugal {
namespace {

struct Symbol {
    int prev;
    int next;
    size_t offset;  // into the text
    size_t n;       // bytes; 0 once merged into its left neighbour
};

struct Bigram {
    int left;
    int right;
    float score;
    size_t size;
};

// Highest score first; on ties the leftmost pair (as llama.cpp).
struct BigramOrder {
    bool operator()(const Bigram& l, const Bigram& r) const {
        return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
};

}  // namespace

void SpmTokenizer::encode(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    for (size_t offset = 0; offset < text.size();) {
        const size_t n = std::min(utf8_sequence_length(static_cast<uint8_t>(text[offset])), text.size() - offset);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({index - 1, offset + n == text.size() ? -1 : index + 1, offset, n});
        offset += n;
    }
    if (symbols.empty()) return;

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const auto try_add_bigram = [&](int left, int right) {
        if (left == -1 || right == -1) return;
        const std::string_view merged = text.substr(symbols[left].offset, symbols[left].n + symbols[right].n);
        const int32_t id = vocab_.find(merged);
        if (id == kNullToken) return;
        queue.push({left, right, vocab_.tokens[id].score, merged.size()});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add_bigram(i - 1, i);

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.n == 0 || right.n == 0 || left.n + right.n != bigram.size) continue;  // stale
        left.n += right.n;
        right.n = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        try_add_bigram(left.prev, bigram.left);
        try_add_bigram(bigram.left, left.next);
    }

    for (int i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece = text.substr(symbols[i].offset, symbols[i].n);
        const int32_t id = vocab_.find(piece);
        if (id != kNullToken) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) {
            const int32_t byte_id = vocab_.byte_to_token(static_cast<uint8_t>(c));
            if (byte_id != kNullToken) out.push_back(byte_id);
        }
    }
}

}  // namespace frugal
