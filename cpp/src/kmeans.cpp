#include "modcore/kmeans.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

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

// dist[c] = |x - centre c|^2 for centres stored transposed (d x k).
MODCORE_HOT void distances_to_centers(const double* x, const double* cols, Index d, int k,
                                      double* dist) {
    for (int c = 0; c < k; ++c) dist[c] = 0.0;
    for (Index t = 0; t < d; ++t) {
        const double xt = x[t];
        const double* col = cols + t * k;
        for (int c = 0; c < k; ++c) {
            const double diff = xt - col[c];
            dist[c] += diff * diff;
        }
    }
}

// out[i] = |x_i - p|^2 for points stored transposed (d x n).
MODCORE_HOT void distances_to_point(const double* Xt, Index n, Index d, const double* p,
                                    double* out) {
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
    std::vector<double> rows, cols;
    mutable std::vector<double> dist;

    Centers(std::vector<double> r, Index d_, int k_)
        : d(d_), k(k_), rows(std::move(r)), cols(rows.size()), dist(k_) {
        transpose();
    }
    void transpose() {
        for (int c = 0; c < k; ++c)
            for (Index t = 0; t < d; ++t) cols[t * k + c] = rows[c * d + t];
    }
    // Squared distances from x to every centre, into dist.
    const double* distances(const double* x) const {
        distances_to_centers(x, cols.data(), d, k, dist.data());
        return dist.data();
    }
    const double* row(int c) const { return &rows[c * d]; }
};

// Greedy k-means++ (as scikit-learn): each new centre is the best of
// 2 + ln(k) candidates drawn proportionally to the squared distance.
// Xt is X transposed (d x n), so each candidate's pass over all points vectorizes.
std::vector<double> kmeans_plus_plus(const double* X, const std::vector<double>& Xt, Index n,
                                     Index d, int k, Rng& rng) {
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

// Nearest centre and the distances (not squared) to it and to the second nearest.
void two_nearest(const double* x, const Centers& C, std::int32_t& label, double& d1, double& d2) {
    const double* s = C.distances(x);
    double b1 = std::numeric_limits<double>::infinity(), b2 = b1;
    std::int32_t a = 0;
    for (int c = 0; c < C.k; ++c) {
        if (s[c] < b1) {
            b2 = b1;
            b1 = s[c];
            a = c;
        } else if (s[c] < b2) {
            b2 = s[c];
        }
    }
    label = a;
    d1 = std::sqrt(b1);
    d2 = std::sqrt(b2);
}

// Distance to the own centre and to the nearest other one; labels are kept, so
// ties between coinciding centres cannot undo a relocation.
void exact_bounds(const double* x, const Centers& C, std::int32_t label, double& upper,
                  double& lower) {
    const double* s = C.distances(x);
    double other = std::numeric_limits<double>::infinity();
    for (int c = 0; c < C.k; ++c)
        if (c != label) other = std::min(other, s[c]);
    upper = std::sqrt(s[label]);
    lower = std::sqrt(other);
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

// Lloyd's algorithm with Hamerly's bounds: upper[i] >= distance to the own centre,
// lower[i] <= distance to any other centre; a point whose bounds already separate
// needs no distance computations.
KMeansResult lloyd_hamerly(const double* X, Index n, Index d, int k, std::vector<double> init,
                           int max_iter, double shift_tol, const CancelToken* cancel) {
    KMeansResult res;
    res.labels.assign(n, 0);
    Centers C(std::move(init), d, k);
    std::vector<double> upper(n), lower(n), old, shift(k), half_sep(k);
    std::vector<Index> counts(k);
    for (Index i = 0; i < n; ++i) two_nearest(X + i * d, C, res.labels[i], upper[i], lower[i]);

    int iter = 0;
    while (iter < max_iter) {
        check_cancel(cancel);
        ++iter;
        old = C.rows;
        if (!update_centers(X, n, res.labels, C, counts)) {
            // An emptied cluster takes the point farthest from its centre (as
            // scikit-learn); the bounds are then recomputed around the labels.
            for (int c = 0; c < k; ++c) {
                if (counts[c] > 0) continue;
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
            C.transpose();
            for (Index i = 0; i < n; ++i) exact_bounds(X + i * d, C, res.labels[i], upper[i], lower[i]);
            continue;
        }
        C.transpose();

        double max_shift = 0.0, second_shift = 0.0, shift_total = 0.0;
        int argmax_shift = 0;
        for (int c = 0; c < k; ++c) {
            const double s2 = sq_dist(C.row(c), &old[c * d], d);
            shift_total += s2;
            shift[c] = std::sqrt(s2);
            if (shift[c] > max_shift) {
                second_shift = max_shift;
                max_shift = shift[c];
                argmax_shift = c;
            } else if (shift[c] > second_shift) {
                second_shift = shift[c];
            }
        }
        for (int c = 0; c < k; ++c) {
            double m = std::numeric_limits<double>::infinity();
            for (int e = 0; e < k; ++e)
                if (e != c) m = std::min(m, sq_dist(C.row(c), C.row(e), d));
            half_sep[c] = 0.5 * std::sqrt(m);
        }

        // Assignment step.
        bool changed = false;
        for (Index i = 0; i < n; ++i) {
            const std::int32_t a = res.labels[i];
            upper[i] += shift[a];
            lower[i] -= (a == argmax_shift) ? second_shift : max_shift;
            const double bound = std::max(half_sep[a], lower[i]);
            if (upper[i] <= bound) continue;
            upper[i] = std::sqrt(sq_dist(X + i * d, C.row(a), d));
            if (upper[i] <= bound) continue;
            std::int32_t b;
            two_nearest(X + i * d, C, b, upper[i], lower[i]);
            if (b != a) {
                res.labels[i] = b;
                changed = true;
            }
        }
        // Converged when no label moves, or (as scikit-learn) when the centres
        // barely moved; the labels are the nearest-centre ones either way.
        if (!changed || shift_total <= shift_tol) break;
    }
    // Centres as the means of the final labels (no cluster is empty here: the
    // last assignment only moved points to strictly nearer, hence non-empty, centres
    // or kept the relocated ones).
    update_centers(X, n, res.labels, C, counts);
    res.inertia = 0.0;
    for (Index i = 0; i < n; ++i) res.inertia += sq_dist(X + i * d, C.row(res.labels[i]), d);
    res.centers = std::move(C.rows);
    res.n_iter = iter;
    return res;
}

}  // namespace

KMeansResult kmeans(const double* X, Index n, Index d, int k, int n_init, int max_iter,
                    std::uint64_t seed, int n_threads, const CancelToken* cancel) {
    if (k < 1 || k > n)
        throw std::invalid_argument("k-means needs 1 <= k <= n points, got k=" + std::to_string(k) +
                                    " for " + std::to_string(n) + " points");
    if (n_init < 1) throw std::invalid_argument("n_init must be >= 1");
    if (max_iter < 1) throw std::invalid_argument("max_iter must be >= 1");
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
    std::vector<KMeansResult> runs(n_init);
    parallel_for(n_init, n_threads, [&](Index r) {
        Rng rng(seed, static_cast<std::uint64_t>(r));
        runs[r] = lloyd_hamerly(X, n, d, k, kmeans_plus_plus(X, Xt, n, d, k, rng), max_iter,
                                shift_tol, cancel);
    });
    int best = 0;
    for (int r = 1; r < n_init; ++r)
        if (runs[r].inertia < runs[best].inertia) best = r;
    return std::move(runs[best]);
}

}  // namespace modcore
