"""Does the network's n-cut move with the seed? Its spread over seeds against the null's std.

    python benchmarks/bench_stability.py [--quick] [--fashion net.pt] [--demo net.pt]

For each network and each clustering rule: the network's n-cut for seeds
0..S-1 (its standard deviation is the "spread"), and a null of N "layer"
shuffles clustered by the same rule (its standard deviation is what a z-score
divides by). The target is spread <= 0.25 null std: then z moves by at most
about a quarter with the seed. "jitter" is the spread over copies of the network
with every weight multiplied by 1 + 1e-3 N(0, 1), seed fixed: how much of a
deterministic rule's n-cut is a frozen draw rather than the network's. The
wall time per shuffle is for --jobs threads on whatever else the machine runs. Networks: the
reference net (random pruned
784-256x4-10), a Fashion-MNIST MLP trained by the paper's recipe
(``benchmarks/train_reference.py``) and the net ``modcore demo`` trains
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


def spread_row(network, rule, n_seeds, n_shuffles, n_jobs):
    ncuts = np.array(
        [
            modcore.spectral_cluster(network, seed=s, n_jobs=n_jobs, **rule).ncut
            for s in range(n_seeds)
        ]
    )
    rng = np.random.default_rng(0)
    jittered = [
        modcore.spectral_cluster(
            [w * (1 + JITTER * rng.standard_normal(w.shape)) for w in network],
            seed=0,
            n_jobs=n_jobs,
            **rule,
        ).ncut
        for _ in range(n_seeds)
    ]
    start = time.perf_counter()
    null = modcore.ncut_significance(
        network, n_shuffles=n_shuffles, seed=1000, n_jobs=n_jobs, progress=False, **rule
    )
    seconds = (time.perf_counter() - start) / n_shuffles
    z = (ncuts - null.shuffled_mean) / null.shuffled_std
    return dict(
        mean=ncuts.mean(),
        spread=ncuts.std(ddof=1),
        jitter=np.std(jittered, ddof=1),
        null_mean=null.shuffled_mean,
        null_std=null.shuffled_std,
        z_lo=z.min(),
        z_hi=z.max(),
        ms=seconds * 1e3,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds, 50 shuffles, 3 rules")
    parser.add_argument(
        "--fashion",
        type=Path,
        default=Path("fashion_mlp_pruned.pt"),
        help="checkpoint of the trained Fashion-MNIST net",
    )
    parser.add_argument(
        "--demo", type=Path, default=Path("demo.pt"), help="checkpoint of the demo net"
    )
    parser.add_argument("--seeds", type=int, default=20)
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
    n_seeds, n_shuffles = (5, 50) if args.quick else (args.seeds, args.shuffles)
    rules = args.rules or (list(RULES)[:1] + list(RULES)[-2:] if args.quick else list(RULES))

    nets = {"reference": reference_network(0)} if "reference" in args.nets else {}
    for name, path in (("fashion", args.fashion), ("demo", args.demo)):
        if name not in args.nets:
            continue
        if path.exists():
            nets[name] = modcore.weights_from_module(path)
        else:
            print(f"({name}: no checkpoint at {path}; skipped)")
    print(f"CPU: {cpu_name()}; {n_seeds} seeds, {n_shuffles} 'layer' shuffles, k=12")
    print(
        f"{'net':10s} {'rule':36s} {'mean n-cut':>10s} {'spread':>8s} {'null mean':>10s} "
        f"{'null std':>8s} {'spread/std':>10s} {'jitter/std':>10s} {'z range':>15s} "
        f"{'wall ms/shuffle':>15s}"
    )
    for name, net in nets.items():
        for rule in rules:
            r = spread_row(net, RULES[rule], n_seeds, n_shuffles, args.jobs)
            print(
                f"{name:10s} {rule:36s} {r['mean']:10.4f} {r['spread']:8.4f} "
                f"{r['null_mean']:10.4f} {r['null_std']:8.4f} {r['spread'] / r['null_std']:10.2f} "
                f"{r['jitter'] / r['null_std']:10.2f} "
                f"{r['z_lo']:+7.2f}..{r['z_hi']:+6.2f} {r['ms']:15.1f}"
                f"{'  <= 0.25' if r['spread'] <= 0.25 * r['null_std'] else ''}",
                flush=True,
            )


if __name__ == "__main__":
    main()
