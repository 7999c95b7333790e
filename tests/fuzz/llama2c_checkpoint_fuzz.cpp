// libFuzzer target for the llama2.c checkpoint reader: parse the buffer, and on success convert every weight to
// GGUF tensors (which reads all of them) and re-read the result with the GGUF reader.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "format/llama2c/llama2c_checkpoint.h"

// See gguf_reader_fuzz.cpp: steps around bugs that already have a reproducer in tests/fuzz/crashes/.
#ifndef FRUGAL_FUZZ_SKIP_KNOWN
#define FRUGAL_FUZZ_SKIP_KNOWN 0
#endif

namespace {

volatile uint64_t g_sink = 0;

// Inputs up to this size are also converted to GGUF (larger ones are only parsed) so a run stays fast.
constexpr size_t kMaxConvertBytes = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (FRUGAL_FUZZ_SKIP_KNOWN && size >= 24) {
        // Known: parse negates the vocab size field, which overflows for INT32_MIN (llama2c_vocab_size_int_min.bin).
        int32_t vocab_field = 0;
        std::memcpy(&vocab_field, data + 20, sizeof(vocab_field));
        if (vocab_field == std::numeric_limits<int32_t>::min()) return 0;
    }
    frugal::Result<frugal::Llama2cCheckpoint> parsed = frugal::Llama2cCheckpoint::parse(data, size, "fuzz");
    if (!parsed.ok()) {
        g_sink = g_sink + parsed.status().message().size();
        return 0;
    }
    const frugal::Llama2cConfig& c = parsed->config();
    g_sink = g_sink +
             static_cast<uint64_t>(c.dim + c.hidden_dim + c.num_layers + c.num_heads + c.num_kv_heads + c.vocab_size +
                                   c.seq_len) +
             c.shared_classifier;
    if (size > kMaxConvertBytes) return 0;
    frugal::GgufWriter w;
    frugal::Status s = parsed->add_to_gguf(w);
    if (!s.ok()) {
        g_sink = g_sink + s.message().size();
        return 0;
    }
    const std::vector<uint8_t> bytes = w.to_bytes();
    frugal::Result<frugal::GgufFile> back = frugal::GgufFile::parse(bytes.data(), bytes.size(), "converted");
    if (!back.ok()) __builtin_trap();  // the writer must produce a file the reader accepts
    g_sink = g_sink + back->tensors().size();
    return 0;
}
