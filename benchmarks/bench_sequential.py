"""Sequential p-values (Besag and Clifford 1991): shuffles run and time saved.

    python benchmarks/bench_sequential.py [--quick] [--checkpoint fashion_mlp_pruned.pt]
        [--no-reference] [--shuffle layer --shuffle layer_nonzero] [--n-jobs 2]

For each network and null, ``ncut_significance(n_shuffles=N)`` and the same with
``stop_after=10``, same seed, in this process (k=12, "layer" shuffles unless
``--shuffle`` says otherwise): shuffles run, seconds and p-values. The networks: the
reference net (random weights, so not modular: the sequential test stops early;
``--no-reference`` leaves it out) and, with ``--checkpoint``, a trained network
(e.g. from ``modcore reproduce`` or ``benchmarks/train_reference.py``; if it is below
all its shuffles, all N run and the p-values are equal).
"""

import argparse
import os
import time

import modcore
from common import reference_network


def compare(name, network, n_shuffles, stop_after, shuffle="layer", n_jobs=2):
    rows = []
    for stop in (None, stop_after):
        t = time.perf_counter()
        sig = modcore.ncut_significance(
            network,
            n_shuffles=n_shuffles,
            stop_after=stop,
            shuffle=shuffle,
            seed=0,
            n_jobs=n_jobs,
            progress=False,
        )
        rows.append((time.perf_counter() - t, sig))
    (t_fixed, fixed), (t_seq, seq) = rows
    print(
        f"{name}, '{shuffle}' null: n-cut {fixed.ncut:.4f}, null {fixed.shuffled_mean:.4f} ± "
        f"{fixed.shuffled_std:.4f}, z {fixed.z_score:.2f}"
    )
    print(
        f"  fixed N={n_shuffles}:      {fixed.n_shuffles:5d} shuffles {t_fixed:7.1f} s  "
        f"p = {fixed.p_value:.4g}"
    )
    print(
        f"  stop_after={stop_after}:     {seq.n_shuffles:5d} shuffles {t_seq:7.1f} s  "
        f"p = {seq.p_value:.4g}   ({n_shuffles / seq.n_shuffles:.1f}x fewer shuffles, "
        f"{t_fixed / t_seq:.1f}x less time)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 200 instead of 1000")
    parser.add_argument("--checkpoint", help="a trained network (weight file or checkpoint)")
    parser.add_argument("--stop-after", type=int, default=10, help="h (default 10)")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference net")
    parser.add_argument(
        "--shuffle", action="append", help="null(s) to test (repeatable; default layer)"
    )
    parser.add_argument("--n-jobs", type=int, default=2, help="threads (default 2)")
    args = parser.parse_args()
    n_shuffles = 200 if args.quick else 1000
    print(f"load average {os.getloadavg()[0]:.1f} at the start (other jobs share the machine)")
    networks = (
        [] if args.no_reference else [("reference net (random, 90% pruned)", reference_network(0))]
    )
    if args.checkpoint:
        networks.append(
            (f"trained: {args.checkpoint}", modcore.weights_from_module(args.checkpoint))
        )
    for name, network in networks:
        for shuffle in args.shuffle or ["layer"]:
            compare(name, network, n_shuffles, args.stop_after, shuffle, args.n_jobs)


if __name__ == "__main__":
    main()
