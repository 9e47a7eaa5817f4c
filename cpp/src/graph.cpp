#include "modcore/graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace modcore {

std::vector<LayerEdges> edges_from_weights(const std::vector<WeightView>& weights) {
    std::vector<LayerEdges> layers(weights.size());
    for (std::size_t l = 0; l < weights.size(); ++l) {
        const WeightView& w = weights[l];
        LayerEdges& e = layers[l];
        e.rows = w.rows;
        e.cols = w.cols;
        const Index size = w.rows * w.cols;
        for (Index k = 0; k < size; ++k) {
            const double v = w.at(k);
            if (!std::isfinite(v))
                throw std::invalid_argument("weights[" + std::to_string(l) +
                                            "] contains NaN or infinity");
            if (v != 0.0) {
                e.pos.push_back(k);
                e.val.push_back(v);
            }
        }
    }
    return layers;
}

LayeredGraph build_graph(const std::vector<LayerEdges>& layers) {
    if (layers.empty()) throw std::invalid_argument("the network has no weight matrices");
    LayeredGraph g;
    const std::size_t L = layers.size();
    g.layer_sizes.push_back(layers[0].rows);
    for (std::size_t l = 0; l < L; ++l) {
        if (layers[l].rows != g.layer_sizes[l])
            throw std::invalid_argument("weight matrix shapes do not chain at layer " +
                                        std::to_string(l));
        g.layer_sizes.push_back(layers[l].cols);
    }
    std::vector<Index> offset(L + 2, 0);
    for (std::size_t l = 0; l <= L; ++l) offset[l + 1] = offset[l] + g.layer_sizes[l];
    const Index n_all = offset[L + 1];

    double max_w = 0.0;
    for (const auto& e : layers)
        for (double v : e.val) max_w = std::max(max_w, std::fabs(v));
    if (!(max_w > 0.0)) throw std::invalid_argument("the network has no non-zero weights");
    const double inv_max = 1.0 / max_w;

    std::vector<Index> count(n_all, 0);
    for (std::size_t l = 0; l < L; ++l) {
        const LayerEdges& e = layers[l];
        for (std::size_t k = 0; k < e.pos.size(); ++k) {
            if (e.val[k] == 0.0) continue;
            const Index p = e.pos[k];
            ++count[offset[l] + p / e.cols];
            ++count[offset[l + 1] + p % e.cols];
        }
    }

    // Live nodes numbered even layers first, then odd layers.
    std::vector<Index> live_id(n_all, -1);
    for (int parity = 0; parity < 2; ++parity) {
        for (std::size_t l = parity; l <= L; l += 2) {
            for (Index i = 0; i < g.layer_sizes[l]; ++i) {
                if (count[offset[l] + i] == 0) continue;
                live_id[offset[l] + i] = g.n_nodes++;
                g.node_layer.push_back(static_cast<std::int32_t>(l));
                g.node_index.push_back(i);
            }
        }
        if (parity == 0) g.n_even = g.n_nodes;
    }
    if (g.n_nodes > std::numeric_limits<std::int32_t>::max())
        throw std::invalid_argument("the network has more than 2^31 live neurons");

    g.indptr.assign(g.n_nodes + 1, 0);
    for (Index v = 0; v < n_all; ++v)
        if (live_id[v] >= 0) g.indptr[live_id[v] + 1] = count[v];
    for (Index i = 0; i < g.n_nodes; ++i) g.indptr[i + 1] += g.indptr[i];

    const Index nnz = g.indptr[g.n_nodes];
    g.indices.resize(nnz);
    g.weights.resize(nnz);
    std::vector<Index> cursor(g.indptr.begin(), g.indptr.end() - 1);
    for (std::size_t l = 0; l < L; ++l) {
        const LayerEdges& e = layers[l];
        for (std::size_t k = 0; k < e.pos.size(); ++k) {
            if (e.val[k] == 0.0) continue;
            const Index a = live_id[offset[l] + e.pos[k] / e.cols];
            const Index b = live_id[offset[l + 1] + e.pos[k] % e.cols];
            const double w = std::fabs(e.val[k]) * inv_max;
            g.indices[cursor[a]] = static_cast<std::int32_t>(b);
            g.weights[cursor[a]++] = w;
            g.indices[cursor[b]] = static_cast<std::int32_t>(a);
            g.weights[cursor[b]++] = w;
        }
    }

    g.degree.assign(g.n_nodes, 0.0);
    for (Index i = 0; i < g.n_nodes; ++i)
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) g.degree[i] += g.weights[p];
    return g;
}

std::vector<std::int32_t> connected_components(const LayeredGraph& g, int& n_components) {
    std::vector<std::int32_t> comp(g.n_nodes, -1);
    std::vector<std::int32_t> stack;
    n_components = 0;
    for (Index start = 0; start < g.n_nodes; ++start) {
        if (comp[start] >= 0) continue;
        comp[start] = n_components;
        stack.push_back(static_cast<std::int32_t>(start));
        while (!stack.empty()) {
            const std::int32_t v = stack.back();
            stack.pop_back();
            for (Index p = g.indptr[v]; p < g.indptr[v + 1]; ++p) {
                const std::int32_t u = g.indices[p];
                if (comp[u] < 0) {
                    comp[u] = n_components;
                    stack.push_back(u);
                }
            }
        }
        ++n_components;
    }
    return comp;
}

}  // namespace modcore
