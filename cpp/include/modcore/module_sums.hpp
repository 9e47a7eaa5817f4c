// Per-module totals that the partition scores (n-cut, modularity, refinement) start from.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/graph.hpp"

namespace modcore {

struct ModuleSums {
    std::vector<double> vol;     // sum of the degrees of the module's nodes
    std::vector<double> inside;  // weight of the edges inside the module, counted from both ends
    std::vector<double> cut;     // weight of the edges from the module to the rest
};

// labels: one per live node of g; a label outside [0, n_labels) is std::invalid_argument.
ModuleSums module_sums(const Graph& g, const std::int32_t* labels, int n_labels);

}  // namespace modcore
