#include "modcore/graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <stdexcept>
#include <string>

#include "modcore/live_units.hpp"
#include "modcore/rescale.hpp"
#include "modcore/rng.hpp"

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

// Above this many CSR entries (12 MB of them) unsorted rows are sorted one by one in
// place, not rebuilt by the transpose below, which needs a second copy: a large
// network's null keeps about one graph in memory (test_large_graph).
constexpr Index kTransposeMaxEntries = Index{1} << 20;

// Sorts each row's neighbours by node id, so the CSR, and every sum over a row,
// depends only on the network and not on the order its entries were read in (a
// shuffle's come in shuffled order). A chain's rows come sorted and are only
// checked; otherwise the CSR is rebuilt by one transpose, O(entries): the graph
// is symmetric, so writing each row's entries into their neighbours' rows, rows
// in node order, lists every row's neighbours in node order.
void sort_rows(Graph& g) {
    Index unsorted = 0;
    for (Index i = 0; i < g.n_nodes; ++i)
        unsorted += !std::is_sorted(g.indices.begin() + g.indptr[i],
                                    g.indices.begin() + g.indptr[i + 1]);
    if (unsorted == 0) return;
    if (g.indptr[g.n_nodes] <= kTransposeMaxEntries) {
        std::vector<std::int32_t> indices(g.indices.size());
        std::vector<double> weights(g.weights.size());
        std::vector<Index> cursor(g.indptr.begin(), g.indptr.end() - 1);
        for (Index i = 0; i < g.n_nodes; ++i)
            for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) {
                const Index to = cursor[g.indices[p]]++;
                indices[to] = static_cast<std::int32_t>(i);
                weights[to] = g.weights[p];
            }
        g.indices.swap(indices);
        g.weights.swap(weights);
        return;
    }
    std::vector<std::pair<std::int32_t, double>> row;
    for (Index i = 0; i < g.n_nodes; ++i) {
        const Index lo = g.indptr[i], hi = g.indptr[i + 1];
        if (std::is_sorted(g.indices.begin() + lo, g.indices.begin() + hi)) continue;
        row.clear();
        for (Index p = lo; p < hi; ++p) row.emplace_back(g.indices[p], g.weights[p]);
        std::sort(row.begin(), row.end());
        for (Index p = lo; p < hi; ++p) {
            g.indices[p] = row[p - lo].first;
            g.weights[p] = row[p - lo].second;
        }
    }
}

std::uint64_t mix(std::uint64_t x) { return splitmix64(x); }

// Sums of hashes are order-free and exact (mod 2^64), so a key depends on the
// multiset of (weight, neighbour key) pairs only. Weights are hashed on a grid of
// 2^-24 of the graph's largest, so a key does not change with a global scale (the
// division by the network's largest |w|, which may sit in a dropped unit, rounds
// differently): only a weight within ~1e-16 of a grid line could move.
std::vector<std::uint64_t> unit_keys(const Graph& g) {
    const double top =
        g.weights.empty() ? 1.0 : *std::max_element(g.weights.begin(), g.weights.end());
    const double grid = std::ldexp(1.0, 24) / top;
    auto weight_hash = [&](double w) {
        return mix(static_cast<std::uint64_t>(std::llround(w * grid)) ^ 0x77ULL);
    };
    std::vector<std::uint64_t> own(g.n_nodes, 0), key(g.n_nodes);
    for (Index i = 0; i < g.n_nodes; ++i)
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) own[i] += weight_hash(g.weights[p]);
    for (Index i = 0; i < g.n_nodes; ++i) {
        std::uint64_t h = mix(own[i] ^ 0x6b6579ULL);
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p)
            h += mix(weight_hash(g.weights[p]) ^ own[g.indices[p]]);
        key[i] = h;
    }
    return key;
}

// Counts the units whose component misses the first or the last group (and of
// those, the ones missing both) and, with Drop::Unreachable, leaves them out of g.
// Whole components go, so every kept node keeps all its edges and its degree.
void drop_unreachable(Graph& g, Drop drop) {
    const std::int32_t last = static_cast<std::int32_t>(g.group_sizes.size()) - 1;
    if (last == 0) {
        if (drop == Drop::Unreachable)
            throw std::invalid_argument(
                "drop='unreachable' keeps the components that join the first and the last "
                "group, and this network has one group (a precomputed graph?): use "
                "drop='isolated'");
        return;
    }
    int n_comp = 0;
    const std::vector<std::int32_t> comp = connected_components(g, n_comp);
    std::vector<unsigned char> ends(n_comp, 0);  // bit 0: has a first-group unit, bit 1: last
    for (Index i = 0; i < g.n_nodes; ++i) {
        if (g.node_group[i] == 0) ends[comp[i]] |= 1;
        if (g.node_group[i] == last) ends[comp[i]] |= 2;
    }
    for (Index i = 0; i < g.n_nodes; ++i) {
        g.counts.unreachable += ends[comp[i]] != 3;
        g.counts.floating += ends[comp[i]] == 0;
    }
    if (drop != Drop::Unreachable || g.counts.unreachable == 0) return;
    if (g.counts.unreachable == g.n_nodes)
        throw std::invalid_argument(
            "no connected component of the network joins its first group to its last, so "
            "drop='unreachable' leaves no unit");
    std::vector<std::int32_t> new_id(g.n_nodes, -1);
    Index kept = 0, side0 = 0;
    for (Index i = 0; i < g.n_nodes; ++i) {
        if (ends[comp[i]] != 3) continue;
        new_id[i] = static_cast<std::int32_t>(kept++);
        side0 += i < g.n_side0;  // nodes keep their order, so colour 0 stays first
    }
    Graph out;
    out.group_sizes = std::move(g.group_sizes);
    out.bipartite = g.bipartite;
    out.n_nodes = kept;
    out.n_side0 = side0;
    out.counts = g.counts;
    out.indptr.assign(1, 0);
    out.indptr.reserve(kept + 1);
    out.indices.reserve(g.indices.size());
    out.weights.reserve(g.weights.size());
    for (Index i = 0; i < g.n_nodes; ++i) {
        if (new_id[i] < 0) continue;
        out.node_group.push_back(g.node_group[i]);
        out.node_index.push_back(g.node_index[i]);
        out.degree.push_back(g.degree[i]);
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) {
            out.indices.push_back(new_id[g.indices[p]]);
            out.weights.push_back(g.weights[p]);
        }
        out.indptr.push_back(static_cast<Index>(out.indices.size()));
    }
    g = std::move(out);
}

}  // namespace

