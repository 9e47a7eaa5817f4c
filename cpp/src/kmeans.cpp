#include "modcore/kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>

#include "modcore/limits.hpp"
#include "modcore/parallel.hpp"
#include "modcore/rng.hpp"

namespace modcore {
namespace {

constexpr double kRelTol = 1e-4;  // scikit-learn's default centre-shift tolerance

// The two hot loops are compiled for AVX2+FMA and for baseline x86-64; the
// loader picks one at run time, so the extension stays portable.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MODCORE_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MODCORE_HOT
#endif

// dist[c] = |x - centre c|^2 for centres stored transposed (d x stride).
// For up to 16 centres the width is a compile-time constant, so the
// accumulators stay in vector registers.
template <int W>
MODCORE_HOT void distances_fixed(const double* __restrict__ x, const double* __restrict__ cols,
                                 Index d, double* __restrict__ dist) {
    double acc[W] = {};
    for (Index t = 0; t < d; ++t) {
        const double xt = x[t];
        const double* col = cols + t * W;
        for (int c = 0; c < W; ++c) {
            const double diff = xt - col[c];
            acc[c] += diff * diff;
        }
    }
    for (int c = 0; c < W; ++c) dist[c] = acc[c];
}

MODCORE_HOT void distances_any(const double* __restrict__ x, const double* __restrict__ cols,
                               Index d, int stride, double* __restrict__ dist) {
    for (int c = 0; c < stride; ++c) dist[c] = 0.0;
    for (Index t = 0; t < d; ++t) {
        const double xt = x[t];
        const double* col = cols + t * stride;
        for (int c = 0; c < stride; ++c) {
            const double diff = xt - col[c];
            dist[c] += diff * diff;
        }
    }
}

// Columns per row of the transposed centres: a multiple of 4 up to 16, else k.
int padded_width(int k) { return k <= 16 ? (k + 3) / 4 * 4 : k; }

void distances_to_centers(const double* x, const double* cols, Index d, int stride,
                          double* dist) {
    switch (stride) {
        case 4: return distances_fixed<4>(x, cols, d, dist);
        case 8: return distances_fixed<8>(x, cols, d, dist);
        case 12: return distances_fixed<12>(x, cols, d, dist);
        case 16: return distances_fixed<16>(x, cols, d, dist);
        default: return distances_any(x, cols, d, stride, dist);
    }
}

// out[i] = |x_i - p|^2 for points stored transposed (d x n).
MODCORE_HOT void distances_to_point(const double* __restrict__ Xt, Index n, Index d,
                                    const double* __restrict__ p, double* __restrict__ out) {
    for (Index i = 0; i < n; ++i) out[i] = 0.0;
    for (Index t = 0; t < d; ++t) {
        const double c = p[t];
        const double* xt = Xt + t * n;
        for (Index i = 0; i < n; ++i) out[i] += (xt[i] - c) * (xt[i] - c);
    }
}

double sq_dist(const double* a, const double* b, Index d) {
    double s = 0.0;
    for (Index t = 0; t < d; ++t) {
        const double diff = a[t] - b[t];
        s += diff * diff;
    }
    return s;
}

// Centres kept twice: row-major for updates, transposed (d x k) so that the
// distances from one point to all k centres are an inner loop over centres,
// which the compiler vectorizes without reordering any sum.
struct Centers {
    Index d;
    int k;
    int stride;  // padded row length of cols; the padding columns are never read back
    std::vector<double> rows, cols;
    mutable std::vector<double> dist;

