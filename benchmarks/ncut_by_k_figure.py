"""The README's k-sweep figure: a trained network's n-cut at k = 2..20 against its null.

    python benchmarks/ncut_by_k_figure.py results/checkpoints/fashion_pruned_dropout_seed0.pt \\
        [--n-shuffles 200] [--shuffle layer] [--seed 0] [--n-jobs 1] [--out docs/ncut-by-k.png]

Reads a checkpoint of ``modcore reproduce`` / ``modcore train`` (or any weight file),
prints the eigengap's suggestion and, per k, the n-cut, the null's mean and std, z and p
of ``modcore.ncut_curve(ks=range(2, 21))`` (modcore's default label rule), and draws
``modcore.report.plot.ncut_by_k`` of it to ``--out``.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import modcore
from modcore.method.eigengap import EigengapWarning
from modcore.report import plot


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", type=Path, help="a checkpoint or weight file")
    parser.add_argument("--n-shuffles", type=int, default=200, help="shuffles per k (200)")
    parser.add_argument("--shuffle", default="layer", help="the null (layer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1, help="threads (1: the machine is shared)")
    parser.add_argument("--out", type=Path, default=Path("docs/ncut-by-k.png"))
    args = parser.parse_args()
    print(f"{args.network}; load average {os.getloadavg()[0]:.1f} at the start")
    if args.network.suffix in (".pt", ".pth"):
        from modcore.nn import checkpoint

        meta = checkpoint.load(args.network).metadata
        keys = ("dataset", "condition", "seed", "test_accuracy")
        print("checkpoint:", ", ".join(f"{k} {meta[k]}" for k in keys if k in meta))
    network = modcore.Network.from_weights(modcore.weights_from_module(args.network))
    print(f"layer sizes {'-'.join(map(str, network.sizes))}")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EigengapWarning)
        gap = modcore.eigengap(network, seed=args.seed)
    print(f"eigengap: k = {gap.k}, relative gap {gap.relative_gaps[gap.k - 2]:.3f}")
    for w in caught:
        print(f"  {w.message}")

    start = time.perf_counter()
    curve = modcore.ncut_curve(
        network,
        ks=range(2, 21),
        n_shuffles=args.n_shuffles,
        shuffle=args.shuffle,
        seed=args.seed,
        n_jobs=args.n_jobs,
        progress=False,
    )
    print(
        f"ncut_curve: {args.n_shuffles} '{args.shuffle}' shuffles per k, "
        f"{time.perf_counter() - start:.0f} s (n_jobs={args.n_jobs})"
    )
    print(f"{'k':>3s} {'n-cut':>8s} {'mean':>8s} {'std':>8s} {'z':>8s} {'p':>8s} {'below':>6s}")
    for sig in curve.significances:
        print(
            f"{sig.n_clusters:3d} {sig.ncut:8.4f} {sig.shuffled_mean:8.4f} "
            f"{sig.shuffled_std:8.4f} {sig.z_score:8.2f} {sig.p_value:8.4f} "
            f"{sig.percentile:5.1f}%"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot.ncut_by_k(curve).savefig(args.out, dpi=100)
    print(f"figure written to {args.out}")


if __name__ == "__main__":
    main()
