#include "modcore/graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace modcore {
namespace {

// Each connected set of groups is coloured from its lowest index with colour
// index % 2, so a chain's colours are its layer parities. Returns false when
// some non-empty block joins two groups of one colour.
bool colour_groups(const EdgeSource& src, std::vector<int>& colour) {
    const std::size_t n = src.group_sizes().size();
    std::vector<std::vector<std::int32_t>> adj(n);
    for (std::size_t b = 0; b < src.n_blocks(); ++b) {
        if (src.n_entries(b) == 0) continue;
        const BlockShape& e = src.shape(b);
        if (e.src == e.dst) return false;
        adj[e.src].push_back(e.dst);
        adj[e.dst].push_back(e.src);
    }
    colour.assign(n, -1);
    std::vector<std::int32_t> stack;
    for (std::size_t start = 0; start < n; ++start) {
        if (colour[start] >= 0) continue;
        colour[start] = static_cast<int>(start % 2);
        stack.push_back(static_cast<std::int32_t>(start));
        while (!stack.empty()) {
            const std::int32_t g = stack.back();
            stack.pop_back();
            for (std::int32_t h : adj[g]) {
                if (colour[h] < 0) {
                    colour[h] = 1 - colour[g];
                    stack.push_back(h);
                } else if (colour[h] == colour[g]) {
                    return false;
                }
            }
        }
    }
    return true;
}

}  // namespace

Graph build_graph(const EdgeSource& src, const CancelToken* cancel) {
    Graph g;
    g.group_sizes = src.group_sizes();
    const std::size_t n_groups = g.group_sizes.size();
    std::vector<Index> offset(n_groups + 1, 0);
    for (std::size_t l = 0; l < n_groups; ++l) offset[l + 1] = offset[l] + g.group_sizes[l];
    const Index n_all = offset[n_groups];

    const double max_w = src.max_abs();
    if (!(max_w > 0.0)) throw std::invalid_argument("the network has no non-zero weights");
    const double inv_max = 1.0 / max_w;
    // An edge whose scaled weight underflows to 0 is absent everywhere (its unit
    // may become isolated); subnormal weights are kept.
    auto scaled = [&](double v) { return std::fabs(v) * inv_max; };
    // Calls edge(a, b, w) for each edge of the network, a and b over all units.
    auto each_edge = [&](auto edge) {
        for (std::size_t blk = 0; blk < src.n_blocks(); ++blk) {
            const BlockShape& e = src.shape(blk);
            const Index row0 = offset[e.src], col0 = offset[e.dst];
            src.read(
                blk,
                [&](const Index* pos, const double* val, std::size_t n) {
                    for (std::size_t k = 0; k < n; ++k) {
                        check_cancel_every(cancel, static_cast<Index>(k));
                        const double w = scaled(val[k]);
                        if (w != 0.0) edge(row0 + pos[k] / e.cols, col0 + pos[k] % e.cols, w);
                    }
                },
                cancel);
        }
    };

    std::vector<Index> count(n_all, 0);
    each_edge([&](Index a, Index b, double) {
        ++count[a];
        ++count[b];
    });

    std::vector<int> colour;
    g.bipartite = colour_groups(src, colour);
    std::vector<Index> live_id(n_all, -1);
    auto number_group = [&](std::size_t l) {
        for (Index i = 0; i < g.group_sizes[l]; ++i) {
            if (count[offset[l] + i] == 0) continue;
            live_id[offset[l] + i] = g.n_nodes++;
            g.node_group.push_back(static_cast<std::int32_t>(l));
            g.node_index.push_back(i);
        }
    };
    if (g.bipartite) {
        for (int side = 0; side < 2; ++side) {
            for (std::size_t l = 0; l < n_groups; ++l)
                if (colour[l] == side) number_group(l);
            if (side == 0) g.n_side0 = g.n_nodes;
        }
    } else {
        for (std::size_t l = 0; l < n_groups; ++l) number_group(l);
    }
    if (g.n_nodes > std::numeric_limits<std::int32_t>::max())
        throw std::invalid_argument("the network has more than 2^31 live units");

    g.indptr.assign(g.n_nodes + 1, 0);
    for (Index v = 0; v < n_all; ++v)
        if (live_id[v] >= 0) g.indptr[live_id[v] + 1] = count[v];
    for (Index i = 0; i < g.n_nodes; ++i) g.indptr[i + 1] += g.indptr[i];
    std::vector<Index>().swap(count);

    const Index nnz = g.indptr[g.n_nodes];
    g.indices.resize(nnz);
    g.weights.resize(nnz);
    std::vector<Index> cursor(g.indptr.begin(), g.indptr.end() - 1);
    each_edge([&](Index a, Index b, double w) {
        a = live_id[a];
        b = live_id[b];
        g.indices[cursor[a]] = static_cast<std::int32_t>(b);
        g.weights[cursor[a]++] = w;
        g.indices[cursor[b]] = static_cast<std::int32_t>(a);
        g.weights[cursor[b]++] = w;
    });

    g.degree.assign(g.n_nodes, 0.0);
    for (Index i = 0; i < g.n_nodes; ++i)
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) g.degree[i] += g.weights[p];
    return g;
}

std::vector<std::int32_t> connected_components(const Graph& g, int& n_components) {
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
