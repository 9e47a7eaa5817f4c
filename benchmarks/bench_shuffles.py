"""The shuffle null on the reference net: modcore vs the authors' way vs eigsh alone, at equal
cores.

    python benchmarks/bench_shuffles.py [--quick]

For 1 and then 2 cores, each side limited to that many:
(a) the authors' way: scikit-learn SpectralClustering (arpack, n_init=25) on each
    shuffled adjacency; with 2 cores, 2 worker processes of 1 BLAS/OpenMP thread
    each (threadpoolctl), started and warmed before the clock;
(b) scipy eigsh(which="LA", tol=1e-4) on (I+N)/2 of each shuffled graph, alone
    (1 core only: the floor of any eigsh-based pipeline);
(c) modcore.ncut_significance(n_jobs=cores), default rule, warmed by a small call;
(d) modcore with the authors' rule (k-means, n_init=25, no refinement).
All on "layer" shuffles of the same network; prints ms per shuffle and ratios,
then 10,000 shuffles in one call on 2 cores (not with --quick).
"""

import argparse
import multiprocessing as mp
import time

import numpy as np
import scipy.sparse.linalg as sla
from threadpoolctl import threadpool_limits

import modcore
from common import cpu_name, live_adjacency, reference_network, shifted_normalized, sklearn_ncut

AUTHORS = dict(assign_labels="kmeans", refine=False, n_init=25)


def shuffled_adjacency(weights, index):
    return live_adjacency(modcore.shuffled_weights(weights, shuffle="layer", seed=1, index=index))


def sklearn_job(args):
    weights, index = args
    return sklearn_ncut(shuffled_adjacency(weights, index), index)


def one_thread():
    """Pool initializer: each worker process keeps its BLAS/OpenMP pools at 1 thread."""
    threadpool_limits(limits=1)


def sklearn_null(weights, n, cores):
    jobs = [(weights, i) for i in range(n)]
    if cores == 1:
        with threadpool_limits(limits=1):
            sklearn_job(jobs[0])  # warm-up
            t = time.perf_counter()
            out = [sklearn_job(j) for j in jobs]
            return (time.perf_counter() - t) / n, np.array(out)
    with mp.get_context("spawn").Pool(cores, initializer=one_thread) as pool:
        pool.map(sklearn_job, jobs[:cores], chunksize=1)  # every worker started and warm
        t = time.perf_counter()
        out = pool.map(sklearn_job, jobs, chunksize=1)
        return (time.perf_counter() - t) / n, np.array(out)


def modcore_null(weights, n, cores, **rule):
    opts = dict(shuffle="layer", seed=1, n_jobs=cores, progress=False, **rule)
    modcore.ncut_significance(weights, n_shuffles=2 * cores, **opts)  # warm-up
    t = time.perf_counter()
    res = modcore.ncut_significance(weights, n_shuffles=n, **opts)
    return (time.perf_counter() - t) / n, res


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, no 10,000-shuffle run")
    args = parser.parse_args()
    n_sk, n_mod = (4, 100) if args.quick else (20, 1000)
    weights = reference_network(0)
    print(f"CPU: {cpu_name()}; reference net, k=12, 'layer' shuffles")

    shuffled = [shifted_normalized(shuffled_adjacency(weights, i)) for i in range(n_sk)]
    with threadpool_limits(limits=1):
        sla.eigsh(shuffled[0], k=12, which="LA", tol=1e-4)
        t = time.perf_counter()
        for m in shuffled:
            sla.eigsh(m, k=12, which="LA", tol=1e-4)
        t_eigsh = (time.perf_counter() - t) / n_sk
    print(f"(b) scipy eigsh alone, 1 core, N={n_sk}: {t_eigsh * 1e3:8.1f} ms/shuffle")

    for cores in (1, 2):
        t_sk, sk = sklearn_null(weights, n_sk, cores)
        t_mod, res = modcore_null(weights, n_mod, cores)
        t_auth, auth = modcore_null(weights, max(n_mod // 5, 20), cores, **AUTHORS)
        print(f"--- {cores} core(s) each")
        print(
            f"(a) sklearn SpectralClustering, N={n_sk:5d}:      {t_sk * 1e3:8.1f} ms/shuffle  "
            f"null {sk.mean():.4f} ± {sk.std(ddof=1):.4f}"
        )
        print(
            f"(c) modcore default rule, N={n_mod:5d}:          {t_mod * 1e3:8.1f} ms/shuffle  "
            f"null {res.shuffled_mean:.4f} ± {res.shuffled_std:.4f}"
        )
        print(
            f"(d) modcore authors' rule, N={auth.n_shuffles:5d}:         {t_auth * 1e3:8.1f} "
            f"ms/shuffle  null {auth.shuffled_mean:.4f} ± {auth.shuffled_std:.4f}"
        )
        print(f"ratio (a)/(c) {t_sk / t_mod:7.1f}x  (target >= 50)")
        print(f"ratio (a)/(d) {t_sk / t_auth:7.1f}x  (the same computation as (a))")
        if cores == 1:
            print(
                f"ratio (c)/(b) {t_mod / t_eigsh:7.2f}   (target <= 0.6: faster than eigsh alone)"
            )
            print(f"(c) per shuffle on 1 core: {t_mod * 1e3:.1f} ms (target <= 10)")
        gap = abs(auth.shuffled_mean - sk.mean()) / sk.std(ddof=1)
        print(f"|mean(d) - mean(a)| = {gap:.2f} std of (a)  (same rule; within noise of N={n_sk})")
    if not args.quick:
        t = time.perf_counter()
        modcore.ncut_significance(weights, n_shuffles=10_000, seed=2, n_jobs=2, progress=False)
        print(
            f"10,000 shuffles in one call, 2 cores: {time.perf_counter() - t:.1f} s (target <= 60)"
        )


if __name__ == "__main__":
    main()
