"""One full clustering of the reference net: modcore vs scikit-learn vs scipy's eigsh.

    python benchmarks/bench_cluster.py [--quick]

Prints seconds per clustering and ratios against the baselines, all measured in
this process on the same network.
"""

import argparse

import numpy as np
import scipy.sparse.linalg as sla
from sklearn.cluster import SpectralClustering

import modcore
from common import best_time, live_adjacency, reference_network, shifted_normalized


def ncut_of(adj, labels):
    deg = np.asarray(adj.sum(axis=1)).ravel()
    total = 0.0
    for a in np.unique(labels):
        m = labels == a
        total += adj[m][:, ~m].sum() / deg[m].sum()
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    weights = reference_network(0)
    adj = live_adjacency(weights)
    print(f"reference net: {adj.shape[0]} live neurons, {adj.nnz // 2} edges, k=12, 1 thread")

    t_mod, res = best_time(lambda: modcore.spectral_cluster(weights, seed=0, n_jobs=1), repeats)
    t_full, _ = best_time(
        lambda: modcore.spectral_cluster(weights, seed=0, n_jobs=1, eigen_method="full"), repeats)
    t_mod2, _ = best_time(lambda: modcore.spectral_cluster(weights, seed=0, n_jobs=2), repeats)
    m = shifted_normalized(adj)
    t_eigsh, _ = best_time(lambda: sla.eigsh(m, k=12, which="LA", tol=1e-4), repeats)
    sc = SpectralClustering(12, affinity="precomputed", eigen_solver="arpack", n_init=25,
                            assign_labels="kmeans", random_state=0)
    t_skl, sk_labels = best_time(lambda: sc.fit_predict(adj), max(1, repeats // 3))

    print(f"modcore spectral_cluster (bipartite, n_init=10) {t_mod * 1e3:8.1f} ms  ncut={res.ncut:.4f}")
    print(f"modcore spectral_cluster, 2 threads              {t_mod2 * 1e3:8.1f} ms")
    print(f"modcore with eigen_method='full'                 {t_full * 1e3:8.1f} ms")
    print(f"scipy eigsh(which='LA', tol=1e-4) on (I+N)/2     {t_eigsh * 1e3:8.1f} ms")
    print(f"sklearn SpectralClustering(arpack, n_init=25)    {t_skl * 1e3:8.1f} ms  "
          f"ncut={ncut_of(adj, sk_labels):.4f}")
    print(f"ratio sklearn / modcore        {t_skl / t_mod:6.1f}x   (target >= 20)")
    print(f"ratio eigsh alone / modcore    {t_eigsh / t_mod:6.2f}x   (target >= 1)")
    print(f"ratio full / bipartite form    {t_full / t_mod:6.2f}x")


if __name__ == "__main__":
    main()
