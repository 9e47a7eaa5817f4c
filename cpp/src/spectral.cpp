#include "modcore/spectral.hpp"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Spectra/SymEigsSolver.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "modcore/csr.hpp"
#include "modcore/pivot.hpp"
#include "modcore/rng.hpp"
#include "modcore/team.hpp"

namespace modcore {
namespace {

constexpr std::uint64_t kTwinStream = 0x7477696e73ULL;  // start-vector noise of twin units
constexpr std::uint64_t kCheckStream = 0x636865636bULL;  // start vector of the missed-pair check
// Eigenvalues of N closer than this are one repeated eigenvalue (the dense
// solvers' errors are ~1e-15; eigenvectors of eigenvalues this close are not
// determined by the graph to the precision results are compared at).
constexpr double kRepeated = 1e-9;
// "auto" decomposes graphs up to this size densely (faster than Lanczos there).
constexpr Index kDenseAutoNodes = 300;
// Below this singular value a bipartite eigenvector is a null vector of N.
constexpr double kZeroSigma = 1e-7;

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

// The Lanczos start vector on nodes [lo, lo + n): a value per unit drawn from its
// order-free key (graph.hpp), so a relabelled graph starts from the relabelled
// vector, runs the same iteration up to rounding, and converges to the same
// vectors. Units that share a key (twins an automorphism exchanges) would get
// equal entries, and a Krylov space of such vectors misses every eigenvector that
// tells twins apart; they get a small extra entry from their index, which moves
// only the basis chosen inside eigenspaces that the symmetry makes repeated.
std::vector<double> start_vector(const Graph& g, Index lo, Index n, std::uint64_t salt = 0) {
    std::vector<double> v(n);
    std::vector<std::uint64_t> sorted(g.key.begin() + lo, g.key.begin() + lo + n);
    std::sort(sorted.begin(), sorted.end());
    for (Index i = 0; i < n; ++i) {
        const std::uint64_t key = g.key[lo + i];
        std::uint64_t state = key ^ salt;
        v[i] = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 - 0.5;
        const auto range = std::equal_range(sorted.begin(), sorted.end(), key);
        if (range.second - range.first > 1)
            v[i] += 1e-3 * (Rng(lo + i, kTwinStream).uniform() - 0.5);
    }
    return v;
}

// The Lanczos start vector on nodes [lo, lo + n): start_vector, or, when `warm`
// (a vector over all nodes) is given, its segment there (normalized) plus 1e-6 of
// start_vector (normalized). A warm vector is the sum of a nearby graph's
// eigenvectors (the previous training step's), so the Krylov space starts almost
// inside the wanted subspace; the small start_vector part keeps every other
// direction in reach when the subspace has moved (and Lanczos from an exactly
// invariant start from breaking down).
std::vector<double> start_from(const Graph& g, Index lo, Index n, const std::vector<double>* warm) {
    std::vector<double> v = start_vector(g, lo, n);
    if (warm == nullptr) return v;
    double warm_norm = 0.0, v_norm = 0.0;
    for (Index i = 0; i < n; ++i) {
        warm_norm += (*warm)[lo + i] * (*warm)[lo + i];
        v_norm += v[i] * v[i];
    }
    if (!(warm_norm > 0.0) || !std::isfinite(warm_norm) || !(v_norm > 0.0)) return v;
    const double a = 1.0 / std::sqrt(warm_norm), b = 1e-6 / std::sqrt(v_norm);
    for (Index i = 0; i < n; ++i) v[i] = a * (*warm)[lo + i] + b * v[i];
    return v;
}

// r orthonormal vectors spanning an r-dimensional subspace of range(P), for an
// orthogonal projector P on R^n given by its diagonal and by column(i, v), which
// writes P e_i: Gram-Schmidt on P's columns, the column with the largest
// remaining norm first (a column-pivoted QR of P, as cluster_qr picks its units).
// The subspace depends on P alone, not on any basis of its range, and a
// relabelled P gives the relabelled subspace (ties by value, pivot.hpp). False
// when range(P) is too small.
template <class Column>
bool pivoted_span(Index n, int r, Eigen::VectorXd left, const Column& column,
                  const std::uint64_t* key, Eigen::MatrixXd& q) {
    q.resize(n, r);
    Eigen::VectorXd v(n);
    for (int t = 0; t < r; ++t) {
        const Index i = pick_pivot(left, key, n);
        if (!(left[i] > 1e-8)) return false;
        column(i, v);
        const auto done = q.leftCols(t);
        for (int pass = 0; pass < 2; ++pass) v -= done * (done.transpose() * v);
        const double norm = v.norm();
        if (!(norm > 1e-6)) return false;
        q.col(t) = v / norm;
        left -= q.col(t).cwiseAbs2();  // q_t lies in range(P): q_t . P e_j = q_t[j]
    }
    return true;
}

// evals (descending) and x's columns, at least nev, cut to nev. Where the nev-th
// eigenvalue is repeated past the cut-off (within kRepeated), which of its
// eigenvectors came first is the solver's accident: the cluster's columns among
// the first nev become a canonical basis (pivoted_span) of a subspace of the
// cluster's eigenspace, which x must hold whole. Repeats inside the first nev
// need nothing: cluster_qr and k-means do not depend on the basis of the span.
void cut_at(Eigen::VectorXd& evals, Eigen::MatrixXd& x, int nev, const std::uint64_t* key) {
    const Index m = evals.size();
    const double cut = evals[nev - 1];
    Index lo = nev - 1, hi = nev;
    while (lo > 0 && evals[lo - 1] - cut <= kRepeated) --lo;
    while (hi < m && cut - evals[hi] <= kRepeated) ++hi;
    if (hi > nev) {
        const Eigen::MatrixXd e = x.middleCols(lo, hi - lo);
        Eigen::MatrixXd q;
        const bool ok = pivoted_span(
            x.rows(), static_cast<int>(nev - lo), e.rowwise().squaredNorm(),
            [&](Index i, Eigen::VectorXd& v) { v.noalias() = e * e.row(i).transpose(); }, key, q);
        if (ok) x.middleCols(lo, nev - lo) = q;
    }
    evals.conservativeResize(nev);
    x.conservativeResize(Eigen::NoChange, nev);
}

// N = D^-1/2 A D^-1/2, row by row. N's entries are kept for the rows below
// `stored_rows`: all rows of a small graph (the fastest product); of a large one
// (opt.large_graph edges or more) the rows holding half its entries (a bipartite
// graph's colour-0 side), so that it costs 8 bytes an edge instead of 16, and
// the other rows form theirs in each product from the weights and D^-1/2, with
// the same bits. A large graph's rows are split among n_threads threads (each
// row summed by one thread, so the result does not depend on their number).
class NormalizedAdjacency {
public:
    NormalizedAdjacency(const Graph& g, const SpectralOptions& opt, int n_threads)
        : g_(g), inv_sqrt_(g.n_nodes), stored_rows_(g.n_nodes) {
        for (Index i = 0; i < g.n_nodes; ++i) inv_sqrt_[i] = 1.0 / std::sqrt(g.degree[i]);
        if (g.n_edges() >= opt.large_graph) {
            if (n_threads > 1) team_ = std::make_unique<Team>(n_threads);
            stored_rows_ = g.bipartite ? g.n_side0 : row_at(0, g.n_nodes, g.n_edges());
        }
        values_.resize(g.indptr[stored_rows_]);
        for (Index i = 0; i < stored_rows_; ++i)
            for (Index p = g.indptr[i]; p < g.indptr[i + 1]; ++p)
                values_[p] = g.weights[p] * inv_sqrt_[i] * inv_sqrt_[g.indices[p]];
    }

