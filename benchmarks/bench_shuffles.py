"""The shuffle null on the reference net: modcore vs the authors' way vs eigsh alone.

    python benchmarks/bench_shuffles.py [--quick]

(a) scikit-learn SpectralClustering (arpack, n_init=25) on each shuffled
    adjacency, over 2 worker processes (how the paper's code ran the null);
(b) scipy eigsh(which="LA", tol=1e-4) on (I+N)/2 of each shuffled graph, alone;
(c) modcore.ncut_significance(n_jobs=2).
All on "layer" shuffles of the same network, in this process; prints seconds per
shuffle and the ratios.
"""

import argparse
import multiprocessing as mp
import time

import numpy as np
import scipy.sparse.linalg as sla
from sklearn.cluster import SpectralClustering

import modcore
from common import live_adjacency, reference_network, shifted_normalized


def ncut_of(adj, labels):
    deg = np.asarray(adj.sum(axis=1)).ravel()
    return sum(adj[labels == a][:, labels != a].sum() / deg[labels == a].sum()
               for a in np.unique(labels))


def sklearn_shuffle(args):
    weights, index = args
    adj = live_adjacency(modcore.shuffled_weights(weights, shuffle="layer", seed=1, index=index))
    labels = SpectralClustering(12, affinity="precomputed", eigen_solver="arpack", n_init=25,
                                assign_labels="kmeans", random_state=index).fit_predict(adj)
    return ncut_of(adj, labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, no 10,000-shuffle run")
    args = parser.parse_args()
    n_sk, n_mod = (6, 100) if args.quick else (20, 1000)
    weights = reference_network(0)

    t = time.perf_counter()
    with mp.get_context("spawn").Pool(2) as pool:
        sk_ncuts = np.array(pool.map(sklearn_shuffle, [(weights, i) for i in range(n_sk)]))
    t_sk = (time.perf_counter() - t) / n_sk

    shuffled = [shifted_normalized(live_adjacency(modcore.shuffled_weights(weights, shuffle="layer", seed=1, index=i)))
                for i in range(n_sk)]
    t = time.perf_counter()
    for m in shuffled:
        sla.eigsh(m, k=12, which="LA", tol=1e-4)
    t_eigsh = (time.perf_counter() - t) / n_sk

    t = time.perf_counter()
    res = modcore.ncut_significance(weights, n_shuffles=n_mod, shuffle="layer", seed=1, n_jobs=2,
                                    progress=False)
    t_mod = (time.perf_counter() - t) / n_mod

    print(f"reference net, k=12, 'layer' shuffles; modcore n_init={res.n_init}")
    print(f"(a) sklearn SpectralClustering, 2 processes, N={n_sk:5d}: {t_sk * 1e3:8.1f} ms/shuffle  "
          f"ncut {sk_ncuts.mean():.4f} ± {sk_ncuts.std(ddof=1):.4f}")
    print(f"(b) scipy eigsh alone, 1 process,        N={n_sk:5d}: {t_eigsh * 1e3:8.1f} ms/shuffle")
    print(f"(c) modcore n_jobs=2,                    N={n_mod:5d}: {t_mod * 1e3:8.1f} ms/shuffle  "
          f"ncut {res.shuffled_mean:.4f} ± {res.shuffled_std:.4f}")
    print(f"ratio (a)/(c) {t_sk / t_mod:7.1f}x  (target >= 40)")
    print(f"ratio (b)/(c) {t_eigsh / t_mod:7.2f}x  (target >= 1)")
    gap = abs(res.shuffled_mean - sk_ncuts.mean()) / sk_ncuts.std(ddof=1)
    print(f"|mean(c) - mean(a)| = {gap:.2f} std of (a)  (target <= 2)")
    if not args.quick:
        t = time.perf_counter()
        modcore.ncut_significance(weights, n_shuffles=10_000, seed=2, n_jobs=2, progress=False)
        print(f"10,000 shuffles in one call: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
