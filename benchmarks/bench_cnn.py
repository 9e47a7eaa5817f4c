"""The paper's VGG-style CIFAR-10 CNN as a channel graph: tracing, and its null vs scikit-learn.

    python benchmarks/bench_cnn.py [--quick] [--shuffles N]

The 2021 paper's CIFAR-10 network is VGG-16's 13 convolutions (64, 64, 128, 128,
256 x 3, 512 x 6 channels: 4,224 channel nodes; 'same' 3x3, BatchNorm, ReLU,
max-pooling after each block) with its conv channels clustered ("paper_cnn"
preset: no image channels, no dense units). Random He-initialised weights,
pruned to 90% per layer by magnitude as the paper's nets were. Prints:
(a) tracing the model into its modcore.Network (graph building);
(b) modcore.ncut_significance per shuffle, at n_jobs=1 and n_jobs=2 (pool warmed);
(c) scikit-learn SpectralClustering (arpack, n_init=25: the authors' pipeline) on
    shuffled adjacencies, limited by threadpoolctl to the same 1 and 2 threads;
and the ratios at equal cores. CPU named from /proc/cpuinfo.
"""

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

import modcore
from common import best_time, cpu_name, sklearn_ncut

CHANNELS = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16_cifar(seed=0, sparsity=0.9):
    torch.manual_seed(seed)
    layers, c_in = [], 3
    for c in CHANNELS:
        if c == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
        c_in = c
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                w = m.weight.abs().flatten()
                cut = w.kthvalue(max(1, round(sparsity * w.numel()))).values
                m.weight[m.weight.abs() <= cut] = 0.0
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few shuffles (a smoke run)")
    parser.add_argument(
        "--shuffles",
        type=int,
        default=None,
        help="modcore shuffles per thread count (default 1000, quick 4)",
    )
    args = parser.parse_args()
    n_mod = args.shuffles or (4 if args.quick else 1000)
    n_sk = 2 if args.quick else 5
    torch.set_num_threads(1)
    model = vgg16_cifar()

    t_trace, net = best_time(
        lambda: modcore.Network.from_torch(model, input_shape=(3, 32, 32), preset="paper_cnn"),
        1 if args.quick else 3,
    )
    n_edges = sum(b.nnz for b in net.blocks)
    print(f"CPU: {cpu_name()}; VGG-16 CIFAR-10 shape, 90% pruned, k=12, 'layer' shuffles")
    print(
        f"(a) tracing into a Network: {t_trace:.2f} s; {net.n_units} channel nodes, "
        f"{n_edges} edges, eigen_method "
        f"{modcore.spectral_cluster(net, seed=0, n_jobs=1).eigen_method!r}"
    )

    rows = []
    for threads in (1, 2):
        opts = dict(n_clusters=12, seed=1, n_jobs=threads, progress=False)
        modcore.ncut_significance(net, n_shuffles=threads, **opts)  # warm the pool
        t = time.perf_counter()
        res = modcore.ncut_significance(net, n_shuffles=n_mod, **opts)
        t_mod = (time.perf_counter() - t) / n_mod
        with threadpool_limits(limits=threads):
            adjs = [modcore.shuffled_network(net, seed=1, index=i).adjacency() for i in range(n_sk)]
            sklearn_ncut(adjs[0], 0)  # warm BLAS/OpenMP pools
            t = time.perf_counter()
            sk = np.array([sklearn_ncut(a, i) for i, a in enumerate(adjs)])
            t_sk = (time.perf_counter() - t) / n_sk
        rows.append((threads, t_mod, res, t_sk, sk))

    for threads, t_mod, res, t_sk, sk in rows:
        print(
            f"(b) modcore, {threads} thread(s), N={n_mod}: {t_mod * 1e3:9.1f} ms/shuffle "
            f"({t_mod * 1000:.0f} s per 1,000), null {res.shuffled_mean:.4f} ± "
            f"{res.shuffled_std:.4f}"
        )
        print(
            f"(c) sklearn, {threads} thread(s), N={n_sk}:  {t_sk * 1e3:9.1f} ms/shuffle, "
            f"null {sk.mean():.4f}"
        )
        print(f"    equal-core ratio (c)/(b) at {threads} thread(s): {t_sk / t_mod:.1f}x")


if __name__ == "__main__":
    main()
