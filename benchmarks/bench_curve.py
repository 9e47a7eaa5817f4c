"""A sweep over k with a null per k: ncut_curve vs one ncut_significance per k.

    python benchmarks/bench_curve.py [--quick]

On the reference net, k = 2..20, "layer" shuffles, the same seed: (a) one
``ncut_curve`` call (one eigensolve at k = 20 per network, then a k-means per
k), (b) 19 ``ncut_significance`` calls. Both in this process, with 1 and 2
threads; prints the seconds, the ratio (b)/(a), and how far the two sets of
results are apart (they differ only by the eigensolver's tolerance: Lanczos at
k = 20 instead of at each k).
"""

import argparse
import os
import platform
import time

import numpy as np

import modcore
from common import reference_network


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 shuffles, 2 threads only")
    args = parser.parse_args()
    n_shuffles = 4 if args.quick else 20
    ks = range(2, 21)
    weights = reference_network(0)
    print(
        f"{cpu_name()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the start (other jobs share the machine)"
    )
    print(
        f"reference net, k = {ks.start}..{ks.stop - 1}, {n_shuffles} 'layer' shuffles per k, "
        "n_init=10"
    )
    for n_jobs in (2,) if args.quick else (1, 2):
        common = dict(n_shuffles=n_shuffles, seed=1, n_jobs=n_jobs, progress=False)
        modcore.ncut_significance(weights, n_clusters=12, **{**common, "n_shuffles": 1})  # warm
        t = time.perf_counter()
        curve = modcore.ncut_curve(weights, ks=ks, **common)
        t_curve = time.perf_counter() - t
        t = time.perf_counter()
        alone = [modcore.ncut_significance(weights, n_clusters=k, **common) for k in ks]
        t_alone = time.perf_counter() - t
        diff_net = max(abs(a.ncut - c) for a, c in zip(alone, curve.ncut))
        null_alone = np.column_stack([a.shuffled_ncuts for a in alone])
        same = np.isclose(null_alone, curve.shuffled_ncuts, atol=1e-6).mean()
        z_gap = np.abs(np.array([a.z_score for a in alone]) - curve.z_score).max()
        print(
            f"n_jobs={n_jobs}: (a) ncut_curve {t_curve:7.2f} s   (b) {len(ks)} x "
            f"ncut_significance {t_alone:7.2f} s   ratio (b)/(a) {t_alone / t_curve:5.2f}x"
        )
        print(
            f"          network n-cuts differ by <= {diff_net:.2e}; {100 * same:.1f}% of "
            f"shuffled n-cuts equal within 1e-6; z-scores differ by <= {z_gap:.3f}"
        )


if __name__ == "__main__":
    main()
