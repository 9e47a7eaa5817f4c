// The only file that knows pybind11: converts arrays, releases the GIL around the
// C++ work and lets pybind11 map std::invalid_argument -> ValueError,
// std::runtime_error -> RuntimeError. Inputs are validated in Python first
// (modcore.io); the checks here guard the C++ against misuse of _core itself.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "modcore/cluster.hpp"
#include "modcore/graph.hpp"
#include "modcore/kmeans.hpp"
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

std::vector<WeightView> weight_views(const std::vector<py::array>& weights) {
    std::vector<WeightView> views;
    for (std::size_t l = 0; l < weights.size(); ++l) {
        const py::array& a = weights[l];
        const bool f32 = py::isinstance<py::array_t<float>>(a);
        const bool f64 = py::isinstance<py::array_t<double>>(a);
        if (a.ndim() != 2 || !(f32 || f64) || !(a.flags() & py::array::c_style))
            throw std::invalid_argument("weights[" + std::to_string(l) +
                                        "] must be a C-contiguous 2-D float32/float64 array");
        views.push_back({a.data(), f32, a.shape(0), a.shape(1)});
    }
    return views;
}

LayeredGraph graph_of(const std::vector<py::array>& weights) {
    const std::vector<WeightView> views = weight_views(weights);
    py::gil_scoped_release release;
    return build_graph(edges_from_weights(views));
}

EigenMethod method_of(const std::string& name) {
    if (name == "auto") return EigenMethod::Auto;
    if (name == "bipartite") return EigenMethod::Bipartite;
    if (name == "full") return EigenMethod::Full;
    if (name == "dense") return EigenMethod::Dense;
    throw std::invalid_argument("eigen method must be 'auto', 'bipartite', 'full' or 'dense', got '" +
                                name + "'");
}

ClusterOptions cluster_options(int n_clusters, int n_init, int max_iter, double tol,
                               const std::string& method) {
    ClusterOptions opt;
    opt.n_clusters = n_clusters;
    opt.n_init = n_init;
    opt.max_iter = max_iter;
    opt.spectral.tol = tol;
    opt.spectral.method = method_of(method);
    return opt;
}

template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
    py::array_t<T> out(static_cast<py::ssize_t>(v.size()));
    std::copy(v.begin(), v.end(), out.mutable_data());
    return out;
}

py::dict node_map(const LayeredGraph& g) {
    py::dict d;
    d["node_layer"] = to_numpy(g.node_layer);
    d["node_index"] = to_numpy(g.node_index);
    d["layer_sizes"] = to_numpy(g.layer_sizes);
    return d;
}

py::dict graph_py(const std::vector<py::array>& weights) {
    const LayeredGraph g = graph_of(weights);
    py::dict d = node_map(g);
    d["indptr"] = to_numpy(g.indptr);
    d["indices"] = to_numpy(g.indices);
    d["weights"] = to_numpy(g.weights);
    d["degree"] = to_numpy(g.degree);
    d["n_even"] = g.n_even;
    return d;
}

py::dict cluster_py(const std::vector<py::array>& weights, int n_clusters, int n_init, int max_iter,
                    double tol, const std::string& method, std::uint64_t seed, int n_jobs) {
    ClusterOptions opt = cluster_options(n_clusters, n_init, max_iter, tol, method);
    const LayeredGraph g = graph_of(weights);
    const ClusterResult res = interruptible([&](const CancelToken& token) {
        opt.spectral.cancel = &token;
        return cluster_graph(g, opt, seed, resolve_threads(n_jobs));
    });
    py::dict d = node_map(g);
    d["labels"] = to_numpy(res.labels);
    d["eigenvalues"] = to_numpy(res.eigenvalues);
    d["ncut"] = res.ncut;
    d["inertia"] = res.inertia;
    d["n_components"] = res.n_components;
    d["n_edges"] = g.n_edges();
    return d;
}