Graph build_graph(const EdgeSource& src, Drop drop, const CancelToken* cancel) {
    Graph g;
    g.group_sizes = src.group_sizes();
    const std::size_t n_groups = g.group_sizes.size();
    std::vector<Index> offset(n_groups + 1, 0);
    for (std::size_t l = 0; l < n_groups; ++l) offset[l + 1] = offset[l] + g.group_sizes[l];
    const Index n_all = offset[n_groups];

    const double max_w = src.max_abs();
    if (!(max_w > 0.0)) throw std::invalid_argument("the network has no non-zero weights");
    // A subnormal largest |w| has no finite reciprocal: every weight is first scaled by
    // 2^1000 (exact, a power of two), which makes it normal; otherwise pre is 1.
    const double pre = max_w < std::numeric_limits<double>::min() ? std::ldexp(1.0, 1000) : 1.0;
    const double inv_max = 1.0 / (max_w * pre);
    // An edge whose scaled weight underflows to 0 is absent everywhere (its unit
    // may become isolated); subnormal weights are kept.
    auto scaled = [&](double v) { return std::fabs(v) * pre * inv_max; };
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

    LiveUnits live(n_all, src.total_entries(), [&](auto take) {
        each_edge([&](Index a, Index b, double) {
            take(a);
            take(b);
        });
    });

    std::vector<int> colour;
    g.bipartite = colour_groups(src, colour);
    std::vector<Index> live_id(live.n_slots(), -1);  // per slot: the node id
    auto number_group = [&](std::size_t l) {
        live.each_in(offset[l], offset[l + 1], [&](Index v, Index at) {
            live_id[at] = g.n_nodes++;
            g.node_group.push_back(static_cast<std::int32_t>(l));
            g.node_index.push_back(v - offset[l]);
        });
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
    for (Index at = 0; at < live.n_slots(); ++at)
        if (live_id[at] >= 0) g.indptr[live_id[at] + 1] = live.count(at);
    for (Index i = 0; i < g.n_nodes; ++i) g.indptr[i + 1] += g.indptr[i];
    live.forget_counts();

    const Index nnz = g.indptr[g.n_nodes];
    g.indices.resize(nnz);
    g.weights.resize(nnz);
    std::vector<Index> cursor(g.indptr.begin(), g.indptr.end() - 1);
    // The fill reads the network a second time: a source that gives other edges than
    // the count saw (the caller's arrays written by another thread) must stop here,
    // not write outside a node's slots.
    const auto other_edges = [] {
        return std::runtime_error(
            "the network's weights changed while its graph was built (written by another "
            "thread?)");
    };
    auto node = [&](Index v) {
        const Index at = live.slot(v);
        if (at < 0 || live_id[at] < 0) throw other_edges();
        return live_id[at];
    };
    auto add = [&](Index i, Index j, double w) {  // j after i in row i, if it has room
        if (cursor[i] == g.indptr[i + 1]) throw other_edges();
        g.indices[cursor[i]] = static_cast<std::int32_t>(j);
        g.weights[cursor[i]++] = w;
    };
    each_edge([&](Index a, Index b, double w) {
        a = node(a);
        b = node(b);
        add(a, b, w);
        add(b, a, w);
    });
    for (Index i = 0; i < g.n_nodes; ++i)
        if (cursor[i] != g.indptr[i + 1]) throw other_edges();

    sort_rows(g);
    g.degree.assign(g.n_nodes, 0.0);
    for (Index i = 0; i < g.n_nodes; ++i)
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p) g.degree[i] += g.weights[p];
    g.counts.isolated = n_all - g.n_nodes;
    drop_unreachable(g, drop);
    g.key = unit_keys(g);
    g.n_dropped = n_all - g.n_nodes;
    return g;
}

Graph prepare_graph(Network& net, const GraphOptions& opt, const CancelToken* cancel) {
    if (opt.rescale) rescale_units(net, cancel);
    return build_graph(NetworkEdges(net), opt.drop, cancel);
}

Graph prepare_graph(const EdgeSource& src, const GraphOptions& opt, const CancelToken* cancel) {
    if (!opt.rescale) return build_graph(src, opt.drop, cancel);
    Network net = materialize(src, cancel);
    return prepare_graph(net, opt, cancel);
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