    // y = rows [lo, lo + n) of N times x, where x lives on [xlo, ...).
    void rows_times(Index lo, Index n, Index xlo, const double* x, double* y) const {
        // Rows [begin, end) relative to lo, the kept ones and the formed ones apart.
        auto rows = [&](Index begin, Index end) {
            const Index mid = std::clamp(stored_rows_ - lo, begin, end);
            product(g_, values_.data(), nullptr, lo, begin, mid, xlo, x, y);
            product(g_, g_.weights.data(), inv_sqrt_.data(), lo, mid, end, xlo, x, y);
        };
        if (!team_) return rows(0, n);
        // Contiguous row ranges of about equal entries, a few per thread.
        const int parts = static_cast<int>(std::min<Index>(kPartsPerThread * team_->size(), n));
        const Index total = g_.indptr[lo + n] - g_.indptr[lo];
        auto split = [&](int t) { return t == parts ? n : row_at(lo, n, total * t / parts); };
        team_->run(parts, [&](int t) { rows(split(t), split(t + 1)); });
    }

private:
    static constexpr int kPartsPerThread = 4;

    // The first row r in [0, n] (relative to lo) with at least `entries` entries in rows [lo, lo + r).
    Index row_at(Index lo, Index n, Index entries) const {
        const Index* first = g_.indptr.data() + lo;
        return static_cast<Index>(std::lower_bound(first, first + n, first[0] + entries) - first);
    }

