// The only file that knows pybind11: converts arrays, releases the GIL around the
// C++ work and lets pybind11 map std::invalid_argument -> ValueError,
// std::runtime_error -> RuntimeError. Inputs are validated in Python first
// (modcore.io); the checks here guard the C++ against misuse of _core itself.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "modcore/cluster.hpp"
#include "modcore/curve.hpp"
#include "modcore/graph.hpp"
#include "modcore/kmeans.hpp"
#include "modcore/limits.hpp"
#include "modcore/modularity.hpp"
#include "modcore/ncut.hpp"
#include "modcore/parallel.hpp"
#include "modcore/shuffle.hpp"
#include "modcore/spectral.hpp"

namespace py = pybind11;
using namespace modcore;

namespace {

// Runs work(token) on a worker thread without the GIL while this thread wakes
// every 100 ms to let Python run its signal handlers: on Ctrl-C the token is
// set, the C++ loops stop at their next poll, and KeyboardInterrupt propagates.
template <class Work>
auto interruptible(Work work) -> decltype(work(std::declval<const CancelToken&>())) {
    CancelToken token;
    py::gil_scoped_release release;
    auto result = std::async(std::launch::async, [&] { return work(token); });
    while (result.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
        py::gil_scoped_acquire acquire;
        if (PyErr_CheckSignals() != 0) {
            token.cancel();
            {
                py::gil_scoped_release wait;
                result.wait();
            }
            throw py::error_already_set();
        }
    }
    return result.get();
}

// One block from Python: (src, dst, rows, cols, triangle, dense, positions, values),
// dense a C-contiguous float32/float64 array or None, positions/values int64 and
// float64 arrays when dense is None. The arrays are read in place; any converted
// copy is kept alive in `keep`.
BlockInput block_input(const py::tuple& t, std::size_t b, std::vector<py::object>& keep) {
    if (t.size() != 8) throw std::invalid_argument("block " + std::to_string(b) + " is malformed");
    BlockInput in;
    in.src = t[0].cast<std::int32_t>();
    in.dst = t[1].cast<std::int32_t>();
    in.rows = t[2].cast<Index>();
    in.cols = t[3].cast<Index>();
    in.triangle = t[4].cast<bool>();
    if (!t[5].is_none()) {
        const py::array a = t[5].cast<py::array>();
        const bool f32 = py::isinstance<py::array_t<float>>(a);
        const bool f64 = py::isinstance<py::array_t<double>>(a);
        if (a.ndim() != 2 || !(f32 || f64) || !(a.flags() & py::array::c_style) ||
            a.shape(0) != in.rows || a.shape(1) != in.cols)
            throw std::invalid_argument("block " + std::to_string(b) +
                                        " must be a C-contiguous 2-D float32/float64 array "
                                        "of its shape");
        in.dense = {a.data(), f32};
        keep.push_back(a);
        return in;
    }
    const auto pos = t[6].cast<py::array_t<std::int64_t, py::array::c_style>>();
    const auto val = t[7].cast<py::array_t<double, py::array::c_style>>();
    if (pos.ndim() != 1 || val.ndim() != 1 || pos.shape(0) != val.shape(0))
        throw std::invalid_argument("block " + std::to_string(b) +
                                    ": positions and values must be 1-D of one length");
    keep.push_back(pos);
    keep.push_back(val);
    in.pos = pos.data();
    in.val = val.data();
    in.n = pos.shape(0);
    return in;
}

// The blocks as Python gave them; the arrays stay alive (in `keep`) while the
// C++ work reads them without the GIL.
struct Inputs {
    std::vector<Index> sizes;
    std::vector<BlockInput> blocks;
    std::vector<py::object> keep;

