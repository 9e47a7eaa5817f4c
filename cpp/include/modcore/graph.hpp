// A network as an undirected weighted graph: groups of units (layers, channels,
// the nodes of a precomputed graph) joined by blocks of weights; one node per
// unit and an edge of weight |w| per non-zero block entry.
#pragma once
#include <cstdint>
#include <vector>

#include "modcore/cancel.hpp"
#include "modcore/network.hpp"

namespace modcore {

// Which units the graph leaves out. "First" and "last" are the first and the
// last group (an MLP's input and output layers, a traced model's input and its
// last layer); a network of one group has neither, so Unreachable needs two.
enum class Drop {
    Isolated,    // units without edges (the authors' TensorFlow code, the paper's tables)
    Unreachable  // also every connected component without a unit in both the first and
                 // the last group (the authors' PyTorch port, nn-clustering-pytorch)
};

// How the network becomes the graph: rescaled first (see rescale.hpp), then
// built with the drop rule. Shuffled networks are shuffled, then prepared alike.
struct GraphOptions {
    Drop drop = Drop::Isolated;
    bool rescale = false;
};

// Units by why they are (or would be) left out, counted whatever the rule: the
// isolated ones, and the units with edges whose component misses the first or
// the last group (dropped by Drop::Unreachable only), `floating` of them in
// components that touch neither. Ends are undefined for one group: both 0.
struct DropCounts {
    Index isolated = 0;
    Index unreachable = 0;
    Index floating = 0;
};

// Symmetric CSR adjacency over the live (degree > 0) units. When the groups
// 2-colour with every non-empty block joining two colours (bipartite), live
// units of colour 0 come first: every edge joins a node below n_side0 to one at
// or above it. Otherwise units follow group order and n_side0 is 0. Each row
// lists its neighbours in node order, so one network gives the same bits
// however its entries were read (a shuffle's entries come in shuffled order).
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
    // A hash of the unit's own edge weights and of its neighbours' (two rounds of
    // Weisfeiler-Lehman refinement over the weights, on a grid of 2^-24 of the
    // largest): it does not depend on the order of units or on a global scale, so
    // stages that need a value per unit where an index would do (the Lanczos start
    // vector, the refinement's sweep orders, pivot ties) use it. Units an
    // automorphism exchanges share it; most others do not.
    std::vector<std::uint64_t> key;
    DropCounts counts;
    Index n_dropped = 0;                // units left out: isolated, plus unreachable by that rule

    Index n_edges() const { return static_cast<Index>(indices.size()) / 2; }
};

// Weights are divided by the largest |w| so degrees stay far from under/overflow;
// n-cut, eigenvalues and clusters are invariant to that scale. An edge whose
// ratio to the largest |w| underflows to 0 (below ~5e-324) counts as absent.
// With Drop::Unreachable the units of the components that miss an end are left
// out too (whole components, so no kept unit loses an edge); it throws when no
// component joins the two ends, or the network has one group. The source is
// read twice (count, then fill); besides the graph, memory is O(units) when the
// network has at least about half as many entries as units, else O(edges) (units
// declared without edges cost nothing), and whatever one read of the source needs.
Graph build_graph(const EdgeSource& src, Drop drop = Drop::Isolated,
                  const CancelToken* cancel = nullptr);

// The graph modcore clusters: net rescaled in place when opt.rescale, then built.
Graph prepare_graph(Network& net, const GraphOptions& opt, const CancelToken* cancel = nullptr);

// The same from any source: built straight from it, or, to be rescaled, from a
// stored copy (16 bytes an entry more).
Graph prepare_graph(const EdgeSource& src, const GraphOptions& opt,
                    const CancelToken* cancel = nullptr);

// Component id per live node (numbered in order of first node) and their count.
std::vector<std::int32_t> connected_components(const Graph& g, int& n_components);

}  // namespace modcore
