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
    AssignLabels assign_labels = AssignLabels::ClusterQR;
    SelectBy select_by = SelectBy::Inertia;
    bool refine = true;  // local n-cut refinement of the labels (see refine.hpp)
    SpectralOptions spectral;
};

struct ClusterResult {
    std::vector<std::int32_t> labels;     // per live node
    std::vector<double> eigenvalues;      // of the normalized adjacency, descending
    double ncut = 0.0;
    double modularity = 0.0;              // Newman's weighted Q of the labels
    double inertia = 0.0;
    int n_components = 0;
    EigenMethod method = EigenMethod::Auto;  // the eigensolver used; Auto when k >= components
};

// Deterministic in (graph, options, seed) for any n_threads; the seed is read by
// k-means alone. With cluster_qr (refined or not) the result depends on the graph
// alone: a relabelled graph gets the relabelled modules, numbered alike (by
// volume, see cluster.cpp), and the same n-cut up to rounding. k-means++ draws
// units by index, so k-means results are not invariant to the order of units.
ClusterResult cluster_graph(const Graph& g, const ClusterOptions& opt, std::uint64_t seed,
                            int n_threads);

// The steps of cluster_graph after the embedding, for k modules, from an embedding
// of dimension >= k: its first k columns are the
// k-dimensional embedding (the top eigenvectors nest, component indicators first),
// so cluster_graph is this with emb = spectral_embedding(g, k). opt.n_clusters
// is not read.
ClusterResult cluster_embedding(const Graph& g, const Embedding& emb, int k,
                                const ClusterOptions& opt, std::uint64_t seed, int n_threads);

}  // namespace modcore
