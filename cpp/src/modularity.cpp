#include "modcore/modularity.hpp"

#include "modcore/module_sums.hpp"

namespace modcore {

double modularity(const Graph& g, const std::int32_t* labels, int n_labels) {
    const ModuleSums s = module_sums(g, labels, n_labels);
    double two_m = 0.0;
    for (Index i = 0; i < g.n_nodes; ++i) two_m += g.degree[i];
    if (!(two_m > 0.0)) return 0.0;
    double q = 0.0;
    for (int a = 0; a < n_labels; ++a) {
        const double share = s.vol[a] / two_m;
        q += s.inside[a] / two_m - share * share;
    }
    return q;
}

}  // namespace modcore
