// Shuffle nulls: networks whose weights are shuffled within each block (each
// layer of a chain), each clustered like the original, in one parallel batch.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "modcore/cluster.hpp"
#include "modcore/graph.hpp"
#include "modcore/network.hpp"
#include "modcore/rng.hpp"

namespace modcore {

enum class ShuffleMethod {
    Layer,                     // permute all entries of each block (zeros included)
    LayerNonzero,              // permute the non-zero values among the non-zero positions
    LayerNonzeroDistribution,  // keep the positions, draw values from a Gaussian KDE of the block's non-zeros
    LayerAllDistribution       // positions as "layer", values as the KDE draw
};

ShuffleMethod parse_shuffle(const std::string& name);

// Shuffled network number `index` of the null with this seed, generated block
// by block at each read and never stored; depends only on (original, method,
// seed, index). A read of a block repeats its shuffle and holds, besides what
// the reader keeps, that block alone: its values (8 bytes an entry; the
// "distribution" shuffles also the original values), its drawn positions (4
// bytes an entry when the block has fewer than 2^32 positions, else 8) and,
// while they are drawn, the sampler's map (see SparsePermutation in
// shuffle.cpp). Blocks are first read in order: block b's draws begin where
// block b - 1's end. One object per thread.
class ShuffledEdges : public EdgeSource {
public:
    ShuffledEdges(const EdgeSource& original, ShuffleMethod method, std::uint64_t seed,
                  std::uint64_t index);
    const std::vector<Index>& group_sizes() const override { return orig_.group_sizes(); }
    std::size_t n_blocks() const override { return orig_.n_blocks(); }
    const BlockShape& shape(std::size_t b) const override { return orig_.shape(b); }
    Index n_entries(std::size_t b) const override { return orig_.n_entries(b); }
    // A "distribution" shuffle draws all its values once to find this.
    double max_abs() const override;
    void read(std::size_t b, const TakeEntries& take, const CancelToken* cancel) const override;

private:
    // Block b's values from `rng`, positioned at their first draw (after the
    // block's positions), left where block b + 1's draws begin.
    PageVector<double> draw_values(std::size_t b, Rng& rng, const CancelToken* cancel) const;
    // Block b with drawn positions, each stored as a T until handed over.
    template <class T>
    void read_drawn(std::size_t b, Rng& rng, const TakeEntries& take,
                    const CancelToken* cancel) const;
    Rng start_of(std::size_t b) const;

    const EdgeSource& orig_;
    ShuffleMethod method_;
    mutable std::vector<Rng> start_;  // the stream where each block's draws begin, as found
    mutable double max_abs_ = -1.0;   // < 0 until known
};

// The shuffled network stored (O(non-zeros + units), never O(rows x cols)).
Network shuffle_network(const EdgeSource& original, ShuffleMethod method, std::uint64_t seed,
                        std::uint64_t index, const CancelToken* cancel = nullptr);

// Scores of the partitions of shuffled networks first .. first + count - 1, each
// shuffled, then made a graph by gopt (rescaled and pruned by the drop rule like
// the network itself: a "layer" shuffle moves the zeros, so which units drop
// changes per shuffle), then clustered at every k of ks by cluster_curve (one
// embedding per shuffled network). Below opt.spectral.large_graph entries the
// shuffles run in parallel, one thread and one stored shuffled network and graph
// each; from there on, one at a time with the threads inside its eigensolve, its
// graph built from ShuffledEdges (unless rescaled, which stores the shuffled
// network), so memory is one graph and one block's shuffle. Row i, column j is
// shuffle first + i at k = ks[j]; the same whatever n_threads and either way.
struct ShuffleScores {
    std::vector<double> ncut;          // count x ks.size(), row-major
    std::vector<double> modularity;    // the same layout
    std::vector<std::int64_t> dropped;  // count: units each shuffled graph left out
};

ShuffleScores shuffled_scores(const EdgeSource& original, ShuffleMethod method, std::uint64_t first,
                              std::uint64_t count, const std::vector<int>& ks,
                              const ClusterOptions& opt, const GraphOptions& gopt,
                              std::uint64_t seed, int n_threads);

}  // namespace modcore
