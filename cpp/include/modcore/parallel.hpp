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

inline int resolve_threads(int n_jobs) {
#ifdef _OPENMP
    return n_jobs > 0 ? n_jobs : omp_get_num_procs();
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
