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

// Drawn positions handed to a reader at a time (converted to Index).
constexpr std::size_t kChunk = 4096;

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
double kde_bandwidth(const PageVector<double>& v) {
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
// Fisher-Yates shuffle of m draws has moved: a dense array of T (any unsigned
// type above size) when that is below 4 MB or no larger than the hash map,
// else an open-addressing hash map of 2m to 4m slots (2 T each), so memory
// follows the non-zeros; both give the same draws.
template <class T>
class SparsePermutation {
public:
    SparsePermutation(Index size, std::size_t m) {
        std::size_t cap = 16;
        while (cap < 2 * m + 2) cap <<= 1;
        const double dense_bytes = sizeof(T) * static_cast<double>(size);
        if (dense_bytes <= std::max(2.0 * sizeof(T) * cap, kSmallMapBytes)) {
            dense_.resize(size);
            for (Index i = 0; i < size; ++i) dense_[i] = static_cast<T>(i);
        } else {
            keys_.assign(cap, kEmpty);
            vals_.resize(cap);
        }
    }
    Index get(Index i) const {
        if (!dense_.empty()) return dense_[i];
        const std::size_t slot = find(i);
        return keys_[slot] == static_cast<T>(i) ? vals_[slot] : i;
    }
    void set(Index i, Index v) {
        if (!dense_.empty()) {
            dense_[i] = static_cast<T>(v);
            return;
        }
        const std::size_t slot = find(i);
        keys_[slot] = static_cast<T>(i);
        vals_[slot] = static_cast<T>(v);
    }

private:
    static constexpr double kSmallMapBytes = 4.0 * (1 << 20);
    static constexpr T kEmpty = std::numeric_limits<T>::max();  // above every position

    std::size_t find(Index key) const {
        const std::size_t mask = keys_.size() - 1;
        std::size_t slot = static_cast<std::size_t>(key * 0x9E3779B97F4A7C15ULL >> 17) & mask;
        while (keys_[slot] != kEmpty && keys_[slot] != static_cast<T>(key))
            slot = (slot + 1) & mask;
        return slot;
    }
    PageVector<T> dense_, keys_, vals_;
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
// T holds every flat position of the block.
template <class T>
PageVector<T> scatter_positions(const BlockShape& e, std::size_t m, Rng& rng,
                                const CancelToken* cancel) {
    const Index size = e.n_positions();
    SparsePermutation<T> perm(size, m);
    PageVector<T> pos(m);
    for (std::size_t i = 0; i < m; ++i) {
        check_cancel_every(cancel, static_cast<Index>(i));
        const Index j = static_cast<Index>(i + rng.below(static_cast<std::uint64_t>(size - i)));
        const Index at_i = perm.get(static_cast<Index>(i));
        const Index at_j = perm.get(j);
        perm.set(j, at_i);  // index i is never read again
        pos[i] = static_cast<T>(e.triangle ? triangle_position(at_j, e.rows) : at_j);
    }
    return pos;
}

// The draws of scatter_positions, without the sample.
void skip_positions(const BlockShape& e, std::size_t m, Rng& rng) {
    const Index size = e.n_positions();
    for (std::size_t i = 0; i < m; ++i) rng.below(static_cast<std::uint64_t>(size - i));
}

// Whether a block's flat positions fit in 32 bits (then stored in 4 bytes each).
bool positions_fit_32(const BlockShape& e) {
    return e.rows * e.cols <= static_cast<Index>(std::numeric_limits<std::uint32_t>::max());
}

void permute_values(PageVector<double>& val, Rng& rng, const CancelToken* cancel) {
    for (std::size_t i = val.size(); i > 1; --i) {
        check_cancel_every(cancel, static_cast<Index>(i));
        std::swap(val[i - 1], val[rng.below(i)]);
    }
}

// Values drawn from the Gaussian KDE of `original`, as many as it has.
PageVector<double> kde_values(const PageVector<double>& original, Rng& rng,
                              const CancelToken* cancel) {
    const double bw = kde_bandwidth(original);
    const double big = std::numeric_limits<double>::max();
    PageVector<double> out(original.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
        check_cancel_every(cancel, static_cast<Index>(i));
        const double v = original[rng.below(original.size())] + bw * rng.normal();
        out[i] = std::clamp(v, -big, big);  // a draw beyond the double range stays finite
    }
    return out;
}

bool draws_positions(ShuffleMethod method) {
    return method == ShuffleMethod::Layer || method == ShuffleMethod::LayerAllDistribution;
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

ShuffledEdges::ShuffledEdges(const EdgeSource& original, ShuffleMethod method,
                             std::uint64_t seed, std::uint64_t index)
    : orig_(original), method_(method) {
    start_.emplace_back(derive(seed, kPermuteTag), index);
    if (method == ShuffleMethod::Layer || method == ShuffleMethod::LayerNonzero)
        max_abs_ = original.max_abs();  // the values are only permuted
}

Rng ShuffledEdges::start_of(std::size_t b) const {
    if (b >= start_.size())
        throw std::logic_error("ShuffledEdges: block " + std::to_string(b) +
                               " read before block " + std::to_string(b - 1));
    return start_[b];
}

PageVector<double> ShuffledEdges::draw_values(std::size_t b, Rng& rng,
                                              const CancelToken* cancel) const {
    PageVector<double> val = block_values(orig_, b, cancel);
    if (method_ == ShuffleMethod::Layer || method_ == ShuffleMethod::LayerNonzero)
        permute_values(val, rng, cancel);
    else
        val = kde_values(val, rng, cancel);
    if (start_.size() == b + 1) start_.push_back(rng);
    return val;
}

double ShuffledEdges::max_abs() const {
    if (max_abs_ < 0.0) {
        double m = 0.0;
        for (std::size_t b = 0; b < n_blocks(); ++b) {
            Rng rng = start_of(b);
            if (draws_positions(method_))
                skip_positions(shape(b), static_cast<std::size_t>(n_entries(b)), rng);
            for (double v : draw_values(b, rng, nullptr)) m = std::max(m, std::fabs(v));
        }
        max_abs_ = m;
    }
    return max_abs_;
}

template <class T>
void ShuffledEdges::read_drawn(std::size_t b, Rng& rng, const TakeEntries& take,
                               const CancelToken* cancel) const {
    const PageVector<T> drawn =
        scatter_positions<T>(shape(b), static_cast<std::size_t>(n_entries(b)), rng, cancel);
    const PageVector<double> val = draw_values(b, rng, cancel);
    std::vector<Index> pos(std::min(drawn.size(), kChunk));
    for (std::size_t first = 0; first < drawn.size(); first += kChunk) {
        const std::size_t n = std::min(kChunk, drawn.size() - first);
        std::copy_n(drawn.begin() + first, n, pos.begin());
        take(pos.data(), val.data() + first, n);
    }
}

void ShuffledEdges::read(std::size_t b, const TakeEntries& take, const CancelToken* cancel) const {
    Rng rng = start_of(b);
    if (draws_positions(method_)) {
        if (positions_fit_32(shape(b)))
            read_drawn<std::uint32_t>(b, rng, take, cancel);
        else
            read_drawn<std::uint64_t>(b, rng, take, cancel);
        return;
    }
    const PageVector<double> val = draw_values(b, rng, cancel);
    std::size_t done = 0;  // the original's positions, in order, with the new values
    orig_.read(
        b,
        [&](const Index* p, const double*, std::size_t n) {
            take(p, val.data() + done, n);
            done += n;
        },
        cancel);
}

Network shuffle_network(const EdgeSource& original, ShuffleMethod method, std::uint64_t seed,
                        std::uint64_t index, const CancelToken* cancel) {
    return materialize(ShuffledEdges(original, method, seed, index), cancel);
}

ShuffleScores shuffled_scores(const EdgeSource& original, ShuffleMethod method,
                              std::uint64_t first, std::uint64_t count, const std::vector<int>& ks,
                              const ClusterOptions& opt, const GraphOptions& gopt,
                              std::uint64_t seed, int n_threads) {
    if (ks.empty()) throw std::invalid_argument("ks is empty: expected at least one k");
    const std::size_t n_ks = ks.size();
    const int k_max = *std::max_element(ks.begin(), ks.end());
    ShuffleScores out{std::vector<double>(count * n_ks), std::vector<double>(count * n_ks),
                      std::vector<std::int64_t>(count)};
    const std::uint64_t cluster_seed = derive(seed, kClusterTag);
    const CancelToken* cancel = opt.spectral.cancel;
    // Shuffle first + i: its graph by make_graph(), clustered on `threads` threads.
    auto score = [&](Index i, const auto& make_graph, int threads) {
        const std::uint64_t s = first + static_cast<std::uint64_t>(i);
        Graph g;
        try {
            g = make_graph();
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("shuffled network " + std::to_string(s) + ": " + e.what());
        }
        out.dropped[i] = g.n_dropped;
        if (g.n_nodes < k_max)
            throw std::invalid_argument("shuffled network " + std::to_string(s) + " has only " +
                                        std::to_string(g.n_nodes) +
                                        " connected units, fewer than n_clusters");
        Rng pick(cluster_seed, s);
        const std::vector<ClusterResult> res = cluster_curve(g, ks, opt, pick.next(), threads);
        for (std::size_t j = 0; j < n_ks; ++j) {
            out.ncut[i * n_ks + j] = res[j].ncut;
            out.modularity[i * n_ks + j] = res[j].modularity;
        }
    };
    if (original.total_entries() >= opt.spectral.large_graph) {
        for (Index i = 0; i < static_cast<Index>(count); ++i) {
            check_cancel(cancel);
            score(
                i,
                [&] {
                    return prepare_graph(ShuffledEdges(original, method, seed, first + i), gopt,
                                         cancel);
                },
                n_threads);
        }
        return out;
    }
    const Network net = materialize(original, cancel);
    const NetworkEdges edges(net);
    parallel_for(static_cast<Index>(count), n_threads, [&](Index i) {
        check_cancel(cancel);
        score(
            i,
            [&] {
                Network shuffled = shuffle_network(edges, method, seed, first + i, cancel);
                return prepare_graph(shuffled, gopt, cancel);
            },
            1);
    });
    return out;
}

}  // namespace modcore