    static void product(const Graph& g, const double* val, const double* scale, Index lo,
                        Index begin, Index end, Index xlo, const double* x, double* y) {
        if (end > begin)
            csr_rows_times(g.indptr.data(), g.indices.data(), val, scale, lo + begin, end - begin,
                           static_cast<std::int32_t>(xlo), x, y + begin);
    }

    const Graph& g_;
    std::vector<double> inv_sqrt_;
    Index stored_rows_;           // N's entries kept for rows [0, stored_rows_)
    std::vector<double> values_;  // those entries, aligned with g.weights
    std::unique_ptr<Team> team_;  // a large graph's threads, when more than one
};

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
    const NormalizedAdjacency& na;
    Index s_lo, t_lo, t_n;
    mutable std::vector<double> z;

    BipartiteOp(const Deflation& d, const CancelToken* c, const NormalizedAdjacency& na_,
                Index t_lo_, Index t_n_)
        : DeflatedOp(d, c), na(na_), s_lo(d.lo), t_lo(t_lo_), t_n(t_n_), z(t_n_) {}

    void apply(const double* x, double* y) const {
        na.rows_times(t_lo, t_n, s_lo, x, z.data());
        na.rows_times(s_lo, defl.n, t_lo, z.data(), y);
    }
};

struct FullOp : DeflatedOp<FullOp> {
    const NormalizedAdjacency& na;

    FullOp(const Deflation& d, const CancelToken* c, const NormalizedAdjacency& na_)
        : DeflatedOp(d, c), na(na_) {}

    void apply(const double* x, double* y) const { na.rows_times(0, defl.n, 0, x, y); }
};

// Whether (evals, evecs) are nev eigenpairs of op: finite values in [lo, 1], unit
// vectors, small residuals. Spectra can report success on a Krylov space that
// broke down (eigenvalues of 1e142 were seen on a star-like graph).
template <class Op>
bool plausible(const Op& op, const Eigen::VectorXd& evals, const Eigen::MatrixXd& evecs, double lo,
               double tol) {
    const double slack = std::max(std::sqrt(tol), 1e-6);
    Eigen::VectorXd y(op.rows());
    for (Index j = 0; j < evals.size(); ++j) {
        const double lam = evals[j];
        if (!(lam >= lo - slack && lam <= 1.0 + slack)) return false;  // NaN fails too
        if (!(std::fabs(evecs.col(j).norm() - 1.0) <= slack)) return false;
        op.perform_op(evecs.col(j).data(), y.data());
        if (!((y - lam * evecs.col(j)).norm() <= slack)) return false;
    }
    return true;
}

// Spectra's compute, largest algebraic first: the pairs that converged, 0 where its
// tridiagonal solve failed ("TridiagEigen: eigen decomposition failed"); a
// cancellation goes through.
template <class Solver>
Index converged(Solver& eigs, const SpectralOptions& opt) {
    try {
        return eigs.compute(Spectra::SortRule::LargestAlge, opt.max_restarts, opt.tol,
                            Spectra::SortRule::LargestAlge);
    } catch (const Cancelled&) {
        throw;
    } catch (const std::runtime_error&) {
        return 0;
    }
}

// op with the columns of q (orthonormal eigenvectors of op) sent to -2 as well,
// below everything asked for: its top eigenpairs are the ones q does not hold.
template <class Op>
struct Remainder {
    using Scalar = double;
    const Op& op;
    const Eigen::MatrixXd& q;
    mutable Eigen::VectorXd px;

