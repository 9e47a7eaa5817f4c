// A network as an undirected weighted graph: groups of units (layers, channels,
// the nodes of a precomputed graph) joined by blocks of weights; one node per
// unit and an edge of weight |w| per non-zero block entry.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/cancel.hpp"
#include "modcore/network.hpp"

namespace modcore {

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
// The source is read twice (count, then fill); besides the graph, memory is
// O(units) and whatever one read of the source needs.
Graph build_graph(const EdgeSource& src, const CancelToken* cancel = nullptr);

// Component id per live node (numbered in order of first node) and their count.
std::vector<std::int32_t> connected_components(const Graph& g, int& n_components);

}  // namespace modcore