    // The network read from the arrays in place, checked first (polling the token).
    InputEdges edges(const CancelToken* token) const { return InputEdges(sizes, blocks, token); }
};

Inputs inputs_of(const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& sizes,
                 const py::list& blocks) {
    if (sizes.ndim() != 1) throw std::invalid_argument("group sizes must be 1-D");
    Inputs in;
    in.sizes.assign(sizes.data(), sizes.data() + sizes.shape(0));
    for (std::size_t b = 0; b < blocks.size(); ++b)
        in.blocks.push_back(block_input(blocks[b].cast<py::tuple>(), b, in.keep));
    return in;
}

using Sizes = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

EigenMethod method_of(const std::string& name) {
    if (name == "auto") return EigenMethod::Auto;
    if (name == "bipartite") return EigenMethod::Bipartite;
    if (name == "full") return EigenMethod::Full;
    if (name == "dense") return EigenMethod::Dense;
    throw std::invalid_argument("eigen method must be 'auto', 'bipartite', 'full' or 'dense', got '" +
                                name + "'");
}

const char* method_name(EigenMethod m) {
    switch (m) {
        case EigenMethod::Bipartite: return "bipartite";
        case EigenMethod::Full: return "full";
        case EigenMethod::Dense: return "dense";
        default: return "none";
    }
}

SelectBy select_of(const std::string& name) {
    if (name == "inertia") return SelectBy::Inertia;
    if (name == "ncut") return SelectBy::Ncut;
    throw std::invalid_argument("select_by must be 'inertia' or 'ncut', got '" + name + "'");
}

AssignLabels assign_of(const std::string& name) {
    if (name == "cluster_qr") return AssignLabels::ClusterQR;
    if (name == "kmeans") return AssignLabels::KMeans;
    throw std::invalid_argument("assign_labels must be 'cluster_qr' or 'kmeans', got '" + name +
                                "'");
}

ClusterOptions cluster_options(int n_clusters, int n_init, int max_iter, double tol,
                               const std::string& method, const std::string& select_by,
                               bool refine, const std::string& assign_labels,
                               Index large_graph) {
    // n_clusters 0: a curve's or a null's, whose ks are checked against the graph.
    if (n_clusters != 0) check_range("n_clusters", n_clusters, 2, kMaxClusters);
    check_range("n_init", n_init, 1, kMaxInit);
    check_range("max_iter", max_iter, 1, kMaxIter);
    ClusterOptions opt;
    opt.n_clusters = n_clusters;
    opt.n_init = n_init;
    opt.max_iter = max_iter;
    opt.assign_labels = assign_of(assign_labels);
    opt.refine = refine;
    opt.select_by = select_of(select_by);
    opt.spectral.tol = tol;
    opt.spectral.method = method_of(method);
    opt.spectral.large_graph = large_graph;
    return opt;
}

GraphOptions graph_options(const std::string& drop, const std::string& normalize) {
    GraphOptions g;
    if (drop == "unreachable")
        g.drop = Drop::Unreachable;
    else if (drop != "isolated")
        throw std::invalid_argument("drop must be 'isolated' or 'unreachable', got '" + drop + "'");
    if (normalize == "rescale")
        g.rescale = true;
    else if (normalize != "none")
        throw std::invalid_argument("normalize must be 'none' or 'rescale', got '" + normalize +
                                    "'");
    return g;
}

// The network as the graph modcore clusters (rescaled, units dropped by the rule).
Graph prepared(const Inputs& in, const GraphOptions& gopt, const CancelToken& token) {
    return prepare_graph(in.edges(&token), gopt, &token);
}

// Hands a vector to numpy without a copy: the array owns it through a capsule.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
    auto* owned = new std::vector<T>(std::move(v));
    py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), free_when_done);
}

py::dict node_map(Graph& g) {
    py::dict d;
    d["node_group"] = to_numpy(std::move(g.node_group));
    d["node_index"] = to_numpy(std::move(g.node_index));
    d["bipartite"] = g.bipartite;
    d["n_edges"] = g.n_edges();
    d["n_isolated"] = g.counts.isolated;
    d["n_unreachable"] = g.counts.unreachable;
    d["n_floating"] = g.counts.floating;
    d["n_dropped"] = g.n_dropped;
    return d;
}

