"""Training a model: :func:`train` (one phase of Adam on cross-entropy, optionally with
gradual pruning) and :func:`paper_recipe` (the papers' two phases), their arguments
checked and their phases run one after the other with one state file. The loop of a
phase is :mod:`modcore.nn.train_loop`; accuracy, :mod:`modcore.nn.evaluate`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..common.deprecation import renamed_keywords
from ..common.progress import Progress
from ..common.types import PathLike, ProgressLike, SeedLike
from ..network.checks import check_positive_int, check_seed
from .datasets import Dataset
from .evaluate import evaluate
from .models import CNN, weight_layers
from .prune import PruneSchedule
from .regularizers import Partition, Spectral
from .train_loop import History, Phase, run_phase
from .train_state import load_state, save_state

__all__ = ["History", "RECIPES", "train", "paper_recipe", "evaluate", "steps_per_epoch"]

# The papers' recipes, by architecture: epochs of plain training, epochs of pruned
# fine-tuning, batch size (Filan et al. 2020 for the MLP; 2021, their cnn_config, for the CNN).
RECIPES = {
    "mlp": {"epochs": 20, "prune_epochs": 20, "batch_size": 128},
    "cnn": {"epochs": 10, "prune_epochs": 10, "batch_size": 64},
}


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch; the last, partial batch counts as a step."""
    return math.ceil(n_examples / batch_size)


@renamed_keywords(dataset="data")
def train(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: SeedLike = None,
    prune: PruneSchedule | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    spectral: Spectral | None = None,
    partition: Partition | None = None,
    progress: ProgressLike = None,
    state: PathLike | None = None,
    on_epoch: Callable[[History], Any] | None = None,
) -> History:
    """Train ``model`` in place with Adam on cross-entropy.

    Mini-batches are slices of a fresh random permutation each epoch, indexed
    straight from the in-memory tensors.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs (``(batch, *data.input_shape)``) to
        ``(batch, n_classes)`` logits, e.g. :class:`~modcore.nn.MLP` on flat
        inputs or :class:`~modcore.nn.CNN` on images (``load_dataset(...,
        flatten=False)``). Batches are moved to the device of its parameters.
    data : Dataset
        Its training split is trained on, its test split gives ``test_accuracy``
        (:func:`modcore.nn.load_dataset`). ``dataset=``, the old name of this
        parameter, still works for one release and warns (DeprecationWarning).
    epochs : int
    batch_size : int, default 128
    lr : float, default 1e-3
        Adam's learning rate (1e-3 is Adam's default and the papers').
    seed : None, int or numpy.random.Generator, default None
        Seeds the batch order (a ``torch.Generator``) and torch's global RNG,
        which dropout draws from. None draws a fresh seed; the one used is
        ``History.seed``.
    prune : PruneSchedule, optional
        Gradual magnitude pruning of every Linear and Conv weight tensor. Masks
        are updated before the optimizer steps that ``prune.is_update_step``
        names (steps count from 0 in this call) and once more after the last
        step, at that step's target sparsity, so the run ends exactly on the
        schedule. The masks are then folded into the weights (exact zeros, no
        ``weight_orig`` / ``weight_mask`` left).
    l1, l2 : float, default 0.0
        Penalties ``l1 * sum|W|`` and ``l2 * sum W**2`` over the Linear and Conv
        weights (not biases), like Keras' kernel regularizers the papers used
        (5e-5 in their regularised variants).
    spectral : Spectral, optional
        The spectral clusterability regularizer
        (:class:`~modcore.nn.regularizers.SpectralRegularizer`) with these settings:
        on every ``spectral.every``-th step (counted from 0 in this call) the
        objective gets ``strength / n_eigenvalues * every`` times the sum of the
        normalized Laplacian's smallest non-trivial eigenvalues, as the authors'
        port does.
    partition : Partition, optional
        The partition loss (:class:`~modcore.nn.regularizers.PartitionRegularizer`):
        ``strength`` times the fraction of weight mass between modules, every step,
        the partition reclustered every ``refresh_every`` steps (from step 0).
    progress : None, bool or callable, default None
        Report each epoch, named by its phase ("train 3/20 epochs", or "prune 2/20
        epochs" with a ``prune`` schedule, then its sparsity): the loss, "batch
        acc" (``History.train_accuracy``: the epoch's training batches as they
        were trained on, dropout on, weights and masks changing) and "test acc"
        (the test set after the epoch, in eval mode). None when stderr is a
        terminal, True / False to force; a callable gets ``(done, total)`` epochs.
    state : str or path-like, optional
        A file where the training's state is saved after every epoch
        (:mod:`modcore.nn.train_state`: weights with the pruning masks, optimizer,
        RNG states, schedule step, history; written atomically). If it exists, the
        training resumes from it, and the result is bit for bit that of a training
        never stopped (same device and torch build). It is left in place at the end
        (the state after the last epoch); delete it once the model is saved.
    on_epoch : callable, optional
        Called as ``on_epoch(history)`` after every epoch, once its state is saved,
        with the history so far.

    Returns
    -------
    History

    Raises
    ------
    ValueError
        If ``epochs``, ``batch_size`` or ``lr`` is not positive, a penalty is
        negative (or a number is not finite), ``spectral.n_eigenvalues`` or
        ``partition.n_clusters`` is more than the model's graph holds (its inputs
        and every weight layer's outputs), the model has no Linear or Conv layer,
        the data's shape is not the one the model (an MLP or CNN) takes, or
        ``state`` is not a training state of this model and these arguments. All
        but the last are checked before any training.
    TypeError
        If ``prune``, ``spectral`` or ``partition`` is not of its type, or a
        callback is not callable.

    Examples
    --------
    >>> from modcore.nn import MLP, load_dataset
    >>> ds = load_dataset("line", n_train=256, n_test=64)
    >>> history = train(MLP([784, 32, 10], seed=0), ds, epochs=1, seed=0, progress=False)
    >>> len(history.test_accuracy), history.seed
    (1, 0)
    """
    check_terms(model, spectral, partition)
    _check_training(model, data, epochs, batch_size, lr, l1, l2)
    _check_hooks(prune=prune, on_epoch=on_epoch)
    phase = Phase(epochs, batch_size, lr, check_seed(seed), prune, l1, l2, spectral, partition)
    return _phases(model, data, [phase], [progress], state=state, on_epoch=on_epoch)


