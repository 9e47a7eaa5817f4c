"""The spectral clusterability regularizer's cost per training step, on the paper's MLP.

    python benchmarks/bench_regularizer.py [--quick] [--k 3] [--every 20]

One Adam step (forward, backward, update) on a batch of 128 of the 784-256x4-10 MLP
(Glorot init; the cost does not depend on the weights' values), at 1 thread each
(torch.set_num_threads and threadpoolctl for BLAS), in one process:

(a) plain: cross-entropy only;
(b) modcore: plus ``SpectralRegularizer`` (k smallest non-trivial eigenvalues of
    the normalized Laplacian, C++ sparse eigensolver, warm-started from the previous
    step, closed-form backward), on every step;
(c) baseline, the dense approach: the full 1818 x 1818 normalized Laplacian built
    in torch from |W| and ``torch.linalg.eigh`` with autograd through it, on every step
    (the authors' port, HumanCompatibleAI/nn-clustering-pytorch, builds dense
    n x n outer products in its backward; eigh is the plain dense form);
(d) modcore on every ``--every``-th step only (the port's default frequency 20,
    the term scaled by it), the mean over the steps.

Prints ms per step (median of --steps steps, after warm-up steps) and the ratios,
and checks that (b) and (c) give the same eigenvalues.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from common import cpu_name
from modcore.nn import MLP
from modcore.nn.regularizers import SpectralRegularizer


def dense_eigenvalues(model, k):
    """The baseline: the dense normalized Laplacian of |W| and eigh (autograd)."""
    layers = [model[i] for i in range(0, len(model), 2)]
    widths = [layers[0].in_features] + [layer.out_features for layer in layers]
    n = sum(widths)
    a = torch.zeros(n, n)
    start = 0
    for layer, width in zip(layers, widths):
        block = layer.weight.abs().T
        a = a.index_put(
            (
                torch.arange(start, start + width)[:, None],
                torch.arange(start + width, start + width + block.shape[1])[None, :],
            ),
            block,
        )
        start += width
    a = a + a.T
    inv_sqrt = a.sum(1).rsqrt()
    lap = torch.eye(n) - inv_sqrt[:, None] * a * inv_sqrt[None, :]
    return torch.linalg.eigh(lap.double()).eigenvalues[1 : k + 1]


def step_times(model, optimizer, x, y, extra, steps, warmup, every=1):
    times = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        if extra is not None and step % every == 0:
            loss = loss + 1e-3 / 3 * every * extra()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            times.append(time.perf_counter() - started)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--k", type=int, default=3, help="eigenvalues regularized (default 3)")
    parser.add_argument("--every", type=int, default=20, help="frequency of (d) (default 20)")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    steps = args.steps or (10 if args.quick else 40)
    warmup = 3
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))
    print(f"CPU: {cpu_name()}; 1 thread each; 784-256x4-10 MLP, batch 128, k={args.k}")

    def run(name, extra_of, every=1, n=steps):
        model = MLP(seed=0)
        optimizer = torch.optim.Adam(model.parameters())
        extra = None if extra_of is None else extra_of(model)
        times = step_times(model, optimizer, x, y, extra, n, warmup, every)
        ms = 1e3 * statistics.median(times) if every == 1 else 1e3 * statistics.mean(times)
        return ms, model

    with threadpool_limits(limits=1):
        plain, _ = run("plain", None)
        reg, _ = run("modcore", lambda m: SpectralRegularizer(m, n_eigenvalues=args.k))
        dense, _ = run(
            "dense", lambda m: lambda: dense_eigenvalues(m, args.k).sum(), n=max(3, steps // 4)
        )
        amortized, _ = run(
            "modcore every",
            lambda m: SpectralRegularizer(m, n_eigenvalues=args.k),
            every=args.every,
            n=max(steps, 2 * args.every),
        )
        check = MLP(seed=1)
        ours = SpectralRegularizer(check, n_eigenvalues=args.k).eigenvalues().detach()
        theirs = dense_eigenvalues(check, args.k).detach()
    print(f"(a) plain step                         {plain:8.2f} ms")
    print(f"(b) + regularizer every step (modcore) {reg:8.2f} ms  {reg / plain:6.2f}x plain")
    print(f"(c) + regularizer every step (dense)   {dense:8.2f} ms  {dense / plain:6.2f}x plain")
    print(f"    dense / modcore                    {dense / reg:8.1f}x")
    print(
        f"(d) + regularizer every {args.every} steps (modcore), mean {amortized:8.2f} ms  "
        f"{amortized / plain:6.2f}x plain"
    )
    print(
        f"eigenvalues, modcore vs dense eigh: max |diff| {float((ours - theirs).abs().max()):.2e}"
    )


if __name__ == "__main__":
    main()