// The graph, built without the GIL and interruptibly (a block may hold billions
// of entries).
Graph graph_of(const Inputs& in, const GraphOptions& gopt) {
    return interruptible([&](const CancelToken& token) { return prepared(in, gopt, token); });
}

py::dict graph_py(const Sizes& sizes, const py::list& blocks, const std::string& drop,
                  const std::string& normalize) {
    Graph g = graph_of(inputs_of(sizes, blocks), graph_options(drop, normalize));
    py::dict d = node_map(g);
    d["degree"] = to_numpy(std::move(g.degree));
    return d;
}

void add_result(py::dict& d, ClusterResult&& res) {
    d["labels"] = to_numpy(std::move(res.labels));
    d["eigenvalues"] = to_numpy(std::move(res.eigenvalues));
    d["ncut"] = res.ncut;
    d["modularity"] = res.modularity;
    d["inertia"] = res.inertia;
    d["n_components"] = res.n_components;
    d["eigen_method"] = method_name(res.method);
}

py::dict cluster_py(const Sizes& sizes, const py::list& blocks, int n_clusters, int n_init,
                    int max_iter, double tol, const std::string& method,
                    const std::string& select_by, bool refine,
                    const std::string& assign_labels, std::uint64_t seed, int n_jobs,
                    const std::string& drop, const std::string& normalize, Index large_graph) {
    ClusterOptions opt = cluster_options(n_clusters, n_init, max_iter, tol, method, select_by,
                                         refine, assign_labels, large_graph);
    const GraphOptions gopt = graph_options(drop, normalize);
    const Inputs in = inputs_of(sizes, blocks);
    Graph g;
    ClusterResult res = interruptible([&](const CancelToken& token) {
        g = prepared(in, gopt, token);
        opt.spectral.cancel = &token;
        return cluster_graph(g, opt, seed, resolve_threads(n_jobs));
    });
    py::dict d = node_map(g);
    add_result(d, std::move(res));
    return d;
}

// The clusterings at each k of ks from one embedding: the node map and "results",
// one dict per k as cluster() gives.
py::dict cluster_curve_py(const Sizes& sizes, const py::list& blocks, const std::vector<int>& ks,
                          int n_init, int max_iter, double tol, const std::string& method,
                          const std::string& select_by, bool refine,
                          const std::string& assign_labels, std::uint64_t seed, int n_jobs,
                          const std::string& drop, const std::string& normalize,
                          Index large_graph) {
    ClusterOptions opt = cluster_options(0, n_init, max_iter, tol, method, select_by, refine,
                                         assign_labels, large_graph);
    const GraphOptions gopt = graph_options(drop, normalize);
    const Inputs in = inputs_of(sizes, blocks);
    Graph g;
    std::vector<ClusterResult> res = interruptible([&](const CancelToken& token) {
        g = prepared(in, gopt, token);
        opt.spectral.cancel = &token;
        return cluster_curve(g, ks, opt, seed, resolve_threads(n_jobs));
    });
    py::dict d = node_map(g);
    py::list results;
    for (ClusterResult& r : res) {
        py::dict one;
        add_result(one, std::move(r));
        results.append(one);
    }
    d["results"] = results;
    return d;
}

// labels: one per unit of every group, concatenated, compact ids; -1 is allowed
// only for units without edges. Returns one label per live node of g and sets
// n_labels to the largest plus one.
using Labels = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

std::vector<std::int32_t> live_labels(const Graph& g, const Labels& labels, int& n_labels) {
    Index n_all = 0;
    for (Index s : g.group_sizes) n_all += s;
    if (labels.ndim() != 1 || labels.shape(0) != n_all)
        throw std::invalid_argument("expected " + std::to_string(n_all) + " labels, got " +
                                    std::to_string(labels.size()));
    std::vector<Index> offset(1, 0);
    for (Index s : g.group_sizes) offset.push_back(offset.back() + s);
    const std::int64_t* lab = labels.data();
    std::vector<std::int32_t> live(g.n_nodes);
    std::int64_t max_label = 0;
    for (Index i = 0; i < g.n_nodes; ++i) {
        const std::int64_t a = lab[offset[g.node_group[i]] + g.node_index[i]];
        if (a < 0 || a >= n_all)
            throw std::invalid_argument("unit " + std::to_string(g.node_index[i]) + " of group " +
                                        std::to_string(g.node_group[i]) +
                                        " has edges but label " + std::to_string(a) +
                                        "; labels of connected units must be in [0, n_units)");
        live[i] = static_cast<std::int32_t>(a);
        max_label = std::max(max_label, a);
    }
    n_labels = static_cast<int>(max_label + 1);
    return live;
}

