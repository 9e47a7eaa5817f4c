"""Scaling to large networks: time and peak memory at 10^5, 10^6 and 10^7 edges.

    python benchmarks/bench_large.py [--quick]

Each size runs in a fresh subprocess, so its peak resident memory is its own.
Memory is reported as the peak growth over the process after the weights exist,
divided by the edge storage (12 bytes an edge: a float64 weight and an int32
index), so that dense n x n work anywhere would show as a huge ratio.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

SIZES = {  # widths, sparsity -> about the edge count in the name
    "1e5": ((784, 256, 256, 256, 10), 0.62),
    "1e6": ((784, 1024, 1024, 1024, 10), 0.65),
    "1e7": ((784, 4096, 4096, 2048, 10), 0.60),
}


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(name, shuffles):
    import modcore
    from modcore.synthetic import random_pruned_mlp

    widths, sparsity = SIZES[name]
    weights = [w.astype(np.float32) for w in random_pruned_mlp(widths, sparsity, seed=0)]
    edges = sum(int(np.count_nonzero(w)) for w in weights)
    base = peak_rss_bytes()
    t = time.perf_counter()
    res = modcore.spectral_cluster(weights, seed=0)
    t_cluster = time.perf_counter() - t
    mem_cluster = peak_rss_bytes() - base
    t = time.perf_counter()
    modcore.ncut_significance(weights, n_shuffles=shuffles, seed=0, progress=False)
    t_null = time.perf_counter() - t - t_cluster  # ncut_significance clusters the net first
    mem_null = peak_rss_bytes() - base
    print(
        json.dumps(
            {
                "name": name,
                "edges": edges,
                "nodes": sum(widths),
                "ncut": res.ncut,
                "t_cluster": t_cluster,
                "t_shuffles": t_null,
                "shuffles": shuffles,
                "mem_cluster": mem_cluster,
                "mem_null": mem_null,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 1e5 and 1e6 edges")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--shuffles", type=int, default=10)
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.shuffles)
        return
    names = ["1e5", "1e6"] if args.quick else list(SIZES)
    print(
        f"{'edges':>10s} {'nodes':>7s} {'cluster s':>10s} {'10 shuffles s':>14s} "
        f"{'peak MB':>8s} {'mem/edge storage':>17s}"
    )
    previous = None
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--shuffles", str(args.shuffles)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        storage = 12 * r["edges"]
        print(
            f"{r['edges']:10d} {r['nodes']:7d} {r['t_cluster']:10.2f} {r['t_shuffles']:14.2f} "
            f"{r['mem_null'] / 2**20:8.0f} {r['mem_null'] / storage:17.1f}"
        )
        if previous:
            growth = (r["t_cluster"] / previous["t_cluster"]) / (r["edges"] / previous["edges"])
            print(f"{'':10s} time per edge vs previous size: {growth:.2f}x")
        previous = r


if __name__ == "__main__":
    main()
