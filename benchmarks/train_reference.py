"""The paper's reference network: 784-256-256-256-256-10 on Fashion-MNIST,
20 epochs of Adam, then 20 epochs of pruned fine-tuning to 90 % sparsity.

Prints the wall time, the pruning phase's cost per epoch as a ratio to the
plain phase's (run in the same process), the test accuracy after each phase,
and saves the checkpoint, ready for ``modcore.weights_from_module``.

    python benchmarks/train_reference.py           # the full run (minutes)
    python benchmarks/train_reference.py --quick   # a subset, 2 + 2 epochs (seconds)
"""

import argparse
import time

import torch

from modcore.nn import MLP, checkpoint, layer_sparsity, load_dataset, paper_recipe


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="20000 training examples, 2 + 2 epochs"
    )
    parser.add_argument("--dataset", default="fashion", help="a modcore.nn.load_dataset name")
    parser.add_argument("--data-dir", help="directory searched first for the data files")
    parser.add_argument(
        "--dropout", type=float, default=0.0, help="the paper's dropout variant uses 0.5"
    )
    parser.add_argument("--l1", type=float, default=0.0, help="the paper's L1 variant uses 5e-5")
    parser.add_argument("--l2", type=float, default=0.0, help="the paper's L2 variant uses 5e-5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", help="checkpoint path (default: <dataset>_mlp_pruned[_quick].pt)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    epochs = 2 if args.quick else 20
    subset = dict(n_train=20000, n_test=2000) if args.quick else {}
    out = args.out or f"{args.dataset}_mlp_pruned{'_quick' if args.quick else ''}.pt"

    started = time.perf_counter()
    ds = load_dataset(args.dataset, data_dir=args.data_dir, seed=args.seed, **subset)
    print(f"data: {ds} in {time.perf_counter() - started:.1f} s")
    model = MLP(
        (ds.n_features, 256, 256, 256, 256, ds.n_classes), dropout=args.dropout, seed=args.seed
    )
    history = paper_recipe(
        model, ds, epochs=epochs, prune_epochs=epochs, l1=args.l1, l2=args.l2, seed=args.seed
    )
    total = time.perf_counter() - started

    plain_epoch = sum(history.seconds[:epochs]) / epochs
    pruned_epoch = sum(history.seconds[epochs:]) / epochs
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"wall time: {total:.1f} s in all, {sum(history.seconds):.1f} s training")
    print(
        f"s/epoch: plain {plain_epoch:.2f}, pruned {pruned_epoch:.2f} "
        f"(ratio pruned/plain {pruned_epoch / plain_epoch:.2f})"
    )
    print(
        f"test accuracy: {history.test_accuracy[epochs - 1]:.4f} after {epochs} plain epochs, "
        f"{history.test_accuracy[-1]:.4f} after {epochs} pruned"
    )
    print("sparsity per layer: " + ", ".join(f"{s:.4f}" for s in layer_sparsity(model)))
    checkpoint.save(
        model,
        out,
        {
            "dataset": ds.name,
            "source": ds.source,
            "n_train": len(ds.y_train),
            "n_test": len(ds.y_test),
            "epochs": epochs,
            "prune_epochs": epochs,
            "l1": args.l1,
            "l2": args.l2,
            "seed": args.seed,
            "train_accuracy": history.train_accuracy[-1],
            "test_accuracy": history.test_accuracy[-1],
            "unpruned_test_accuracy": history.test_accuracy[epochs - 1],
            "history": history.to_dict(),
            "torch": torch.__version__,
        },
    )
    print(f"checkpoint: {out}")


if __name__ == "__main__":
    main()
