"""The torch reader: tracing a model, the check against the model, and what follows them.

    python benchmarks/bench_reader.py [--quick] [--shuffles N]

For the 2020 paper's MLP (784-256x4-10) and the 2021 paper's CNN (modcore.nn.CNN at
1x28x28), prints the best-of-3 wall time of: (a) tracing without the check
(verify=False), (b) tracing with it (verify=True), (c) spectral_cluster of the traced
graph (k = 12) and (d) ncut_significance with N shuffles, all at 2 threads (torch and
modcore), and the ratios of the check's own time (b - a) to (c) and (d): the check is
on by default where it costs less than clustering the graph with its null. CPU named
from /proc/cpuinfo.
"""

import argparse

import torch

import modcore
from common import best_time, cpu_name
from modcore.network.torch.trace import network_from_module
from modcore.nn import CNN, MLP


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 50 shuffles")
    parser.add_argument("--shuffles", type=int, default=1000)
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    shuffles = 50 if args.quick else args.shuffles
    torch.set_num_threads(2)
    print(cpu_name(), f"| torch {torch.__version__}, 2 threads")
    models = {
        "paper MLP 784-256x4-10": (MLP(seed=0), (784,)),
        "paper CNN (modcore.nn.CNN) at 1x28x28": (CNN(seed=0), (1, 28, 28)),
    }
    for name, (model, shape) in models.items():
        print(f"{name}: " + measure(model, shape, repeats, shuffles))


def measure(model, shape, repeats, shuffles) -> str:
    plain, net = best_time(
        lambda: network_from_module(model, input_shape=shape, verify=False), repeats
    )
    checked, _ = best_time(
        lambda: network_from_module(model, input_shape=shape, verify=True), repeats
    )
    cluster, _ = best_time(
        lambda: modcore.spectral_cluster(net, n_clusters=12, seed=0, n_jobs=2), repeats
    )
    null, _ = best_time(
        lambda: modcore.ncut_significance(
            net, n_clusters=12, n_shuffles=shuffles, seed=0, n_jobs=2, progress=False
        ),
        repeats,
    )
    check = checked - plain
    return (
        f"trace {plain:.3f} s, trace + check {checked:.3f} s (check {check:.3f} s), "
        f"spectral_cluster {cluster:.3f} s, ncut_significance x{shuffles} {null:.3f} s; "
        f"check / cluster = {check / cluster:.1f}, check / significance = {check / null:.2f}"
    )


if __name__ == "__main__":
    main()
