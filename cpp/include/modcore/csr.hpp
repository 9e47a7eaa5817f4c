// The sparse product at the heart of every Lanczos step: rows of a CSR matrix
// times a vector. AVX2 gathers where the CPU has them (picked at run time),
// plain C++ elsewhere; the two may differ in the last bits (summation order).
#pragma once
#include <cstdint>

#include "modcore/network.hpp"

namespace modcore {

// y[r] = sum over p in [indptr[lo + r], indptr[lo + r + 1]) of a_p * x[indices[p] - xlo],
// for r in [0, n), where a_p = values[p], or, when scale is given,
// (values[p] * scale[lo + r]) * scale[indices[p]]: the same bits as scaling the
// values beforehand, without storing the scaled copy.
void csr_rows_times(const Index* indptr, const std::int32_t* indices, const double* values,
                    const double* scale, Index lo, Index n, std::int32_t xlo, const double* x,
                    double* y);

}  // namespace modcore
