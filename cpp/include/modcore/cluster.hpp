// The whole clustering of one graph: spectral embedding, k-means, n-cut.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/graph.hpp"
#include "modcore/spectral.hpp"

namespace modcore {

// Which k-means restart is kept: the authors' lowest inertia, or the lowest n-cut.
enum class SelectBy { Inertia, Ncut };
// How the embedding becomes labels: k-means restarts, or the deterministic cluster_qr.
enum class AssignLabels { KMeans, ClusterQR };

struct ClusterOptions {
    int n_clusters = 12;
    int n_init = 10;
    int max_iter = 300;
    AssignLabels assign_labels = AssignLabels::KMeans;
    SelectBy select_by = SelectBy::Inertia;
    bool refine = false;  // local n-cut refinement of every restart's labels
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
