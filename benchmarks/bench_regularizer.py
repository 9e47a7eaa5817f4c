"""The spectral clusterability regularizer's cost per training step, on the paper's MLP.

    python benchmarks/bench_regularizer.py [--quick] [--k 3] [--every 20]

One Adam step (forward, backward, update) on a batch of 128 of the 784-256x4-10 MLP
(Glorot init; the cost does not depend on the weights' values), at 1 thread each
(torch.set_num_threads and threadpoolctl for BLAS), in one process:

(a) plain: cross-entropy only;
(b) modcore: plus ``SpectralRegularizer`` (k smallest non-trivial eigenvalues of
    the normalized Laplacian, refreshed by LOBPCG from the previous step's vectors,
    closed-form backward), on every step;
(b') the same with ``refresh_tol=None``: the C++ sparse eigensolver in full on every
    step (graph built from the weights, Lanczos);
(c) baseline, the dense approach: the full 1818 x 1818 normalized Laplacian built
    in torch from |W| and ``torch.linalg.eigh`` with autograd through it, on every step
    (the authors' port, HumanCompatibleAI/nn-clustering-pytorch, builds dense
    n x n outer products in its backward; eigh is the plain dense form);
(d) modcore on every ``--every``-th step only (the port's default frequency 20,
    the term scaled by it), the mean over the steps.

Rows are measured in turn, --rounds times (a warm-up step or cycle first, so the
regularizer's first, cold solve and the trace are not counted); each prints its
least disturbed measurement in ms per step and the ratios, and the script checks
that (b) and (c) give the same eigenvalues.

``--track N`` then trains the MLP for N steps on Fashion-MNIST (batches of 128, the
regularizer on every step at the 2021 code's weight 0.1 / 3) and compares the refreshed
eigenvalues and their gradient with a full solve's (tol 1e-10) every 10 steps: the largest
differences, the refreshes, iterations and fall-backs to the full solve, and each step's
time against a plain step's on the same batch.

Every row prints wall and CPU time (``time.process_time``, 1 thread): on a loaded
machine the CPU time counts the work, the wall time also the waits for a core.
"""

import argparse
import time

import numpy as np
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


def cycle_times(model, optimizer, x, y, extra, every, cycles):
    """Mean wall and CPU time per step over each cycle of ``every`` steps, ``extra()``
    (if any) added on the cycle's first step; one warm-up cycle first. The CPU time is
    the process's (``time.process_time``, 1 thread): on a loaded machine it counts the work, not
    the waits for a core."""
    times = []
    for cycle in range(cycles + 1):
        started, cpu = time.perf_counter(), time.process_time()
        for step in range(every):
            loss = F.cross_entropy(model(x), y)
            if extra is not None and step == 0:
                loss = loss + 1e-3 / 3 * every * extra()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if cycle:
            times.append(
                ((time.perf_counter() - started) / every, (time.process_time() - cpu) / every)
            )
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--k", type=int, default=3, help="eigenvalues regularized (default 3)")
    parser.add_argument("--every", type=int, default=20, help="frequency of (d) (default 20)")
    parser.add_argument("--rounds", type=int, default=None, help="measurements of each row")
    parser.add_argument(
        "--refresh-tol", type=float, default=1e-4, help="the refresh's tolerance (default 1e-4)"
    )
    parser.add_argument(
        "--track", type=int, default=0, help="then train N steps and compare with full solves"
    )
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 8)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = torch.rand(128, 784), torch.randint(0, 10, (128,))
    print(
        f"CPU: {cpu_name()}; 1 thread each; 784-256x4-10 MLP, batch 128, k={args.k}; "
        f"ms per step, the least disturbed of {rounds} measurements"
    )

    per_step = []  # row (b)'s CPU ms of each timed step (steps 1-5), a list per round
    solves = {"refreshed": 0, "full": 0, "iterations": 0}  # row (b)'s, warm-ups included

    def measure(extra_of, every=1, cycles=1):
        model = MLP(seed=0)
        optimizer = torch.optim.Adam(model.parameters())
        extra = None if extra_of is None else extra_of(model)
        times = cycle_times(model, optimizer, x, y, extra, every, cycles)
        if extra_of is ours and every == 1:
            per_step.append([1e3 * t[1] for t in times])
        best = (1e3 * min(t[0] for t in times), 1e3 * min(t[1] for t in times))
        if extra_of is ours and every == 1:
            solves["refreshed"] += extra._solver.refreshed
            solves["full"] += extra._solver.full
            solves["iterations"] += extra._solver.iterations
        return best

    def ours(model):
        return SpectralRegularizer(model, n_eigenvalues=args.k, refresh_tol=args.refresh_tol)

    def full(model):
        return SpectralRegularizer(model, n_eigenvalues=args.k, refresh_tol=None)

    def dense(model):
        return lambda: dense_eigenvalues(model, args.k).sum()

    rows = {
        "plain": [],
        "modcore": [],
        "full": [],
        "dense": [],
        "plain cycle": [],
        "modcore cycle": [],
    }
    with threadpool_limits(limits=1):
        for _ in range(rounds):  # interleaved, so a busy spell hits every row alike
            rows["plain"].append(measure(None, cycles=5))
            rows["modcore"].append(measure(ours, cycles=5))
            rows["full"].append(measure(full, cycles=5))
            rows["dense"].append(measure(dense, cycles=1))
            rows["plain cycle"].append(measure(None, every=args.every))
            rows["modcore cycle"].append(measure(ours, every=args.every))
        check = MLP(seed=1)
        mine = SpectralRegularizer(check, n_eigenvalues=args.k).eigenvalues().detach()
        theirs = dense_eigenvalues(check, args.k).detach()
    for clock, which in (("wall", 0), ("CPU", 1)):
        best = {name: min(v[which] for v in values) for name, values in rows.items()}
        plain, reg, dns = best["plain"], best["modcore"], best["dense"]
        print(f"{clock} time, ms per step:")
        print(f"(a) plain step                           {plain:8.2f} ms")
        print(f"(b) + regularizer every step (modcore)   {reg:8.2f} ms  {reg / plain:6.2f}x plain")
        fl = best["full"]
        print(f"(b') + regularizer, full solve each step {fl:8.2f} ms  {fl / plain:6.2f}x plain")
        print(f"(c) + regularizer every step (dense)     {dns:8.2f} ms  {dns / plain:6.2f}x plain")
        print(f"    dense / modcore                      {dns / reg:8.1f}x")
        cyc, plain_cyc = best["modcore cycle"], best["plain cycle"]
        print(
            f"(d) + regularizer every {args.every} steps (modcore) {cyc:8.2f} ms  "
            f"{cyc / plain_cyc:6.2f}x plain ({plain_cyc:.2f} ms, same cycles)"
        )
    steps = np.min(per_step, axis=0)  # each step's least disturbed round
    plain_cpu = min(v[1] for v in rows["plain"])
    print(
        "row (b) step by step (CPU, least disturbed round; step 0, the full solve, untimed): "
        + ", ".join(f"step {i + 1} {t:.2f} ms {t / plain_cpu:.2f}x" for i, t in enumerate(steps))
    )
    print(
        f"row (b): {solves['refreshed']} refreshed "
        f"({solves['iterations'] / max(solves['refreshed'], 1):.2f} iterations on average), "
        f"{solves['full']} full solves in all its rounds (the first of each round, untimed, "
        "is full)"
    )
    print(
        f"eigenvalues, modcore vs dense eigh: max |diff| {float((mine - theirs).abs().max()):.2e}"
    )
    if args.track:
        with threadpool_limits(limits=1):
            track(args.k, args.track, args.refresh_tol)