    Remainder(const Op& op_, const Eigen::MatrixXd& q_) : op(op_), q(q_), px(op_.rows()) {}
    Index rows() const { return op.rows(); }
    Index cols() const { return op.rows(); }

    void perform_op(const double* x, double* y) const {
        const Eigen::Map<const Eigen::VectorXd> xv(x, rows());
        Eigen::Map<Eigen::VectorXd> yv(y, rows());
        px.noalias() = xv - q * (q.transpose() * xv);
        op.perform_op(px.data(), y);
        yv -= q * (q.transpose() * yv);
        yv -= 2.0 * (xv - px);
    }
};

// Lanczos converges to the eigenvectors its start vector has weight on; one with
// almost none can be passed over, and the found set then holds a smaller
// eigenvalue in its place (seen: 0.27160 returned as the 12th of the reference
// net's jittered copy, 0.27355 missed), and it finds one vector of a repeated
// eigenvalue. So the top eigenpair of op without the found vectors is solved
// for, from another start vector: while it lies at or above the nev-th found
// eigenvalue (within kRepeated: a repeat, which cut_at then resolves), it joins
// the set, which is sorted again. Returns false when a check did not converge.
template <class Op>
bool complete(const Op& op, int nev, std::vector<double> v0, const SpectralOptions& opt,
              Eigen::VectorXd& evals, Eigen::MatrixXd& evecs) {
    const Index n = op.rows();
    for (Index extra = 0; evecs.cols() < n - 1; ++extra) {
        if (extra >= kMaxLanczosVectors) return false;
        Remainder<Op> rem(op, evecs);
        std::vector<double> start = v0;
        Eigen::Map<Eigen::VectorXd> sv(start.data(), n);
        sv -= evecs * (evecs.transpose() * sv);
        Spectra::SymEigsSolver<Remainder<Op>> eigs(rem, 1, std::min<Index>(n, 20));
        eigs.init(start.data());
        const Index nconv = converged(eigs, opt);
        if (eigs.info() != Spectra::CompInfo::Successful || nconv < 1) return false;
        const double mu = eigs.eigenvalues()[0];
        if (mu < evals[nev - 1] - kRepeated) return true;
        // Insert (mu, its vector) in descending order.
        const Index m = evals.size();
        Index at = 0;
        while (at < m && evals[at] >= mu) ++at;
        Eigen::VectorXd e(m + 1);
        Eigen::MatrixXd x(n, m + 1);
        e << evals.head(at), mu, evals.tail(m - at);
        x << evecs.leftCols(at), eigs.eigenvectors().col(0), evecs.rightCols(m - at);
        evals.swap(e);
        evecs.swap(x);
    }
    return true;
}

// Top-nev eigenpairs by restarted Lanczos (eigenvalues in [lo, 1]); a wider
// Krylov space is tried before giving up. Returns false when no attempt gave nev
// checked pairs: Lanczos finds one vector per distinct eigenvalue, so a repeated
// eigenvalue among the wanted ones (a star-like graph's many exact zeros) stalls
// it, and Spectra's tridiagonal solve then fails or returns garbage.
template <class Op>
bool lanczos(Op& op, int nev, double lo, std::vector<double> v0, std::vector<double> check0,
             const SpectralOptions& opt, Eigen::VectorXd& evals, Eigen::MatrixXd& evecs) {
    const Index n = op.rows();
    op.defl.project(v0.data());

    // Measured on the reference net (k = 12, tol 1e-5): 2 * nev + 8 = 30 vectors take
    // 93 products, the usual 2 * nev + 1 = 23 take 100, 40 take 94.
    Index ncv = std::min<Index>(n, std::max<Index>(2 * nev + 8, 20));
    for (int attempt = 0; attempt < 3; ++attempt) {
        bool found = false;
        {  // the solver's ncv Lanczos vectors are freed before complete() makes its own
            Spectra::SymEigsSolver<Op> eigs(op, nev, ncv);
            eigs.init(v0.data());
            const Index nconv = converged(eigs, opt);
            if (eigs.info() == Spectra::CompInfo::Successful && nconv >= nev) {
                evals = eigs.eigenvalues();
                evecs = eigs.eigenvectors();
                found = plausible(op, evals, evecs, lo, opt.tol);
            }
        }
        if (found)
            return complete(op, nev, check0, opt, evals, evecs) &&
                   plausible(op, evals, evecs, lo, opt.tol);
        if (ncv == n) break;
        ncv = std::min<Index>(n, 2 * ncv);
    }
    return false;
}

// All eigenpairs of op (ascending), from its dense matrix built one product at a
// time (each polls the cancel token; Eigen's solver below cannot, hence the
// size limit kDenseMaxNodes on every caller).
template <class Op>
Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> dense_solve(const Op& op) {
    const Index n = op.rows();
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
    return solver;
}

std::string too_big_for_dense(Index n) {
    return std::to_string(n) + " connected units are too many for a dense eigendecomposition "
           "(at most " + std::to_string(kDenseMaxNodes) + ": it cannot be interrupted and grows "
           "as n^3, about 30 s at 3,000)";
}

// Full eigendecomposition of the deflated N; top nev pairs (cut_at).
void solve_dense(const Graph& g, const NormalizedAdjacency& na, const Embedding& emb, int nev,
                 const SpectralOptions& opt, Eigen::VectorXd& evals, Eigen::MatrixXd& x) {
    Deflation defl(g, emb.component, emb.n_components, 0, g.n_nodes);
    const FullOp op(defl, opt.cancel, na);
    const auto solver = dense_solve(op);
    const Index m = g.n_nodes - emb.n_components;  // the deflated vectors sit at -2, below these
    evals = solver.eigenvalues().tail(m).reverse();  // Eigen sorts ascending
    x = solver.eigenvectors().rightCols(m).rowwise().reverse();
    cut_at(evals, x, nev, g.key.data());
}

bool solve_full(const Graph& g, const NormalizedAdjacency& na, const Embedding& emb, int nev,
                const SpectralOptions& opt, Eigen::VectorXd& evals, Eigen::MatrixXd& x,
                const std::vector<double>* warm = nullptr) {
    Deflation defl(g, emb.component, emb.n_components, 0, g.n_nodes);
    FullOp op(defl, opt.cancel, na);
    if (!lanczos(op, nev, -1.0, start_from(g, 0, g.n_nodes, warm),
                 start_vector(g, 0, g.n_nodes, kCheckStream), opt, evals, x))
        return false;
    cut_at(evals, x, nev, g.key.data());
    return true;
}

// The top nev eigenpairs of N of a bipartite graph, from C C^T on the smaller
// side S (eigenvalues sigma^2): the pairs [u; C^T u / sigma] / sqrt(2) for
// sigma > 0 first (cut_at: a sigma repeated past the cut-off gets a canonical
// basis), then null vectors of N. C C^T is solved by Lanczos when S is large
// enough, else (or when Lanczos fails) densely: a star-like graph (a layer with
// one live unit) has a tiny S and a huge null space, which Lanczos cannot
// resolve. Returns false when neither applies or the wanted vectors reach below 0.
bool solve_bipartite(const Graph& g, const NormalizedAdjacency& na, const Embedding& emb,
                     int nev, const SpectralOptions& opt, Eigen::VectorXd& evals,
                     Eigen::MatrixXd& x, const std::vector<double>* warm = nullptr) {
    const int c = emb.n_components;
    // The smaller side; at equal sizes the one with the larger sum of unit keys, so
    // the choice does not follow the order of groups (a chain read backwards).
    std::uint64_t key_sum[2] = {0, 0};
    for (Index i = 0; i < g.n_nodes; ++i) key_sum[i >= g.n_side0] += g.key[i];
    const bool even_small = g.n_side0 != g.n_nodes - g.n_side0
                                ? g.n_side0 < g.n_nodes - g.n_side0
                                : key_sum[0] >= key_sum[1];
    const Index s_lo = even_small ? 0 : g.n_side0;
    const Index s_n = even_small ? g.n_side0 : g.n_nodes - g.n_side0;
    const Index t_lo = even_small ? g.n_side0 : 0;
    const Index t_n = g.n_nodes - s_n;
    Deflation defl(g, emb.component, c, s_lo, s_n);
    BipartiteOp op(defl, opt.cancel, na, t_lo, t_n);
    Eigen::MatrixXd u;
    Eigen::VectorXd sigma2;
    const bool lanczos_ok = s_n - c > nev + 20 && nev <= kMaxLanczosVectors;
    if (!(lanczos_ok && lanczos(op, nev, 0.0, start_from(g, s_lo, s_n, warm),
                                start_vector(g, s_lo, s_n, kCheckStream), opt, sigma2, u))) {
        if (s_n > kDenseMaxNodes) return false;
        const auto solver = dense_solve(op);
        const Index m = s_n - c;  // the deflated component vectors sit at -2, below these
        sigma2 = solver.eigenvalues().tail(m).reverse();
        u = solver.eigenvectors().rightCols(m).rowwise().reverse();
    }

    // The +sigma pairs: the wanted ones and those tied with the last wanted one.
    // Their S and T parts, u and v = C^T u / sigma, span the row spaces of C^T
    // and C beside the components.
    std::vector<double> sigma;
    Eigen::MatrixXd v_all(t_n, sigma2.size());
    Eigen::VectorXd v(t_n);
    for (Index i = 0; i < sigma2.size(); ++i) {
        na.rows_times(t_lo, t_n, s_lo, u.col(i).data(), v.data());  // C^T u
        const double s = v.norm();
        if (!(s > kZeroSigma)) break;
        if (static_cast<int>(sigma.size()) >= nev && sigma[nev - 1] - s > kRepeated) break;
        v_all.col(static_cast<Index>(sigma.size())) = v / s;
        sigma.push_back(s);
    }
    const Index n_pos = static_cast<Index>(sigma.size());
    const Index n_x = std::max<Index>(n_pos, nev);
    evals = Eigen::VectorXd::Zero(n_x);
    x.setZero(g.n_nodes, n_x);
    for (Index j = 0; j < n_pos; ++j) {
        evals[j] = sigma[j];
        x.block(s_lo, j, s_n, 1) = std::sqrt(0.5) * u.col(j);
        x.block(t_lo, j, t_n, 1) = std::sqrt(0.5) * v_all.col(j);
    }
    if (n_pos >= nev) {
        cut_at(evals, x, nev, g.key.data());
        return true;
    }
    // The rest are null vectors of N, eigenvalue 0, repeated: a canonical basis
    // (pivoted_span) of the null space, which on each side is what the row space
    // of C (or C^T) and the components leave.
    const auto u_pos = u.leftCols(n_pos);
    const auto v_pos = v_all.leftCols(n_pos);
    Deflation t_defl(g, emb.component, c, t_lo, t_n);
    Eigen::VectorXd left(g.n_nodes);
    for (Index r = 0; r < s_n; ++r)
        left[s_lo + r] = 1.0 - u_pos.row(r).squaredNorm() - defl.u[r] * defl.u[r];
    for (Index r = 0; r < t_n; ++r)
        left[t_lo + r] = 1.0 - v_pos.row(r).squaredNorm() - t_defl.u[r] * t_defl.u[r];
    auto column = [&](Index i, Eigen::VectorXd& out) {
        check_cancel(opt.cancel);
        out.setZero(g.n_nodes);
        const bool on_s = (i >= s_lo && i < s_lo + s_n);
        const Index lo = on_s ? s_lo : t_lo, n = on_s ? s_n : t_n;
        const auto basis = on_s ? u_pos : v_pos;
        auto part = out.segment(lo, n);
        part = -(basis * basis.row(i - lo).transpose());
        part[i - lo] += 1.0;
        (on_s ? defl : t_defl).project(part.data());
    };
    Eigen::MatrixXd q;
    if (!pivoted_span(g.n_nodes, static_cast<int>(nev - n_pos), left, column, g.key.data(), q))
        return false;
    x.rightCols(nev - n_pos) = q;
    return true;
}

}  // namespace

