// Normalized cut: sum over modules A of cut(A, rest) / vol(A); empty modules add 0.
#pragma once
#include <cstdint>

#include "modcore/graph.hpp"

namespace modcore {

// labels: one per live node of g, each in [0, n_labels).
double ncut(const Graph& g, const std::int32_t* labels, int n_labels);

}  // namespace modcore
