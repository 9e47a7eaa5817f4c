"""What a reproduction runs: its architectures, data sets and training conditions, its nulls,
the two label rules every run is clustered by, the settings a run log records, and the
naming of a logged run's measures by rule (shared by the orchestration, the runs, the run
log, the tables and the figures)."""

from __future__ import annotations

from typing import Any

#: The ways a reproduction trains, by name (``modcore reproduce --conditions``): each one
#: training gives an unpruned and a pruned network (two conditions). Values: the dropout
#: rate and the terms of :func:`modcore.nn.paper_recipe` (``l1``, ``l2``, ``spectral``,
#: ``partition`` as the fields of :class:`~modcore.nn.regularizers.Spectral` /
#: :class:`~modcore.nn.regularizers.Partition`) and ``clusterable_init`` (the modules of
#: :func:`modcore.nn.clusterable_init`). Every one but dropout trains without dropout,
#: as the 2021 paper's variants did. The values, and where they come from:
#:
#: - ``l1``, ``l2``: 5e-5, the authors' ``l1reg_rate`` / ``l2reg_rate``
#:   (dfilan/clusterability_in_neural_networks, ``src/train_nn.py``, ``general_config``;
#:   their MLP's first layer took the L1 penalty in the L2 variant too, which is not
#:   reproduced: here every layer gets the variant's penalty);
#: - ``clusterable-init``: 10 modules, their ``init_modules=10`` (``shells/train_mlps.sh``);
#: - ``spectral``: the sum of the 3 smallest non-trivial eigenvalues with weight
#:   ``0.1 / 3`` on every step, their ``cluster_lambda = 0.1``, ``num_cluster_eigs = 3``
#:   and loss ``(cluster_lambda / num_cluster_eigs) * sum`` (``src/train_nn.py``,
#:   ``small_mlp_cluster_config``: they used it on a 64x3 MLP of 7x7 MNIST only, not on
#:   the 784-256x4-10 MLP; modcore applies it to the paper's MLP);
#: - ``partition``: weight 1 on the fraction of weight mass between the modules of a
#:   k = 12 clustering refreshed every 100 steps: modcore's choice (Golechha et al.
#:   2025 publish no value for this network).
TRAININGS: dict[str, dict] = {
    "dropout": {"dropout": 0.5},
    "plain": {"dropout": 0.0},
    "clusterable-init": {"dropout": 0.0, "clusterable_init": 10},
    "l1": {"dropout": 0.0, "l1": 5e-5},
    "l2": {"dropout": 0.0, "l2": 5e-5},
    "spectral": {
        "dropout": 0.0,
        "spectral": {"strength": 0.1, "n_eigenvalues": 3, "every": 1, "kernel_norm": "l1"},
    },
    "partition": {
        "dropout": 0.0,
        "partition": {
            "strength": 1.0,
            "n_clusters": 12,
            "refresh_every": 100,
            "kernel_norm": "l1",
        },
    },
}


#: The trainings of the 2020 paper's table (``--conditions`` by default).
DEFAULT_TRAININGS = ("dropout", "plain")


def _name(pruned: bool, training: str) -> str:
    # The paper's four keep their names ("pruned", "unpruned, dropout", ...).
    state = "pruned" if pruned else "unpruned"
    return state if training == "plain" else f"{state}, {training}"


#: Every condition: name -> (pruned, training), pruned ones first, trainings in order.
ALL_CONDITIONS: dict[str, tuple[bool, str]] = {
    _name(pruned, training): (pruned, training)
    for pruned in (True, False)
    for training in TRAININGS
}


def conditions_of(trainings) -> dict:
    """The conditions of ``trainings`` (names of :data:`TRAININGS`), in table order:
    name -> (pruned, training)."""
    trainings = list(trainings)
    unknown = [t for t in trainings if t not in TRAININGS]
    if unknown or not trainings:
        raise ValueError(
            f"unknown training(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"expected some of {', '.join(TRAININGS)}"
        )
    return {name: (pruned, t) for name, (pruned, t) in ALL_CONDITIONS.items() if t in trainings}


#: The 2020 paper's four conditions: name -> (pruned, dropout rate), in table order.
CONDITIONS = {
    name: (pruned, TRAININGS[t]["dropout"])
    for name, (pruned, t) in conditions_of(DEFAULT_TRAININGS).items()
}


