// A network clustered at many k from one eigensolve: the top eigenvectors of the
// normalized adjacency nest (those for k are the first k of those for k' > k, the
// component indicators first), so one embedding at max(ks) serves every k and
// only k-means repeats.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/cluster.hpp"
#include "modcore/graph.hpp"

namespace modcore {

// Checks ks: non-empty, each in [2, n_nodes]; returns the largest.
int max_clusters(const std::vector<int>& ks, Index n_nodes);

// One clustering per k of ks, in that order (opt.n_clusters is not read). With
// ks = {k} this is exactly cluster_graph(g, opt with n_clusters = k, seed). For
// several k the embedding is solved once at max(ks); with the dense eigensolver
// (graphs of <= 300 live units under "auto") every entry equals cluster_graph's,
// otherwise the embedding at a smaller k differs from its own solve within the
// eigensolver's tolerance. Deterministic in (g, ks, opt, seed) for any n_threads.
std::vector<ClusterResult> cluster_curve(const Graph& g, const std::vector<int>& ks,
                                         const ClusterOptions& opt, std::uint64_t seed,
                                         int n_threads);

}  // namespace modcore
