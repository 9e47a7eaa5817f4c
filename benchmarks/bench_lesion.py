"""Lesion evaluation: batched masks vs one forward pass per lesion, then a full study.

    python benchmarks/bench_lesion.py [--quick] [--checkpoint net.pt] [--threads 2]

(a) baseline: each lesion evaluated alone, the whole network run on the test set
    inside ``modcore.nn.lesion.lesioned`` (one hooked forward pass per lesion);
(b) ``lesion_accuracy`` on the same lesions: the layers before the lesion run
    once, then the masks go through the rest together as a batch dimension.
Same lesions (random, the sizes of k=12 sub-modules, in each hidden layer), same
process; prints ms per lesion (best of --repeats runs, the machine may be shared),
the ratio, and checks that the accuracies are equal.
Then (c), unless --no-study, the full single- and double-lesion study
(k=12, --random-lesions per sub-module, default 50, --rule bonferroni or paper)
with its wall time per stage.

Without --checkpoint the network is the paper's 784-256-256-256-256-10 MLP,
untrained, magnitude-pruned to 90 %, on Fashion-MNIST if installed (else the
synthetic "line" set): the cost does not depend on the weights' values.
"""

import argparse
import time

import numpy as np
import torch

from common import best_time
from modcore.nn import MLP, checkpoint, evaluate, load_dataset, prune_to_sparsity, remove_masks
from modcore.nn.lesion import lesion_accuracy, lesion_study, lesioned


def network(path):
    if path:
        return checkpoint.load(path).model
    model = MLP(seed=0)
    prune_to_sparsity(model, 0.9)
    remove_masks(model)
    return model


def data(quick):
    n_test = 2000 if quick else None
    try:
        return load_dataset("fashion", n_test=n_test, n_train=1)
    except FileNotFoundError:
        return load_dataset("line", n_train=1, n_test=n_test or 10000)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2000 test examples, 8 lesions per layer, no double lesions",
    )
    parser.add_argument("--checkpoint", help="a modcore checkpoint (.pt) to lesion")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-study", action="store_true", help="skip the full study")
    parser.add_argument(
        "--rule",
        choices=("bonferroni", "paper"),
        default="bonferroni",
        help="importance rule of the study (default bonferroni)",
    )
    parser.add_argument(
        "--random-lesions",
        type=int,
        default=50,
        help="random lesions per sub-module in the study (default 50; the paper's: 100)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timings are the best of this many runs (default 3)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, ds = network(args.checkpoint), data(args.quick)
    x, y = ds.x_test, ds.y_test
    per_layer = 8 if args.quick else 24
    rng = np.random.default_rng(0)
    print(
        f"{ds.name}: {len(y)} test examples, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"{'layer':>5s} {'lesions':>7s} {'one pass each ms':>17s} {'batched ms':>11s} {'ratio':>6s}"
    )
    for layer in range(1, len(model.widths) - 1):
        width = model.widths[layer]
        lesions = [
            {layer: rng.choice(width, size=int(rng.integers(5, 40)), replace=False)}
            for _ in range(per_layer)
        ]

        def one_pass_each(lesions=lesions):
            out = []
            for les in lesions:
                with lesioned(model, les):
                    out.append(evaluate(model, (x, y)))
            return out

        t_alone, alone = best_time(one_pass_each, args.repeats)
        t_batched, batched = best_time(
            lambda: lesion_accuracy(model, (x, y), lesions),  # noqa: B023 (runs now)
            args.repeats,
        )
        t_alone, t_batched = t_alone / len(lesions), t_batched / len(lesions)
        assert batched.tolist() == alone, "batched accuracies differ from one-at-a-time ones"
        print(
            f"{layer:5d} {len(lesions):7d} {1e3 * t_alone:17.1f} {1e3 * t_batched:11.1f} "
            f"{t_alone / t_batched:6.2f}"
        )
    if args.no_study:
        return
    t = time.perf_counter()
    study = lesion_study(
        model,
        (x, y),
        n_clusters=12,
        random_lesions=args.random_lesions,
        seed=0,
        rule=args.rule,
        double=not args.quick,
        progress=False,
    )
    total = time.perf_counter() - t
    print(study.table())
    seconds = ", ".join(f"{k} {v:.1f} s" for k, v in study.seconds.items())
    print(f"full study: {total:.1f} s wall ({seconds}); lesions evaluated: {study.n_masks}")


if __name__ == "__main__":
    main()
