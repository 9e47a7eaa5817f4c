// A network as an undirected weighted graph: groups of units (layers, channels,
// the nodes of a precomputed graph) joined by blocks of weights; one node per
// unit and an edge of weight |w| per non-zero block entry.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/cancel.hpp"

namespace modcore {

using Index = std::int64_t;

// A dense block in caller-owned, C-contiguous memory (numpy), read in place.
struct WeightView {
    const void* data = nullptr;
    bool is_float32 = false;

    double at(Index flat) const {
        return is_float32 ? static_cast<const float*>(data)[flat]
                          : static_cast<const double*>(data)[flat];
    }
};

// Where a block sits: rows are the units of group src, columns those of group
// dst. A block from a group to itself (triangle) is a symmetric adjacency stored
// as its strict upper triangle, row < col.
struct BlockShape {
    std::int32_t src = 0;
    std::int32_t dst = 0;
    Index rows = 0;
    Index cols = 0;
    bool triangle = false;

    // Positions a "layer" shuffle may use.
    Index n_positions() const { return triangle ? rows * (rows - 1) / 2 : rows * cols; }
};

// The non-zero entries of one block: flat position row * cols + col and the
// signed value (the graph uses |w|; the shuffle nulls fit the signed values).
struct BlockEdges : BlockShape {
    std::vector<Index> pos;
    std::vector<double> val;
};

struct Network {
    std::vector<Index> group_sizes;
    std::vector<BlockEdges> blocks;
};

// Input description of one block: dense (view.data set) or sorted unique flat
// positions with values (pos/val set, n entries).
struct BlockInput : BlockShape {
    WeightView dense;
    const std::int64_t* pos = nullptr;
    const double* val = nullptr;
    Index n = 0;
};

// Checks shapes and values and extracts the non-zeros (polling `cancel`: a
// dense block may hold billions of entries).
Network network_from_blocks(const std::vector<Index>& group_sizes,
                            const std::vector<BlockInput>& blocks,
                            const CancelToken* cancel = nullptr);

// Symmetric CSR adjacency over the live (degree > 0) units. When the groups
// 2-colour with every non-empty block joining two colours (bipartite), live
// units of colour 0 come first: every edge joins a node below n_side0 to one at
// or above it. Otherwise units follow group order and n_side0 is 0.
struct Graph {
    std::vector<Index> group_sizes;
    bool bipartite = false;
    Index n_nodes = 0;                  // live units
    Index n_side0 = 0;                  // live units of colour 0 (bipartite only)
    std::vector<std::int32_t> node_group;
    std::vector<Index> node_index;      // unit index within its group
    std::vector<Index> indptr;
    std::vector<std::int32_t> indices;
    std::vector<double> weights;
    std::vector<double> degree;

    Index n_edges() const { return static_cast<Index>(indices.size()) / 2; }
};

// Weights are divided by the largest |w| so degrees stay far from under/overflow;
// n-cut, eigenvalues and clusters are invariant to that scale. An edge whose
// ratio to the largest |w| underflows to 0 (below ~5e-324) counts as absent.
Graph build_graph(const Network& net, const CancelToken* cancel = nullptr);

// Component id per live node (numbered in order of first node) and their count.
std::vector<std::int32_t> connected_components(const Graph& g, int& n_components);

}  // namespace modcore
