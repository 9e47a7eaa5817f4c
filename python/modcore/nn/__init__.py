"""Torch side of modcore: data sets, the papers' MLP and CNN, training with
gradual magnitude pruning, checkpoints and lesion tests. Needs the ``torch`` extra.

Typical use, the 2020 paper's recipe on Fashion-MNIST::

    from modcore.nn import MLP, load_dataset, paper_recipe, checkpoint
    ds = load_dataset("fashion")
    model = MLP()                       # 784-256-256-256-256-10
    history = paper_recipe(model, ds)   # 20 epochs, then 20 pruned to 90 %
    checkpoint.save(model, "fashion.pt", {"dataset": ds.name,
                                          "test_accuracy": history.test_accuracy[-1]})

and the 2021 paper's CNN, on images rather than flat inputs::

    ds = load_dataset("fashion", flatten=False)   # (n, 1, 28, 28)
    model = CNN()                                 # 3 convolutions of 64 channels, dense 128
    history = paper_recipe(model, ds)             # 10 epochs, then 10 pruned to 90 %
"""

from . import checkpoint
from .activations import Activations, activations
from .checkpoint import Checkpoint
from .clusterable_init import clusterable_init
from .datasets import DATASET_NAMES, Dataset, DatasetNotFoundError, load_dataset, read_idx
from .evaluate import evaluate
from .lesion import LesionStudy, lesion_study
from .models import (
    CNN,
    DEFAULT_WIDTHS,
    MLP,
    linear_layers,  # noqa: F401  (deprecated, not in __all__)
    weight_layers,
)
from .prune import PruneSchedule, layer_sparsity, prune_to_sparsity, remove_masks
from .train import RECIPES, History, paper_recipe, steps_per_epoch, train

__all__ = [
    "activations",
    "Activations",
    "checkpoint",
    "Checkpoint",
    "clusterable_init",
    "Dataset",
    "DATASET_NAMES",
    "DatasetNotFoundError",
    "load_dataset",
    "read_idx",
    "LesionStudy",
    "lesion_study",
    "MLP",
    "CNN",
    "DEFAULT_WIDTHS",
    "weight_layers",
    "PruneSchedule",
    "prune_to_sparsity",
    "remove_masks",
    "layer_sparsity",
    "History",
    "RECIPES",
    "train",
    "paper_recipe",
    "evaluate",
    "steps_per_epoch",
]

import typing as _typing

if not _typing.TYPE_CHECKING:  # its modules as attributes, imported on first use
    from ..common.lazy import submodule_getattr

    __getattr__ = submodule_getattr(__name__)
