#include "modcore/rescale.hpp"

#include "modcore/live_units.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace modcore {

void rescale_units(Network& net, const CancelToken* cancel) {
    const std::size_t n_groups = net.group_sizes.size();
    std::vector<Index> offset(n_groups + 1, 0);
    for (std::size_t g = 0; g < n_groups; ++g) offset[g + 1] = offset[g] + net.group_sizes[g];
    std::vector<char> has_in(n_groups, 0), has_out(n_groups, 0);
    for (std::size_t b = 0; b < net.blocks.size(); ++b) {
        const BlockEdges& e = net.blocks[b];
        if (e.src == e.dst)
            throw std::invalid_argument(
                "normalize='rescale' needs directed blocks between groups, and block " +
                std::to_string(b) +
                " joins a group to itself (an undirected adjacency): use normalize=None");
        has_out[e.src] = 1;
        has_in[e.dst] = 1;
    }
    // Factors, norms and sums kept per unit with an entry (zeros included: a unit whose
    // entries are all zero still gets its factor), so memory follows the entries, not
    // the declared sizes.
    Index n_entries = 0;
    for (const BlockEdges& e : net.blocks) n_entries += static_cast<Index>(e.pos.size());
    const LiveUnits live(offset[n_groups], n_entries, [&](auto take) {
        for (const BlockEdges& e : net.blocks)
            for (const Index p : e.pos) {
                take(offset[e.src] + p / e.cols);
                take(offset[e.dst] + p % e.cols);
            }
    });
    std::vector<double> s(live.n_slots(), 1.0);  // 1 until a unit's group is processed
    std::vector<double> big(live.n_slots(), 0.0), sum(live.n_slots(), 0.0);
    for (std::size_t g = 0; g < n_groups; ++g) {
        if (!has_in[g] || !has_out[g]) continue;
        // The norm as max * sqrt(sum (x / max)^2), so that huge weights do not overflow.
        for (int pass = 0; pass < 2; ++pass) {
            for (const BlockEdges& e : net.blocks) {
                if (e.dst != static_cast<std::int32_t>(g)) continue;
                for (std::size_t k = 0; k < e.pos.size(); ++k) {
                    check_cancel_every(cancel, static_cast<Index>(k));
                    const Index i = live.slot(offset[e.src] + e.pos[k] / e.cols);
                    const Index j = live.slot(offset[g] + e.pos[k] % e.cols);
                    const double x = std::fabs(e.val[k] * s[i]);
                    if (pass == 0)
                        big[j] = std::max(big[j], x);
                    else
                        sum[j] += (x / big[j]) * (x / big[j]);
                }
            }
        }
        live.each_in(offset[g], offset[g + 1], [&](Index, Index j) {
            s[j] = (big[j] > 0 ? big[j] * std::sqrt(sum[j]) : 0.0) + kRescaleEps;
        });
    }
    for (std::size_t b = 0; b < net.blocks.size(); ++b) {
        BlockEdges& e = net.blocks[b];
        for (std::size_t k = 0; k < e.pos.size(); ++k) {
            check_cancel_every(cancel, static_cast<Index>(k));
            const Index i = live.slot(offset[e.src] + e.pos[k] / e.cols);
            const Index j = live.slot(offset[e.dst] + e.pos[k] % e.cols);
            double& v = e.val[k];
            v = v * s[i] / s[j];  // the port's order: times s_i (step of i), then / s_j
            if (!std::isfinite(v))
                throw std::invalid_argument("normalize='rescale' overflowed in block " +
                                            std::to_string(b) +
                                            ": the weights are too large to rescale");
        }
    }
}

}  // namespace modcore
