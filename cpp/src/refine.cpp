#include "modcore/refine.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "modcore/module_sums.hpp"
#include "modcore/rng.hpp"

namespace modcore {
namespace {

// A move must gain more than rounding could fake, so passes cannot cycle.
constexpr double kMinGain = 1e-12;
// Sweep orders tried (each a different order-free pseudo-random order of units);
// the lowest n-cut is kept. Measured on the reference, a trained Fashion-MNIST and
// the demo net at k = 6 and 12 (benchmarks/README.md).
constexpr int kSweepOrders = 3;
// Above this many node x module entries (128 MB) the links are recounted from
// the adjacency at every visit instead of kept.
constexpr Index kMaxLinkEntries = Index{1} << 24;

class Refiner {
public:
    Refiner(const Graph& g, std::int32_t* labels, int k)
        : g_(g), labels_(labels), k_(k), keep_(g.n_nodes * k <= kMaxLinkEntries),
          sums_(module_sums(g, labels, k)), share_(k), size_(k, 0),
          kept_(keep_ ? static_cast<std::size_t>(g.n_nodes) * k : 0, 0.0), scratch_(k) {
        for (Index i = 0; i < g.n_nodes; ++i) {
            ++size_[labels[i]];
            if (keep_) count_links(i, &kept_[i * k]);
        }
        for (int a = 0; a < k; ++a) share_[a] = sums_.inside[a] / sums_.vol[a];
    }

    // The unit's best move under the current partition: its target (its own
    // module when no move gains more than kMinGain) and the gain.
    std::int32_t best_move(Index i, double& best_gain) {
        const std::int32_t a = labels_[i];
        const double d = g_.degree[i];
        best_gain = kMinGain;
        // The last unit stays; so does one whose module would keep no volume
        // to rounding (tiny degrees beside a huge one).
        if (size_[a] == 1 || !(sums_.vol[a] - d > 0.0)) return a;
        const double* link = links(i);
        const double leave =
            (sums_.inside[a] - 2.0 * link[a]) / (sums_.vol[a] - d) - share_[a];
        std::int32_t best = a;
        for (int b = 0; b < k_; ++b) {
            if (b == a) continue;
            const double gain =
                leave + (sums_.inside[b] + 2.0 * link[b]) / (sums_.vol[b] + d) - share_[b];
            // Equal gains: the module with the larger volume (a value, not a number).
            if (gain > best_gain || (gain == best_gain && best != a &&
                                     sums_.vol[b] > sums_.vol[best])) {
                best_gain = gain;
                best = b;
            }
        }
        return best;
    }

    void move(Index i, std::int32_t b) {
        const std::int32_t a = labels_[i];
        const double d = g_.degree[i];
        const double* link = links(i);
        sums_.inside[a] -= 2.0 * link[a];
        sums_.vol[a] -= d;
        --size_[a];
        sums_.inside[b] += 2.0 * link[b];
        sums_.vol[b] += d;
        ++size_[b];
        share_[a] = sums_.inside[a] / sums_.vol[a];
        share_[b] = sums_.inside[b] / sums_.vol[b];
        labels_[i] = b;
        if (keep_)
            for (Index p = g_.indptr[i]; p < g_.indptr[i + 1]; ++p) {
                kept_[g_.indices[p] * k_ + a] -= g_.weights[p];
                kept_[g_.indices[p] * k_ + b] += g_.weights[p];
            }
    }

    double assoc_sum() const {
        double s = 0.0;
        for (int a = 0; a < k_; ++a) s += share_[a];
        return s;
    }

    // Whether the group's units (equal keys) are in one module and their best moves
    // go to one module with gains equal to rounding (1e-11 of the n-cut's scale).
    bool interchangeable(const std::vector<Index>& group) {
        double first_gain = 0.0;
        const std::int32_t a = labels_[group[0]], b = best_move(group[0], first_gain);
        if (b == a) return false;
        for (std::size_t m = 1; m < group.size(); ++m) {
            double gain = 0.0;
            if (labels_[group[m]] != a || best_move(group[m], gain) != b ||
                std::fabs(gain - first_gain) > 1e-11 * k_)
                return false;
        }
        return true;
    }

    // Units with equal keys that are not interchangeable: each one's best move is
    // judged on the same partition, then all are made at once, and kept only if
    // together they lower the n-cut and leave no module empty. The outcome does not
    // depend on the order of the group's members, as moving one before another would.
    bool move_together(const std::vector<Index>& group) {
        std::vector<std::pair<Index, std::int32_t>> moves;
        for (Index i : group) {
            double gain = 0.0;
            const std::int32_t b = best_move(i, gain);
            if (b != labels_[i]) moves.emplace_back(i, b);
        }
        if (moves.empty()) return false;
        const double before = assoc_sum();
        std::vector<std::int32_t> from;
        for (const auto& [i, b] : moves) {
            from.push_back(labels_[i]);
            move(i, b);
        }
        bool empty = false;
        for (int a = 0; a < k_; ++a) empty = empty || size_[a] == 0 || !(sums_.vol[a] > 0.0);
        if (!empty && assoc_sum() - before > kMinGain) return true;
        for (std::size_t m = moves.size(); m-- > 0;) move(moves[m].first, from[m]);
        return false;
    }

private:
    const double* links(Index i) {
        if (keep_) return kept_.data() + i * k_;
        std::fill(scratch_.begin(), scratch_.end(), 0.0);
        count_links(i, scratch_.data());
        return scratch_.data();
    }
    void count_links(Index i, double* out) const {
        for (Index p = g_.indptr[i]; p < g_.indptr[i + 1]; ++p)
            out[labels_[g_.indices[p]]] += g_.weights[p];
    }

