// Newman's weighted modularity: Q = sum over modules A of w(A, A) / 2m - (vol(A) / 2m)^2,
// with w(A, A) the weight of the edges inside A counted from both ends and 2m the
// total degree (Newman 2004, "Analysis of weighted networks"; resolution 1).
#pragma once
#include <cstdint>

#include "modcore/graph.hpp"

namespace modcore {

// labels: one per live node of g, each in [0, n_labels). Invariant to the scale of
// the weights, so the graph's division by the largest |w| does not change it.
double modularity(const Graph& g, const std::int32_t* labels, int n_labels);

}  // namespace modcore
