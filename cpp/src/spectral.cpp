#include "modcore/spectral.hpp"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "modcore/rng.hpp"

namespace modcore {
namespace {

constexpr std::uint64_t kEigenStream = 0x5eed0e165ULL;
constexpr Index kDenseMaxNodes = 300;

// Known eigenvectors of N with eigenvalue 1: D^1/2 restricted to each component,
// here restricted to the node range [lo, lo + n) and normalized there.
struct Deflation {
    Index lo = 0, n = 0;
    int n_comp = 0;
    const std::int32_t* comp = nullptr;
    std::vector<double> u;
    mutable std::vector<double> coef;

    Deflation(const Graph& g, const std::vector<std::int32_t>& component, int n_components,
              Index lo_, Index n_)
        : lo(lo_), n(n_), n_comp(n_components), comp(component.data() + lo_), u(n_),
          coef(n_components) {
        std::vector<double> vol(n_comp, 0.0);
        for (Index i = 0; i < n; ++i) vol[comp[i]] += g.degree[lo + i];
        for (Index i = 0; i < n; ++i) u[i] = std::sqrt(g.degree[lo + i] / vol[comp[i]]);
    }

    // x <- x - U U^T x; the supports of U's columns are disjoint, so O(n).
    void project(double* x) const {
        std::fill(coef.begin(), coef.end(), 0.0);
        for (Index i = 0; i < n; ++i) coef[comp[i]] += u[i] * x[i];
        for (Index i = 0; i < n; ++i) x[i] -= coef[comp[i]] * u[i];
    }
};

// Edge values of N = D^-1/2 A D^-1/2, aligned with g.weights.
std::vector<double> normalized_values(const Graph& g) {
    std::vector<double> inv_sqrt(g.n_nodes);
    for (Index i = 0; i < g.n_nodes; ++i) inv_sqrt[i] = 1.0 / std::sqrt(g.degree[i]);
    std::vector<double> nval(g.weights.size());
    for (Index i = 0; i < g.n_nodes; ++i)
        for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p)
            nval[p] = g.weights[p] * inv_sqrt[i] * inv_sqrt[g.indices[p]];
    return nval;
}

// y = sum over rows r in [lo, lo + n) of N[r, :] x, where x lives on [xlo, ...).
void csr_rows_times(const Graph& g, const std::vector<double>& nval, Index lo, Index n,
                    Index xlo, const double* x, double* y) {
    for (Index r = 0; r < n; ++r) {
        double s = 0.0;
        for (Index p = g.indptr[lo + r]; p < g.indptr[lo + r + 1]; ++p)
            s += nval[p] * x[g.indices[p] - xlo];
        y[r] = s;
    }
}

// Shared by both Lanczos operators: y = P Op P x - 2 (I - P) x, which keeps the
// spectrum of Op on the complement of the known vectors and sends those to -2,
// below everything Lanczos is asked for.
template <class Derived>
struct DeflatedOp {
    using Scalar = double;
    const Deflation& defl;
    const CancelToken* cancel;
    mutable std::vector<double> px;

    DeflatedOp(const Deflation& d, const CancelToken* c) : defl(d), cancel(c), px(d.n) {}
    Index rows() const { return defl.n; }
    Index cols() const { return defl.n; }

    void perform_op(const double* x, double* y) const {
        check_cancel(cancel);
        std::copy(x, x + defl.n, px.begin());
        defl.project(px.data());
        static_cast<const Derived*>(this)->apply(px.data(), y);
        defl.project(y);
        for (Index i = 0; i < defl.n; ++i) y[i] -= 2.0 * (x[i] - px[i]);
    }
};

// C C^T on side S with C = N[S, T]: eigenvalues sigma^2 of the bipartite spectrum.
struct BipartiteOp : DeflatedOp<BipartiteOp> {
    const Graph& g;
    const std::vector<double>& nval;
    Index s_lo, t_lo, t_n;
    mutable std::vector<double> z;

    BipartiteOp(const Deflation& d, const CancelToken* c, const Graph& g_,
                const std::vector<double>& nv, Index t_lo_, Index t_n_)
        : DeflatedOp(d, c), g(g_), nval(nv), s_lo(d.lo), t_lo(t_lo_), t_n(t_n_), z(t_n_) {}

