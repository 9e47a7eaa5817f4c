// OpenMP loop that never lets an exception reach std::terminate: the first one
// thrown by any iteration is kept and rethrown on the calling thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace modcore {

// Threads for n_jobs (<= 0: all processors), never more than the processors:
// thousands of OpenMP threads exhaust the address space for their stacks, and
// libgomp then exits the process instead of reporting an error.
inline int resolve_threads(int n_jobs) {
#ifdef _OPENMP
    const int procs = omp_get_num_procs();
    return n_jobs > 0 && n_jobs < procs ? n_jobs : procs;
#else
    (void)n_jobs;
    return 1;
#endif
}

template <class Body>
void parallel_for(std::int64_t n, int n_threads, Body body) {
    std::exception_ptr error;
    std::mutex error_mutex;
    std::atomic<bool> failed{false};
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && n > 1)
    for (std::int64_t i = 0; i < n; ++i) {
        if (failed.load(std::memory_order_relaxed)) continue;
        try {
            body(i);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed.store(true, std::memory_order_relaxed);
        }
    }
    if (error) std::rethrow_exception(error);
}

}  // namespace modcore
