"""Functional modules at 10^3 and 10^4 units: the coactivation graph, one clustering,
one shuffle of the null, and the comparison with weight labels.

    python benchmarks/bench_functional.py [--quick] [--samples N] [--shuffles S]

Each size runs in a fresh subprocess on one thread, so its peak resident memory is
its own. Activations are synthetic: 12 latent signals, each unit one of them plus
noise (so there are modules to find), samples x units like Fashion-MNIST's test set.
Memory is the peak growth over the process once the activations exist, divided by
one n x n float64 matrix (the size of the graph's upper-triangle entries with
their positions). The baseline is scipy.stats.spearmanr on the same matrix
(one shot, n x n result plus its temporaries), in the same process.
"""

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time

import numpy as np


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def activations(n_units, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(12, n_samples)).astype(np.float32)
    module = rng.integers(0, 12, n_units)
    return latent[module] + rng.normal(size=(n_units, n_samples)).astype(np.float32), module


def run_one(n_units, n_samples, n_shuffles, baseline):
    import scipy.stats

    import modcore
    from modcore.method.significance import ncut_significance
    from modcore.nn import Activations

    acts, module = activations(n_units, n_samples)
    base = peak_rss_bytes()
    out = {"n_units": n_units, "n_samples": n_samples}
    t = time.perf_counter()
    graph = modcore.coactivation_graph(acts)
    out["coactivation_s"] = time.perf_counter() - t
    out["coactivation_peak_over_nxn"] = (peak_rss_bytes() - base) / (8 * n_units**2)
    t = time.perf_counter()
    clustering = modcore.spectral_cluster(graph, n_clusters=12, seed=0, n_jobs=1)
    out["cluster_s"] = time.perf_counter() - t
    out["eigen_method"] = clustering.eigen_method
    out["nmi_with_planted"] = modcore.method.partition.normalized_mutual_info_score(
        clustering.labels[0], module
    )
    if n_shuffles:
        t = time.perf_counter()
        ncut_significance(
            graph, n_clusters=12, n_shuffles=n_shuffles, seed=0, n_jobs=1, progress=False
        )
        out["per_shuffle_s"] = (time.perf_counter() - t - out["cluster_s"]) / n_shuffles
    acts_obj = Activations(
        acts, ("units",), (n_units,), np.zeros(n_units, np.int64), np.arange(n_units), (), "l2"
    )
    fm = modcore.FunctionalModules(
        [clustering.labels[0]],
        ("units",),
        clustering.ncut,
        None,
        clustering,
        acts_obj,
        graph,
        "spearman",
        True,
    )
    weight = dataclasses.replace(clustering, labels=[module])
    t = time.perf_counter()
    modcore.compare_modules(fm, weight, n_permutations=100, seed=0)
    out["compare_100_permutations_s"] = time.perf_counter() - t
    out["peak_over_nxn"] = (peak_rss_bytes() - base) / (8 * n_units**2)
    if baseline:  # last, so that its temporaries are not in the peaks above
        t = time.perf_counter()
        scipy.stats.spearmanr(acts, axis=1)
        out["scipy_spearmanr_s"] = time.perf_counter() - t
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10^3 units and 2000 samples only")
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--shuffles", type=int, default=3)
    parser.add_argument("--one", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(*args.one)
        return
    sizes = [1000] if args.quick else [1000, 10000]
    samples = 2000 if args.quick else args.samples
    print(
        f"{'units':>6s} {'samples':>7s} {'coact s':>8s} {'scipy s':>8s} {'mem/nxn':>7s} "
        f"{'cluster s':>9s} {'shuffle s':>9s} {'cmp100 s':>8s} {'NMI':>5s}"
    )
    for n in sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), str(samples), str(args.shuffles), "1"],
            capture_output=True,
            text=True,
            env={
                "OMP_NUM_THREADS": "1",
                "OPENBLAS_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1",
                "PATH": "",
                **_pythonpath(),
            },
        )
        if proc.returncode != 0:
            print(proc.stderr)
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{n:6d} {samples:7d} {r['coactivation_s']:8.2f} {r['scipy_spearmanr_s']:8.2f} "
            f"{r['peak_over_nxn']:7.2f} {r['cluster_s']:9.2f} "
            f"{r.get('per_shuffle_s', float('nan')):9.2f} "
            f"{r['compare_100_permutations_s']:8.2f} {r['nmi_with_planted']:5.2f}"
        )


def _pythonpath():
    import os

    return {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")}


if __name__ == "__main__":
    main()