    Centers(std::vector<double> r, Index d_, int k_)
        : d(d_), k(k_), stride(padded_width(k_)), rows(std::move(r)),
          cols(static_cast<std::size_t>(d_) * stride, 0.0), dist(stride) {
        transpose();
    }
    void transpose() {
        for (int c = 0; c < k; ++c)
            for (Index t = 0; t < d; ++t) cols[t * stride + c] = rows[c * d + t];
    }
    // Squared distances from x to every centre, into dist.
    const double* distances(const double* x) const {
        distances_to_centers(x, cols.data(), d, stride, dist.data());
        return dist.data();
    }
    const double* row(int c) const { return &rows[c * d]; }
};

// Greedy k-means++ (as scikit-learn): each new centre is the best of
// 2 + ln(k) candidates drawn proportionally to the squared distance.
// Xt is X transposed (d x n), so each candidate's pass over all points vectorizes.
// Each centre costs O(n d log k): with k in the thousands the seeding alone runs
// for minutes, so it polls the cancel token per centre.
std::vector<double> kmeans_plus_plus(const double* X, const std::vector<double>& Xt, Index n,
                                     Index d, int k, Rng& rng, const CancelToken* cancel) {
    std::vector<double> centers(static_cast<std::size_t>(k) * d);
    const int n_trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
    std::vector<double> closest(n), cand_dist(n), best_dist(n), cumsum(n);

    auto dist_to = [&](Index p, std::vector<double>& out) {
        distances_to_point(Xt.data(), n, d, X + p * d, out.data());
    };

    const Index first = static_cast<Index>(rng.below(n));
    std::copy(X + first * d, X + (first + 1) * d, centers.begin());
    dist_to(first, closest);
    double potential = std::accumulate(closest.begin(), closest.end(), 0.0);
    for (int c = 1; c < k; ++c) {
        check_cancel(cancel);
        std::partial_sum(closest.begin(), closest.end(), cumsum.begin());
        double best_potential = std::numeric_limits<double>::infinity();
        Index best = 0;
        for (int t = 0; t < n_trials; ++t) {
            Index cand;
            if (potential > 0.0) {
                const double r = rng.uniform() * cumsum[n - 1];
                cand = std::upper_bound(cumsum.begin(), cumsum.end(), r) - cumsum.begin();
                cand = std::min(cand, n - 1);
            } else {  // every point coincides with a centre already
                cand = static_cast<Index>(rng.below(n));
            }
            dist_to(cand, cand_dist);
            double pot = 0.0;
            for (Index i = 0; i < n; ++i) pot += cand_dist[i] = std::min(closest[i], cand_dist[i]);
            if (pot < best_potential) {
                best_potential = pot;
                best = cand;
                best_dist.swap(cand_dist);
            }
        }
        std::copy(X + best * d, X + (best + 1) * d, centers.begin() + c * d);
        closest.swap(best_dist);
        potential = best_potential;
    }
    return centers;
}

// Index of the nearest centre. A tie keeps the current label, so coinciding
// centres (duplicate points) cannot take back a relocated cluster's point.
std::int32_t nearest(const double* x, const Centers& C, std::int32_t current) {
    const double* s = C.distances(x);
    std::int32_t a = current >= 0 ? current : 0;
    for (int c = 0; c < C.k; ++c)
        if (s[c] < s[a]) a = c;
    return a;
}

// Update step: centres as the means of their points; returns false if a cluster is empty.
bool update_centers(const double* X, Index n, const std::vector<std::int32_t>& labels,
                    Centers& C, std::vector<Index>& counts) {
    const Index d = C.d;
    std::fill(C.rows.begin(), C.rows.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (Index i = 0; i < n; ++i) {
        const std::int32_t a = labels[i];
        ++counts[a];
        for (Index t = 0; t < d; ++t) C.rows[a * d + t] += X[i * d + t];
    }
    bool all_filled = true;
    for (int c = 0; c < C.k; ++c) {
        if (counts[c] == 0) {
            all_filled = false;
            continue;
        }
        for (Index t = 0; t < d; ++t) C.rows[c * d + t] /= counts[c];
    }
    return all_filled;
}

// Lloyd's algorithm, every point against every centre. Measured on the reference
// net's embedding (k = d = 12), this beats Hamerly's bounds (20 vs 26 ms for 10
// restarts): the bounds pruned only 38% of the searches, and their square roots
// and unpredictable branches cost more than the vectorized distances they save.
KMeansResult lloyd(const double* X, Index n, Index d, int k, std::vector<double> init,
                         int max_iter, double shift_tol, const CancelToken* cancel) {
    KMeansResult res;
    res.labels.assign(n, -1);
    Centers C(std::move(init), d, k);
    std::vector<double> old;
    std::vector<Index> counts(k);
    int iter = 0;
    while (iter < max_iter) {
        check_cancel(cancel);
        ++iter;
        bool changed = false;
        for (Index i = 0; i < n; ++i) {
            // One pass costs O(n k d): seconds when k and d are in the thousands.
            if ((i & 255) == 0) check_cancel(cancel);
            const std::int32_t a = nearest(X + i * d, C, res.labels[i]);
            changed |= a != res.labels[i];
            res.labels[i] = a;
        }
        if (!changed) break;
        old = C.rows;
        if (!update_centers(X, n, res.labels, C, counts)) {
            // An emptied cluster takes the point farthest from its centre (as scikit-learn).
            for (int c = 0; c < k; ++c) {
                if (counts[c] > 0) continue;
                check_cancel(cancel);
                Index far = 0;
                double far_dist = -1.0;
                for (Index i = 0; i < n; ++i) {
                    const double s = sq_dist(X + i * d, &old[res.labels[i] * d], d);
                    if (s > far_dist && counts[res.labels[i]] > 1) {
                        far_dist = s;
                        far = i;
                    }
                }
                --counts[res.labels[far]];
                res.labels[far] = c;
                counts[c] = 1;
            }
            update_centers(X, n, res.labels, C, counts);
        }
        C.transpose();
        double shift_total = 0.0;
        for (int c = 0; c < k; ++c) shift_total += sq_dist(C.row(c), &old[c * d], d);
        // Converged (as scikit-learn) when the centres barely moved: a last
        // assignment makes the labels the nearest-centre ones.
        if (shift_total <= shift_tol) {
            for (Index i = 0; i < n; ++i) {
                if ((i & 255) == 0) check_cancel(cancel);
                res.labels[i] = nearest(X + i * d, C, res.labels[i]);
            }
            break;
        }
    }
    update_centers(X, n, res.labels, C, counts);
    res.inertia = 0.0;
    for (Index i = 0; i < n; ++i) res.inertia += sq_dist(X + i * d, C.row(res.labels[i]), d);
    res.centers = std::move(C.rows);
    res.n_iter = iter;
    return res;
}

}  // namespace

KMeansResult kmeans(const double* X, Index n, Index d, int k, int n_init, int max_iter,
                    std::uint64_t seed, int n_threads, const CancelToken* cancel,
                    const RestartScore& score) {
    if (k < 1 || k > n)
        throw std::invalid_argument("k-means needs 1 <= k <= n points, got k=" + std::to_string(k) +
                                    " for " + std::to_string(n) + " points");
    check_range("n_init", n_init, 1, kMaxInit);
    check_range("max_iter", max_iter, 1, kMaxIter);
    std::vector<double> Xt(static_cast<std::size_t>(n) * d);
    double mean_var = 0.0;
    for (Index t = 0; t < d; ++t) {
        double mean = 0.0, sq = 0.0;
        for (Index i = 0; i < n; ++i) mean += Xt[t * n + i] = X[i * d + t];
        mean /= n;
        for (Index i = 0; i < n; ++i) sq += (Xt[t * n + i] - mean) * (Xt[t * n + i] - mean);
        mean_var += sq / n;
    }
    // scikit-learn's tolerance: kRelTol times the mean per-feature variance.
    const double shift_tol = d > 0 ? kRelTol * mean_var / d : 0.0;
    // Only the best restart so far is kept (memory O(threads x n), not O(n_init x n));
    // the lowest score wins, ties going to the lowest r, so scheduling cannot matter.
    KMeansResult best;
    double best_score = 0.0;
    Index best_r = -1;
    std::mutex best_mutex;
    parallel_for(n_init, n_threads, [&](Index r) {
        Rng rng(seed, static_cast<std::uint64_t>(r));
        KMeansResult run = lloyd(X, n, d, k, kmeans_plus_plus(X, Xt, n, d, k, rng, cancel),
                                 max_iter, shift_tol, cancel);
        const double s = score ? score(run) : run.inertia;
        std::lock_guard<std::mutex> lock(best_mutex);
        if (best_r < 0 || s < best_score || (s == best_score && r < best_r)) {
            best = std::move(run);
            best_score = s;
            best_r = r;
        }
    });
    return best;
}

}  // namespace modcore