// labels: one per neuron of every layer, concatenated; -1 is allowed only for
// neurons without edges.
double ncut_py(const std::vector<py::array>& weights,
               const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& labels) {
    const LayeredGraph g = graph_of(weights);
    Index n_all = 0;
    for (Index s : g.layer_sizes) n_all += s;
    if (labels.ndim() != 1 || labels.shape(0) != n_all)
        throw std::invalid_argument("expected " + std::to_string(n_all) + " labels, got " +
                                    std::to_string(labels.size()));
    std::vector<Index> offset(1, 0);
    for (Index s : g.layer_sizes) offset.push_back(offset.back() + s);
    const std::int64_t* lab = labels.data();
    std::vector<std::int32_t> live(g.n_nodes);
    std::int64_t max_label = 0;
    for (Index i = 0; i < g.n_nodes; ++i) {
        const std::int64_t a = lab[offset[g.node_layer[i]] + g.node_index[i]];
        if (a < 0 || a > 1'000'000'000)
            throw std::invalid_argument("neuron " + std::to_string(g.node_index[i]) + " of layer " +
                                        std::to_string(g.node_layer[i]) +
                                        " has edges but label " + std::to_string(a) +
                                        "; labels of connected neurons must be >= 0");
        live[i] = static_cast<std::int32_t>(a);
        max_label = std::max(max_label, a);
    }
    py::gil_scoped_release release;
    return ncut(g, live.data(), static_cast<int>(max_label + 1));
}

py::dict embedding_py(const std::vector<py::array>& weights, int k, double tol,
                      const std::string& method, std::uint64_t seed) {
    SpectralOptions opt;
    opt.tol = tol;
    opt.method = method_of(method);
    const LayeredGraph g = graph_of(weights);
    const Embedding emb = interruptible([&](const CancelToken& token) {
        opt.cancel = &token;
        return spectral_embedding(g, k, seed, opt);
    });
    py::dict d = node_map(g);
    py::array_t<double> rows({static_cast<py::ssize_t>(emb.n_rows), static_cast<py::ssize_t>(emb.dim)});
    std::copy(emb.rows.begin(), emb.rows.end(), rows.mutable_data());
    d["embedding"] = rows;
    d["eigenvalues"] = to_numpy(emb.eigenvalues);
    d["component"] = to_numpy(emb.component);
    d["n_components"] = emb.n_components;
    return d;
}

py::array_t<double> shuffled_ncuts_py(const std::vector<py::array>& weights,
                                      const std::string& shuffle, std::uint64_t first,
                                      std::uint64_t count, int n_clusters, int n_init,
                                      int max_iter, double tol, const std::string& method,
                                      std::uint64_t seed, int n_jobs) {
    ClusterOptions opt = cluster_options(n_clusters, n_init, max_iter, tol, method);
    const ShuffleMethod how = parse_shuffle(shuffle);
    const std::vector<WeightView> views = weight_views(weights);
    return to_numpy(interruptible([&](const CancelToken& token) {
        opt.spectral.cancel = &token;
        return shuffled_ncuts(edges_from_weights(views), how, first, count, opt, seed,
                              resolve_threads(n_jobs));
    }));
}

// One shuffled network as dense signed matrices (a hook for tests and plots).
std::vector<py::array_t<double>> shuffled_network_py(const std::vector<py::array>& weights,
                                                     const std::string& shuffle,
                                                     std::uint64_t seed, std::uint64_t index) {
    const std::vector<WeightView> views = weight_views(weights);
    const std::vector<LayerEdges> layers =
        shuffle_network(edges_from_weights(views), parse_shuffle(shuffle), seed, index);
    std::vector<py::array_t<double>> out;
    for (const LayerEdges& e : layers) {
        py::array_t<double> w({static_cast<py::ssize_t>(e.rows), static_cast<py::ssize_t>(e.cols)});
        double* data = w.mutable_data();
        std::fill(data, data + e.rows * e.cols, 0.0);
        for (std::size_t k = 0; k < e.pos.size(); ++k) data[e.pos[k]] = e.val[k];
        out.push_back(w);
    }
    return out;
}

py::dict kmeans_py(const py::array_t<double, py::array::c_style | py::array::forcecast>& X, int k,
                   int n_init, int max_iter, std::uint64_t seed, int n_jobs) {
    if (X.ndim() != 2) throw std::invalid_argument("X must be 2-D");
    const Index n = X.shape(0), d = X.shape(1);
    const KMeansResult res = interruptible([&](const CancelToken& token) {
        return kmeans(X.data(), n, d, k, n_init, max_iter, seed, resolve_threads(n_jobs), &token);
    });
    py::dict out;
    out["labels"] = to_numpy(res.labels);
    py::array_t<double> centers({static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(d)});
    std::copy(res.centers.begin(), res.centers.end(), centers.mutable_data());
    out["centers"] = centers;
    out["inertia"] = res.inertia;
    out["n_iter"] = res.n_iter;
    return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "modcore's C++ core; use the modcore package, which validates inputs.";
    m.def("graph", &graph_py, py::arg("weights"));
    m.def("cluster", &cluster_py, py::arg("weights"), py::arg("n_clusters"), py::arg("n_init"),
          py::arg("max_iter"), py::arg("tol"), py::arg("method"), py::arg("seed"),
          py::arg("n_jobs"));
    m.def("ncut", &ncut_py, py::arg("weights"), py::arg("labels"));
    m.def("spectral_embedding", &embedding_py, py::arg("weights"), py::arg("n_clusters"),
          py::arg("tol"), py::arg("method"), py::arg("seed"));
    m.def("shuffled_ncuts", &shuffled_ncuts_py, py::arg("weights"), py::arg("shuffle"),
          py::arg("first"), py::arg("count"), py::arg("n_clusters"), py::arg("n_init"),
          py::arg("max_iter"), py::arg("tol"), py::arg("method"), py::arg("seed"),
          py::arg("n_jobs"));
    m.def("shuffled_network", &shuffled_network_py, py::arg("weights"), py::arg("shuffle"),
          py::arg("seed"), py::arg("index"));
    m.def("kmeans", &kmeans_py, py::arg("X"), py::arg("n_clusters"), py::arg("n_init"),
          py::arg("max_iter"), py::arg("seed"), py::arg("n_jobs"));
}
