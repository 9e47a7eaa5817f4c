"""Peak memory of the "layer" null on one sparse 20,000 x 20,000 layer with 2,000 non-zeros.

    python benchmarks/layer_shuffle_memory.py [--quick]

Before (computed, not run: it needs gigabytes): the old "layer" shuffle drew an
int64 permutation of all n_in * n_out positions, per shuffle and thread, i.e.
8 * 20,000 * 20,000 bytes = 3.2 GB each. After (measured): each size runs in a
fresh subprocess, and the peak resident memory of ncut_significance is reported
as its growth over the process once the network exists.
"""

import argparse
import json
import resource
import subprocess
import sys

import numpy as np

N, NNZ = 20_000, 2_000


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_one(n_shuffles, n_jobs):
    import modcore

    rng = np.random.default_rng(0)
    flat = rng.choice(N * N, size=NNZ, replace=False)
    net = modcore.Network(
        [("in", N), ("out", N)], [("in", "out", (flat // N, flat % N, rng.normal(size=NNZ)))]
    )
    base = peak_rss_bytes()
    sig = modcore.ncut_significance(
        net, n_clusters=12, n_shuffles=n_shuffles, seed=0, n_jobs=n_jobs, progress=False
    )
    print(
        json.dumps(
            {
                "shuffles": n_shuffles,
                "jobs": n_jobs,
                "base": base,
                "growth": peak_rss_bytes() - base,
                "ncut": sig.ncut,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 shuffles only")
    parser.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(*args.one)
        return
    runs = [(2, 2)] if args.quick else [(2, 1), (2, 2), (200, 2)]
    print(
        f"{'shuffles':>8s} {'threads':>7s} {'before (computed) MB':>21s} "
        f"{'after: peak growth MB':>22s} {'process peak MB':>16s}"
    )
    for n_shuffles, n_jobs in runs:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n_shuffles), str(n_jobs)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        before = 8 * N * N * min(n_shuffles, n_jobs)  # one permutation per thread at a time
        print(
            f"{n_shuffles:8d} {n_jobs:7d} {before / 1e6:21.0f} {r['growth'] / 1e6:22.1f} "
            f"{(r['base'] + r['growth']) / 1e6:16.0f}"
        )


if __name__ == "__main__":
    main()
