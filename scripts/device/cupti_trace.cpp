// A kernel timeline for machines without Nsight Systems: a CUPTI injection library. Loaded by the CUDA driver when
// CUDA_INJECTION64_PATH names it; records every kernel's start and end on the GPU (kernels inside CUDA graphs each
// get their own record, so a captured decode step is seen as it really runs, overlapped and at full clocks) and
// writes them at exit as CSV to $CUPTI_TRACE_OUT (default cupti_trace.csv): start_ns,end_ns,graph_node,grid,name
// (grid = blocks in x).
// Build: g++ -O2 -shared -fPIC -I$CUDA/include cupti_trace.cpp -L$CUDA/lib -lcupti -o libcupti_trace.so
// (scripts/device/h200_timeline.sh does this on the dev machine and summarizes the trace per kernel.)
#include <cupti.h>
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr size_t kBufferBytes = size_t{8} << 20;

struct Record {
    unsigned long long start, end, node;
    int grid;
    std::string name;
};

std::mutex g_mutex;
std::vector<Record>* g_records = nullptr;

std::string demangle(const char* name) {
    int status = 0;
    char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    std::string out = status == 0 && d != nullptr ? d : name;
    std::free(d);
    return out;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
    *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, kBufferBytes));
    *size = kBufferBytes;
    *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
    CUpti_Activity* record = nullptr;
    std::lock_guard<std::mutex> lock(g_mutex);
    while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
        if (record->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && record->kind != CUPTI_ACTIVITY_KIND_KERNEL) continue;
        const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
        g_records->push_back({k->start, k->end, k->graphNodeId, k->gridX, demangle(k->name)});
    }
    std::free(buffer);
}

void write_trace() {
    cuptiActivityFlushAll(1);
    const char* path = std::getenv("CUPTI_TRACE_OUT");
    FILE* f = std::fopen(path != nullptr ? path : "cupti_trace.csv", "w");
    if (f == nullptr) return;
    std::fprintf(f, "start_ns,end_ns,graph_node,grid,name\n");
    std::lock_guard<std::mutex> lock(g_mutex);
    for (const Record& r : *g_records) {
        std::string name = r.name;
        for (char& c : name) {
            if (c == ',' || c == '"') c = ';';
        }
        std::fprintf(f, "%llu,%llu,%llu,%d,%s\n", r.start, r.end, r.node, r.grid, name.c_str());
    }
    std::fclose(f);
}

}  // namespace

extern "C" int InitializeInjection() {
    g_records = new std::vector<Record>();
    g_records->reserve(1 << 20);
    if (cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed) != CUPTI_SUCCESS) return 0;
    if (cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) != CUPTI_SUCCESS) return 0;
    std::atexit(write_trace);
    return 1;
}