def track(k, steps, refresh_tol):
    """The refreshed eigenvalues and their gradient against a full solve along a training
    on Fashion-MNIST, and the time of each step against a plain step on the same batch."""
    from modcore.nn import load_dataset
    from modcore.nn.regularizers import laplacian_eigenvalues

    data = load_dataset("fashion", seed=0, n_test=100, flatten=True)
    model, plain = MLP(seed=0), MLP(seed=0)
    optimizer = torch.optim.Adam(model.parameters())
    plain_optimizer = torch.optim.Adam(plain.parameters())
    reg = SpectralRegularizer(model, n_eigenvalues=k, refresh_tol=refresh_tol)
    weights = [model[i].weight for i in range(0, len(model), 2)]
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data.y_train), generator=generator)
    worst, worst_grad = 0.0, 0.0
    clocks = (time.perf_counter, time.process_time)
    ours, base = np.zeros((steps, 2)), np.zeros((steps, 2))  # (wall, CPU) per step
    for step in range(steps):
        batch = order[(step * 128) % (len(order) - 128) :][:128]
        x, y = data.x_train[batch], data.y_train[batch]
        started = [c() for c in clocks]  # a plain step on the same batch, interleaved
        loss = F.cross_entropy(plain(x), y)
        plain_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        plain_optimizer.step()
        base[step] = [c() - s for c, s in zip(clocks, started)]
        started = [c() for c in clocks]
        values = reg.eigenvalues()
        ours[step] = [c() - s for c, s in zip(clocks, started)]
        if step % 10 == 0:  # in float64: the refreshed values before their cast to float32
            exact_weights = [w.detach().double().requires_grad_() for w in weights]
            blocks = [((i, i + 1), w.abs().T) for i, w in enumerate(exact_weights)]
            exact = laplacian_eigenvalues(reg.sizes, blocks, k, tol=1e-10)
            worst = max(
                worst, float(np.abs(reg._solver.eigenvalues - exact.detach().numpy()).max())
            )
            want = torch.cat([g.flatten() for g in torch.autograd.grad(exact.sum(), exact_weights)])
            got = torch.autograd.grad(values.sum(), weights, retain_graph=True)
            got = torch.cat([g.flatten() for g in got]).double()
            worst_grad = max(worst_grad, float((got - want).norm() / want.norm()))
        started = [c() for c in clocks]
        loss = F.cross_entropy(model(x), y) + 0.1 / k * values.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ours[step] += [c() - s for c, s in zip(clocks, started)]
    solver = reg._solver
    per_refresh = solver.iterations / max(solver.refreshed, 1)
    print(
        f"track {steps} steps on Fashion-MNIST (weight 0.1/{k} every step, refresh_tol "
        f"{refresh_tol}): {solver.refreshed} refreshed ({per_refresh:.2f} iterations on "
        f"average), {solver.full} full solves; eigenvalues then "
        f"{[round(float(v), 4) for v in values.detach()]}; over the {(steps + 9) // 10} checks, "
        f"largest |refreshed - full| {worst:.1e}, largest relative difference of the "
        f"gradient (2-norm over the weights) {worst_grad:.1e}"
    )
    for clock, which in (("wall", 0), ("CPU", 1)):
        ratio = ours[:, which] / base[:, which]
        half = ours[steps // 2 :, which] / base[steps // 2 :, which]
        print(
            f"  {clock}: median ms per step regularized {1e3 * np.median(ours[:, which]):.2f}, "
            f"plain {1e3 * np.median(base[:, which]):.2f}; per-step ratio median "
            f"{np.median(ratio):.2f}x (second half {np.median(half):.2f}x), 90th percentile "
            f"{np.percentile(ratio, 90):.2f}x; ratio of the means "
            f"{ours[:, which].mean() / base[:, which].mean():.2f}x"
        )


if __name__ == "__main__":
    main()
