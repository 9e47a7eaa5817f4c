// The MLP as an undirected weighted graph: one node per neuron, |W_l[i, j]| on
// the edge between neuron i of layer l and neuron j of layer l + 1.
#pragma once
#include <cstdint>
#include <vector>

namespace modcore {

using Index = std::int64_t;

// A weight matrix in caller-owned, C-contiguous memory (numpy), read in place.
struct WeightView {
    const void* data = nullptr;
    bool is_float32 = false;
    Index rows = 0;
    Index cols = 0;

    double at(Index flat) const {
        return is_float32 ? static_cast<const float*>(data)[flat]
                          : static_cast<const double*>(data)[flat];
    }
};

// The non-zero entries of one weight matrix: flat position row * cols + col and the
// signed value (the graph uses |w|; the shuffle nulls fit the signed values).
struct LayerEdges {
    Index rows = 0;
    Index cols = 0;
    std::vector<Index> pos;
    std::vector<double> val;
};

std::vector<LayerEdges> edges_from_weights(const std::vector<WeightView>& weights);

// Symmetric CSR adjacency over the live (degree > 0) neurons. Live nodes of even
// layers come first (the side "P" of the bipartition), then odd layers ("Q"),
// so every edge joins a node below n_even to one at or above it.
struct LayeredGraph {
    std::vector<Index> layer_sizes;     // neurons per layer, n_0 .. n_L
    Index n_nodes = 0;                  // live nodes
    Index n_even = 0;                   // live nodes in even layers
    std::vector<std::int32_t> node_layer;
    std::vector<Index> node_index;      // neuron index within its layer
    std::vector<Index> indptr;
    std::vector<std::int32_t> indices;
    std::vector<double> weights;
    std::vector<double> degree;

    Index n_edges() const { return static_cast<Index>(indices.size()) / 2; }
};

// Weights are divided by the largest |w| so degrees stay far from under/overflow;
// n-cut, eigenvalues and clusters are invariant to that scale.
LayeredGraph build_graph(const std::vector<LayerEdges>& layers);

// Component id per live node (numbered in order of first node) and their count.
std::vector<std::int32_t> connected_components(const LayeredGraph& g, int& n_components);

}  // namespace modcore
