#include "modcore/shuffle.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "modcore/parallel.hpp"
#include "modcore/rng.hpp"

namespace modcore {
namespace {

// Distinct seeds for the permutations and for the clustering of shuffle s, so
// neither stream overlaps the other nor the original network's clustering.
constexpr std::uint64_t kPermuteTag = 0x7065726d75746531ULL;
constexpr std::uint64_t kClusterTag = 0x636c757374657231ULL;

std::uint64_t derive(std::uint64_t seed, std::uint64_t tag) {
    std::uint64_t state = seed ^ tag;
    return splitmix64(state);
}

// Scott's rule, as scipy.stats.gaussian_kde: sample std * n^(-1/5).
double kde_bandwidth(const std::vector<double>& v) {
    const std::size_t n = v.size();
    if (n < 2) return 0.0;
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
    double ss = 0.0;
    for (double x : v) ss += (x - mean) * (x - mean);
    return std::sqrt(ss / (n - 1)) * std::pow(static_cast<double>(n), -0.2);
}

// A uniformly random ordered sample of m of the N positions (partial Fisher-Yates):
// the non-zeros of a uniformly permuted N-entry matrix land exactly there.
void scatter_positions(LayerEdges& e, Rng& rng) {
    const Index size = e.rows * e.cols;
    const std::size_t m = e.pos.size();
    std::vector<Index> perm(size);
    std::iota(perm.begin(), perm.end(), Index{0});
    for (std::size_t i = 0; i < m; ++i) {
        const Index j = static_cast<Index>(i + rng.below(static_cast<std::uint64_t>(size - i)));
        std::swap(perm[i], perm[j]);
        e.pos[i] = perm[i];
    }
}

void permute_values(LayerEdges& e, Rng& rng) {
    for (std::size_t i = e.val.size(); i > 1; --i) std::swap(e.val[i - 1], e.val[rng.below(i)]);
}

void kde_values(LayerEdges& e, const std::vector<double>& original, Rng& rng) {
    const double bw = kde_bandwidth(original);
    for (double& v : e.val) v = original[rng.below(original.size())] + bw * rng.normal();
}

}  // namespace

ShuffleMethod parse_shuffle(const std::string& name) {
    if (name == "layer") return ShuffleMethod::Layer;
    if (name == "layer_nonzero") return ShuffleMethod::LayerNonzero;
    if (name == "layer_nonzero_distribution") return ShuffleMethod::LayerNonzeroDistribution;
    if (name == "layer_all_distribution") return ShuffleMethod::LayerAllDistribution;
    throw std::invalid_argument(
        "shuffle must be 'layer', 'layer_nonzero', 'layer_nonzero_distribution' or "
        "'layer_all_distribution', got '" + name + "'");
}

std::vector<LayerEdges> shuffle_network(const std::vector<LayerEdges>& layers, ShuffleMethod method,
                                        std::uint64_t seed, std::uint64_t index) {
    Rng rng(derive(seed, kPermuteTag), index);
    std::vector<LayerEdges> out = layers;
    for (std::size_t l = 0; l < out.size(); ++l) {
        LayerEdges& e = out[l];
        switch (method) {
            case ShuffleMethod::Layer:
                scatter_positions(e, rng);
                permute_values(e, rng);
                break;
            case ShuffleMethod::LayerNonzero:
                permute_values(e, rng);
                break;
            case ShuffleMethod::LayerNonzeroDistribution:
                kde_values(e, layers[l].val, rng);
                break;
            case ShuffleMethod::LayerAllDistribution:
                scatter_positions(e, rng);
                kde_values(e, layers[l].val, rng);
                break;
        }
    }
    return out;
}

std::vector<double> shuffled_ncuts(const std::vector<LayerEdges>& layers, ShuffleMethod method,
                                   std::uint64_t first, std::uint64_t count,
                                   const ClusterOptions& opt, std::uint64_t seed, int n_threads) {
    std::vector<double> ncuts(count);
    const std::uint64_t cluster_seed = derive(seed, kClusterTag);
    parallel_for(static_cast<Index>(count), n_threads, [&](Index i) {
        check_cancel(opt.spectral.cancel);
        const std::uint64_t s = first + static_cast<std::uint64_t>(i);
        const LayeredGraph g = build_graph(shuffle_network(layers, method, seed, s));
        if (g.n_nodes < opt.n_clusters)
            throw std::invalid_argument("shuffled network " + std::to_string(s) + " has only " +
                                        std::to_string(g.n_nodes) +
                                        " connected neurons, fewer than n_clusters");
        Rng pick(cluster_seed, s);
        ncuts[i] = cluster_graph(g, opt, pick.next(), 1).ncut;
    });
    return ncuts;
}

}  // namespace modcore
