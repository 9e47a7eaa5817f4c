"""Shared by the benchmark scripts: the reference network and a timer."""

import time

import numpy as np
import scipy.sparse as sp

from modcore.network.synthetic import random_pruned_mlp


def reference_network(seed=0):
    """The paper's 784-256-256-256-256-10 MLP shape, He-initialised, 90% pruned by magnitude."""
    return random_pruned_mlp(sparsity=0.9, seed=seed)


def live_adjacency(weights):
    """scipy CSR adjacency of |W| over the neurons that have edges."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    off = np.concatenate([[0], np.cumsum(sizes)])
    rows, cols, vals = [], [], []
    for l, w in enumerate(weights):
        r, c = np.nonzero(w)
        rows.append(r + off[l])
        cols.append(c + off[l + 1])
        vals.append(np.abs(w[r, c]))
    r, c, v = (np.concatenate(x) for x in (rows, cols, vals))
    a = sp.coo_matrix((v, (r, c)), shape=(off[-1], off[-1])).tocsr()
    a = a + a.T
    live = np.asarray(a.sum(axis=1)).ravel() > 0
    return a[live][:, live].tocsr()


def shifted_normalized(adj):
    """(I + D^-1/2 A D^-1/2) / 2: the plain form whose top eigenvectors are wanted."""
    d = 1.0 / np.sqrt(np.asarray(adj.sum(axis=1)).ravel())
    n = sp.diags(d) @ adj @ sp.diags(d)
    return ((sp.eye(adj.shape[0]) + n) / 2).tocsr()


def best_time(fn, repeats):
    """Smallest wall time of `repeats` calls (the least disturbed by a noisy machine)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, and the core count (numbers depend on both)."""
    import os

    try:
        with open("/proc/cpuinfo") as f:
            name = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        name = "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"


def sklearn_ncut(adj, seed):
    """The authors' pipeline on one graph: scikit-learn's SpectralClustering (arpack,
    k-means with 25 restarts, k = 12) on the adjacency, scored by modcore's n-cut."""
    from sklearn.cluster import SpectralClustering

    import modcore

    labels = SpectralClustering(
        12,
        affinity="precomputed",
        eigen_solver="arpack",
        n_init=25,
        assign_labels="kmeans",
        random_state=seed,
    ).fit_predict(adj)
    return modcore.ncut(adj, labels)
