"""Does the n-cut move with the seed, the order of units or a 1e-3 jitter? Against the null std.

    python benchmarks/bench_stability.py [--quick] [--fashion net.pt] [--demo net.pt]

For each network and each clustering rule, three spreads (standard deviations
of the network's n-cut), each divided by the std of a null of N "layer"
shuffles clustered by the same rule (what a z-score divides by):

- "seed": over seeds 0..S-1;
- "order": over R relabellings of the network at a fixed seed, each permuting
  the units of every layer (inputs and outputs too) together with their weights
  (rows of W_l and columns of W_{l-1}): the same network, the same function;
- "jitter": over copies with every weight multiplied by 1 + 1e-3 N(0, 1), seed
  fixed: how much of a rule's n-cut is a frozen draw rather than the network's.

The target is <= 0.25 null std: then z moves by at most about a quarter. A
rule free of a source shows 0 (to rounding). The wall time per shuffle is for
--jobs threads on whatever else the machine runs. Networks: the reference net
(random pruned 784-256x4-10), a trained Fashion-MNIST MLP (``--fashion``, e.g.
from ``benchmarks/train_reference.py``) and the net ``modcore demo`` trains
(``modcore train --dataset fashion --epochs 3 --n-train 10000 --seed 0``);
a missing checkpoint is skipped with a note.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import modcore
from common import cpu_name, reference_network

KM = dict(assign_labels="kmeans", refine=False)
RULES = {
    "kmeans, inertia, n_init=10": dict(KM, n_init=10),
    "kmeans, inertia, n_init=25 (authors)": dict(KM, n_init=25),
    "kmeans, inertia, n_init=100": dict(KM, n_init=100),
    "kmeans, ncut, n_init=10": dict(KM, n_init=10, select_by="ncut"),
    "kmeans, ncut, n_init=25": dict(KM, n_init=25, select_by="ncut"),
    "kmeans, inertia, n_init=10, refine": dict(KM, n_init=10, refine=True),
    "kmeans, ncut, n_init=10, refine": dict(KM, n_init=10, select_by="ncut", refine=True),
    "kmeans, ncut, n_init=25, refine": dict(KM, n_init=25, select_by="ncut", refine=True),
    "cluster_qr": dict(assign_labels="cluster_qr", refine=False),
    "cluster_qr, refine (default)": dict(assign_labels="cluster_qr", refine=True),
}
# Relative noise on every weight: a network no one could tell from the original.
JITTER = 1e-3


def relabelled(network, rng):
    """The network with the units of every layer in a random order, weights moved along."""
    perms = [rng.permutation(network[0].shape[0])] + [rng.permutation(w.shape[1]) for w in network]
    return [w[perms[l]][:, perms[l + 1]] for l, w in enumerate(network)]


def spread_row(network, rule, n_seeds, n_orders, n_shuffles, n_jobs):
    def ncut(net, seed):
        return modcore.spectral_cluster(net, seed=seed, n_jobs=n_jobs, **rule).ncut

    ncuts = np.array([ncut(network, s) for s in range(n_seeds)])
    rng = np.random.default_rng(0)
    orders = [ncut(relabelled(network, rng), 0) for _ in range(n_orders)]
    jittered = [
        ncut([w * (1 + JITTER * rng.standard_normal(w.shape)) for w in network], 0)
        for _ in range(n_seeds)
    ]
    start = time.perf_counter()
    null = modcore.ncut_significance(
        network, n_shuffles=n_shuffles, seed=1000, n_jobs=n_jobs, progress=False, **rule
    )
    seconds = (time.perf_counter() - start) / n_shuffles
    z = (np.concatenate([ncuts, orders]) - null.shuffled_mean) / null.shuffled_std
    return dict(
        mean=ncuts.mean(),
        spread=ncuts.std(ddof=1),
        order=np.std(orders, ddof=1),
        order_range=np.ptp(orders),
        jitter=np.std(jittered, ddof=1),
        null_mean=null.shuffled_mean,
        null_std=null.shuffled_std,
        z_lo=z.min(),
        z_hi=z.max(),
        ms=seconds * 1e3,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="5 seeds, 5 orders, 50 shuffles, 3 rules"
    )
    parser.add_argument(
        "--fashion",
        type=Path,
        default=Path("fashion_mlp_pruned.pt"),
        help="checkpoint of the trained Fashion-MNIST net",
    )
    parser.add_argument(
        "--demo", type=Path, default=Path("demo.pt"), help="checkpoint of the demo net"
    )
    parser.add_argument("--seeds", type=int, default=20, help="seeds, and jittered copies")
    parser.add_argument("--orders", type=int, default=20, help="relabellings")
    parser.add_argument("--shuffles", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=None, help="threads (default: all cores)")
    parser.add_argument("--rules", nargs="*", choices=list(RULES), help="default: all")
    parser.add_argument(
        "--nets",
        nargs="*",
        choices=["reference", "fashion", "demo"],
        default=["reference", "fashion", "demo"],
    )
    args = parser.parse_args()
    n_seeds, n_orders, n_shuffles = (
        (5, 5, 50) if args.quick else (args.seeds, args.orders, args.shuffles)
    )
    rules = args.rules or (list(RULES)[:1] + list(RULES)[-2:] if args.quick else list(RULES))

    nets = {"reference": reference_network(0)} if "reference" in args.nets else {}
    for name, path in (("fashion", args.fashion), ("demo", args.demo)):
        if name not in args.nets:
            continue
        if path.exists():
            nets[name] = modcore.weights_from_module(path)
        else:
            print(f"({name}: no checkpoint at {path}; skipped)")
    print(
        f"CPU: {cpu_name()}; {n_seeds} seeds, {n_orders} unit orders, {n_seeds} jittered "
        f"copies, {n_shuffles} 'layer' shuffles, k=12; spreads in null std"
    )
    print(
        f"{'net':10s} {'rule':36s} {'mean n-cut':>10s} {'null mean':>10s} {'null std':>8s} "
        f"{'seed':>6s} {'order':>6s} {'(range)':>7s} {'jitter':>6s} {'z range':>15s} "
        f"{'wall ms/shuffle':>15s}"
    )
    for name, net in nets.items():
        for rule in rules:
            r = spread_row(net, RULES[rule], n_seeds, n_orders, n_shuffles, args.jobs)
            std = r["null_std"]
            print(
                f"{name:10s} {rule:36s} {r['mean']:10.4f} {r['null_mean']:10.4f} {std:8.4f} "
                f"{r['spread'] / std:6.2f} {r['order'] / std:6.2f} {r['order_range'] / std:7.2f} "
                f"{r['jitter'] / std:6.2f} {r['z_lo']:+7.2f}..{r['z_hi']:+6.2f} {r['ms']:15.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