// A partition's score (ncut or modularity) on the graph of the network, from labels over
// all units (those of dropped units ignored).
double partition_score_py(double (*score)(const Graph&, const std::int32_t*, int),
                          const Sizes& sizes, const py::list& blocks, const Labels& labels,
                          const std::string& drop, const std::string& normalize) {
    const Graph g = graph_of(inputs_of(sizes, blocks), graph_options(drop, normalize));
    int n_labels = 0;
    const std::vector<std::int32_t> live = live_labels(g, labels, n_labels);
    py::gil_scoped_release release;
    return score(g, live.data(), n_labels);
}

double ncut_py(const Sizes& sizes, const py::list& blocks, const Labels& labels,
               const std::string& drop, const std::string& normalize) {
    return partition_score_py(ncut, sizes, blocks, labels, drop, normalize);
}

double modularity_py(const Sizes& sizes, const py::list& blocks, const Labels& labels,
                     const std::string& drop, const std::string& normalize) {
    return partition_score_py(modularity, sizes, blocks, labels, drop, normalize);
}

// `seed` is accepted and not used: the embedding depends on the graph alone
// (spectral.hpp); callers written when it did still pass one.
py::dict embedding_py(const Sizes& sizes, const py::list& blocks, int k, double tol,
                      const std::string& method, const std::string& drop,
                      const std::string& normalize, int n_jobs, Index large_graph) {
    SpectralOptions opt;
    opt.tol = tol;
    opt.method = method_of(method);
    opt.large_graph = large_graph;
    const GraphOptions gopt = graph_options(drop, normalize);
    const Inputs in = inputs_of(sizes, blocks);
    Graph g;
    Embedding emb = interruptible([&](const CancelToken& token) {
        g = prepared(in, gopt, token);
        opt.cancel = &token;
        return spectral_embedding(g, k, opt, resolve_threads(n_jobs));
    });
    py::dict d = node_map(g);
    d["embedding"] = to_numpy(std::move(emb.rows)).reshape(
        {static_cast<py::ssize_t>(emb.n_rows), static_cast<py::ssize_t>(emb.dim)});
    d["eigenvalues"] = to_numpy(std::move(emb.eigenvalues));
    d["component"] = to_numpy(std::move(emb.component));
    d["n_components"] = emb.n_components;
    d["eigen_method"] = method_name(emb.method);
    return d;
}

