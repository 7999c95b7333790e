#include "cli_common.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#ifdef FRUGAL_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace frugal::cli {

void add_model_options(CLI::App* app, ModelOptions& o) {
    app->add_option("-m,--model", o.model_path, "Model file: GGUF, or a llama2.c checkpoint")->required();
    app->add_option("--tokenizer", o.tokenizer_path, "llama2.c tokenizer.bin (for llama2.c checkpoints)");
    app->add_option("-t,--threads", o.threads, "CPU threads (default: all hardware threads)");
    app->add_option("-c,--ctx-size", o.context, "Context size in tokens (capped at the model's)")
        ->check(CLI::PositiveNumber);
    app->add_option("-b,--batch-size", o.batch_size, "Max prompt tokens per forward pass")->check(CLI::PositiveNumber);
    app->add_option("--cache-type-k", o.cache_type_k, "KV cache type for K: f16 or f32")
        ->check(CLI::IsMember({"f16", "f32"}));
    app->add_option("--cache-type-v", o.cache_type_v, "KV cache type for V: f16 or f32")
        ->check(CLI::IsMember({"f16", "f32"}));
    app->add_option("--cpu-isa", o.isa, "CPU kernel variant: auto, scalar, avx2, avx512")
        ->check(CLI::IsMember({"auto", "scalar", "avx2", "avx512"}));
    app->add_option("--device", o.device, "Where the model runs: cpu, cuda (GPU 0) or cuda:N");
    app->add_option("--n-gpu-layers", o.gpu_layers,
                    "llama.cpp-style offload: any value > 0 runs every layer on GPU 0 (same as --device cuda)");
}

namespace {

// The partial output an interrupt must remove (a signal handler can only reach static storage).
char g_partial_path[4096] = {0};

extern "C" void remove_partial_and_exit(int sig) {
    if (g_partial_path[0] != '\0') ::unlink(g_partial_path);
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

// The backend named by --device / -ngl.
Result<std::unique_ptr<Backend>> create_backend(const ModelOptions& o, const CpuBackendOptions& cpu_options) {
    std::string device = o.device;
    if (o.gpu_layers > 0 && device == "cpu") device = "cuda";
    if (device == "cpu") return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(cpu_options));
    if (device.rfind("cuda", 0) != 0) return Status::errorf("--device {}: expected cpu, cuda or cuda:N", device);
    int index = 0;
    if (device.size() > 4) {
        char* end = nullptr;
        const long v = device[4] == ':' ? std::strtol(device.c_str() + 5, &end, 10) : -1;
        if (device[4] != ':' || end == device.c_str() + 5 || *end != '\0' || v < 0 || v > 1024) {
            return Status::errorf("--device {}: expected cuda or cuda:N", device);
        }
        index = static_cast<int>(v);
    }
#ifdef FRUGAL_HAVE_CUDA
    CudaBackendOptions cuda_options;
    cuda_options.device = index;
    return create_cuda_backend(cuda_options);
#else
    (void)index;
    return Status::errorf("--device {}: this frugal was built without CUDA (configure with -DFRUGAL_CUDA=ON)", device);
#endif
}

}  // namespace


int resolve_threads(int threads) {
    if (threads > 0) return threads;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<LoadedEngine> load_engine(const ModelOptions& o) {
    const auto start = std::chrono::steady_clock::now();
    if (o.cache_type_k != o.cache_type_v) {
        return Status::error("--cache-type-k and --cache-type-v must be the same type for now");
    }
    LoadedEngine loaded;
    ASSIGN_OR_RETURN(loaded.source, ModelSource::open(o.model_path, o.tokenizer_path));
    CpuBackendOptions backend_options;
    backend_options.num_threads = resolve_threads(o.threads);
    if (o.isa != "auto") {
        backend_options.detect_isa = false;
        backend_options.isa = o.isa == "avx512" ? CpuIsa::kAvx512 : o.isa == "avx2" ? CpuIsa::kAvx2 : CpuIsa::kScalar;
        if (!cpu_isa_supported(backend_options.isa)) {
            return Status::errorf("--cpu-isa {}: this processor does not support it", o.isa);
        }
    }
    EngineOptions options;
    options.num_threads = backend_options.num_threads;
    options.context_length = o.context;
    options.max_batch_tokens = o.batch_size;
    options.kv_dtype = o.cache_type_k == "f32" ? DType::kF32 : DType::kF16;
    options.kv_cache_bytes = o.kv_cache_bytes;
    options.kv_cache_tokens = o.kv_cache_tokens;
    options.max_num_seqs = o.max_num_seqs;
    options.enable_prefix_caching = o.enable_prefix_caching;
    ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, create_backend(o, backend_options));
    ASSIGN_OR_RETURN(loaded.engine, Engine::create(*loaded.source, std::move(backend), options));
    loaded.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return loaded;
}

Result<std::string> read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::errorf("cannot read '{}'", path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Status write_atomically(const std::string& path, const std::function<Status(const std::string&)>& write) {
    const std::string partial = path + ".partial-" + std::to_string(::getpid());
    if (partial.size() >= sizeof(g_partial_path)) return Status::errorf("output path too long: '{}'", path);
    std::snprintf(g_partial_path, sizeof(g_partial_path), "%s", partial.c_str());
    auto old_int = std::signal(SIGINT, remove_partial_and_exit);
    auto old_term = std::signal(SIGTERM, remove_partial_and_exit);
    Status st = write(partial);
    if (st.ok() && std::rename(partial.c_str(), path.c_str()) != 0) {
        st = Status::errorf("cannot rename '{}' to '{}'", partial, path);
    }
    if (!st.ok()) ::unlink(partial.c_str());
    g_partial_path[0] = '\0';
    std::signal(SIGINT, old_int);
    std::signal(SIGTERM, old_term);
    return st;
}

Result<ChatTemplate> open_chat_template(const std::string& template_path, const ModelSource& source,
                                        const std::string& flag) {
    if (template_path.empty()) {
        Result<ChatTemplate> t = ChatTemplate::from_gguf(source.gguf());
        if (!t.ok()) return t.status().with_context(flag + " (pass --chat-template FILE.jinja)");
        return t;
    }
    ASSIGN_OR_RETURN(std::string text, read_text_file(template_path));
    // BOS/EOS texts still come from the model's vocabulary.
    const GgufValue* tokens = source.gguf().find("tokenizer.ggml.tokens");
    auto token = [&](const char* key) {
        const int64_t id = source.gguf().get_int_or(key, -1);
        return tokens && id >= 0 && static_cast<uint64_t>(id) < tokens->array_strings.size()
                   ? std::string(tokens->array_strings[static_cast<size_t>(id)])
                   : std::string();
    };
    return ChatTemplate::create(text, token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"));
}

Result<std::vector<int32_t>> parse_id_list(const std::string& text) {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ',' || text[i] == ' ')) ++i;
        if (i >= text.size()) break;
        size_t j = i;
        while (j < text.size() && text[j] != ',' && text[j] != ' ') ++j;
        const std::string item = text.substr(i, j - i);
        char* end = nullptr;
        const long v = std::strtol(item.c_str(), &end, 10);
        if (end == item.c_str() || *end != '\0' || v < 0 || v > INT32_MAX) {
            return Status::errorf("'{}' is not a token id", item);
        }
        ids.push_back(static_cast<int32_t>(v));
        i = j;
    }
    if (ids.empty()) return Status::error("--prompt-ids is empty");
    return ids;
}

}  // namespace frugal::cli