@renamed_keywords(dataset="data")
def paper_recipe(
    model: nn.Module,
    data: Dataset,
    *,
    epochs: int | None = None,
    prune_epochs: int | None = None,
    batch_size: int | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    spectral: Spectral | None = None,
    partition: Partition | None = None,
    seed: SeedLike = None,
    progress: ProgressLike = None,
    on_trained: Callable[[nn.Module, History], Any] | None = None,
    state: PathLike | None = None,
    on_epoch: Callable[[History], Any] | None = None,
) -> History:
    """Filan et al.'s recipe: plain training, then pruned fine-tuning.

    Equivalent to two calls of :func:`train`::

        seed = <the seed, drawn if None>
        train(model, data, epochs=epochs, batch_size=batch_size, seed=seed)
        steps = prune_epochs * steps_per_epoch(len(data.y_train), batch_size)
        train(model, data, epochs=prune_epochs, batch_size=batch_size, seed=seed + 1,
              prune=PruneSchedule(end_step=steps))

    i.e. Adam at 1e-3, then sparsity from 0.5 to 0.9 on the cubic schedule over
    the whole pruning phase, masks updated every 10 steps; progress is shown per
    phase ("train 3/20 epochs", then "prune 2/20 epochs" with the sparsity), and a
    callable ``progress`` gets ``(done, total)`` over both phases. The defaults
    follow the model (:data:`RECIPES`): a :class:`~modcore.nn.CNN` gets the 2021
    paper's 10 + 10 epochs in batches of 64, any other model the 2020 paper's
    20 + 20 epochs in batches of 128.
    Dropout, if wanted, is part of the model (``MLP(dropout=0.5)``,
    ``CNN(conv_dropout=0.25, dense_dropout=0.5)``).

    Parameters
    ----------
    model, data, l1, l2, spectral, partition, progress, on_epoch
        As for :func:`train` (the penalties and regularizers apply to both phases).
    epochs : int, optional
        Epochs of plain training (default 20 for an MLP, 10 for a CNN).
    prune_epochs : int, optional
        Epochs of pruned fine-tuning, ending on the schedule's last step
        (default 20 for an MLP, 10 for a CNN).
    batch_size : int, optional
        Default 128 for an MLP, 64 for a CNN.
    seed : None, int or numpy.random.Generator, default None
        The plain phase uses this seed, the pruned phase ``seed + 1``; None
        draws one, kept in ``History.seed``.
    on_trained : callable, optional
        Called as ``on_trained(model, history)`` after the plain phase, before
        pruning starts: where the authors saved their *unpruned* network, so one
        run gives both (copy the model there; pruning changes it in place).
        Not called again when the training resumes from a state saved in the
        pruning phase.
    state : str or path-like, optional
        As for :func:`train`: one file holds the state of either phase, and a
        stopped recipe resumes in the phase and epoch it had reached.

    Returns
    -------
    History
        Both phases, one entry per epoch.

    Raises
    ------
    ValueError, TypeError
        As for :func:`train`, all checked before the plain phase starts.

    Examples
    --------
    >>> from modcore.nn import MLP, load_dataset, layer_sparsity
    >>> ds = load_dataset("line", n_train=256, n_test=64)
    >>> model = MLP([784, 32, 10], seed=0)
    >>> history = paper_recipe(model, ds, epochs=1, prune_epochs=1, progress=False)
    >>> [round(s, 3) for s in layer_sparsity(model)], len(history.sparsity)
    ([0.9, 0.9], 2)
    """
    recipe = RECIPES["cnn" if isinstance(model, CNN) else "mlp"]
    epochs = recipe["epochs"] if epochs is None else epochs
    prune_epochs = recipe["prune_epochs"] if prune_epochs is None else prune_epochs
    batch_size = recipe["batch_size"] if batch_size is None else batch_size
    check_terms(model, spectral, partition)
    _check_training(model, data, epochs, batch_size, 1e-3, l1, l2)
    _check_hooks(on_epoch=on_epoch, on_trained=on_trained)
    check_positive_int(prune_epochs, "prune_epochs")
    seed = check_seed(seed)
    schedule = PruneSchedule(end_step=prune_epochs * steps_per_epoch(len(data.y_train), batch_size))
    total = epochs + prune_epochs
    # One display per phase, each counting its own epochs; a callable gets both phases'
    # epochs as one count.
    shown = (
        [lambda done, _: progress(done, total), lambda done, _: progress(epochs + done, total)]
        if callable(progress)
        else [progress, progress]
    )
    phases = [
        Phase(epochs, batch_size, 1e-3, seed, None, l1, l2, spectral, partition),
        Phase(
            prune_epochs,
            batch_size,
            1e-3,
            (seed + 1) % 2**64,
            schedule,
            l1,
            l2,
            spectral,
            partition,
        ),
    ]
    return _phases(
        model, data, phases, shown, state=state, on_trained=on_trained, on_epoch=on_epoch
    )


