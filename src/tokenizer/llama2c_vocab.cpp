#include "tokenizer/llama2c_vocab.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

namespace frugal {
namespace {

constexpr int32_t kNumByteTokens = 256;
constexpr int32_t kFirstByteToken = 3;

template <typename T>
T read_le(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));  // llama2.c files are little-endian, as is every host we build for
    return v;
}

std::string to_sentencepiece(std::string piece) {
    std::string out;
    out.reserve(piece.size());
    for (char c : piece) {
        if (c == ' ') {
            out += "\xe2\x96\x81";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

Result<Vocab> parse_llama2c_vocab(std::span<const uint8_t> bytes, const std::string& name,
                                  int32_t expected_num_tokens) {
    if (bytes.size() < 4) {
        return Status::errorf("{}: not a llama2.c tokenizer: {} bytes, the header alone needs 4", name, bytes.size());
    }
    const int32_t max_token_length = read_le<int32_t>(bytes.data());
    if (max_token_length <= 0 || max_token_length > 1 << 16) {
        return Status::errorf("{}: not a llama2.c tokenizer: max_token_length is {}", name, max_token_length);
    }

    Vocab vocab;
    vocab.type = VocabType::kSpm;
    vocab.model = "llama";
    apply_vocab_type_defaults(vocab);

    size_t offset = 4;
    while (offset < bytes.size()) {
        const size_t id = vocab.tokens.size();
        if (bytes.size() - offset < 8) {
            return Status::errorf("{}: truncated at token {} (offset {}): need 8 bytes for score and length, have {}",
                                  name, id, offset, bytes.size() - offset);
        }
        const float score = read_le<float>(bytes.data() + offset);
        const int32_t len = read_le<int32_t>(bytes.data() + offset + 4);
        offset += 8;
        if (len < 0 || len > max_token_length + 2 || static_cast<size_t>(len) > bytes.size() - offset) {
            return Status::errorf("{}: token {} at offset {} has length {} (max_token_length {}, {} bytes left)", name,
                                  id, offset - 4, len, max_token_length, bytes.size() - offset);
        }
        TokenData t;
        t.text.assign(reinterpret_cast<const char*>(bytes.data() + offset), static_cast<size_t>(len));
        t.score = score;
        offset += static_cast<size_t>(len);
        vocab.tokens.push_back(std::move(t));
    }

    const int32_t n = vocab.num_tokens();
    if (n < kFirstByteToken + kNumByteTokens) {
        return Status::errorf(
            "{}: {} tokens; a llama2.c SentencePiece vocabulary has at least {} (3 specials + "
            "256 bytes)",
            name, n, kFirstByteToken + kNumByteTokens);
    }
    if (expected_num_tokens > 0 && n != expected_num_tokens) {
        return Status::errorf("{}: {} tokens, but the model expects {}", name, n, expected_num_tokens);
    }
    for (int32_t id = 0; id < n; ++id) {
        TokenData& t = vocab.tokens[id];
        if (id == 0) {
            t.type = TokenType::kUnknown;
        } else if (id <= 2) {
            t.type = TokenType::kControl;
            // "\n<s>\n" -> "<s>": the newlines are llama2.c's decoration for printing.
            const size_t first = t.text.find_first_not_of('\n');
            const size_t last = t.text.find_last_not_of('\n');
            t.text = first == std::string::npos ? std::string() : t.text.substr(first, last - first + 1);
        } else if (id < kFirstByteToken + kNumByteTokens) {
            t.type = TokenType::kByte;
        } else {
            t.type = TokenType::kNormal;
            t.text = to_sentencepiece(std::move(t.text));
        }
    }
    RETURN_IF_ERROR(vocab.finalize().with_context(name));
    return vocab;
}

Result<Vocab> load_llama2c_vocab(const std::string& path, int32_t expected_num_tokens) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::errorf("cannot open llama2.c tokenizer '{}'", path);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return Status::errorf("error reading llama2.c tokenizer '{}'", path);
    return parse_llama2c_vocab(bytes, path, expected_num_tokens);
}

}  // namespace frugal
