#include "tokenizer/tiktoken_vocab.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "tokenizer/byte_level.h"

namespace frugal {
namespace {

// tiktoken's cl100k_base (tiktoken_ext/openai_public.py).
constexpr size_t kCl100kNumRanks = 100256;
const char* const kCl100kPattern =
    "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$|"
    "\\s*[\\r\\n]|\\s+(?!\\S)|\\s";
struct SpecialToken {
    const char* text;
    int32_t id;
};
constexpr SpecialToken kCl100kSpecials[] = {
    {"<|endoftext|>", 100257},  {"<|fim_prefix|>", 100258},  {"<|fim_middle|>", 100259},
    {"<|fim_suffix|>", 100260}, {"<|endofprompt|>", 100276},
};
constexpr int64_t kMaxRank = int64_t{1} << 24;

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Standard base64 with '=' padding to a multiple of four characters; false on anything else.
bool decode_base64(std::string_view in, std::string* out) {
    out->clear();
    if (in.empty() || in.size() % 4 != 0) return false;
    for (size_t i = 0; i < in.size(); i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = in[i + k];
            if (c == '=' && i + 4 == in.size() && k >= 2) {
                v[k] = 0;
                ++pad;
                continue;
            }
            if (pad > 0 || (v[k] = base64_value(c)) < 0) return false;
        }
        const uint32_t bits = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        out->push_back(static_cast<char>(bits >> 16));
        if (pad < 2) out->push_back(static_cast<char>((bits >> 8) & 0xFF));
        if (pad < 1) out->push_back(static_cast<char>(bits & 0xFF));
    }
    return true;
}

// The merges tiktoken's ranks imply: token r's bytes, reduced by BPE with the tokens ranked below r, end as two
// parts; that pair is merge r. Tokens that do not reduce to a pair (single bytes) make no merge.
std::vector<std::string> derive_merges(const std::vector<std::string>& bytes_by_rank) {
    std::unordered_map<std::string, int32_t> rank_of;
    rank_of.reserve(bytes_by_rank.size());
    for (size_t r = 0; r < bytes_by_rank.size(); ++r) {
        if (!bytes_by_rank[r].empty()) rank_of.emplace(bytes_by_rank[r], static_cast<int32_t>(r));
    }
    std::vector<std::string> merges;
    std::vector<std::string> parts;
    for (size_t r = 0; r < bytes_by_rank.size(); ++r) {
        const std::string& token = bytes_by_rank[r];
        if (token.size() < 2) continue;
        parts.clear();
        for (char c : token) parts.emplace_back(1, c);
        while (parts.size() > 2) {
            int32_t best_rank = static_cast<int32_t>(r);
            size_t best = parts.size();
            for (size_t i = 0; i + 1 < parts.size(); ++i) {
                const auto it = rank_of.find(parts[i] + parts[i + 1]);
                if (it != rank_of.end() && it->second < best_rank) {
                    best_rank = it->second;
                    best = i;
                }
            }
            if (best == parts.size()) break;
            parts[best] += parts[best + 1];
            parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
        }
        if (parts.size() == 2) merges.push_back(byte_level_encode(parts[0]) + " " + byte_level_encode(parts[1]));
    }
    return merges;
}

}  // namespace

Result<Vocab> vocab_from_tiktoken(std::string_view text, const std::string& name_for_errors) {
    std::vector<std::string> bytes_by_rank;
    std::unordered_map<std::string, size_t> line_of_token;
    size_t line_no = 0;
    std::string token;
    for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        const size_t space = line.find(' ');
        const auto fail = [&](std::string_view why) {
            return Status::errorf("{}: line {}: {} ('{}')", name_for_errors, line_no, why,
                                  line.substr(0, std::min<size_t>(line.size(), 60)));
        };
        if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
            return fail("expected 'base64 rank'");
        if (!decode_base64(line.substr(0, space), &token)) return fail("bad base64");
        const std::string_view rank_text = line.substr(space + 1);
        int64_t rank = 0;
        for (char c : rank_text) {
            if (c < '0' || c > '9' || rank >= kMaxRank) return fail("rank is not a number below 2^24");
            rank = rank * 10 + (c - '0');
        }
        if (rank_text.empty() || rank >= kMaxRank) return fail("rank is not a number below 2^24");
        if (static_cast<size_t>(rank) >= bytes_by_rank.size()) bytes_by_rank.resize(static_cast<size_t>(rank) + 1);
        if (!bytes_by_rank[rank].empty()) return fail(fmt::format("rank {} appears twice", rank));
        if (const auto [it, inserted] = line_of_token.emplace(token, line_no); !inserted)
            return fail(fmt::format("the same token is on line {}", it->second));
        bytes_by_rank[rank] = token;
    }
    if (bytes_by_rank.size() != kCl100kNumRanks || line_of_token.size() != kCl100kNumRanks) {
        return Status::errorf(
            "{}: {} ranks (0..{}); only cl100k_base (100256 ranks) is known, other encodings' "
            "split regex and special tokens are not in the file",
            name_for_errors, line_of_token.size(), bytes_by_rank.size());
    }

    Vocab vocab;
    vocab.type = VocabType::kBpe;
    vocab.model = "gpt2";
    vocab.pre = "default";  // llama.cpp has no cl100k set; frugal reads pre_patterns
    vocab.pre_patterns = {kCl100kPattern};
    vocab.hf_attributes = true;
    vocab.clean_spaces = false;
    vocab.merges = derive_merges(bytes_by_rank);
    int32_t num_tokens = static_cast<int32_t>(bytes_by_rank.size());
    for (const SpecialToken& s : kCl100kSpecials) num_tokens = std::max(num_tokens, s.id + 1);
    vocab.tokens.resize(static_cast<size_t>(num_tokens));
    for (int32_t i = 0; i < num_tokens; ++i) {
        if (static_cast<size_t>(i) < bytes_by_rank.size()) {
            vocab.tokens[i] = {byte_level_encode(bytes_by_rank[i]), 0.0f, TokenType::kNormal, kAttrNormal};
        } else {
            vocab.tokens[i] = {fmt::format("[PAD{}]", i), 0.0f, TokenType::kUnused, kAttrUnused};
        }
    }
    for (const SpecialToken& s : kCl100kSpecials)
        vocab.tokens[s.id] = {s.text, 0.0f, TokenType::kControl, kAttrControl};
    vocab.bos_id = kNullToken;
    vocab.eos_id = kCl100kSpecials[0].id;
    vocab.unk_id = kNullToken;
    vocab.add_bos = false;
    vocab.add_eos = false;
    vocab.add_space_prefix = false;
    Status st = vocab.finalize();
    if (!st.ok()) return st.with_context(name_for_errors);
    return vocab;
}

Result<Vocab> load_tiktoken_vocab(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::errorf("cannot read '{}'", path);
    std::stringstream ss;
    ss << in.rdbuf();
    return vocab_from_tiktoken(ss.str(), path);
}

}  // namespace frugal
