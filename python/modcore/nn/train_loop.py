"""The training loop of one phase: epochs of Adam steps on cross-entropy with the
penalties, the regularizers and the pruning masks; the history it records; its state
after each epoch, and the same state restored to resume (:mod:`modcore.nn.train_state`
writes it). :func:`modcore.nn.train` and :func:`modcore.nn.paper_recipe` run phases."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch.nn.utils import prune as torch_prune

from .evaluate import evaluate
from .models import weight_layers
from .prune import PruneSchedule, prune_to_sparsity, remove_masks
from .regularizers import Partition, PartitionRegularizer, Spectral, SpectralRegularizer

__all__ = ["History", "Phase", "run_phase"]


@dataclass
class History:
    """Per-epoch record of a training run.

    Attributes
    ----------
    loss : list of float
        Mean cross-entropy over the epoch's mini-batches (without the L1/L2 penalty).
    train_accuracy : list of float
        Accuracy on the epoch's mini-batches as they were trained on (dropout
        active, weights changing, and while pruning the masks too), as Keras
        reports it; costs no extra pass. It can sit below ``test_accuracy``,
        above all during pruning, when each batch meets a net being cut.
    test_accuracy : list of float
        Accuracy on the test set at the end of the epoch, in eval mode.
    sparsity : list of float
        Fraction of zero weights over all Linear and Conv layers at the end of
        the epoch.
    seconds : list of float
        Wall time of the epoch, evaluation included.
    seed : int or None
        The seed the run used (drawn when None was given); of the first run
        when two histories are added.
    """

    loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    sparsity: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    seed: int | None = None

    def __add__(self, other: History) -> History:
        joined = {
            key: value + getattr(other, key) for key, value in asdict(self).items() if key != "seed"
        }
        return History(**joined, seed=self.seed)

    def to_dict(self) -> dict:
        """Plain lists (and the seed), ready for JSON."""
        return asdict(self)


@dataclass(frozen=True)
class Phase:
    """One call's worth of training: what :func:`train` takes besides the model and data."""

    epochs: int
    batch_size: int
    lr: float
    seed: int
    prune: PruneSchedule | None
    l1: float
    l2: float
    spectral: Spectral | None = None
    partition: Partition | None = None

    def record(self, n_train: int) -> dict:
        """Plain values naming the phase (and its data's size), kept in a state file
        (the regularizers only when set, so states saved before they existed still resume)."""
        terms = ("spectral", "partition")
        plain = {k: v for k, v in asdict(self).items() if k != "prune" and k not in terms}
        for term in terms:
            if getattr(self, term) is not None:
                plain[term] = asdict(getattr(self, term))
        return {
            **plain,
            "prune": None if self.prune is None else asdict(self.prune),
            "n_train": n_train,
        }


