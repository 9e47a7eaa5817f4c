#include "modcore/shuffle.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "modcore/curve.hpp"
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

// Scott's rule, as scipy.stats.gaussian_kde: sample std * n^(-1/5). Computed on
// values divided by their largest magnitude, so weights near 1e300 do not overflow.
double kde_bandwidth(const std::vector<double>& v) {
    const std::size_t n = v.size();
    if (n < 2) return 0.0;
    double scale = 0.0;
    for (double x : v) scale = std::max(scale, std::fabs(x));
    if (scale == 0.0) return 0.0;
    double mean = 0.0;
    for (double x : v) mean += x / scale;
    mean /= static_cast<double>(n);
    double ss = 0.0;
    for (double x : v) ss += (x / scale - mean) * (x / scale - mean);
    return scale * std::sqrt(ss / (n - 1)) * std::pow(static_cast<double>(n), -0.2);
}

// The entries of a virtual identity permutation of [0, size) that a partial
// Fisher-Yates shuffle has moved: a dense array when that costs at most a small
// multiple of the sample, else an open-addressing hash map, so memory follows
// the non-zeros and both give the same draws.
class SparsePermutation {
public:
    SparsePermutation(Index size, std::size_t m) {
        if (size <= static_cast<Index>(32 * m) + 4096) {
            dense_.resize(size);
            for (Index i = 0; i < size; ++i) dense_[i] = i;
        } else {
            std::size_t cap = 16;
            while (cap < 2 * m + 2) cap <<= 1;
            keys_.assign(cap, -1);
            vals_.resize(cap);
        }
    }
    Index get(Index i) const {
        if (!dense_.empty()) return dense_[i];
        const std::size_t slot = find(i);
        return keys_[slot] == i ? vals_[slot] : i;
    }
    void set(Index i, Index v) {
        if (!dense_.empty()) {
            dense_[i] = v;
            return;
        }
        const std::size_t slot = find(i);
        keys_[slot] = i;
        vals_[slot] = v;
    }

private:
    std::size_t find(Index key) const {
        const std::size_t mask = keys_.size() - 1;
        std::size_t slot = static_cast<std::size_t>(key * 0x9E3779B97F4A7C15ULL >> 17) & mask;
        while (keys_[slot] != -1 && keys_[slot] != key) slot = (slot + 1) & mask;
        return slot;
    }
    std::vector<Index> dense_, keys_, vals_;
};

// Flat position of the t-th entry of the strict upper triangle of an n x n
// block, rows in order.
Index triangle_position(Index t, Index n) {
    auto start = [n](Index r) { return r * (2 * n - r - 1) / 2; };
    const double b = 2.0 * n - 1.0;
    Index r = static_cast<Index>((b - std::sqrt(std::max(b * b - 8.0 * t, 0.0))) / 2.0);
    r = std::clamp<Index>(r, 0, n - 2);
    while (r > 0 && start(r) > t) --r;
    while (r < n - 2 && start(r + 1) <= t) ++r;
    return r * n + (t - start(r) + r + 1);
}

// A uniformly random ordered sample of m of the block's positions (partial
// Fisher-Yates): the non-zeros of a uniformly permuted block land exactly there.
void scatter_positions(BlockEdges& e, Rng& rng, const CancelToken* cancel) {
    const Index size = e.n_positions();
    const std::size_t m = e.pos.size();
    SparsePermutation perm(size, m);
    for (std::size_t i = 0; i < m; ++i) {
        check_cancel_every(cancel, static_cast<Index>(i));
        const Index j = static_cast<Index>(i + rng.below(static_cast<std::uint64_t>(size - i)));
        const Index at_i = perm.get(static_cast<Index>(i));
        const Index at_j = perm.get(j);
        perm.set(j, at_i);  // index i is never read again
        e.pos[i] = e.triangle ? triangle_position(at_j, e.rows) : at_j;
    }
}

void permute_values(BlockEdges& e, Rng& rng, const CancelToken* cancel) {
    for (std::size_t i = e.val.size(); i > 1; --i) {
        check_cancel_every(cancel, static_cast<Index>(i));
        std::swap(e.val[i - 1], e.val[rng.below(i)]);
    }
}

void kde_values(BlockEdges& e, const std::vector<double>& original, Rng& rng,
                const CancelToken* cancel) {
    const double bw = kde_bandwidth(original);
    const double big = std::numeric_limits<double>::max();
    for (std::size_t i = 0; i < e.val.size(); ++i) {
        check_cancel_every(cancel, static_cast<Index>(i));
        double& v = e.val[i];
        v = original[rng.below(original.size())] + bw * rng.normal();
        v = std::clamp(v, -big, big);  // a draw beyond the double range stays finite
    }
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

Network shuffle_network(const Network& net, ShuffleMethod method, std::uint64_t seed,
                        std::uint64_t index, const CancelToken* cancel) {
    Rng rng(derive(seed, kPermuteTag), index);
    Network out = net;
    for (std::size_t l = 0; l < out.blocks.size(); ++l) {
        BlockEdges& e = out.blocks[l];
        switch (method) {
            case ShuffleMethod::Layer:
                scatter_positions(e, rng, cancel);
                permute_values(e, rng, cancel);
                break;
            case ShuffleMethod::LayerNonzero:
                permute_values(e, rng, cancel);
                break;
            case ShuffleMethod::LayerNonzeroDistribution:
                kde_values(e, net.blocks[l].val, rng, cancel);
                break;
            case ShuffleMethod::LayerAllDistribution:
                scatter_positions(e, rng, cancel);
                kde_values(e, net.blocks[l].val, rng, cancel);
                break;
        }
    }
    return out;
}

ShuffleScores shuffled_scores(const Network& net, ShuffleMethod method, std::uint64_t first,
                              std::uint64_t count, const std::vector<int>& ks,
                              const ClusterOptions& opt, const GraphOptions& gopt,
                              std::uint64_t seed, int n_threads) {
    if (ks.empty()) throw std::invalid_argument("ks is empty: expected at least one k");
    const std::size_t n_ks = ks.size();
    const int k_max = *std::max_element(ks.begin(), ks.end());
    ShuffleScores out{std::vector<double>(count * n_ks), std::vector<double>(count * n_ks),
                      std::vector<std::int64_t>(count)};
    const std::uint64_t cluster_seed = derive(seed, kClusterTag);
    parallel_for(static_cast<Index>(count), n_threads, [&](Index i) {
        check_cancel(opt.spectral.cancel);
        const std::uint64_t s = first + static_cast<std::uint64_t>(i);
        Network shuffled = shuffle_network(net, method, seed, s, opt.spectral.cancel);
        Graph g;
        try {
            g = prepare_graph(shuffled, gopt, opt.spectral.cancel);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("shuffled network " + std::to_string(s) + ": " + e.what());
        }
        out.dropped[i] = g.n_dropped;
        if (g.n_nodes < k_max)
            throw std::invalid_argument("shuffled network " + std::to_string(s) + " has only " +
                                        std::to_string(g.n_nodes) +
                                        " connected units, fewer than n_clusters");
        Rng pick(cluster_seed, s);
        const std::vector<ClusterResult> res = cluster_curve(g, ks, opt, pick.next(), 1);
        for (std::size_t j = 0; j < n_ks; ++j) {
            out.ncut[i * n_ks + j] = res[j].ncut;
            out.modularity[i * n_ks + j] = res[j].modularity;
        }
    });
    return out;
}

}  // namespace modcore
