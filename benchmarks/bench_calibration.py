"""Calibration: how often the test calls a random network "more modular" at the 5% level.

    python benchmarks/bench_calibration.py [--quick] [--networks 200] [--n-jobs 2]

A random network (He-initialised Gaussian weights pruned by magnitude, as
``modcore.network.synthetic.random_pruned_mlp``) is exchangeable with its "layer" and
"layer_nonzero" shuffles: every permutation of a layer's entries (or of its non-zero
values) is as likely. So a valid test rejects at most 5% of them, and exactly 5% (up to
ties) when p can reach 0.05 exactly: 19 shuffles, p = 1/20 when the network is below all
of them. For each shape and sparsity, ``--networks`` networks (seeds 0, 1, ...) are
tested:

- at one k (k = 3): ``ncut_significance`` with 19 shuffles;
- over k = 2..5: ``ncut_curve`` with 199 shuffles, rejecting when the corrected p-value
  (``NcutCurve.corrected_p_value``) is <= 0.05, and, to show what the correction is
  for, when the smallest uncorrected p-value over k is (the naive headline).

Each rejection count is printed with the central 99% interval of Binomial(n, 0.05):
a count above it would be a test that rejects too often (invalid), below it one that
rejects too rarely (conservative). The rates are in benchmarks/README.md.
"""

import argparse
import time
import warnings

from scipy import stats

import modcore
from modcore.network.synthetic import random_pruned_mlp

ALPHA = 0.05
# (widths, sparsity): shallow and deep, wide and narrow, dense and sparse.
SHAPES = [
    ((12, 16, 8), 0.5),
    ((20, 20, 20, 20), 0.8),
    ((40, 10), 0.0),
    ((8, 30, 30, 8), 0.9),
]


def interval(n: int) -> tuple:
    """The central 99% interval of Binomial(n, ALPHA)."""
    return int(stats.binom.ppf(0.005, n, ALPHA)), int(stats.binom.ppf(0.995, n, ALPHA))


def calibrate(widths, sparsity, shuffle, n_networks, n_jobs):
    one_k = over_k = naive = 0
    for seed in range(n_networks):
        w = random_pruned_mlp(widths, sparsity=sparsity, seed=seed)
        sig = modcore.ncut_significance(
            w,
            n_clusters=3,
            n_shuffles=19,
            shuffle=shuffle,
            seed=seed,
            n_jobs=n_jobs,
            progress=False,
        )
        one_k += sig.p_value <= ALPHA
        curve = modcore.ncut_curve(
            w,
            ks=range(2, 6),
            n_shuffles=199,
            shuffle=shuffle,
            seed=seed,
            n_jobs=n_jobs,
            progress=False,
        )
        over_k += curve.corrected_p_value <= ALPHA
        naive += curve.p_value.min() <= ALPHA
    return one_k, over_k, naive


def main():
    # The sparsest nets have fragments cut off from both ends; kept, as the default drop says.
    warnings.simplefilter("ignore", modcore.FloatingUnitsWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 networks per row")
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    n = 50 if args.quick else args.networks
    low, high = interval(n)
    print(
        f"{n} random networks per row; rejections at the {ALPHA:.0%} level; "
        f"central 99% interval of Binomial({n}, {ALPHA}): [{low}, {high}]"
    )
    print(
        f"{'widths':>16s} {'sparsity':>8s} {'shuffle':>14s} {'k=3 (19)':>10s} "
        f"{'over k corrected (199)':>22s} {'over k naive':>13s} {'seconds':>8s}"
    )
    for widths, sparsity in SHAPES:
        for shuffle in ("layer", "layer_nonzero"):
            if sparsity == 0.0 and shuffle == "layer_nonzero":
                continue  # no zeros: the same null as "layer"
            t = time.perf_counter()
            one_k, over_k, naive = calibrate(widths, sparsity, shuffle, n, args.n_jobs)
            print(
                f"{'-'.join(map(str, widths)):>16s} {sparsity:8.1f} {shuffle:>14s} "
                f"{one_k:4d} {one_k / n:5.3f} {over_k:15d} {over_k / n:6.3f} "
                f"{naive:6d} {naive / n:6.3f} {time.perf_counter() - t:8.1f}"
            )


if __name__ == "__main__":
    main()
