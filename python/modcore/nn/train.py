"""Training with Adam and cross-entropy, optionally with gradual pruning."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .datasets import Dataset
from .models import linear_layers
from .prune import PruneSchedule, prune_to_sparsity, remove_masks

__all__ = ["History", "train", "paper_recipe", "evaluate", "steps_per_epoch"]


@dataclass
class History:
    """Per-epoch record of a training run.

    Attributes
    ----------
    loss : list of float
        Mean cross-entropy over the epoch's mini-batches (without the L1/L2 penalty).
    train_accuracy : list of float
        Accuracy on the epoch's mini-batches as they were trained on (dropout
        active, weights changing), as Keras reports it; costs no extra pass.
    test_accuracy : list of float
        Accuracy on the test set at the end of the epoch, in eval mode.
    sparsity : list of float
        Fraction of zero weights over all Linear layers at the end of the epoch.
    seconds : list of float
        Wall time of the epoch, evaluation included.
    """

    loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    sparsity: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def __add__(self, other: History) -> History:
        return History(**{key: value + getattr(other, key) for key, value in asdict(self).items()})

    def to_dict(self) -> dict:
        """Plain lists, ready for JSON."""
        return asdict(self)


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch; the last, partial batch counts as a step."""
    return math.ceil(n_examples / batch_size)


def train(
    model: nn.Module,
    dataset: Dataset,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    prune: PruneSchedule | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with Adam on cross-entropy.

    Mini-batches are slices of a fresh random permutation each epoch, indexed
    straight from the in-memory tensors.

    Parameters
    ----------
    model : torch.nn.Module
        Maps ``(batch, n_features)`` float inputs to ``(batch, n_classes)`` logits.
        Batches are moved to the device of its parameters.
    dataset : Dataset
    epochs : int
    batch_size : int, default 128
    lr : float, default 1e-3
        Adam's learning rate (1e-3 is Adam's default and the paper's).
    seed : int, default 0
        Seeds the batch order (a ``torch.Generator``) and torch's global RNG,
        which dropout draws from.
    prune : PruneSchedule, optional
        Gradual magnitude pruning of every Linear weight matrix. Masks are
        updated before the optimizer steps that ``prune.is_update_step`` names
        (steps count from 0 in this call) and once more after the last step, at
        that step's target sparsity, so the run ends exactly on the schedule.
        The masks are then folded into the weights (exact zeros, no
        ``weight_orig`` / ``weight_mask`` left).
    l1, l2 : float, default 0.0
        Penalties ``l1 * sum|W|`` and ``l2 * sum W**2`` over the Linear weight
        matrices (not biases), like Keras' kernel regularizers the paper used
        (5e-5 in its regularised variants).
    progress : bool, default True
        Report each epoch: through tqdm when it is installed, otherwise one line
        per epoch on stderr.

    Returns
    -------
    History

    Raises
    ------
    ValueError
        If ``epochs``, ``batch_size`` or ``lr`` is not positive, a penalty is
        negative, or the model has no Linear layer.

    Examples
    --------
    >>> from modcore.nn import MLP, load_dataset
    >>> ds = load_dataset("line", n_train=256, n_test=64)
    >>> history = train(MLP([784, 32, 10], seed=0), ds, epochs=1, progress=False)
    >>> len(history.test_accuracy)
    1
    """
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError(
            f"epochs, batch_size and lr must be positive, got epochs={epochs}, "
            f"batch_size={batch_size}, lr={lr}"
        )
    if l1 < 0 or l2 < 0:
        raise ValueError(f"l1 and l2 must be >= 0, got l1={l1}, l2={l2}")
    linears = linear_layers(model)
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer to train or prune")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = dataset.x_train, dataset.y_train
    history = History()
    report = _reporter(epochs, progress)
    step = 0
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(y), generator=generator)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(y), batch_size):
            if prune is not None and prune.is_update_step(step):
                prune_to_sparsity(model, prune.sparsity(step))
            rows = order[start : start + batch_size]
            xb, yb = x[rows].to(device), y[rows].to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            objective = loss + _penalty(linears, l1, l2)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            optimizer.step()
            step += 1
            # Summed as tensors: no device synchronisation per step.
            loss_sum += loss.detach() * len(rows)
            correct += (logits.detach().argmax(dim=1) == yb).sum()
        if prune is not None and epoch == epochs - 1:
            prune_to_sparsity(model, prune.sparsity(step))
            remove_masks(model)
        history.loss.append(float(loss_sum) / len(y))
        history.train_accuracy.append(int(correct) / len(y))
        history.test_accuracy.append(evaluate(model, dataset.x_test, dataset.y_test))
        history.sparsity.append(_overall_sparsity(linears))
        history.seconds.append(time.perf_counter() - started)
        report(epoch, history)
    return history


def paper_recipe(
    model: nn.Module,
    dataset: Dataset,
    epochs: int = 20,
    prune_epochs: int = 20,
    batch_size: int = 128,
    l1: float = 0.0,
    l2: float = 0.0,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Filan et al.'s recipe: plain training, then pruned fine-tuning.

    Equivalent to two calls of :func:`train`::

        train(model, dataset, epochs, seed=seed)
        steps = prune_epochs * steps_per_epoch(len(dataset.y_train), batch_size)
        train(model, dataset, prune_epochs, seed=seed + 1,
              prune=PruneSchedule(end_step=steps))

    i.e. Adam at 1e-3, then sparsity from 0.5 to 0.9 on the cubic schedule over
    the whole pruning phase, masks updated every 10 steps. Dropout, if wanted,
    is part of the model (``MLP(dropout=0.5)``).

    Parameters
    ----------
    model, dataset, batch_size, l1, l2, seed, progress
        As for :func:`train` (``l1`` / ``l2`` apply to both phases).
    epochs : int, default 20
        Epochs of plain training.
    prune_epochs : int, default 20
        Epochs of pruned fine-tuning; the schedule ends on its last step.

    Returns
    -------
    History
        Both phases, one entry per epoch.
    """
    history = train(
        model, dataset, epochs, batch_size=batch_size, seed=seed, l1=l1, l2=l2, progress=progress
    )
    schedule = PruneSchedule(
        end_step=prune_epochs * steps_per_epoch(len(dataset.y_train), batch_size)
    )
    return history + train(
        model,
        dataset,
        prune_epochs,
        batch_size=batch_size,
        seed=seed + 1,
        prune=schedule,
        l1=l1,
        l2=l2,
        progress=progress,
    )


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Accuracy of ``model`` on inputs ``x`` and labels ``y``; leaves it in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(y), batch_size):
        logits = model(x[start : start + batch_size].to(device))
        correct += int((logits.argmax(dim=1) == y[start : start + batch_size].to(device)).sum())
    return correct / len(y)


