// k-means: greedy k-means++ seeding, Lloyd iterations with vectorized distance
// kernels, n_init restarts with the lowest inertia kept.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "modcore/cancel.hpp"
#include "modcore/graph.hpp"

namespace modcore {

struct KMeansResult {
    std::vector<std::int32_t> labels;
    std::vector<double> centers;  // k x d, row-major
    double inertia = 0.0;
    int n_iter = 0;               // Lloyd iterations of the winning restart
};

// Scores a finished restart (lower wins); it may change the labels (a
// refinement). Called from several threads at once. Empty: the inertia.
using RestartScore = std::function<double(KMeansResult&)>;

// X: n x d row-major. Restart r draws from the stream (seed, r), so the result is
// the same for any n_threads (restarts run in parallel; ties go to the lowest r).
// The kept restart is the one with the lowest score.
KMeansResult kmeans(const double* X, Index n, Index d, int k, int n_init, int max_iter,
                    std::uint64_t seed, int n_threads, const CancelToken* cancel = nullptr,
                    const RestartScore& score = {});

}  // namespace modcore
