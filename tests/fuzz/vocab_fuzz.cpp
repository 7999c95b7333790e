// libFuzzer target for building a tokenizer from hostile files: the input is parsed as a GGUF file (then
// Tokenizer::from_gguf) and, independently, as a llama2.c tokenizer.bin (parse_llama2c_vocab, then from_vocab).
// Whatever tokenizer comes out encodes and decodes a fixed text, and every id it produces must be in range.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "tokenizer/llama2c_vocab.h"
#include "tokenizer/tokenizer.h"

namespace {

volatile uint64_t g_sink = 0;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

void exercise(const frugal::Tokenizer& tok) {
    static constexpr std::string_view kText = "Hello world! <s> 123 \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80  \n\t x";
    for (int flags = 0; flags < 4; ++flags) {
        const std::vector<int32_t> ids = tok.encode(kText, flags & 1, flags & 2);
        for (int32_t id : ids) require(id >= 0 && id < tok.vocab_size());
        g_sink = g_sink + tok.decode(ids, flags & 1).size();
    }
    for (int32_t id : {0, 1, 2, tok.vocab_size() - 1, tok.vocab_size(), -1}) {
        g_sink = g_sink + tok.token_to_piece(id, true).size() + tok.is_eog(id);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    frugal::Result<frugal::GgufFile> file = frugal::GgufFile::parse(data, size, "fuzz");
    if (file.ok()) {
        frugal::Result<std::unique_ptr<frugal::Tokenizer>> tok = frugal::Tokenizer::from_gguf(file.value());
        if (tok.ok()) {
            exercise(*tok.value());
        } else {
            g_sink = g_sink + tok.status().message().size();
        }
    }
    frugal::Result<frugal::Vocab> vocab = frugal::parse_llama2c_vocab(std::span<const uint8_t>(data, size), "fuzz");
    if (vocab.ok()) {
        frugal::Result<std::unique_ptr<frugal::Tokenizer>> tok =
            frugal::Tokenizer::from_vocab(std::move(vocab.value()));
        if (tok.ok()) exercise(*tok.value());
    }
    return 0;
}