// The nev smallest non-trivial eigenpairs of the normalized Laplacian (spectral.hpp),
// for the training regularizer; `warm` (live units x m, or None) starts Lanczos.
py::dict eigenpairs_py(const Sizes& sizes, const py::list& blocks, int nev, double tol,
                       const std::string& method, const py::object& warm, const std::string& drop,
                       const std::string& normalize, int n_jobs) {
    SpectralOptions opt;
    opt.tol = tol;
    opt.method = method_of(method);
    const GraphOptions gopt = graph_options(drop, normalize);
    const Inputs in = inputs_of(sizes, blocks);
    py::array_t<double, py::array::c_style | py::array::forcecast> start;
    const bool has_warm = !warm.is_none();
    if (has_warm) {
        start = warm.cast<py::array_t<double, py::array::c_style | py::array::forcecast>>();
        if (start.ndim() != 2) throw std::invalid_argument("warm must be 2-D (units x vectors)");
    }
    Graph g;
    Eigenpairs res = interruptible([&](const CancelToken& token) {
        g = prepared(in, gopt, token);
        opt.cancel = &token;
        const double* w = nullptr;
        int m = 0;
        if (has_warm && start.shape(1) > 0) {
            if (start.shape(0) != g.n_nodes)
                throw std::invalid_argument("warm has " + std::to_string(start.shape(0)) +
                                            " rows but the graph has " +
                                            std::to_string(g.n_nodes) + " live units");
            w = start.data();
            m = static_cast<int>(start.shape(1));
        }
        return nontrivial_eigenpairs(g, nev, opt, w, m, resolve_threads(n_jobs));
    });
    const auto n = static_cast<py::ssize_t>(g.n_nodes);
    py::dict d = node_map(g);
    const auto got = static_cast<py::ssize_t>(res.values.size());
    d["eigenvalues"] = to_numpy(std::move(res.values));
    d["eigenvectors"] = to_numpy(std::move(res.vectors)).reshape({n, got});
    d["n_components"] = res.n_components;
    d["eigen_method"] = method_name(res.method);
    return d;
}

// (ncut, modularity, dropped): arrays of shape (count, len(ks)), row i for shuffle
// first + i, and the units each shuffled graph left out.
py::tuple shuffled_scores_py(const Sizes& sizes, const py::list& blocks, const std::string& shuffle,
                             std::uint64_t first, std::uint64_t count, const std::vector<int>& ks,
                             int n_init, int max_iter, double tol, const std::string& method,
                             const std::string& select_by, bool refine,
                             const std::string& assign_labels, std::uint64_t seed, int n_jobs,
                             const std::string& drop, const std::string& normalize,
                             Index large_graph) {
    ClusterOptions opt = cluster_options(0, n_init, max_iter, tol, method, select_by, refine,
                                         assign_labels, large_graph);
    const GraphOptions gopt = graph_options(drop, normalize);
    const ShuffleMethod how = parse_shuffle(shuffle);
    const Inputs in = inputs_of(sizes, blocks);
    ShuffleScores res = interruptible([&](const CancelToken& token) {
        const InputEdges edges = in.edges(&token);
        opt.spectral.cancel = &token;
        return shuffled_scores(edges, how, first, count, ks, opt, gopt, seed,
                               resolve_threads(n_jobs));
    });
    const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(count),
                                         static_cast<py::ssize_t>(ks.size())};
    return py::make_tuple(to_numpy(std::move(res.ncut)).reshape(shape),
                          to_numpy(std::move(res.modularity)).reshape(shape),
                          to_numpy(std::move(res.dropped)));
}

// One shuffled network: (positions, values) per block, in the block's flat
// row * cols + col layout (O(non-zeros), whatever the block's shape).
py::list shuffled_network_py(const Sizes& sizes, const py::list& blocks,
                             const std::string& shuffle, std::uint64_t seed, std::uint64_t index) {
    const ShuffleMethod how = parse_shuffle(shuffle);
    const Inputs in = inputs_of(sizes, blocks);
    Network out = interruptible([&](const CancelToken& token) {
        return shuffle_network(in.edges(&token), how, seed, index, &token);
    });
    py::list result;
    for (BlockEdges& e : out.blocks)
        result.append(py::make_tuple(to_numpy(std::move(e.pos)), to_numpy(std::move(e.val))));
    return result;
}

