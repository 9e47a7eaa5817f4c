// Deterministic labels from a spectral embedding: column-pivoted QR picks k
// representative units, the embedding is rotated onto them, and each unit
// takes the axis where its row is largest (Damle, Minden & Ying 2019;
// scikit-learn's assign_labels="cluster_qr").
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/graph.hpp"

namespace modcore {

// rows: n x k row-major, n >= k; key: the units' order-free keys (graph.hpp).
// Labels in [0, k), each used at least once. Rows permuted with their keys give
// the labels permuted: pivots and ties are decided by values and keys. The labels
// do not change when the rows are multiplied by an orthogonal k x k matrix (a
// basis of the same embedding), up to rounding.
std::vector<std::int32_t> cluster_qr(const double* rows, Index n, int k, const std::uint64_t* key);

}  // namespace modcore
