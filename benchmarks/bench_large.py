"""Scaling to large networks: time and peak memory at 10^5, 10^6 and 10^7 edges.

    python benchmarks/bench_large.py [--quick]

Each size runs in a fresh subprocess. Memory is the growth of the peak resident
set (VmHWM) over the resident set just before the call, once the weights exist:
the peak is reset before each call (Linux /proc/self/clear_refs), so the
temporaries of making the weights do not hide the call's own peak. It is
divided by the edge storage (12 bytes an edge: a float64 weight and an int32
index), so that dense n x n work anywhere would show as a huge ratio. Both calls
run on all cores unless --jobs says otherwise; from 2^22 edges a null runs one
shuffle at a time with the threads inside its products, below that one shuffle
per thread (memory then grows with the threads: one graph each).
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import time

import numpy as np

from common import cpu_name

SIZES = {  # widths, sparsity -> about the edge count in the name
    "1e5": ((784, 256, 256, 256, 10), 0.62),
    "1e6": ((784, 1024, 1024, 1024, 10), 0.65),
    "1e7": ((784, 4096, 4096, 2048, 10), 0.60),
}


def status_bytes(field):
    """A memory figure of this process from /proc/self/status ("VmRSS", "VmHWM")."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def start_peak():
    """Reset the peak resident set to the current one and return the current one."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_bytes("VmRSS")


def peak_growth(base):
    return status_bytes("VmHWM") - base


def run_one(name, shuffles, n_jobs):
    import modcore
    from modcore.network.synthetic import random_pruned_mlp

    widths, sparsity = SIZES[name]
    weights = [w.astype(np.float32) for w in random_pruned_mlp(widths, sparsity, seed=0)]
    edges = sum(int(np.count_nonzero(w)) for w in weights)
    base = start_peak()
    t, cpu = time.perf_counter(), time.process_time()
    res = modcore.spectral_cluster(weights, seed=0, n_jobs=n_jobs)
    t_cluster, cpu_cluster = time.perf_counter() - t, time.process_time() - cpu
    mem_cluster = peak_growth(base)
    base = start_peak()
    t, cpu = time.perf_counter(), time.process_time()
    sig = modcore.ncut_significance(
        weights, n_shuffles=shuffles, seed=0, n_jobs=n_jobs, progress=False
    )
    # ncut_significance clusters the net first
    t_null = time.perf_counter() - t - t_cluster
    cpu_null = time.process_time() - cpu - cpu_cluster
    mem_null = peak_growth(base)
    print(
        json.dumps(
            {
                "name": name,
                "edges": edges,
                "nodes": sum(widths),
                "ncut": res.ncut,
                "shuffled_ncuts": sig.shuffled_ncuts.tolist(),
                "threads": n_jobs or len(os.sched_getaffinity(0)),
                "t_cluster": t_cluster,
                "t_shuffles": t_null,
                "cpu_cluster": cpu_cluster,
                "cpu_shuffles": cpu_null,
                "shuffles": shuffles,
                "mem_cluster": mem_cluster,
                "mem_null": mem_null,
            }
        )
    )


def per_edge_growth(r, previous, key):
    """How much r[key] per edge grew from the previous size (1.0: linear in edges)."""
    return (r[key] / previous[key]) / (r["edges"] / previous["edges"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only 1e5 and 1e6 edges")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), help="only these sizes")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--shuffles", type=int, default=10)
    parser.add_argument("--jobs", type=int, help="threads (default: all cores)")
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.shuffles, args.jobs)
        return
    names = args.sizes or (["1e5", "1e6"] if args.quick else list(SIZES))
    print(f"{cpu_name()}; threads: {args.jobs or 'all cores'}")
    print(
        f"{'edges':>10s} {'nodes':>7s} {'cluster s':>10s} {f'{args.shuffles} shuffles s':>14s} "
        f"{'cluster MiB':>11s} {'null MiB':>8s} {'cluster/storage':>15s} {'null/storage':>12s}"
    )
    previous = None
    for name in names:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--shuffles", str(args.shuffles)]
            + (["--jobs", str(args.jobs)] if args.jobs else []),
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        storage = 12 * r["edges"]
        print(
            f"{r['edges']:10d} {r['nodes']:7d} {r['t_cluster']:10.2f} {r['t_shuffles']:14.2f} "
            f"{r['mem_cluster'] / 2**20:11.0f} {r['mem_null'] / 2**20:8.0f} "
            f"{r['mem_cluster'] / storage:15.2f} {r['mem_null'] / storage:12.2f}"
        )
        print(
            f"{'':10s} CPU s: cluster {r['cpu_cluster']:.2f}, shuffles {r['cpu_shuffles']:.2f}; "
            f"n-cut {r['ncut']!r}, first shuffles {r['shuffled_ncuts'][:3]!r}"
        )
        if previous:
            g = {
                k: per_edge_growth(r, previous, k)
                for k in ("t_cluster", "cpu_cluster", "t_shuffles", "cpu_shuffles")
            }
            print(
                f"{'':10s} per edge vs previous size: cluster {g['t_cluster']:.2f}x "
                f"(CPU {g['cpu_cluster']:.2f}x), shuffles {g['t_shuffles']:.2f}x "
                f"(CPU {g['cpu_shuffles']:.2f}x)"
            )
        previous = r


if __name__ == "__main__":
    main()