def _phases(model, data, phases, shown, *, state, on_trained=None, on_epoch=None) -> History:
    """Run ``phases`` one after the other (``shown[i]``: phase i's display), resuming from
    and saving to the file ``state`` if given; the history of all phases."""
    recipe = [phase.record(len(data.y_train)) for phase in phases]
    path = None if state is None else Path(state)
    saved = load_state(path, recipe) if path is not None and path.exists() else None
    first = 0 if saved is None else saved["phase"]
    before = None if saved is None or not saved["earlier"] else History(**saved["earlier"])
    for i, phase in enumerate(phases[first:], start=first):

        def after_epoch(snapshot, i=i, before=before):
            history = snapshot["history"]
            if path is not None:
                earlier = {} if before is None else before.to_dict()
                save_state(
                    path,
                    {
                        **snapshot,
                        "history": history.to_dict(),
                        "recipe": recipe,
                        "phase": i,
                        "earlier": earlier,
                    },
                )
            if on_epoch is not None:
                on_epoch(history if before is None else before + history)

        resume = {**saved, "path": str(path)} if saved is not None and i == first else None
        with Progress(phase.epochs, _phase(phase.prune), shown[i], unit="epochs") as bar:
            done = run_phase(model, data, phase, bar, resume=resume, after_epoch=after_epoch)
        if i == 0 and on_trained is not None:
            on_trained(model, done)
        before = done if before is None else before + done
    assert before is not None
    return before


