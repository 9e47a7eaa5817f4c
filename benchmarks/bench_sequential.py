"""Sequential p-values (Besag and Clifford 1991): shuffles run and time saved.

    python benchmarks/bench_sequential.py [--quick] [--checkpoint fashion_mlp_pruned.pt]

For each network, ``ncut_significance(n_shuffles=N)`` and the same with
``stop_after=10``, same seed, in this process (n_jobs=2, k=12, "layer"
shuffles): shuffles run, seconds and p-values. The networks: the reference net
(random weights, so not modular: the sequential test stops early) and, with
``--checkpoint``, a trained network (e.g. from ``benchmarks/train_reference.py``;
modular, so all N shuffles run and the p-values are equal).
"""

import argparse
import os
import time

import modcore
from common import reference_network


def compare(name, network, n_shuffles, stop_after):
    rows = []
    for stop in (None, stop_after):
        t = time.perf_counter()
        sig = modcore.ncut_significance(
            network, n_shuffles=n_shuffles, stop_after=stop, seed=0, n_jobs=2, progress=False
        )
        rows.append((time.perf_counter() - t, sig))
    (t_fixed, fixed), (t_seq, seq) = rows
    print(
        f"{name}: n-cut {fixed.ncut:.4f}, null {fixed.shuffled_mean:.4f} ± {fixed.shuffled_std:.4f}"
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
    args = parser.parse_args()
    n_shuffles = 200 if args.quick else 1000
    print(f"load average {os.getloadavg()[0]:.1f} at the start (other jobs share the machine)")
    compare("reference net (random, 90% pruned)", reference_network(0), n_shuffles, args.stop_after)
    if args.checkpoint:
        network = modcore.weights_from_module(args.checkpoint)
        compare(f"trained: {args.checkpoint}", network, n_shuffles, args.stop_after)


if __name__ == "__main__":
    main()
