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

double sq_dist(const double* a, const double* b, Index d) {
    double s = 0.0;
    for (Index t = 0; t < d; ++t) {
        const double diff = a[t] - b[t];
        s += diff * diff;
    }
    return s;
}

// Greedy k-means++ (as scikit-learn): each new centre is the best of
// 2 + ln(k) candidates drawn proportionally to the squared distance.
std::vector<double> kmeans_plus_plus(const double* X, Index n, Index d, int k, Rng& rng) {
    std::vector<double> centers(static_cast<std::size_t>(k) * d);
    const int n_trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
    Index first = static_cast<Index>(rng.below(n));
    std::copy(X + first * d, X + (first + 1) * d, centers.begin());
    std::vector<double> closest(n), cand_dist(n), best_dist(n);
    double potential = 0.0;
    for (Index i = 0; i < n; ++i) potential += closest[i] = sq_dist(X + i * d, X + first * d, d);

    std::vector<double> cumsum(n);
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
            } else {  // all points coincide with centres already
                cand = static_cast<Index>(rng.below(n));
            }
            double pot = 0.0;
            for (Index i = 0; i < n; ++i)
                pot += cand_dist[i] = std::min(closest[i], sq_dist(X + i * d, X + cand * d, d));
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

// Nearest and second-nearest centre distances (not squared) of one point.
void two_nearest(const double* x, const double* centers, Index d, int k, std::int32_t& label,
                 double& d1, double& d2) {
    double b1 = std::numeric_limits<double>::infinity(), b2 = b1;
    std::int32_t a = 0;
    for (int c = 0; c < k; ++c) {
        const double s = sq_dist(x, centers + c * d, d);
        if (s < b1) {
            b2 = b1;
            b1 = s;
            a = c;
        } else if (s < b2) {
            b2 = s;
        }
    }
    label = a;
    d1 = std::sqrt(b1);
    d2 = std::sqrt(b2);
}

// Lloyd's algorithm with Hamerly's bounds: upper[i] >= distance to the own centre,
// lower[i] <= distance to any other centre; a point whose bounds already separate
// needs no distance computations.
KMeansResult lloyd_hamerly(const double* X, Index n, Index d, int k, std::vector<double> centers,
                           int max_iter) {
    KMeansResult res;
    res.labels.assign(n, 0);
    std::vector<double> upper(n), lower(n), sums(static_cast<std::size_t>(k) * d);
    std::vector<double> old(centers.size()), shift(k), half_sep(k);
    std::vector<Index> counts(k);
    for (Index i = 0; i < n; ++i)
        two_nearest(X + i * d, centers.data(), d, k, res.labels[i], upper[i], lower[i]);

    int iter = 0;
    for (; iter < max_iter; ++iter) {
        // Update step; an emptied cluster takes the point farthest from its centre.
        std::fill(sums.begin(), sums.end(), 0.0);
        std::fill(counts.begin(), counts.end(), 0);
        for (Index i = 0; i < n; ++i) {
            const std::int32_t a = res.labels[i];
            ++counts[a];
            for (Index t = 0; t < d; ++t) sums[a * d + t] += X[i * d + t];
        }
        old = centers;
        bool relocated = false;
        for (int c = 0; c < k; ++c) {
            if (counts[c] > 0) {
                for (Index t = 0; t < d; ++t) centers[c * d + t] = sums[c * d + t] / counts[c];
                continue;
            }
            Index far = 0;
            double far_dist = -1.0;
            for (Index i = 0; i < n; ++i) {
                const double s = sq_dist(X + i * d, old.data() + res.labels[i] * d, d);
                if (s > far_dist && counts[res.labels[i]] > 1) {
                    far_dist = s;
                    far = i;
                }
            }
            --counts[res.labels[far]];
            res.labels[far] = c;
            counts[c] = 1;
            std::copy(X + far * d, X + (far + 1) * d, centers.begin() + c * d);
            relocated = true;
        }
        if (relocated) {  // bounds are stale: start them afresh
            for (Index i = 0; i < n; ++i)
                two_nearest(X + i * d, centers.data(), d, k, res.labels[i], upper[i], lower[i]);
            continue;
        }

        double max_shift = 0.0, second_shift = 0.0;
        int argmax_shift = 0;
        for (int c = 0; c < k; ++c) {
            shift[c] = std::sqrt(sq_dist(centers.data() + c * d, old.data() + c * d, d));
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
                if (e != c) m = std::min(m, sq_dist(centers.data() + c * d, centers.data() + e * d, d));
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
            upper[i] = std::sqrt(sq_dist(X + i * d, centers.data() + a * d, d));
            if (upper[i] <= bound) continue;
            std::int32_t b;
            two_nearest(X + i * d, centers.data(), d, k, b, upper[i], lower[i]);
            if (b != a) {
                res.labels[i] = b;
                changed = true;
            }
        }
        if (!changed) {
            ++iter;
            break;
        }
    }
    // Centres as the means of the final labels (every cluster is non-empty here).
    std::fill(sums.begin(), sums.end(), 0.0);
    std::fill(counts.begin(), counts.end(), 0);
    for (Index i = 0; i < n; ++i) {
        ++counts[res.labels[i]];
        for (Index t = 0; t < d; ++t) sums[res.labels[i] * d + t] += X[i * d + t];
    }
    for (int c = 0; c < k; ++c)
        if (counts[c] > 0)
            for (Index t = 0; t < d; ++t) centers[c * d + t] = sums[c * d + t] / counts[c];
    res.inertia = 0.0;
    for (Index i = 0; i < n; ++i)
        res.inertia += sq_dist(X + i * d, centers.data() + res.labels[i] * d, d);
    res.centers = std::move(centers);
    res.n_iter = iter;
    return res;
}

}  // namespace

KMeansResult kmeans(const double* X, Index n, Index d, int k, int n_init, int max_iter,
                    std::uint64_t seed, int n_threads) {
    if (k < 1 || k > n)
        throw std::invalid_argument("k-means needs 1 <= k <= n points, got k=" + std::to_string(k) +
                                    " for " + std::to_string(n) + " points");
    if (n_init < 1) throw std::invalid_argument("n_init must be >= 1");
    if (max_iter < 1) throw std::invalid_argument("max_iter must be >= 1");
    std::vector<KMeansResult> runs(n_init);
    parallel_for(n_init, n_threads, [&](Index r) {
        Rng rng(seed, static_cast<std::uint64_t>(r));
        runs[r] = lloyd_hamerly(X, n, d, k, kmeans_plus_plus(X, n, d, k, rng), max_iter);
    });
    int best = 0;
    for (int r = 1; r < n_init; ++r)
        if (runs[r].inertia < runs[best].inertia) best = r;
    return std::move(runs[best]);
}

}  // namespace modcore