py::dict kmeans_py(const py::array_t<double, py::array::c_style | py::array::forcecast>& X, int k,
                   int n_init, int max_iter, std::uint64_t seed, int n_jobs) {
    if (X.ndim() != 2) throw std::invalid_argument("X must be 2-D");
    const Index n = X.shape(0), d = X.shape(1);
    KMeansResult res = interruptible([&](const CancelToken& token) {
        return kmeans(X.data(), n, d, k, n_init, max_iter, seed, resolve_threads(n_jobs), &token);
    });
    py::dict out;
    out["labels"] = to_numpy(std::move(res.labels));
    out["centers"] = to_numpy(std::move(res.centers))
                         .reshape({static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(d)});
    out["inertia"] = res.inertia;
    out["n_iter"] = res.n_iter;
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "modcore's C++ core; use the modcore package, which validates inputs.";
    // The limits (limits.hpp) that the checks here and modcore.method.settings share.
    m.attr("MAX_CLUSTERS") = kMaxClusters;
    m.attr("MAX_INIT") = kMaxInit;
    m.attr("MAX_ITER") = kMaxIter;
    m.attr("DENSE_MAX_UNITS") = kDenseMaxNodes;
    m.attr("MAX_LANCZOS_VECTORS") = kMaxLanczosVectors;
    // drop and normalize come last, with defaults: how the network becomes the graph;
    // large_graph (tests only) after them: the edge count from which a graph is large.
    m.def("graph", &graph_py, py::arg("sizes"), py::arg("blocks"), py::arg("drop") = "isolated",
          py::arg("normalize") = "none");
    m.def("cluster", &cluster_py, py::arg("sizes"), py::arg("blocks"), py::arg("n_clusters"),
          py::arg("n_init"), py::arg("max_iter"), py::arg("tol"), py::arg("method"),
          py::arg("select_by"), py::arg("refine"), py::arg("assign_labels"), py::arg("seed"),
          py::arg("n_jobs"), py::arg("drop") = "isolated", py::arg("normalize") = "none",
          py::arg("large_graph") = kLargeGraphEdges);
    m.def("ncut", &ncut_py, py::arg("sizes"), py::arg("blocks"), py::arg("labels"),
          py::arg("drop") = "isolated", py::arg("normalize") = "none");
    m.def("spectral_embedding", &embedding_py, py::arg("sizes"), py::arg("blocks"),
          py::arg("n_clusters"), py::arg("tol"), py::arg("method"),
          py::arg("drop") = "isolated", py::arg("normalize") = "none", py::arg("n_jobs") = 1,
          py::arg("large_graph") = kLargeGraphEdges);
    m.def("nontrivial_eigenpairs", &eigenpairs_py, py::arg("sizes"), py::arg("blocks"),
          py::arg("n_eigenvalues"), py::arg("tol"), py::arg("method"), py::arg("warm") = py::none(),
          py::arg("drop") = "isolated", py::arg("normalize") = "none", py::arg("n_jobs") = 1);
    m.def("cluster_curve", &cluster_curve_py, py::arg("sizes"), py::arg("blocks"), py::arg("ks"),
          py::arg("n_init"), py::arg("max_iter"), py::arg("tol"), py::arg("method"),
          py::arg("select_by"), py::arg("refine"), py::arg("assign_labels"), py::arg("seed"),
          py::arg("n_jobs"), py::arg("drop") = "isolated", py::arg("normalize") = "none",
          py::arg("large_graph") = kLargeGraphEdges);
    m.def("modularity", &modularity_py, py::arg("sizes"), py::arg("blocks"), py::arg("labels"),
          py::arg("drop") = "isolated", py::arg("normalize") = "none");
    m.def("shuffled_scores", &shuffled_scores_py, py::arg("sizes"), py::arg("blocks"),
          py::arg("shuffle"), py::arg("first"), py::arg("count"), py::arg("ks"),
          py::arg("n_init"), py::arg("max_iter"), py::arg("tol"), py::arg("method"),
          py::arg("select_by"), py::arg("refine"), py::arg("assign_labels"), py::arg("seed"),
          py::arg("n_jobs"), py::arg("drop") = "isolated", py::arg("normalize") = "none",
          py::arg("large_graph") = kLargeGraphEdges);
    m.def("shuffled_network", &shuffled_network_py, py::arg("sizes"), py::arg("blocks"),
          py::arg("shuffle"), py::arg("seed"), py::arg("index"));
    m.def("kmeans", &kmeans_py, py::arg("X"), py::arg("n_clusters"), py::arg("n_init"),
          py::arg("max_iter"), py::arg("seed"), py::arg("n_jobs"));
}
