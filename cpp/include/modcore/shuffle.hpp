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
                        std::uint64_t index, const CancelToken* cancel = nullptr);

// Scores of the partitions of shuffled networks first .. first + count - 1, each
// shuffled, then made a graph by gopt (rescaled and pruned by the drop rule like
// the network itself: a "layer" shuffle moves the zeros, so which units drop
// changes per shuffle), then clustered at every k of ks by cluster_curve (one
// embedding per shuffled network), in parallel over shuffles (one thread per
// shuffle, so memory is O(threads x graph)). Row i, column j is shuffle first + i
// at k = ks[j].
struct ShuffleScores {
    std::vector<double> ncut;          // count x ks.size(), row-major
    std::vector<double> modularity;    // the same layout
    std::vector<std::int64_t> dropped;  // count: units each shuffled graph left out
};

ShuffleScores shuffled_scores(const Network& net, ShuffleMethod method, std::uint64_t first,
                              std::uint64_t count, const std::vector<int>& ks,
                              const ClusterOptions& opt, const GraphOptions& gopt,
                              std::uint64_t seed, int n_threads);

}  // namespace modcore
