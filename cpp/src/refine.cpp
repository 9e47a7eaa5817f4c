#include "modcore/refine.hpp"

#include <algorithm>
#include <cmath>

#include "modcore/module_sums.hpp"

namespace modcore {
namespace {

// A move must gain more than rounding could fake, so passes cannot cycle.
constexpr double kMinGain = 1e-12;
// Gains are compared on this grid (relative to the n-cut's scale, k), so two
// gains equal but for rounding (units that mirror each other, summed in
// another order) tie, and the tie goes to the units' keys, not to their indices.
constexpr double kGainGrid = 1e-11;
// Above this many node x module entries (128 MB) the links are recounted from
// the adjacency at every visit instead of kept.
constexpr Index kMaxLinkEntries = Index{1} << 24;

struct Candidate {
    std::int64_t grid;  // the gain on the grid
    std::uint64_t key;  // the unit's order-free key (graph.hpp)
    Index node;

    // Larger gain first, then larger key; the node only orders units that tie on
    // both, which are moved or kept together (see below), so it never decides.
    bool operator<(const Candidate& o) const {
        if (grid != o.grid) return grid > o.grid;
        if (key != o.key) return key > o.key;
        return node < o.node;
    }
    bool ties(const Candidate& o) const { return grid == o.grid && key == o.key; }
};

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

    // A group of units that tie on gain and key (units an automorphism of the
    // graph exchanges, typically): each one's best move is judged on the same
    // partition, then all are made at once, and kept only if together they lower
    // the n-cut and leave no module empty. The outcome does not depend on the
    // order of the group's members, as moving one before another would.
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

}  // namespace

// n-cut = k - sum_a assoc(a) / vol(a), where assoc(a) is the weight inside module
// a counted from both ends. Moving unit i of degree d from a to b changes only the
// terms of a and b: assoc(a) -= 2 w(i, a), vol(a) -= d, assoc(b) += 2 w(i, b),
// vol(b) += d, with w(i, m) the weight between i and m (its "links").
//
// A pass scores every unit's best move on the current partition, sorts the moves
// that gain by gain (then by the units' keys: values, never indices), and makes
// them in that order, each re-judged on the partition as it then is. So the order
// of units never decides which move comes first, and a relabelled network makes
// the same moves. Units that tie on gain and key are moved together or not at all
// (Refiner::move_together). Passes repeat until one makes no move.
int refine_ncut(const Graph& g, std::int32_t* labels, int k, int max_passes) {
    Refiner r(g, labels, k);
    std::vector<Candidate> order;
    std::vector<Index> group;
    const double grid = 1.0 / (kGainGrid * k);
    int pass = 0;
    while (pass < max_passes) {
        ++pass;
        order.clear();
        for (Index i = 0; i < g.n_nodes; ++i) {
            double gain = 0.0;
            if (r.best_move(i, gain) != labels[i])
                order.push_back({std::llround(gain * grid), g.key[i], i});
        }
        if (order.empty()) break;
        std::sort(order.begin(), order.end());
        bool moved = false;
        for (std::size_t c = 0; c < order.size();) {
            std::size_t end = c + 1;
            while (end < order.size() && order[end].ties(order[c])) ++end;
            if (end == c + 1) {
                double gain = 0.0;
                const std::int32_t b = r.best_move(order[c].node, gain);
                if (b != labels[order[c].node]) {
                    r.move(order[c].node, b);
                    moved = true;
                }
            } else {
                group.clear();
                for (std::size_t m = c; m < end; ++m) group.push_back(order[m].node);
                moved = r.move_together(group) || moved;
            }
            c = end;
        }
        if (!moved) break;
    }
    return pass;
}

}  // namespace modcore
