#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>
#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

struct Symbol {
    int prev;
    int next;
    size_t offset;
    size_t n;  // 0 once merged into its left neighbour
};

struct Bigram {
    int left;
    int right;
    std::string text;
    int32_t rank;
};

// Lowest rank first; on ties the leftmost pair (as llama.cpp).
struct BigramOrder {
    bool operator()(const Bigram& l, const Bigram& r) const {
        return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
};

}  // namespace

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::create(const Vocab& vocab) {
    if (!vocab.pre_patterns.empty()) {
        ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> pre,
                         PreTokenizer::create(vocab.pre_patterns, /*onig_properties=*/true));
        return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(vocab, std::move(pre)));
    }
    const auto traits = pre_tokenizer_traits(vocab.pre.empty() ? "default" : vocab.pre);
    if (!traits.has_value()) return Status::errorf("unsupported pre-tokenizer type '{}'", vocab.pre);
    ASSIGN_OR_RETURN(std::unique_ptr<PreTokenizer> pre, PreTokenizer::create(traits->patterns));
    return std::unique_ptr<BpeTokenizer>(new BpeTokenizer(vocab, std::move(pre)));
}

void BpeTokenizer::encode(std::string_view text, std::vector<int32_t>& out) const {
    for (const std::string& word : pre_->split(text)) encode_word(byte_level_encode(word), out);
}

void BpeTokenizer::encode_word(const std::string& word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    std::vector<Symbol> symbols;
    if (vocab_.ignore_merges && vocab_.find(word) != kNullToken) {
        symbols.push_back({-1, -1, 0, word.size()});
    } else {
        for (size_t offset = 0; offset < word.size();) {
            const size_t n = std::min(utf8_sequence_length(static_cast<uint8_t>(word[offset])), word.size() - offset);
            const int index = static_cast<int>(symbols.size());
            symbols.push_back({index - 1, offset + n == word.size() ? -1 : index + 1, offset, n});
            offset += n;
        }
    }
    const std::string_view text(word);
    const auto sym_text = [&](int i) { return text.substr(symbols[i].offset, symbols[i].n); };

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const auto add_bigram = [&](int left, int right) {
        if (left == -1 || right == -1) return;
        const int32_t rank = vocab_.merge_rank(sym_text(left), sym_text(right));
        if (rank < 0) return;
        std::string merged(sym_text(left));
        merged.append(sym_text(right));
        queue.push({left, right, std::move(merged), rank});
    };
    for (int i = 1; i < static_cast<int>(symbols.size()); ++i) add_bigram(i - 1, i);

    while (!queue.empty()) {
        const Bigram bigram = queue.top();
        queue.pop();
        Symbol& left = symbols[bigram.left];
        Symbol& right = symbols[bigram.right];
        if (left.n == 0 || right.n == 0) continue;
        const std::string_view l = sym_text(bigram.left);
        const std::string_view r = sym_text(bigram.right);
        if (l.size() + r.size() != bigram.text.size() || bigram.text.compare(0, l.size(), l) != 0 ||
            bigram.text.compare(l.size(), r.size(), r) != 0) {
            continue;  // stale: one side has grown since this pair was queued
        }
        left.n += right.n;
        right.n = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = bigram.left;
        add_bigram(left.prev, bigram.left);
        add_bigram(bigram.left, left.next);
    }

    for (int i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece = sym_text(i);
        const int32_t id = vocab_.find(piece);
        if (id != kNullToken) {
            out.push_back(id);
            continue;
        }
        // llama.cpp looks each byte of the (already byte-mapped) piece up as a one-byte token and drops misses.
        for (size_t j = 0; j < piece.size(); ++j) {
            const int32_t byte_id = vocab_.find(piece.substr(j, 1));
            if (byte_id != kNullToken) out.push_back(byte_id);
        }
    }
}

}  // namespace frugal
