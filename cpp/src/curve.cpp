#include "modcore/curve.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "modcore/spectral.hpp"

namespace modcore {

int max_clusters(const std::vector<int>& ks, Index n_nodes) {
    if (ks.empty()) throw std::invalid_argument("ks is empty: expected at least one k");
    for (int k : ks)
        if (k < 2 || k > n_nodes)
            throw std::invalid_argument("n_clusters must be between 2 and the number of live units (" +
                                        std::to_string(n_nodes) + "), got " + std::to_string(k));
    return *std::max_element(ks.begin(), ks.end());
}

std::vector<ClusterResult> cluster_curve(const Graph& g, const std::vector<int>& ks,
                                         const ClusterOptions& opt, std::uint64_t seed,
                                         int n_threads) {
    const int k_max = max_clusters(ks, g.n_nodes);
    const Embedding emb = spectral_embedding(g, k_max, opt.spectral, n_threads);
    std::vector<ClusterResult> out;
    out.reserve(ks.size());
    for (int k : ks) {
        check_cancel(opt.spectral.cancel);
        out.push_back(cluster_embedding(g, emb, k, opt, seed, n_threads));
    }
    return out;
}

}  // namespace modcore
