"""Do modcore's OpenMP threads slow scikit-learn's (or the reverse) in one process?

    python benchmarks/bench_openmp.py [--quick]

modcore's _core links the system libgomp; scikit-learn's and torch's wheels each
bring their own OpenMP runtime, so one process can hold several thread pools. A
pool whose threads spin-wait after their work takes cores from the next one.
Measured in one process, all on 2 threads:

(a) scikit-learn KMeans (n_init=10) alone, best of R;
(b) the same KMeans right after a modcore null, the first call and best of R;
(c) modcore's null right after a KMeans (and after torch, when installed).
"""

import argparse
import os
import time

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_info, threadpool_limits

import modcore
from common import cpu_name, reference_network


def clock(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    x = np.random.default_rng(0).normal(size=(20_000, 12))
    weights = reference_network(0)

    def kmeans():
        KMeans(12, n_init=10, random_state=0).fit(x)

    def null():
        modcore.ncut_significance(weights, n_shuffles=40, seed=0, n_jobs=2, progress=False)

    print(f"CPU: {cpu_name()}")
    with threadpool_limits(limits=2):
        kmeans(), null()  # warm both pools
        print(
            "runtimes in this process:",
            ", ".join(
                sorted(
                    f"{p['user_api']} {os.path.basename(p['filepath'])}" for p in threadpool_info()
                )
            ),
        )
        alone = min(clock(kmeans) for _ in range(repeats))
        first_after, after = [], []
        for _ in range(repeats):
            null()
            first_after.append(clock(kmeans))
            after.append(min(clock(kmeans) for _ in range(2)))
        null_alone = min(clock(null) for _ in range(repeats))
        null_after = []
        for _ in range(repeats):
            kmeans()
            null_after.append(clock(null))
    print(f"(a) KMeans alone:                        {alone * 1e3:8.1f} ms (best of {repeats})")
    print(
        f"(b) KMeans just after a modcore null:    {np.median(first_after) * 1e3:8.1f} ms "
        f"(median of the first calls), best later call {min(after) * 1e3:.1f} ms: "
        f"{np.median(first_after) / alone:.2f}x"
    )
    print(
        f"(c) modcore null alone / after KMeans:   {null_alone * 1e3:8.1f} / "
        f"{np.median(null_after) * 1e3:.1f} ms: {np.median(null_after) / null_alone:.2f}x"
    )


if __name__ == "__main__":
    main()
