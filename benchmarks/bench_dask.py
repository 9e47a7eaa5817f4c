"""Shuffle-null throughput on Dask vs in this process, on the reference net.

    python benchmarks/bench_dask.py [--quick] [--shuffles N] [--scheduler tcp://host:8786]

(a) in-process: modcore.ncut_significance(..., n_jobs=<this machine's cores>);
(b) Dask: the same call with client=, by default on a LocalCluster of 2 worker
    processes x 1 thread started here, or on the running cluster at --scheduler
    (start one with `dask scheduler` and `dask worker tcp://host:8786 --nthreads 1
    --nworkers <cores>` on each machine; every worker needs modcore installed).
Both whole calls (own clustering + null), 'layer' shuffles, the same seed; prints
shuffles/s, the ratio (b)/(a), and checks that the two nulls are identical.
"""

import argparse
import logging
import os
import time

import numpy as np

import modcore
from common import best_time, reference_network


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 shuffles, one repeat")
    parser.add_argument("--shuffles", type=int, help="null size (default 400; 40 with --quick)")
    parser.add_argument(
        "--scheduler",
        help="address of a running Dask scheduler (default: a LocalCluster of 2 worker processes)",
    )
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    n = args.shuffles or (40 if args.quick else 400)
    repeats = 1 if args.quick else 2
    weights = reference_network(0)
    cores = os.cpu_count() or 1
    opts = dict(n_clusters=12, n_shuffles=n, shuffle="layer", seed=1, progress=False)

    cluster = None
    start = time.perf_counter()
    if args.scheduler:
        client = Client(args.scheduler, timeout="30s")
        where = f"cluster at {args.scheduler}"
    else:
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
        client = Client(cluster)
        where = "LocalCluster, 2 worker processes x 1 thread"
    try:
        client.wait_for_workers(1, timeout=60)
        t_start = time.perf_counter() - start
        threads = sum(client.nthreads().values())
        # Warm-up: workers import modcore and load the extension on their first task.
        modcore.ncut_significance(weights, **{**opts, "n_shuffles": 2}, client=client)
        modcore.ncut_significance(weights, **{**opts, "n_shuffles": 2}, n_jobs=cores)

        t_local, here = best_time(
            lambda: modcore.ncut_significance(weights, **opts, n_jobs=cores), repeats
        )
        t_dask, there = best_time(
            lambda: modcore.ncut_significance(weights, **opts, client=client), repeats
        )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

    same = np.array_equal(here.shuffled_ncuts, there.shuffled_ncuts) and here.ncut == there.ncut
    print(f"reference net, k=12, {n} 'layer' shuffles, best of {repeats}")
    print(f"(a) in-process, n_jobs={cores}: {t_local:7.2f} s {n / t_local:7.1f} shuffles/s")
    print(
        f"(b) Dask, {threads} worker threads: {t_dask:7.2f} s {n / t_dask:7.1f} shuffles/s  "
        f"({where}; up in {t_start:.1f} s, not counted)"
    )
    print(
        f"ratio (b)/(a) throughput {t_local / t_dask:6.2f}x  "
        f"(per thread: {(t_local * cores) / (t_dask * threads):.2f}x)"
    )
    print(f"nulls identical: {same}")
    if not same:
        raise SystemExit("the Dask null differs from the in-process null")


if __name__ == "__main__":
    main()
