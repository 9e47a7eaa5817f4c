// Shuffle nulls: networks whose weights are shuffled within each block (each
// layer of a chain), each clustered like the original, in one parallel batch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "modcore/cluster.hpp"
#include "modcore/graph.hpp"

namespace modcore {

enum class ShuffleMethod {
    Layer,                     // permute all entries of each block (zeros included)
    LayerNonzero,              // permute the non-zero values among the non-zero positions
    LayerNonzeroDistribution,  // keep the positions, draw values from a Gaussian KDE of the block's non-zeros
    LayerAllDistribution       // positions as "layer", values as the KDE draw
};

ShuffleMethod parse_shuffle(const std::string& name);

// Shuffled network number `index` of the null with this seed; depends only on
// (net, method, seed, index). Memory is O(non-zeros + units), never O(rows x cols).
Network shuffle_network(const Network& net, ShuffleMethod method, std::uint64_t seed,
                        std::uint64_t index);

// n-cuts of the shuffled networks first .. first + count - 1, computed in parallel
// over shuffles (one thread per shuffle, so memory is O(threads x graph)).
std::vector<double> shuffled_ncuts(const Network& net, ShuffleMethod method,
                                   std::uint64_t first, std::uint64_t count,
                                   const ClusterOptions& opt, std::uint64_t seed, int n_threads);

}  // namespace modcore