    void apply(const double* x, double* y) const {
        csr_rows_times(g, nval, t_lo, t_n, s_lo, x, z.data());
        csr_rows_times(g, nval, s_lo, defl.n, t_lo, z.data(), y);
    }
};

struct FullOp : DeflatedOp<FullOp> {
    const Graph& g;
    const std::vector<double>& nval;

    FullOp(const Deflation& d, const CancelToken* c, const Graph& g_,
           const std::vector<double>& nv)
        : DeflatedOp(d, c), g(g_), nval(nv) {}

    void apply(const double* x, double* y) const { csr_rows_times(g, nval, 0, defl.n, 0, x, y); }
};

// Top-nev eigenpairs by restarted Lanczos; a wider Krylov space is tried before
// giving up, and fewer converged vectors than asked is an error, never a result.
template <class Op>
void lanczos(Op& op, int nev, std::uint64_t seed, const SpectralOptions& opt,
             Eigen::VectorXd& evals, Eigen::MatrixXd& evecs) {
    const Index n = op.rows();
    Rng rng(seed, kEigenStream);
    std::vector<double> v0(n);
    for (auto& v : v0) v = rng.uniform() - 0.5;
    op.defl.project(v0.data());

    Index ncv = std::min<Index>(n, std::max<Index>(2 * nev + 1, 20));
    for (int attempt = 0; attempt < 3; ++attempt) {
        Spectra::SymEigsSolver<Op> eigs(op, nev, ncv);
        eigs.init(v0.data());
        const Index nconv = eigs.compute(Spectra::SortRule::LargestAlge, opt.max_restarts,
                                         opt.tol, Spectra::SortRule::LargestAlge);
        if (eigs.info() == Spectra::CompInfo::Successful && nconv >= nev) {
            evals = eigs.eigenvalues();
            evecs = eigs.eigenvectors();
            return;
        }
        if (ncv == n) break;
        ncv = std::min<Index>(n, 2 * ncv);
    }
    throw std::runtime_error("Lanczos eigensolver did not converge for " + std::to_string(nev) +
                             " eigenvectors of a " + std::to_string(n) +
                             "-node operator; try a larger tol");
}

// Full eigendecomposition of the deflated N, for graphs too small for Lanczos.
void dense_eigs(const Graph& g, const std::vector<double>& nval, const Deflation& defl,
                int nev, Eigen::VectorXd& evals, Eigen::MatrixXd& evecs) {
    const Index n = g.n_nodes;
    FullOp op(defl, nullptr, g, nval);
    Eigen::MatrixXd dense(n, n);
    Eigen::VectorXd e = Eigen::VectorXd::Zero(n);
    for (Index j = 0; j < n; ++j) {
        e[j] = 1.0;
        op.perform_op(e.data(), dense.col(j).data());
        e[j] = 0.0;
    }
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(0.5 * (dense + dense.transpose()));
    if (solver.info() != Eigen::Success)
        throw std::runtime_error("dense eigendecomposition failed");
    evals.resize(nev);
    evecs.resize(n, nev);
    for (int j = 0; j < nev; ++j) {  // Eigen sorts ascending
        evals[j] = solver.eigenvalues()[n - 1 - j];
        evecs.col(j) = solver.eigenvectors().col(n - 1 - j);
    }
}

EigenMethod choose_method(const Graph& g, int nev, int n_components, EigenMethod asked) {
    const Index small_side = std::min(g.n_side0, g.n_nodes - g.n_side0);
    // Lanczos needs a Krylov space comfortably larger than nev inside the deflated space.
    const bool bipartite_ok = g.bipartite && small_side - n_components > nev + 20;
    const bool full_ok = g.n_nodes - n_components > nev + 20;
    if (asked == EigenMethod::Auto) {
        if (g.n_nodes <= kDenseMaxNodes) return EigenMethod::Dense;
        if (bipartite_ok) return EigenMethod::Bipartite;
        return full_ok ? EigenMethod::Full : EigenMethod::Dense;
    }
    if (asked == EigenMethod::Bipartite && !g.bipartite)
        throw std::invalid_argument(
            "eigen_method 'bipartite' needs a bipartite network (groups that 2-colour with "
            "every block joining two colours); this one is not: use 'auto' or 'full'");
    if ((asked == EigenMethod::Bipartite && !bipartite_ok) || (asked == EigenMethod::Full && !full_ok))
        throw std::invalid_argument("graph too small for the requested Lanczos method");
    return asked;
}

}  // namespace

