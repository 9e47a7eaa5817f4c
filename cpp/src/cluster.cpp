#include "modcore/cluster.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "modcore/cluster_qr.hpp"
#include "modcore/kmeans.hpp"
#include "modcore/modularity.hpp"
#include "modcore/module_sums.hpp"
#include "modcore/ncut.hpp"
#include "modcore/refine.hpp"
#include "modcore/rng.hpp"

namespace modcore {
namespace {

constexpr std::uint64_t kKMeansStream = 0x6b6d65616e73ULL;
constexpr int kMaxRefinePasses = 100;

// k or more components: every union of components has n-cut 0, and the
// eigenvalue-1 space is degenerate, so instead of an arbitrary basis the
// components are spread over the k modules by volume (largest first into the
// lightest module), which keeps all k modules non-empty and the result exact.
std::vector<std::int32_t> pack_components(const Graph& g, const Embedding& emb, int k) {
    std::vector<double> vol(emb.n_components, 0.0);
    for (Index i = 0; i < g.n_nodes; ++i) vol[emb.component[i]] += g.degree[i];
    std::vector<int> order(emb.n_components);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return vol[a] > vol[b]; });
    std::vector<double> load(k, 0.0);
    std::vector<std::int32_t> module_of(emb.n_components);
    for (int c : order) {
        const int m = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
        module_of[c] = m;
        load[m] += vol[c];
    }
    std::vector<std::int32_t> labels(g.n_nodes);
    for (Index i = 0; i < g.n_nodes; ++i) labels[i] = module_of[emb.component[i]];
    return labels;
}

// Modules renumbered by value: by volume, largest first (on a grid of 1e-12 of
// the total, so volumes equal but for rounding tie), then by size, then by the
// weight inside; the old number decides only between modules equal in all three.
// So a relabelled network gets the same module numbers.
void number_modules(const Graph& g, std::int32_t* labels, int k) {
    const ModuleSums s = module_sums(g, labels, k);
    std::vector<Index> size(k, 0);
    for (Index i = 0; i < g.n_nodes; ++i) ++size[labels[i]];
    double total = 0.0;
    for (double v : s.vol) total += v;
    const double grid = total > 0.0 ? 1e12 / total : 0.0;
    auto on_grid = [&](double v) { return std::llround(v * grid); };
    std::vector<std::int32_t> order(k);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
        if (on_grid(s.vol[a]) != on_grid(s.vol[b])) return on_grid(s.vol[a]) > on_grid(s.vol[b]);
        if (size[a] != size[b]) return size[a] > size[b];
        return on_grid(s.inside[a]) > on_grid(s.inside[b]);
    });
    std::vector<std::int32_t> number(k);
    for (int m = 0; m < k; ++m) number[order[m]] = m;
    for (Index i = 0; i < g.n_nodes; ++i) labels[i] = number[labels[i]];
}

}  // namespace

ClusterResult cluster_graph(const Graph& g, const ClusterOptions& opt, std::uint64_t seed,
                            int n_threads) {
    const int k = opt.n_clusters;
    if (k < 2 || k > g.n_nodes)
        throw std::invalid_argument("n_clusters must be between 2 and the number of live neurons (" +
                                    std::to_string(g.n_nodes) + "), got " + std::to_string(k));
    const Embedding emb = spectral_embedding(g, k, opt.spectral, n_threads);
    return cluster_embedding(g, emb, k, opt, seed, n_threads);
}

ClusterResult cluster_embedding(const Graph& g, const Embedding& emb, int k,
                                const ClusterOptions& opt, std::uint64_t seed, int n_threads) {
    if (k < 2 || k > g.n_nodes || emb.n_rows != g.n_nodes ||
        static_cast<int>(emb.eigenvalues.size()) < k || (emb.n_components < k && emb.dim < k))
        throw std::invalid_argument("cluster_embedding: k=" + std::to_string(k) +
                                    " does not fit the graph or the embedding");
    ClusterResult res;
    res.eigenvalues.assign(emb.eigenvalues.begin(), emb.eigenvalues.begin() + k);
    res.n_components = emb.n_components;
    if (emb.n_components >= k) {
        res.labels = pack_components(g, emb, k);
    } else {
        res.method = emb.method;
        // The first k columns, contiguous (a copy only when the embedding is wider).
        std::vector<double> narrow;
        const double* x = emb.rows.data();
        if (emb.dim > k) {
            narrow = embedding_columns(g, emb, k);
            x = narrow.data();
        }
        if (opt.assign_labels == AssignLabels::ClusterQR) {
            res.labels = cluster_qr(x, emb.n_rows, k, g.key.data());
        } else {
            // By n-cut, every restart is refined before it is scored; by inertia
            // (computed before any refinement) only the kept one needs to be.
            RestartScore score;
            if (opt.select_by == SelectBy::Ncut)
                score = [&](KMeansResult& run) {
                    if (opt.refine) refine_ncut(g, run.labels.data(), k, kMaxRefinePasses);
                    return ncut(g, run.labels.data(), k);
                };
            Rng mix(seed, kKMeansStream);
            KMeansResult km = kmeans(x, emb.n_rows, k, k, opt.n_init, opt.max_iter, mix.next(),
                                     n_threads, opt.spectral.cancel, score);
            res.labels = std::move(km.labels);
            res.inertia = km.inertia;
        }
        // A refinement that has converged makes no move, so this is a no-op after
        // the restarts' own refinement.
        if (opt.refine) refine_ncut(g, res.labels.data(), k, kMaxRefinePasses);
    }
    number_modules(g, res.labels.data(), k);
    res.ncut = ncut(g, res.labels.data(), k);
    res.modularity = modularity(g, res.labels.data(), k);
    return res;
}

}  // namespace modcore
