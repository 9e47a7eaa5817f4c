"""Test accuracy of dropout-trained checkpoints in eval mode and with dropout left on.

    python benchmarks/dropout_eval_mode.py \
        results/checkpoints/line_pruned_dropout_seed0.pt [--passes 3]

For the `line` finding in the README: dropout nets that count lines score far lower
in eval mode (dropout off, as every accuracy modcore reports) than with dropout on.
Each checkpoint is evaluated on the test set of the data set named in its metadata,
with data seed 0, as ``modcore reproduce`` trains on.
"""

import argparse

import torch

from modcore.nn import checkpoint, evaluate, load_dataset


def stochastic_accuracy(model, x, y) -> float:
    model.train()  # dropout on
    with torch.no_grad():
        correct = int((model(x).argmax(dim=1) == y).sum())
    model.eval()
    return correct / len(y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--passes", type=int, default=3, help="stochastic passes (default 3)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = {}
    for path in args.checkpoints:
        ck = checkpoint.load(path)
        name = ck.metadata["dataset"]
        if name not in data:
            data[name] = load_dataset(name, data_dir=args.data_dir, seed=0)
        ds = data[name]
        passes = [stochastic_accuracy(ck.model, ds.x_test, ds.y_test) for _ in range(args.passes)]
        print(
            f"{path}: dropout {ck.config['dropout']}, "
            f"eval mode {evaluate(ck.model, ds):.4f}, "
            f"dropout on {' '.join(f'{a:.4f}' for a in passes)}"
        )


if __name__ == "__main__":
    main()
