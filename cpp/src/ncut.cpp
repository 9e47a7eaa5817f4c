#include "modcore/ncut.hpp"

#include "modcore/module_sums.hpp"

namespace modcore {

double ncut(const Graph& g, const std::int32_t* labels, int n_labels) {
    const ModuleSums s = module_sums(g, labels, n_labels);
    double total = 0.0;
    for (int a = 0; a < n_labels; ++a) {
        if (s.vol[a] > 0.0) total += s.cut[a] / s.vol[a];
    }
    return total;
}

}  // namespace modcore