Embedding spectral_embedding(const Graph& g, int k, std::uint64_t seed,
                             const SpectralOptions& opt) {
    if (k < 1 || k > g.n_nodes)
        throw std::invalid_argument("n_clusters must be between 1 and the number of live neurons (" +
                                    std::to_string(g.n_nodes) + "), got " + std::to_string(k));
    Embedding emb;
    emb.n_rows = g.n_nodes;
    emb.component = connected_components(g, emb.n_components);
    const int c = emb.n_components;
    if (c >= k) {
        emb.eigenvalues.assign(k, 1.0);
        return emb;
    }
    const int nev = k - c;
    const std::vector<double> nval = normalized_values(g);
    const EigenMethod method = choose_method(g, nev, c, opt.method);
    emb.method = method;

    // Columns of x: eigenvectors of N over all nodes, before the D^-1/2 scaling.
    Eigen::MatrixXd x(g.n_nodes, nev);
    Eigen::VectorXd evals;
    if (method == EigenMethod::Bipartite) {
        const bool even_small = g.n_side0 <= g.n_nodes - g.n_side0;
        const Index s_lo = even_small ? 0 : g.n_side0;
        const Index s_n = even_small ? g.n_side0 : g.n_nodes - g.n_side0;
        const Index t_lo = even_small ? g.n_side0 : 0;
        const Index t_n = g.n_nodes - s_n;
        Deflation defl(g, emb.component, c, s_lo, s_n);
        BipartiteOp op(defl, opt.cancel, g, nval, t_lo, t_n);
        Eigen::MatrixXd u;
        Eigen::VectorXd sigma2;
        lanczos(op, nev, seed, opt, sigma2, u);
        evals.resize(nev);
        std::vector<double> v(t_n);
        for (int j = 0; j < nev; ++j) {
            const double sigma = std::sqrt(std::max(sigma2[j], 0.0));
            evals[j] = sigma;
            csr_rows_times(g, nval, t_lo, t_n, s_lo, u.col(j).data(), v.data());
            // [u; C^T u / sigma] / sqrt(2) is N's eigenvector for +sigma; at sigma = 0
            // [u; 0] is an exact null vector of N instead.
            const double su = sigma > 1e-12 ? std::sqrt(0.5) : 1.0;
            const double sv = sigma > 1e-12 ? std::sqrt(0.5) / sigma : 0.0;
            for (Index i = 0; i < s_n; ++i) x(s_lo + i, j) = su * u(i, j);
            for (Index i = 0; i < t_n; ++i) x(t_lo + i, j) = sv * v[i];
        }
    } else {
        Deflation defl(g, emb.component, c, 0, g.n_nodes);
        Eigen::MatrixXd vecs;
        if (method == EigenMethod::Full) {
            FullOp op(defl, opt.cancel, g, nval);
            lanczos(op, nev, seed, opt, evals, vecs);
        } else {
            dense_eigs(g, nval, defl, nev, evals, vecs);
        }
        x = vecs;
    }

    // Component indicators first (eigenvalue 1), then the computed vectors.
    emb.dim = k;
    emb.rows.assign(static_cast<std::size_t>(g.n_nodes) * k, 0.0);
    std::vector<double> comp_vol(c, 0.0);
    for (Index i = 0; i < g.n_nodes; ++i) comp_vol[emb.component[i]] += g.degree[i];
    for (Index i = 0; i < g.n_nodes; ++i) {
        double* row = &emb.rows[static_cast<std::size_t>(i) * k];
        const double inv_sqrt_d = 1.0 / std::sqrt(g.degree[i]);
        row[emb.component[i]] = 1.0 / std::sqrt(comp_vol[emb.component[i]]);
        for (int j = 0; j < nev; ++j) row[c + j] = x(i, j) * inv_sqrt_d;
    }
    // Deterministic signs (as scikit-learn): the largest |entry| of each column positive.
    for (int j = c; j < k; ++j) {
        Index arg = 0;
        for (Index i = 1; i < g.n_nodes; ++i)
            if (std::fabs(emb.rows[i * k + j]) > std::fabs(emb.rows[arg * k + j])) arg = i;
        if (emb.rows[arg * k + j] < 0)
            for (Index i = 0; i < g.n_nodes; ++i) emb.rows[i * k + j] = -emb.rows[i * k + j];
    }
    emb.eigenvalues.assign(c, 1.0);
    for (int j = 0; j < nev; ++j) emb.eigenvalues.push_back(evals[j]);
    return emb;
}

}  // namespace modcore
