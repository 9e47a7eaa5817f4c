#include "modcore/module_sums.hpp"

#include <stdexcept>
#include <string>

namespace modcore {

ModuleSums module_sums(const Graph& g, const std::int32_t* labels, int n_labels) {
    ModuleSums s{std::vector<double>(n_labels, 0.0), std::vector<double>(n_labels, 0.0),
                 std::vector<double>(n_labels, 0.0)};
    for (Index i = 0; i < g.n_nodes; ++i) {
        const std::int32_t a = labels[i];
        if (a < 0 || a >= n_labels)
            throw std::invalid_argument("label " + std::to_string(a) + " of node " +
                                        std::to_string(i) + " is outside [0, " +
                                        std::to_string(n_labels) + ")");
        s.vol[a] += g.degree[i];
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) {
            if (labels[g.indices[p]] == a)
                s.inside[a] += g.weights[p];
            else
                s.cut[a] += g.weights[p];
        }
    }
    return s;
}

}  // namespace modcore
