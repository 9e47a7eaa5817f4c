"""Is the default engine statistically the exact one? Its null against one at tol 1e-6.

    python benchmarks/bench_exactness.py [--quick] [--fashion net.pt] [--kmeans]

The default eigensolver tolerance is 1e-5; ``tol=1e-6`` gives the exact settings
(what modcore used before). On the reference net (784-256x4-10, 90% pruned, k=12):

(a) paired: both tolerances on the same seed, hence the same shuffled networks:
    how many shuffles' n-cuts differ and by how much at most, the two-sample
    Kolmogorov-Smirnov p-value (target > 0.01) and the difference of the means
    in null standard deviations (target < 0.1): the approximation's own effect;
(b) independent: the default null (seed 1) against an exact one (seed 2), the
    same two numbers; these also hold the sampling noise of two nulls (the
    means' difference has a standard error of sqrt(2 / N) null std);
(c) the trained Fashion-MNIST net's own n-cut at both tolerances, the
    difference in null standard deviations (target < 0.5).
The same label rule on both sides (the default; --kmeans: the authors' k-means).
"""

import argparse
from pathlib import Path

import numpy as np
from scipy.stats import ks_2samp

import modcore
from common import cpu_name, reference_network

EXACT_TOL = 1e-6


def null(net, n, seed, rule, jobs, **kw):
    return modcore.ncut_significance(
        net, n_shuffles=n, seed=seed, n_jobs=jobs, progress=False, **rule, **kw
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 shuffles instead of 1000")
    parser.add_argument(
        "--fashion",
        type=Path,
        default=Path("fashion_mlp_pruned.pt"),
        help="checkpoint of the trained Fashion-MNIST net (train_reference.py)",
    )
    parser.add_argument(
        "--kmeans",
        action="store_true",
        help="the authors' rule (k-means, 25 restarts by inertia, no refinement)",
    )
    parser.add_argument("--jobs", type=int, default=None, help="threads (default: all cores)")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    rule = dict(assign_labels="kmeans", refine=False, n_init=25) if args.kmeans else {}
    default_tol = modcore.spectral_cluster.__kwdefaults__["tol"]
    weights = reference_network(0)
    print(
        f"CPU: {cpu_name()}; reference net, k=12, {n} 'layer' shuffles per null, rule "
        f"{rule or 'default (cluster_qr, refine)'}; tol {default_tol:g} against {EXACT_TOL:g}"
    )

    fast = null(weights, n, 1, rule, args.jobs)
    exact = null(weights, n, 1, rule, args.jobs, tol=EXACT_TOL)
    diff = np.abs(fast.shuffled_ncuts - exact.shuffled_ncuts)
    ks = ks_2samp(fast.shuffled_ncuts, exact.shuffled_ncuts, method="asymp")
    print(
        f"(a) same shuffles: {np.count_nonzero(diff > 1e-12)} of {n} n-cuts differ, "
        f"max |difference| {diff.max():.2e} = {diff.max() / exact.shuffled_std:.3f} null std; "
        f"KS p = {ks.pvalue:.3f}, means differ by "
        f"{(fast.shuffled_mean - exact.shuffled_mean) / exact.shuffled_std:+.4f} null std"
    )
    other = null(weights, n, 2, rule, args.jobs, tol=EXACT_TOL)
    ks = ks_2samp(fast.shuffled_ncuts, other.shuffled_ncuts, method="asymp")
    gap = (fast.shuffled_mean - other.shuffled_mean) / other.shuffled_std
    print(
        f"(b) independent nulls: KS p = {ks.pvalue:.3f} (target > 0.01), means "
        f"{fast.shuffled_mean:.4f} vs {other.shuffled_mean:.4f}, difference {gap:+.3f} null std "
        f"(target within 0.1)"
    )
    if args.fashion.exists():
        trained = modcore.weights_from_module(args.fashion)
        a = null(trained, 100 if args.quick else 300, 1, rule, args.jobs)
        b = modcore.spectral_cluster(trained, seed=1, tol=EXACT_TOL, n_jobs=args.jobs, **rule)
        print(
            f"(c) trained net: n-cut {a.ncut:.4f} at tol {default_tol:g}, {b.ncut:.4f} at "
            f"{EXACT_TOL:g}: {abs(a.ncut - b.ncut) / a.shuffled_std:.3f} null std "
            f"(target < 0.5; null std {a.shuffled_std:.4f})"
        )
    else:
        print(f"(c) skipped: no checkpoint at {args.fashion}")


if __name__ == "__main__":
    main()
