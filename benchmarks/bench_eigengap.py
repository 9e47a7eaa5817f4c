"""How often the eigengap finds the planted k, and whether ``clear=True`` can be trusted.

    python benchmarks/bench_eigengap.py [--quick] [--seeds 5] [--n-shuffles 19]

Planted nets (``modcore.network.synthetic.planted_modules_mlp``): every layer holds modules of
the given sizes, weights |N(0, 1)| within a module and ``noise`` times that between
modules; equal and unequal sizes, 3 and 5 layers, noise 0.01 to 0.3, ``--seeds`` nets
each. For each: ``modcore.eigengap(max_k=20)`` against ``--n-shuffles`` "layer"
shuffles, and, to see whether the planted modules are there to be found at all, the
adjusted Rand index of ``spectral_cluster`` at the planted k against them. Then random
nets (``random_pruned_mlp``), which have no modules: there ``clear`` should be False.

With noise, small planted modules can drown: then clustering at the planted k does not
recover them either, and the spectrum rightly shows no gap for them. ``recov`` counts the
planted modules that ``spectral_cluster`` at the planted k recovers (its best-matching
cluster has a Jaccard index of at least 0.9 with the module), median over the nets.

Columns: recov; found = k is the planted k; clear = the gap stands out and no other k has
a rival gap; right|clear = found among the clear ones (what ``clear=True`` promises);
ARI = median agreement of the clustering at the planted k with the planted modules; then
each net's k, starred when clear. The table is in benchmarks/README.md.
"""

import argparse
import warnings

import numpy as np

import modcore
from modcore.network.synthetic import planted_modules_mlp, random_pruned_mlp

SIZES = [
    [30, 30, 30],
    [20] * 5,
    [12] * 8,
    [10, 20, 40],
    [5, 10, 20, 40],
    [3, 3, 30, 30, 30],
    [4, 8, 16, 32, 64],
]
NOISES = [0.01, 0.05, 0.1, 0.2, 0.3]
RANDOM = [((40, 40, 40), 0.5), ((100, 60, 60, 10), 0.8), ((300, 100, 100, 100, 10), 0.8)]


def run(network, n_shuffles, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", modcore.EigengapWarning)
        return modcore.eigengap(network, max_k=20, n_shuffles=n_shuffles, seed=seed)


def recovered(planted, labels) -> int:
    """Planted modules whose best-matching cluster has a Jaccard index >= 0.9 with them."""
    p, c = np.concatenate(planted), np.concatenate(labels)
    count = 0
    for m in np.unique(p):
        inside = p == m
        values, counts = np.unique(c[inside], return_counts=True)
        cluster = c == values[counts.argmax()]
        count += (inside & cluster).sum() / (inside | cluster).sum() >= 0.9
    return int(count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 layers only")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-shuffles", type=int, default=19)
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds
    print(f"eigengap(max_k=20, n_shuffles={args.n_shuffles}), {seeds} nets per row")
    print(
        f"{'module sizes':>20s} {'layers':>6s} {'noise':>5s} {'recov':>5s} {'found':>5s} "
        f"{'clear':>5s} {'right|clear':>11s} {'ARI':>5s}  k per net"
    )
    totals = np.zeros(3, dtype=int)
    whole = np.zeros(2, dtype=int)  # clear and right, on nets whose modules all recover
    for n_layers in (3,) if args.quick else (3, 5):
        for sizes in SIZES:
            for noise in NOISES:
                row = np.zeros(3, dtype=int)  # found, clear, right
                ks, aris, recovs = [], [], []
                for seed in range(seeds):
                    w, planted = planted_modules_mlp(sizes, n_layers, noise=noise, seed=seed)
                    gap = run(w, args.n_shuffles, seed)
                    ok = gap.k == len(sizes)
                    row += (ok, gap.clear, gap.clear and ok)
                    ks.append(f"{gap.k}{'*' if gap.clear else ''}")
                    c = modcore.spectral_cluster(w, n_clusters=len(sizes), seed=seed)
                    aris.append(modcore.compare_partitions(planted, c.labels).adjusted_rand)
                    recovs.append(recovered(planted, c.labels))
                    if recovs[-1] == len(sizes):
                        whole += (gap.clear, gap.clear and ok)
                totals += row
                found, clear, right = row
                label = ",".join(map(str, sizes))
                print(
                    f"{label:>20s} {n_layers:6d} {noise:5.2f} {int(np.median(recovs)):5d} "
                    f"{found:5d} {clear:5d} {f'{right}/{clear}':>11s} {np.median(aris):5.2f}  "
                    f"{' '.join(ks)}"
                )
    found, clear, right = totals
    print(
        f"planted, all rows: found {found}, clear {clear}, right when clear {right}/{clear}; "
        f"on nets whose planted modules all recover: right when clear {whole[1]}/{whole[0]}"
    )
    print("random nets (no modules: clear should be False)")
    for widths, sparsity in RANDOM:
        clear = sum(
            run(random_pruned_mlp(widths, sparsity=sparsity, seed=s), args.n_shuffles, s).clear
            for s in range(seeds)
        )
        print(f"{'-'.join(map(str, widths)):>20s} sparsity {sparsity}: clear {clear}/{seeds}")


if __name__ == "__main__":
    main()
