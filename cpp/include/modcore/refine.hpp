// Local n-cut refinement: single units moved to the module that lowers the
// n-cut most, pass after pass, until no move lowers it.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/graph.hpp"

namespace modcore {

// labels: one per live node of g, each in [0, k), every module non-empty; they
// are changed in place and stay so (a module never loses its last unit). Ends at
// a partition no single move improves (or after max_passes), the best of a few
// sweeps that visit units in orders computed from the units' order-free keys, so
// a relabelled graph gets the relabelled result.
void refine_ncut(const Graph& g, std::int32_t* labels, int k, int max_passes);

}  // namespace modcore
