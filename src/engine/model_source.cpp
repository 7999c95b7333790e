#include "engine/model_source.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/mapped_file.h"
#include "format/llama2c/llama2c_checkpoint.h"
#include "core/logging.h"
#include "model/hf_checkpoint.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

Result<GgufWriter> ModelSource::llama2c_to_gguf(const std::string& model_path, const std::string& tokenizer_path) {
    ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(model_path));
    ASSIGN_OR_RETURN(Llama2cCheckpoint ckpt, Llama2cCheckpoint::parse(file.data(), file.size(), model_path));
    GgufWriter writer;
    RETURN_IF_ERROR(ckpt.add_to_gguf(writer));
    if (!tokenizer_path.empty()) {
        ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::from_llama2c(tokenizer_path));
        if (tok->vocab_size() != ckpt.config().vocab_size) {
            return Status::errorf("tokenizer '{}' has {} tokens but checkpoint '{}' expects {}", tokenizer_path,
                                  tok->vocab_size(), model_path, ckpt.config().vocab_size);
        }
        tok->write_gguf_metadata(writer);
    }
    return writer;
}

bool ModelSource::is_hf_checkpoint(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(path, ec)) return fs::exists(fs::path(path) / "config.json", ec);
    const std::string ext = fs::path(path).extension().string();
    return ext == ".safetensors" || (ext == ".json" && path.find("safetensors") != std::string::npos);
}

namespace {

// The checkpoint in GGUF form, with its tokenizer.json vocabulary when the folder has one frugal can read (else the
// model runs on token ids, with a warning saying why).
Result<GgufWriter> hf_to_gguf(const std::string& path) {
    ASSIGN_OR_RETURN(GgufWriter writer, convert_hf_checkpoint(path));
    std::error_code ec;
    const std::filesystem::path dir =
        std::filesystem::is_directory(path, ec) ? std::filesystem::path(path) : std::filesystem::path(path).parent_path();
    if (!std::filesystem::exists(dir / "tokenizer.json", ec)) return writer;
    Result<Vocab> vocab = vocab_from_hf_dir(dir.string());
    if (!vocab.ok()) {
        LOG_WARN("frugal: {}; the model runs on token ids only (--prompt-ids)", vocab.status().message());
        return writer;
    }
    write_vocab_gguf_metadata(vocab.value(), writer);
    // The chat template travels as llama.cpp carries it, so `run --chat` and converted files have it.
    Result<std::optional<std::string>> chat_template = chat_template_from_hf_dir(dir.string());
    if (!chat_template.ok()) {
        LOG_WARN("frugal: {}; the model has no chat template", chat_template.status().message());
    } else if (chat_template->has_value()) {
        writer.set_string("tokenizer.chat_template", **chat_template);
    }
    return writer;
}

}  // namespace

Result<GgufWriter> ModelSource::to_gguf(const std::string& model_path, const std::string& tokenizer_path) {
    if (is_hf_checkpoint(model_path)) return hf_to_gguf(model_path);
    return llama2c_to_gguf(model_path, tokenizer_path);
}

Result<std::unique_ptr<ModelSource>> ModelSource::open(const std::string& model_path,
                                                       const std::string& tokenizer_path) {
    auto source = std::unique_ptr<ModelSource>(new ModelSource());
    if (is_hf_checkpoint(model_path)) {
        // The conversion is written to an unlinked temporary file and memory-mapped, so a checkpoint needs about
        // its size in free disk space (TMPDIR) but not twice its size in RAM; tensors taken unchanged stream from
        // the safetensors mapping straight into the file.
        ASSIGN_OR_RETURN(GgufWriter writer, hf_to_gguf(model_path));
        std::error_code ec;
        const std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
        if (ec) return Status::errorf("no temporary folder for converting '{}': {}", model_path, ec.message());
        std::string tmpl = (dir / "frugal-hf-XXXXXX.gguf").string();
        const int fd = ::mkstemps(tmpl.data(), 5);
        if (fd < 0) return Status::errorf("cannot create a temporary file in '{}': {}", dir.string(), std::strerror(errno));
        ::close(fd);
        const Status written = writer.write(tmpl);
        Result<GgufFile> gguf = written.ok() ? GgufFile::open(tmpl) : Result<GgufFile>(written);
        std::filesystem::remove(tmpl, ec);  // the mapping keeps the data; the name goes now
        if (!gguf.ok()) {
            return gguf.status().with_context(fmt::format(
                "converting '{}' through '{}' (set TMPDIR to a folder with room, or `frugal convert` once)",
                model_path, tmpl));
        }
        source->gguf_ = std::make_unique<GgufFile>(std::move(gguf).value());
        return source;
    }
    char magic[4] = {};
    {
        std::ifstream in(model_path, std::ios::binary);
        if (!in) return Status::errorf("cannot open model '{}': {}", model_path, std::strerror(errno));
        in.read(magic, 4);
    }
    if (std::memcmp(magic, "GGUF", 4) == 0) {
        ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::open(model_path));
        source->gguf_ = std::make_unique<GgufFile>(std::move(gguf));
        return source;
    }
    Result<GgufWriter> writer = llama2c_to_gguf(model_path, tokenizer_path);
    if (!writer.ok()) {
        return writer.status().with_context(
            fmt::format("'{}' is not a GGUF file; reading it as a llama2.c checkpoint failed", model_path));
    }
    source->owned_bytes_ = writer->to_bytes();
    ASSIGN_OR_RETURN(GgufFile gguf, GgufFile::parse(source->owned_bytes_.data(), source->owned_bytes_.size(), model_path));
    source->gguf_ = std::make_unique<GgufFile>(std::move(gguf));
    return source;
}

}  // namespace frugal