def _phase(prune) -> str:
    return "train" if prune is None else "prune"


def _check_training(model, data, epochs, batch_size, lr, l1, l2) -> None:
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    for name, value, positive in (("lr", lr, True), ("l1", l1, False), ("l2", l2, False)):
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        number = float(value) if real else math.nan
        if not (math.isfinite(number) and (number > 0 if positive else number >= 0)):
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    if not weight_layers(model):
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to train or prune")
    expected = getattr(model, "input_shape", None)
    given = tuple(data.x_train.shape[1:])
    if expected is not None and tuple(expected) != given:
        raise ValueError(
            f"{type(model).__name__} takes inputs of shape {tuple(expected)} but the data's "
            f"are {given}; load images with load_dataset(..., flatten=False) for a CNN and "
            "flat inputs (the default) for an MLP"
        )
    n_outputs = _n_outputs(model, data.x_train[:2])
    top = max(int(data.y_train.max()), int(data.y_test.max()))
    if n_outputs is not None and top >= n_outputs:
        raise ValueError(
            f"{type(model).__name__} has {n_outputs} outputs but the labels of "
            f"{data.name!r} go up to {top} ({data.n_classes} classes): its last layer "
            f"needs at least {top + 1} units"
        )


def _check_hooks(**given) -> None:
    """The pruning schedule and callbacks, refused before training rather than at the
    first step or epoch that uses them."""
    prune = given.pop("prune", None)
    if prune is not None and not isinstance(prune, PruneSchedule):
        raise TypeError(
            f"prune must be a modcore.nn.PruneSchedule or None, got {type(prune).__name__}"
        )
    for name, hook in given.items():
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be callable or None, got {type(hook).__name__}")


def check_terms(model, spectral, partition, *, names=None) -> None:
    """Refuse regularizer settings ``model`` cannot honour, before any training: a
    count above what its graph holds (its inputs and every weight layer's outputs,
    all of them live before pruning). ``names`` respells the settings in messages
    (the CLI's options)."""
    for value, kind, name in (
        (spectral, Spectral, "spectral"),
        (partition, Partition, "partition"),
    ):
        if value is not None and not isinstance(value, kind):
            raise TypeError(
                f"{name} must be a modcore.nn.regularizers.{kind.__name__} or None, got "
                f"{type(value).__name__}"
            )
    if spectral is None and partition is None:
        return
    layers = weight_layers(model)
    if not layers:
        return  # refused by the training's own checks, naming the model
    shape = getattr(model, "input_shape", None)  # units are its first axis: features, channels
    first = layers[0]  # without input_shape: its inputs (a convolution's in_channels)
    n_inputs = shape[0] if shape else first.weight.shape[1] * getattr(first, "groups", 1)
    n_units = int(n_inputs) + sum(int(layer.weight.shape[0]) for layer in layers)
    spelled = {key: key for key in ("spectral.n_eigenvalues", "partition.n_clusters")}
    spelled.update(names or {})
    graph = f"{type(model).__name__}'s graph has {n_units} units (inputs and layer outputs)"
    if spectral is not None and spectral.n_eigenvalues > n_units - 1:
        raise ValueError(
            f"{spelled['spectral.n_eigenvalues']}={spectral.n_eigenvalues} is more than the "
            f"graph holds: {graph}, so at most {n_units - 1} non-trivial eigenvalues"
        )
    if partition is not None and partition.n_clusters > n_units:
        raise ValueError(
            f"{spelled['partition.n_clusters']}={partition.n_clusters} is more than the "
            f"graph holds: {graph}, so at most {n_units} modules"
        )


def _n_outputs(model, x) -> int | None:
    """The width of the model's (batch, classes) output, from one pass in eval mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
    return int(out.shape[-1]) if isinstance(out, torch.Tensor) and out.ndim == 2 else None