Embedding spectral_embedding(const Graph& g, int k,
                             const SpectralOptions& opt, int n_threads) {
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
    const Index n = g.n_nodes;
    const EigenMethod asked = opt.method;
    if (asked == EigenMethod::Bipartite && !g.bipartite)
        throw std::invalid_argument(
            "eigen_method 'bipartite' needs a bipartite network (groups that 2-colour with "
            "every block joining two colours); this one is not: use 'auto' or 'full'");
    if (asked == EigenMethod::Dense && n > kDenseMaxNodes)
        throw std::invalid_argument("eigen_method 'dense': " + too_big_for_dense(n) +
                                    "; use 'auto'");
    const NormalizedAdjacency na(g, opt, n_threads);

    // Columns of x: eigenvectors of N over all nodes, before the D^-1/2 scaling.
    Eigen::MatrixXd x;
    Eigen::VectorXd evals;
    bool solved = false;
    if (asked == EigenMethod::Dense || (asked == EigenMethod::Auto && n <= kDenseAutoNodes)) {
        solve_dense(g, na, emb, nev, opt, evals, x);
        emb.method = EigenMethod::Dense;
        solved = true;
    }
    if (!solved && (asked == EigenMethod::Bipartite || (asked == EigenMethod::Auto && g.bipartite))) {
        solved = solve_bipartite(g, na, emb, nev, opt, evals, x);
        if (solved) emb.method = EigenMethod::Bipartite;
        else if (asked == EigenMethod::Bipartite)
            throw std::runtime_error("the bipartite eigensolver found no " + std::to_string(nev) +
                                     " eigenvectors of this " + std::to_string(n) +
                                     "-unit network; use eigen_method 'auto'");
    }
    // Lanczos needs a Krylov space comfortably larger than nev inside the deflated space.
    const bool full_ok = n - c > nev + 20 && nev <= kMaxLanczosVectors;
    if (!solved && full_ok) {
        solved = solve_full(g, na, emb, nev, opt, evals, x);
        if (solved) emb.method = EigenMethod::Full;
    }
    if (!solved) {
        if (n > kDenseMaxNodes) {
            if (nev > kMaxLanczosVectors)
                throw std::invalid_argument(
                    "n_clusters=" + std::to_string(k) + " asks for " + std::to_string(nev) +
                    " eigenvectors besides the " + std::to_string(c) + " connected components; "
                    "Lanczos computes at most " + std::to_string(kMaxLanczosVectors) + ", and " +
                    too_big_for_dense(n) + "; use at most " +
                    std::to_string(c + kMaxLanczosVectors) + " clusters");
            if (!full_ok)
                throw std::invalid_argument(
                    "n_clusters=" + std::to_string(k) + " is too close to the number of "
                    "connected units for Lanczos, and " + too_big_for_dense(n) +
                    "; use fewer clusters");
            throw std::runtime_error(
                "Lanczos did not converge for " + std::to_string(nev) + " eigenvectors of a " +
                std::to_string(n) + "-unit graph (repeated eigenvalues stall it), and " +
                too_big_for_dense(n) + "; try eigen_method 'auto' or a larger tol");
        }
        solve_dense(g, na, emb, nev, opt, evals, x);
        emb.method = EigenMethod::Dense;
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

std::vector<double> embedding_columns(const Graph& g, const Embedding& emb, int k) {
    const Index n = emb.n_rows, dim = emb.dim;
    std::vector<double> out(static_cast<std::size_t>(n) * k);
    Index hi = k;
    while (hi < dim && emb.eigenvalues.size() > static_cast<std::size_t>(hi) &&
           emb.eigenvalues[k - 1] - emb.eigenvalues[hi] <= kRepeated)
        ++hi;
    if (hi == k) {
        for (Index i = 0; i < n; ++i)
            std::copy_n(&emb.rows[static_cast<std::size_t>(i) * dim], k, &out[i * k]);
        return out;
    }
    // The computed columns (past the c component indicators) back to eigenvectors
    // of N (rows times d^1/2), cut at k, and scaled again.
    const Index c = emb.n_components;
    Eigen::MatrixXd x(n, hi - c);
    Eigen::VectorXd evals(hi - c);
    for (Index j = c; j < hi; ++j) evals[j - c] = emb.eigenvalues[j];
    for (Index i = 0; i < n; ++i)
        for (Index j = c; j < hi; ++j)
            x(i, j - c) = emb.rows[static_cast<std::size_t>(i) * dim + j] * std::sqrt(g.degree[i]);
    cut_at(evals, x, static_cast<int>(k - c), g.key.data());
    for (Index i = 0; i < n; ++i) {
        std::copy_n(&emb.rows[static_cast<std::size_t>(i) * dim], c, &out[i * k]);
        for (Index j = c; j < k; ++j) out[i * k + j] = x(i, j - c) / std::sqrt(g.degree[i]);
    }
    return out;
}

Eigenpairs nontrivial_eigenpairs(const Graph& g, int nev, const SpectralOptions& opt,
                                 const double* warm, int n_warm, int n_threads) {
    Eigenpairs out;
    Embedding emb;
    emb.component = connected_components(g, emb.n_components);
    const int c = emb.n_components;
    const Index n = g.n_nodes;
    out.n_components = c;
    if (nev < 1) throw std::invalid_argument("nev must be >= 1, got " + std::to_string(nev));
    nev = static_cast<int>(std::min<Index>(nev, n - c));
    if (nev < 1)
        throw std::invalid_argument("the graph has " + std::to_string(n) + " live units in " +
                                    std::to_string(c) + " connected components: no non-trivial "
                                    "eigenvalue");
    if (opt.method == EigenMethod::Dense && n > kDenseMaxNodes)
        throw std::invalid_argument("eigen_method 'dense': " + too_big_for_dense(n));
    // The warm start: the sum of the previous eigenvectors, one value per node.
    std::vector<double> start;
    if (warm != nullptr && n_warm > 0) {
        start.assign(n, 0.0);
        for (Index i = 0; i < n; ++i)
            for (int j = 0; j < n_warm; ++j) start[i] += warm[i * n_warm + j];
    }
    const std::vector<double>* v0 = start.empty() ? nullptr : &start;
    const NormalizedAdjacency na(g, opt, n_threads);
    Eigen::MatrixXd x;
    Eigen::VectorXd evals;
    bool solved = false;
    const EigenMethod asked = opt.method;
    if (asked == EigenMethod::Dense || (asked == EigenMethod::Auto && n <= kDenseAutoNodes)) {
        solve_dense(g, na, emb, nev, opt, evals, x);
        out.method = EigenMethod::Dense;
        solved = true;
    }
    if (!solved && g.bipartite && asked != EigenMethod::Full) {
        solved = solve_bipartite(g, na, emb, nev, opt, evals, x, v0);
        if (solved) out.method = EigenMethod::Bipartite;
    }
    if (!solved && n - c > nev + 20 && nev <= kMaxLanczosVectors) {
        solved = solve_full(g, na, emb, nev, opt, evals, x, v0);
        if (solved) out.method = EigenMethod::Full;
    }
    if (!solved) {
        if (n > kDenseMaxNodes)
            throw std::runtime_error("Lanczos did not converge for " + std::to_string(nev) +
                                     " eigenvectors of a " + std::to_string(n) +
                                     "-unit graph, and " + too_big_for_dense(n));
        solve_dense(g, na, emb, nev, opt, evals, x);
        out.method = EigenMethod::Dense;
    }
    out.values.assign(evals.data(), evals.data() + nev);
    out.vectors.resize(static_cast<std::size_t>(n) * nev);
    for (Index i = 0; i < n; ++i)
        for (int j = 0; j < nev; ++j) out.vectors[static_cast<std::size_t>(i) * nev + j] = x(i, j);
    return out;
}

}  // namespace modcore