def training_of(row: dict) -> str:
    """The training of a run (a row or a checkpoint's metadata); runs written before
    there were other trainings than the paper's are named by their dropout rate."""
    if "condition" in row and row["condition"] in ALL_CONDITIONS:
        return ALL_CONDITIONS[row["condition"]][1]
    return "dropout" if row["dropout"] else "plain"


NULLS = ("layer", "layer_nonzero")


#: The label rules every run is clustered by, in table order: name -> (description,
#: modcore.spectral_cluster's settings). The authors' rule (their k-means, restarts kept
#: by lowest inertia, no refinement) is the one their published numbers come from; its
#: ``n_init`` is reproduce()'s. modcore's default rule is deterministic and finds lower
#: n-cuts (see README, "Two label rules").
RULES = {
    "authors": (
        "the authors' rule: k-means, n_init restarts (25 by default) kept by lowest "
        "inertia, no refinement",
        {"assign_labels": "kmeans", "refine": False, "select_by": "inertia"},
    ),
    "modcore": (
        "modcore's default rule: cluster_qr, refined by n-cut moves",
        {"assign_labels": "cluster_qr", "refine": True, "select_by": "inertia"},
    ),
}


def _by_rule(run: dict) -> dict:
    """``run`` with its measures named by label rule. Runs written when one rule was kept
    (``results/`` of 2026-11: cluster_qr refined, the default rule) have unprefixed
    ``ncut``, ``<null>_z``, ...: they are named by the rule they record."""
    if "ncut" not in run:
        return run
    if (run.get("assign_labels"), run.get("refine")) != ("cluster_qr", True):
        raise ValueError(
            f"a run of {run['dataset']}, {run['condition']}, seed {run['seed']} was clustered "
            f"by assign_labels={run.get('assign_labels')}, refine={run.get('refine')}, which "
            "is not one of the reproduction's label rules"
        )
    rule = "modcore"
    named = dict(run)
    for key in ("ncut", "random_init_ncut") + tuple(
        f"{null}_{what}" for null in NULLS for what in ("mean", "std", "z", "p", "ncuts")
    ):
        named[f"{rule}_{key}"] = named.pop(key)
    return named


ARCHS = ("mlp", "cnn")


#: Epochs per phase by architecture (the papers' recipes, modcore.nn.RECIPES).
DEFAULT_EPOCHS = {"mlp": 20, "cnn": 10}


DEFAULT_DATASETS = ("fashion", "line", "mnist", "cifar10")


KNOWN_DATASETS = ("fashion", "line", "mnist", "cifar10", "cifar10-rgb")


def run_datasets(datasets, quick, quick_values, default) -> list:
    """The data sets of a reproduction (``datasets``, else the quick or the default ones),
    each checked to be known before any training."""
    datasets = list(datasets) if datasets else list(quick_values["datasets"] if quick else default)
    for name in datasets:
        if name not in KNOWN_DATASETS:
            raise ValueError(
                f"unknown data set {name!r}; expected some of {', '.join(KNOWN_DATASETS)}"
            )
    return datasets


HIDDEN = (256, 256, 256, 256)


QUICK: dict[str, Any] = {
    "n_train": 1000,
    "n_test": 500,
    "epochs": 1,
    "n_shuffles": 20,
    "seeds": 1,
    "datasets": ("line",),
}


# Every setting a run's numbers depend on, kept in each run: runs.jsonl holding runs
# made with other values is refused, never mixed in. A new one is one more name here
# (tests/test_reproduce.py checks that reproduce() has no other such parameter).
SETTINGS = (
    "arch",
    "epochs",
    "n_shuffles",
    "n_clusters",
    "n_init",
    "max_iter",
    "tol",
    "eigen_method",
    "drop",
    "normalize",
    "n_train",
    "n_test",
    "hidden",
)


# Runs written before these were settings used these values (reproduce had no such
# parameters and passed ncut_significance's defaults; only MLPs were reproduced; the
# labels came from k-means restarts kept by inertia, unrefined).
_SETTINGS_BEFORE = {
    "arch": "mlp",
    "max_iter": 300,
    "tol": 1e-6,
    "eigen_method": "auto",
    "assign_labels": "kmeans",
    "refine": False,
    "select_by": "inertia",
    "drop": "isolated",
    "normalize": None,
}


# Where the unpruned network comes from; runs made before it was the pruned run's plain
# phase (a separate training of 2 * epochs) are refused, not mixed in.
UNPRUNED_FROM = "the plain phase of the pruned run"


_UNPRUNED_BEFORE = "a separate training of 2 * epochs"
