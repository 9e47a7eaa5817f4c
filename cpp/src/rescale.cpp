#include "modcore/rescale.hpp"

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
    std::vector<double> s(offset[n_groups], 1.0);  // 1 until a unit's group is processed
    std::vector<double> big, sum;
    for (std::size_t g = 0; g < n_groups; ++g) {
        if (!has_in[g] || !has_out[g]) continue;
        const Index size = net.group_sizes[g];
        // The norm as max * sqrt(sum (x / max)^2), so that huge weights do not overflow.
        big.assign(size, 0.0);
        sum.assign(size, 0.0);
        for (int pass = 0; pass < 2; ++pass) {
            for (const BlockEdges& e : net.blocks) {
                if (e.dst != static_cast<std::int32_t>(g)) continue;
                for (std::size_t k = 0; k < e.pos.size(); ++k) {
                    check_cancel_every(cancel, static_cast<Index>(k));
                    const Index i = offset[e.src] + e.pos[k] / e.cols, j = e.pos[k] % e.cols;
                    const double x = std::fabs(e.val[k] * s[i]);
                    if (pass == 0)
                        big[j] = std::max(big[j], x);
                    else
                        sum[j] += (x / big[j]) * (x / big[j]);
                }
            }
        }
        for (Index j = 0; j < size; ++j)
            s[offset[g] + j] = (big[j] > 0 ? big[j] * std::sqrt(sum[j]) : 0.0) + kRescaleEps;
    }
    for (std::size_t b = 0; b < net.blocks.size(); ++b) {
        BlockEdges& e = net.blocks[b];
        for (std::size_t k = 0; k < e.pos.size(); ++k) {
            check_cancel_every(cancel, static_cast<Index>(k));
            const Index i = offset[e.src] + e.pos[k] / e.cols;
            const Index j = offset[e.dst] + e.pos[k] % e.cols;
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
