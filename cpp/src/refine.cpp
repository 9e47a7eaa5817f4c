#include "modcore/refine.hpp"

#include <algorithm>

#include "modcore/module_sums.hpp"

namespace modcore {
namespace {

// A move must gain more than rounding could fake, so passes cannot cycle.
constexpr double kMinGain = 1e-12;
// Above this many node x module entries (128 MB) the links are recounted from
// the adjacency at every visit instead of kept.
constexpr Index kMaxLinkEntries = Index{1} << 24;

}  // namespace

// n-cut = k - sum_a assoc(a) / vol(a), where assoc(a) is the weight inside module
// a counted from both ends. Moving unit i of degree d from a to b changes only the
// terms of a and b: assoc(a) -= 2 w(i, a), vol(a) -= d, assoc(b) += 2 w(i, b),
// vol(b) += d, with w(i, m) the weight between i and m (its "links").
//
// A pass visits the units marked active, in node order. A move changes the links
// of the unit's neighbours, so they (and the unit) are marked for the next pass;
// it also changes two modules' totals, which shifts every unit's gains a little,
// so when the marked units run out a pass over all units follows: the
// refinement stops only after a full pass without a move. The links of every
// unit are kept (and updated at each move), so a visit costs O(k), not O(degree).
int refine_ncut(const Graph& g, std::int32_t* labels, int k, int max_passes) {
    const Index n = g.n_nodes;
    const bool keep = n * k <= kMaxLinkEntries;
    ModuleSums sums = module_sums(g, labels, k);
    std::vector<double>& vol = sums.vol;
    std::vector<double>& assoc = sums.inside;
    std::vector<double> share(k, 0.0), gain(k);
    std::vector<Index> size(k, 0);
    std::vector<double> kept(keep ? static_cast<std::size_t>(n) * k : 0, 0.0), scratch(k);
    auto count_links = [&](Index i, double* out) {
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p)
            out[labels[g.indices[p]]] += g.weights[p];
    };
    for (Index i = 0; i < n; ++i) {
        ++size[labels[i]];
        if (keep) count_links(i, &kept[i * k]);
    }
    for (int a = 0; a < k; ++a) share[a] = assoc[a] / vol[a];

    std::vector<char> active(n, 1), next(n, 0);
    bool full = true;  // every unit active in this pass
    int pass = 0;
    while (pass < max_passes) {
        ++pass;
        bool moved = false;
        for (Index i = 0; i < n; ++i) {
            if (!active[i]) continue;
            const std::int32_t a = labels[i];
            const double d = g.degree[i];
            // The last unit stays; so does one whose module would keep no volume
            // to rounding (tiny degrees beside a huge one).
            if (size[a] == 1 || !(vol[a] - d > 0.0)) continue;
            const double* link = kept.data() + (keep ? i * k : 0);
            if (!keep) {
                std::fill(scratch.begin(), scratch.end(), 0.0);
                count_links(i, scratch.data());
                link = scratch.data();
            }
            const double leave = (assoc[a] - 2.0 * link[a]) / (vol[a] - d) - share[a];
            for (int b = 0; b < k; ++b)
                gain[b] = leave + (assoc[b] + 2.0 * link[b]) / (vol[b] + d) - share[b];
            std::int32_t best = a;
            double best_gain = kMinGain;
            for (int b = 0; b < k; ++b) {
                if (b != a && gain[b] > best_gain) {
                    best_gain = gain[b];
                    best = b;
                }
            }
            if (best == a) continue;
            assoc[a] -= 2.0 * link[a];
            vol[a] -= d;
            --size[a];
            assoc[best] += 2.0 * link[best];
            vol[best] += d;
            ++size[best];
            share[a] = assoc[a] / vol[a];
            share[best] = assoc[best] / vol[best];
            labels[i] = best;
            moved = true;
            next[i] = 1;
            for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) {
                const std::int32_t j = g.indices[p];
                next[j] = 1;
                if (keep) {
                    kept[j * k + a] -= g.weights[p];
                    kept[j * k + best] += g.weights[p];
                }
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
    return pass;
}

}  // namespace modcore
