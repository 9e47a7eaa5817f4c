#include "modcore/ncut.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace modcore {

double ncut(const Graph& g, const std::int32_t* labels, int n_labels) {
    std::vector<double> vol(n_labels, 0.0), cut(n_labels, 0.0);
    for (Index i = 0; i < g.n_nodes; ++i) {
        const std::int32_t a = labels[i];
        if (a < 0 || a >= n_labels)
            throw std::invalid_argument("label " + std::to_string(a) + " of node " +
                                        std::to_string(i) + " is outside [0, " +
                                        std::to_string(n_labels) + ")");
        vol[a] += g.degree[i];
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p)
            if (labels[g.indices[p]] != a) cut[a] += g.weights[p];
    }
    double total = 0.0;
    for (int a = 0; a < n_labels; ++a) {
        if (vol[a] > 0.0) total += cut[a] / vol[a];
    }
    return total;
}

}  // namespace modcore
