"""What a reproduction runs: its architectures, data sets and training conditions, its nulls,
the two label rules every run is clustered by, the settings a run log records, and the
naming of a logged run's measures by rule (shared by the orchestration, the runs, the run
log, the tables and the figures)."""

from __future__ import annotations

from typing import Any

#: name -> (pruned, dropout rate), in table order.
CONDITIONS = {
    "pruned, dropout": (True, 0.5),
    "pruned": (True, 0.0),
    "unpruned, dropout": (False, 0.5),
    "unpruned": (False, 0.0),
}


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