def run_phase(model, data, phase, bar, *, resume=None, after_epoch=None) -> History:
    """The training loop of one phase, its arguments checked, reporting to ``bar``; from the
    state ``resume`` if given; ``after_epoch(snapshot)`` gets the state after each epoch."""
    epochs, batch_size, seed, prune = phase.epochs, phase.batch_size, phase.seed, phase.prune
    layers = weight_layers(model)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # Made before any pruning reparametrisation, so its parameters are in the model's
    # own order whether or not the phase resumes with masks.
    optimizer = torch.optim.Adam(model.parameters(), lr=phase.lr)
    x, y = data.x_train, data.y_train
    spectral = phase.spectral
    regularizer = None
    if spectral is not None and spectral.strength > 0:
        regularizer = SpectralRegularizer(
            model, n_eigenvalues=spectral.n_eigenvalues, kernel_norm=spectral.kernel_norm
        )
    partition = phase.partition
    partition_loss = None
    if partition is not None and partition.strength > 0:
        partition_loss = PartitionRegularizer(
            model, n_clusters=partition.n_clusters, kernel_norm=partition.kernel_norm
        )
    history = History(seed=seed)
    step = first_epoch = 0
    if resume is not None:
        step, first_epoch, history = _restore(model, optimizer, generator, resume, device)
        if first_epoch:
            bar.update(first_epoch)
        if first_epoch == epochs:
            model.eval()  # as evaluate() left it
        if partition_loss is not None and resume.get("partition_labels") is not None:
            partition_loss.use(resume["partition_labels"])  # the partition in force then
        if regularizer is not None and isinstance(resume.get("spectral_warm"), torch.Tensor):
            # The solver's start: its vectors (to the tolerance) follow from it, bit by bit.
            regularizer.warm_start = resume["spectral_warm"].numpy()
    for epoch in range(first_epoch, epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(y), generator=generator)
        loss_sum: float | torch.Tensor = 0.0
        correct = 0
        for start in range(0, len(y), batch_size):
            if prune is not None and prune.is_update_step(step):
                prune_to_sparsity(model, prune.sparsity(step))
            rows = order[start : start + batch_size]
            xb, yb = x[rows].to(device), y[rows].to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            objective = loss + _penalty(layers, phase.l1, phase.l2)
            if regularizer is not None and step % spectral.every == 0:
                # After the forward pass: a pruned layer's weight is the one it just used.
                scale = spectral.strength / spectral.n_eigenvalues * spectral.every
                objective = objective + scale * regularizer()
            if partition_loss is not None:
                if step % partition.refresh_every == 0 or partition_loss.labels is None:
                    partition_loss.refresh()
                objective = objective + partition.strength * partition_loss()
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
        history.test_accuracy.append(evaluate(model, data))
        history.sparsity.append(_overall_sparsity(layers))
        history.seconds.append(time.perf_counter() - started)
        # "batch acc": on the epoch's training batches as they were trained on (dropout
        # on, the weights and, when pruning, the masks changing); "test acc": the test
        # set after the epoch, in eval mode. So the first can sit below the second.
        info = {"sparsity": f"{history.sparsity[-1]:.3f}"} if prune is not None else {}
        info.update(
            {
                "loss": f"{history.loss[-1]:.4f}",
                "batch acc": f"{history.train_accuracy[-1]:.4f}",
                "test acc": f"{history.test_accuracy[-1]:.4f}",
                "time": f"{history.seconds[-1]:.1f} s",
            }
        )
        if after_epoch is not None:
            snapshot = _snapshot(model, optimizer, generator, device, epoch + 1, step, history)
            if partition_loss is not None and partition_loss.labels is not None:
                snapshot["partition_labels"] = [lab.tolist() for lab in partition_loss.labels]
            if regularizer is not None and regularizer.warm_start is not None:
                snapshot["spectral_warm"] = torch.from_numpy(regularizer.warm_start.copy())
            after_epoch(snapshot)
        bar.update(1, info)
    return history


def _snapshot(model, optimizer, generator, device, epoch, step, history) -> dict:
    """The state of a phase after ``epoch`` epochs (``step`` optimizer steps)."""
    snapshot = {
        "epoch": epoch,
        "step": step,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
    }
    if device.type == "cuda":  # dropout on a GPU draws from its own generator
        snapshot["cuda_rng"] = torch.cuda.get_rng_state(device)
    return snapshot


def _restore(model, optimizer, generator, saved, device) -> tuple:
    """Load the state ``saved`` into the phase's objects: ``(step, epoch, history)``."""
    names = {id(module): name for name, module in model.named_modules()}
    for layer in weight_layers(model):
        masked = f"{names[id(layer)]}.weight_mask" if names[id(layer)] else "weight_mask"
        if masked in saved["model"] and not torch_prune.is_pruned(layer):
            # The reparametrisation the saved masks belong to; load_state_dict fills it.
            torch_prune.identity(layer, "weight")
    try:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"{saved['path']}: the training state does not fit this model ({exc})"
        ) from exc
    for layer in weight_layers(model):
        if torch_prune.is_pruned(layer):
            # torch's pruning ranks weights by the module's `weight` as of its last forward
            # pass, which evaluate() left as weight_orig * weight_mask after the epoch.
            orig, mask = layer.get_parameter("weight_orig"), layer.get_buffer("weight_mask")
            with torch.no_grad():
                layer.weight = orig * mask
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda" and "cuda_rng" in saved:
        torch.cuda.set_rng_state(saved["cuda_rng"], device)
    return saved["step"], saved["epoch"], History(**saved["history"])


def _penalty(layers, l1, l2):
    weights = [layer.weight for layer in layers]
    total = 0.0
    if l1:
        total = total + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        total = total + l2 * sum(w.pow(2).sum() for w in weights)
    return total


@torch.no_grad()
def _overall_sparsity(layers) -> float:
    zeros = sum(int((layer.weight == 0).sum()) for layer in layers)
    return zeros / sum(layer.weight.numel() for layer in layers)
