// libFuzzer target for tokenizer files that are text: a Hugging Face tokenizer.json (byte-level or
// SentencePiece-style, vocab_from_tokenizer_json) and a tiktoken rank file (vocab_from_tiktoken). The input is
// "<file>\0<text>": the file part goes to both parsers; any tokenizer that loads encodes and decodes the text part
// with and without special tokens and BOS, streams it back, and every id must be in range.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tiktoken_vocab.h"
#include "tokenizer/tokenizer.h"

namespace {

volatile uint64_t g_sink = 0;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

void exercise(const frugal::Tokenizer& tok, std::string_view text) {
    for (int flags = 0; flags < 4; ++flags) {
        const std::vector<int32_t> ids = tok.encode(text, flags & 1, flags & 2);
        for (int32_t id : ids) require(id >= 0 && id < tok.vocab_size());
        g_sink = g_sink + tok.decode(ids, flags & 1).size();
        frugal::StreamingDetokenizer stream(tok, flags & 2);
        for (int32_t id : ids) g_sink = g_sink + stream.push(id).size();
        g_sink = g_sink + stream.flush().size();
    }
    for (int32_t id : {0, 1, tok.vocab_size() - 1, tok.vocab_size(), -1}) {
        g_sink = g_sink + tok.token_to_piece(id, true).size() + tok.is_eog(id);
    }
}

void load_and_exercise(frugal::Result<frugal::Vocab> vocab, std::string_view text) {
    if (!vocab.ok()) {
        g_sink = g_sink + vocab.status().message().size();
        return;
    }
    frugal::Result<std::unique_ptr<frugal::Tokenizer>> tok = frugal::Tokenizer::from_vocab(std::move(vocab).value());
    if (tok.ok()) {
        exercise(*tok.value(), text);
    } else {
        g_sink = g_sink + tok.status().message().size();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t split = input.find('\0');
    const std::string file(input.substr(0, split));
    const std::string_view text = split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
    load_and_exercise(frugal::vocab_from_tokenizer_json(file, "", "fuzz.json"), text);
    load_and_exercise(frugal::vocab_from_tiktoken(file, "fuzz.tiktoken"), text);
    return 0;
}
