#include "modcore/modularity.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace modcore {

double modularity(const Graph& g, const std::int32_t* labels, int n_labels) {
    std::vector<double> vol(n_labels, 0.0), inside(n_labels, 0.0);
    double two_m = 0.0;
    for (Index i = 0; i < g.n_nodes; ++i) {
        const std::int32_t a = labels[i];
        if (a < 0 || a >= n_labels)
            throw std::invalid_argument("label " + std::to_string(a) + " of node " +
                                        std::to_string(i) + " is outside [0, " +
                                        std::to_string(n_labels) + ")");
        vol[a] += g.degree[i];
        two_m += g.degree[i];
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p)
            if (labels[g.indices[p]] == a) inside[a] += g.weights[p];
    }
    if (!(two_m > 0.0)) return 0.0;
    double q = 0.0;
    for (int a = 0; a < n_labels; ++a) {
        const double share = vol[a] / two_m;
        q += inside[a] / two_m - share * share;
    }
    return q;
}

}  // namespace modcore