    const Graph& g_;
    std::int32_t* labels_;
    const int k_;
    const bool keep_;
    ModuleSums sums_;  // vol and inside (assoc: the weight inside, counted from both ends)
    std::vector<double> share_;
    std::vector<Index> size_;
    std::vector<double> kept_, scratch_;
};

// The units in a pseudo-random order computed from their keys (salted by the
// sweep), never from their indices; units with equal keys (twins an automorphism
// exchanges, as a rule) come together, as one entry of `groups`. A bipartite
// graph's larger side comes first, then the other: units of one side share no
// edge, so a sweep over a side moves units that do not change each other's links.
std::vector<std::vector<Index>> sweep_order(const Graph& g, std::uint64_t salt) {
    // Which side goes first, by value: the larger, or at equal sizes the one with
    // the larger sum of keys (exact and order-free).
    std::uint64_t key_sum[2] = {0, 0};
    for (Index i = 0; i < g.n_nodes; ++i) key_sum[i >= g.n_side0] += g.key[i];
    const Index size1 = g.n_nodes - g.n_side0;
    const bool side0_first =
        g.n_side0 != size1 ? g.n_side0 > size1 : key_sum[0] >= key_sum[1];
    std::vector<std::tuple<int, std::uint64_t, Index>> order(g.n_nodes);
    for (Index i = 0; i < g.n_nodes; ++i) {
        std::uint64_t state = g.key[i] ^ salt;
        const int late = g.bipartite && ((i < g.n_side0) != side0_first);
        order[i] = {late, splitmix64(state), i};
    }
    std::sort(order.begin(), order.end());
    std::vector<std::vector<Index>> groups;
    for (Index c = 0; c < g.n_nodes; ++c) {
        if (c == 0 || std::get<0>(order[c]) != std::get<0>(order[c - 1]) ||
            std::get<1>(order[c]) != std::get<1>(order[c - 1]))
            groups.emplace_back();
        groups.back().push_back(std::get<2>(order[c]));
    }
    return groups;
}

// One refinement in one sweep order; returns sum_a assoc(a) / vol(a) (k - n-cut).
// A pass visits the active units in the sweep order; a move marks the unit and its
// neighbours for the next pass; when the marked units run out a pass over all
// units follows, and the refinement stops after a full pass without a move.
double sweep(const Graph& g, std::int32_t* labels, int k, int max_passes,
             const std::vector<std::vector<Index>>& groups) {
    Refiner r(g, labels, k);
    std::vector<char> active(g.n_nodes, 1), next(g.n_nodes, 0);
    bool full = true;  // every unit active in this pass
    for (int pass = 0; pass < max_passes; ++pass) {
        bool moved = false;
        for (const std::vector<Index>& group : groups) {
            bool any = false;
            for (Index i : group) any = any || active[i];
            if (!any) continue;
            bool now = false;
            if (group.size() == 1) {
                double gain = 0.0;
                const std::int32_t b = r.best_move(group[0], gain);
                if (b != labels[group[0]]) {
                    r.move(group[0], b);
                    now = true;
                }
            } else if (r.interchangeable(group)) {
                // Twins in one module that want the same move with the same gain: an
                // automorphism of the graph and the partition exchanges them, so
                // whichever moves first, the partitions reached are the same up to it.
                for (Index i : group) {
                    double gain = 0.0;
                    const std::int32_t b = r.best_move(i, gain);
                    if (b == labels[i]) continue;
                    r.move(i, b);
                    now = true;
                }
            } else {
                now = r.move_together(group);
            }
            if (!now) continue;
            moved = true;
            // Mark the group (moved or not) and its neighbours.
            for (Index i : group) {
                next[i] = 1;
                for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) next[g.indices[p]] = 1;
            }
        }
        if (!moved && full) break;
        full = !moved;
        if (full)
            std::fill(active.begin(), active.end(), 1);
        else
            active.swap(next);
        std::fill(next.begin(), next.end(), 0);
    }
    return r.assoc_sum();
}

}  // namespace

// n-cut = k - sum_a assoc(a) / vol(a), where assoc(a) is the weight inside module
// a counted from both ends. Moving unit i of degree d from a to b changes only the
// terms of a and b: assoc(a) -= 2 w(i, a), vol(a) -= d, assoc(b) += 2 w(i, b),
// vol(b) += d, with w(i, m) the weight between i and m (its "links").
//
// Units are visited in orders computed from their keys, not their indices, so a
// relabelled graph makes the same moves; each of kSweepOrders orders refines the
// same start, and the lowest n-cut is kept (a later order must beat the earlier by
// more than kMinGain, so near-equal results cannot swap by rounding).
void refine_ncut(const Graph& g, std::int32_t* labels, int k, int max_passes) {
    const std::vector<std::int32_t> start(labels, labels + g.n_nodes);
    std::vector<std::int32_t> trial(g.n_nodes);
    double best = 0.0;
    for (int s = 0; s < kSweepOrders; ++s) {
        std::int32_t* out = s == 0 ? labels : trial.data();
        if (s > 0) std::copy(start.begin(), start.end(), out);
        const double score = sweep(g, out, k, max_passes, sweep_order(g, 0x5eedULL * (s + 1)));
        if (s == 0 || score > best + kMinGain) {
            if (s > 0) std::copy(trial.begin(), trial.end(), labels);
            best = score;
        }
    }
}

}  // namespace modcore
