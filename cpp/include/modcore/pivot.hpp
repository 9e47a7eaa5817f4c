// The pivot of a pivoted QR picked by value: the largest entry, where entries
// within a relative 1e-9 of it tie (mathematically equal values, computed in
// another order, differ by rounding), and ties go to the larger order-free unit
// key (graph.hpp), then to the lower index (units whose keys are equal too are,
// as a rule, exchanged by an automorphism of the graph).
#pragma once
#include <cstdint>

#include "modcore/graph.hpp"

namespace modcore {

inline constexpr double kPivotTie = 1e-9;

// values[i] for i in [0, n), keys[i] the key of unit i. Returns -1 when n is 0.
template <class Values>
Index pick_pivot(const Values& values, const std::uint64_t* keys, Index n) {
    Index best = -1;
    double top = 0.0;
    for (Index i = 0; i < n; ++i)
        if (best < 0 || values[i] > top) {
            top = values[i];
            best = i;
        }
    const double floor = top - kPivotTie * (top > 0.0 ? top : -top);
    for (Index i = 0; i < n; ++i)
        if (values[i] >= floor && keys[i] > keys[best]) best = i;
    return best;
}

}  // namespace modcore