def _penalty(linears, l1, l2):
    weights = [layer.weight for layer in linears]
    total = 0.0
    if l1:
        total = total + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        total = total + l2 * sum(w.pow(2).sum() for w in weights)
    return total


@torch.no_grad()
def _overall_sparsity(linears) -> float:
    zeros = sum(int((layer.weight == 0).sum()) for layer in linears)
    return zeros / sum(layer.weight.numel() for layer in linears)


def _reporter(epochs: int, progress: bool):
    """A callback ``(epoch, history)`` that shows the epoch's numbers."""
    if not progress:
        return lambda epoch, history: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=epochs, unit="epoch")

        def report(epoch, history):
            bar.set_postfix(
                loss=f"{history.loss[-1]:.4f}",
                test_acc=f"{history.test_accuracy[-1]:.4f}",
                sparsity=f"{history.sparsity[-1]:.3f}",
            )
            bar.update()
            if epoch == epochs - 1:
                bar.close()

        return report

    def report(epoch, history):
        print(
            f"epoch {epoch + 1}/{epochs}  loss {history.loss[-1]:.4f}  "
            f"train acc {history.train_accuracy[-1]:.4f}  "
            f"test acc {history.test_accuracy[-1]:.4f}  "
            f"sparsity {history.sparsity[-1]:.3f}  ({history.seconds[-1]:.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    return report
