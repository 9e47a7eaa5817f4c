"""Torch side of modcore: data sets, the paper's MLP, training with gradual
magnitude pruning, and checkpoints. Needs the ``torch`` extra.

Typical use, the paper's recipe on Fashion-MNIST::

    from modcore.nn import MLP, load_dataset, paper_recipe, checkpoint
    ds = load_dataset("fashion")
    model = MLP()                       # 784-256-256-256-256-10
    history = paper_recipe(model, ds)   # 20 epochs, then 20 pruned to 90 %
    checkpoint.save(model, "fashion.pt", {"dataset": ds.name,
                                          "test_accuracy": history.test_accuracy[-1]})
"""

from . import checkpoint
from .activations import Activations, activations
from .checkpoint import Checkpoint
from .datasets import DATASET_NAMES, Dataset, load_dataset, read_idx
from .lesion import LesionStudy, lesion_study
from .models import DEFAULT_WIDTHS, MLP, linear_layers
from .prune import PruneSchedule, layer_sparsity, prune_to_sparsity, remove_masks
from .train import History, evaluate, paper_recipe, steps_per_epoch, train

__all__ = [
    "activations",
    "Activations",
    "checkpoint",
    "Checkpoint",
    "Dataset",
    "DATASET_NAMES",
    "load_dataset",
    "read_idx",
    "LesionStudy",
    "lesion_study",
    "MLP",
    "DEFAULT_WIDTHS",
    "linear_layers",
    "PruneSchedule",
    "prune_to_sparsity",
    "remove_masks",
    "layer_sparsity",
    "History",
    "train",
    "paper_recipe",
    "evaluate",
    "steps_per_epoch",
]
