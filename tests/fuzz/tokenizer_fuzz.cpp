// libFuzzer target for the tokenizers on hostile text. The vocabularies are the shared GGUF ones (loaded once);
// the first input byte picks the vocabulary and the encode flags, the rest is the text. Checks: every id is in
// range, decode and the streaming detokenizer do not crash, and streamed output is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

#ifndef FRUGAL_SHARED_DIR
#error "FRUGAL_SHARED_DIR must point at the shared data (vocab-gguf/)"
#endif

namespace {

// Uncompressed vocabularies in FRUGAL_SHARED_DIR/vocab-gguf: two SPM, two byte-level BPE.
constexpr const char* kVocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-phi-3.gguf",
                                   "ggml-vocab-deepseek-coder.gguf"};
constexpr size_t kNumVocabs = std::size(kVocabs);

std::vector<std::unique_ptr<frugal::Tokenizer>>* g_tokenizers = nullptr;
volatile uint64_t g_sink = 0;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<uint8_t>(s[i]);
        size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (size_t k = 1; k < n; ++k) {
            if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    g_tokenizers = new std::vector<std::unique_ptr<frugal::Tokenizer>>();
    for (const char* name : kVocabs) {
        const std::string path = std::string(FRUGAL_SHARED_DIR) + "/vocab-gguf/" + name;
        frugal::Result<frugal::GgufFile> file = frugal::GgufFile::open(path);
        require(file.ok());
        frugal::Result<std::unique_ptr<frugal::Tokenizer>> tok = frugal::Tokenizer::from_gguf(file.value());
        require(tok.ok());
        g_tokenizers->push_back(std::move(tok.value()));
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t selector = data[0];
    const frugal::Tokenizer& tok = *(*g_tokenizers)[selector % kNumVocabs];
    const bool add_bos = (selector & 0x10) != 0;
    const bool parse_special = (selector & 0x20) != 0;
    const bool render_special = (selector & 0x40) != 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

    const std::vector<int32_t> ids = tok.encode(text, add_bos, parse_special);
    for (int32_t id : ids) require(id >= 0 && id < tok.vocab_size());

    const std::string decoded = tok.decode(ids, render_special);
    frugal::StreamingDetokenizer stream(tok, render_special);
    std::string streamed;
    for (int32_t id : ids) streamed += stream.push(id);
    streamed += stream.flush();
    require(valid_utf8(streamed));
    g_sink = g_sink + decoded.size() + streamed.size();
    return 0;
}
