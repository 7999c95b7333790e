#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#define FRUGAL_CPU_RELAX() _mm_pause()
#else
#define FRUGAL_CPU_RELAX() ((void)0)
#endif

namespace frugal {
namespace {
// Roughly 50-100 µs of spinning before a worker falls back to sleeping.
constexpr int kSpinIterations = 20000;
// parallel_for splits work into this many chunks per thread, balancing uneven progress between threads.
constexpr int64_t kChunksPerThread = 4;
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
    for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_.store(true);
        generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::publish(const std::function<void(int)>* job, bool dynamic) {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = job;
    job_dynamic_ = dynamic;
    const uint64_t gen = generation_.load(std::memory_order_relaxed) + 1;
    if (dynamic) open_generation_.store(gen);
    generation_.store(gen, std::memory_order_release);
}

void ThreadPool::run(const std::function<void(int)>& fn) {
    if (num_threads_ == 1) {
        fn(0);
        return;
    }
    pending_.store(num_threads_ - 1, std::memory_order_relaxed);
    publish(&fn, /*dynamic=*/false);
    wake_.notify_all();
    fn(0);
    while (pending_.load(std::memory_order_acquire) != 0) FRUGAL_CPU_RELAX();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t num_grains = (n + grain - 1) / grain;
    if (num_threads_ == 1 || num_grains == 1) {
        fn(0, n);
        return;
    }
    // Chunks are claimed from a shared counter rather than assigned per thread, so a worker that the OS has not
    // scheduled (other processes on the machine) delays nothing: whoever runs takes the next chunk, and the
    // caller returns once every chunk is done, closing the job to workers that arrive late.
    const int64_t num_chunks = std::min<int64_t>(num_grains, static_cast<int64_t>(num_threads_) * kChunksPerThread);
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    const std::function<void(int)> job = [&](int) {
        for (int64_t c = next.fetch_add(1); c < num_chunks; c = next.fetch_add(1)) {
            const int64_t begin = std::min(n, (num_grains * c / num_chunks) * grain);
            const int64_t end = std::min(n, (num_grains * (c + 1) / num_chunks) * grain);
            if (begin < end) fn(begin, end);
            done.fetch_add(1, std::memory_order_release);
        }
    };
    publish(&job, /*dynamic=*/true);
    wake_.notify_all();
    job(0);
    while (done.load(std::memory_order_acquire) != num_chunks) FRUGAL_CPU_RELAX();
    // Close the job; a worker that entered before the close finishes (finding no chunks) before we return.
    open_generation_.store(0);
    while (active_.load() != 0) FRUGAL_CPU_RELAX();
}

void ThreadPool::worker_loop(int thread_index) {
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = generation_.load(std::memory_order_acquire);
        for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
            FRUGAL_CPU_RELAX();
            gen = generation_.load(std::memory_order_acquire);
        }
        const std::function<void(int)>* job = nullptr;
        bool dynamic = false;
        {
            // The generation and its job are read together under the lock, since a dynamic job's caller may
            // already have published the next job by the time a late worker gets here.
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            gen = generation_.load(std::memory_order_acquire);
            job = job_;
            dynamic = job_dynamic_;
        }
        seen = gen;
        if (stop_.load()) return;
        if (!dynamic) {
            (*job)(thread_index);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
            continue;
        }
        // Enter a dynamic job only while its caller still holds it open (seq_cst: pairs with the close).
        active_.fetch_add(1);
        if (open_generation_.load() == gen) (*job)(thread_index);
        active_.fetch_sub(1);
    }
}

}  // namespace frugal
