// The whole clustering of one graph: spectral embedding, k-means, n-cut.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/graph.hpp"
#include "modcore/spectral.hpp"

namespace modcore {

struct ClusterOptions {
    int n_clusters = 12;
    int n_init = 10;
    int max_iter = 300;
    SpectralOptions spectral;
};

struct ClusterResult {
    std::vector<std::int32_t> labels;     // per live node
    std::vector<double> eigenvalues;      // of the normalized adjacency, descending
    double ncut = 0.0;
    double inertia = 0.0;
    int n_components = 0;
    EigenMethod method = EigenMethod::Auto;  // the eigensolver used; Auto when k >= components
};

// Deterministic in (graph, options, seed) for any n_threads.
ClusterResult cluster_graph(const Graph& g, const ClusterOptions& opt, std::uint64_t seed,
                            int n_threads);

}  // namespace modcore
