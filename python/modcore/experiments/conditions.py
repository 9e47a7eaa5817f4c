"""What a reproduction of the 2020 paper runs: its training conditions, its nulls and the
two label rules every run is clustered by, and the naming of a logged run's measures by rule
(shared by the orchestration, the aggregation and the figures)."""

from __future__ import annotations

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
