// A fork-join pool for data-parallel kernels. The calling thread takes part, and idle workers spin briefly
// before sleeping, because decode issues hundreds of small parallel regions per token and a condition-variable
// wake-up per region would cost more than the work.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace frugal {

class ThreadPool {
public:
    // num_threads counts the caller: ThreadPool(1) runs everything inline.
    explicit ThreadPool(int num_threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int num_threads() const { return num_threads_; }

    // Runs fn(thread_index) once on each of num_threads() threads and returns when all are done.
    // Not reentrant: fn must not call run() on the same pool. Only one caller thread at a time.
    void run(const std::function<void(int thread_index)>& fn);

    // Splits [0, n) into contiguous chunks, one per thread, and calls fn(begin, end) for each non-empty chunk.
    // grain rounds chunk boundaries to a multiple (e.g. a row-block size).
    void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn, int64_t grain = 1);

private:
    void worker_loop(int thread_index);
    void publish(const std::function<void(int)>* job, bool dynamic);

    int num_threads_;
    std::vector<std::thread> workers_;
    const std::function<void(int)>* job_ = nullptr;
    bool job_dynamic_ = false;  // dynamic jobs may start without some workers (see parallel_for)
    std::atomic<uint64_t> open_generation_{0};  // generation of the dynamic job workers may still join, 0 = none
    std::atomic<int> active_{0};                // workers inside a dynamic job
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
};

}  // namespace frugal
