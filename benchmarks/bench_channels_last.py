"""One thread of CNN training, with and without channels-last memory format.

    python benchmarks/bench_channels_last.py [--quick] [--steps N] [--repeats R]

The 2021 paper's CNN (modcore.nn.CNN, with its dropout variant) on Fashion-MNIST
batches of 64, as ``modcore reproduce --arch cnn`` trains it: Adam 1e-3, cross-entropy.
For each memory format, ``steps`` optimizer steps from the same initial weights and
seed, timed (baseline and candidate interleaved, best of ``repeats``); then the two
trained copies are compared (largest weight difference, and the losses), as are the
gradients of one step from the same weights (dropout off): float rounding alone. Channels-last
is worth using only if it is faster *and* gives the same weights within float tolerance.
Runs on one thread (torch.set_num_threads(1)); CPU named from /proc/cpuinfo.
"""

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from common import cpu_name
from modcore.nn import CNN, load_dataset


def steps(model, x, y, n_steps, seed, channels_last):
    """``n_steps`` Adam steps on batches of 64 in a seeded order; the losses and seconds."""
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    losses = []
    model.train()
    started = time.perf_counter()
    for i in range(n_steps):
        rows = order[i * 64 : (i + 1) * 64]
        xb = x[rows]
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(xb), y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses, time.perf_counter() - started


def one_step_gradients(base, x, y):
    """Largest difference between the two formats' gradients of one batch, in eval mode
    (no dropout draws), relative to the largest gradient."""
    grads = []
    for channels_last in (False, True):
        model = copy.deepcopy(base).eval()
        xb = x[:64]
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            xb = xb.contiguous(memory_format=torch.channels_last)
        F.cross_entropy(model(xb), y[:64]).backward()
        grads.append([p.grad.contiguous() for p in model.parameters()])
    diff = max(float((a - b).abs().max()) for a, b in zip(*grads))
    return diff / max(float(g.abs().max()) for g in grads[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps (a smoke run)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timing (default 60)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (default 3)")
    args = parser.parse_args()
    n_steps = args.steps or (5 if args.quick else 60)
    torch.set_num_threads(1)
    data = load_dataset("fashion", n_train=n_steps * 64, n_test=64, flatten=False)
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} thread")
    print(f"{n_steps} steps of batch 64 per timing, best of {args.repeats}, interleaved")
    for dropout in (False, True):
        base = CNN(
            data.input_shape,
            conv_dropout=0.25 if dropout else 0.0,
            dense_dropout=0.5 if dropout else 0.0,
            seed=0,
        )
        best = {False: float("inf"), True: float("inf")}
        trained = {}
        for _ in range(args.repeats):
            for cl in (False, True):
                model = copy.deepcopy(base)
                losses, seconds = steps(model, data.x_train, data.y_train, n_steps, 0, cl)
                best[cl] = min(best[cl], seconds)
                trained[cl] = (model, losses)
        (m0, l0), (m1, l1) = trained[False], trained[True]
        with torch.no_grad():
            diff = max(float((a - b).abs().max()) for a, b in zip(m0.parameters(), m1.parameters()))
            scale = max(float(a.abs().max()) for a in m0.parameters())
        loss_diff = max(abs(a - b) for a, b in zip(l0, l1))
        print(
            f"dropout {dropout}: contiguous {1000 * best[False] / n_steps:.1f} ms/step, "
            f"channels-last {1000 * best[True] / n_steps:.1f} ms/step, ratio "
            f"{best[True] / best[False]:.3f}; after {n_steps} steps: largest weight "
            f"difference {diff:.3g} (largest weight {scale:.3g}), largest loss difference "
            f"{loss_diff:.3g}; one step's gradients differ by "
            f"{one_step_gradients(base, data.x_train, data.y_train):.2g} of the largest"
        )


if __name__ == "__main__":
    main()
