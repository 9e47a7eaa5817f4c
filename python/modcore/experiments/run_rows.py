"""The rows of the reproductions' run logs (``runs.jsonl`` of ``modcore reproduce`` and
of ``reproduce --lesions``), stated once as :class:`modcore.common.rows.RowSchema`: a row that a
person edited, joined from two files or typed by hand is refused on read, naming the file
and the line, before any table is built from it; a run present twice is refused too.

Built from the reproductions' own constants (passed in, so that this module imports
none of theirs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..common.rows import Column, RowSchema

__all__ = ["lesion_schema", "run_schema"]

_KEY = ("dataset", "condition", "seed")
_OPTIONAL_COUNT = Column("int", low=1, optional=True)


def _run(conditions: Iterable[str], archs: Sequence[str], *, arch_required: bool) -> dict:
    """Columns of every run of either reproduction: which run, and its settings."""
    return {
        "dataset": Column("str"),
        "condition": Column("str", choices=list(conditions)),
        "seed": Column("int", low=0),
        "arch": Column("str", choices=list(archs), required=arch_required),
        "epochs": Column("int", low=1),
        "n_clusters": Column("int", low=2),
        "n_init": Column("int", low=1),
        "n_train": _OPTIONAL_COUNT,
        "n_test": _OPTIONAL_COUNT,
        "hidden": Column("ints", low=1, optional=True),
    }


def _fraction(**kw) -> Column:
    return Column("float", low=0, high=1, **kw)


def _ncuts_within_k(names: Iterable[str]):
    """A check that each n-cut column the row has lies in [0, n_clusters]."""
    names = tuple(names)

    def check(row: dict) -> None:
        for name in names:
            if name in row and not 0.0 <= row[name] <= row["n_clusters"]:
                k = row["n_clusters"]
                raise ValueError(f"{name!r} must lie in [0, n_clusters = {k}], got {row[name]}")

    return check


def _measures(prefix: str, nulls: Iterable[str]) -> dict:
    """One label rule's columns, its measure names led by ``prefix``: per null the
    shuffled n-cuts, their mean and std, z and p (std and z are NaN for one shuffle),
    then the network's n-cut and a random initialization's. Not required: a row has
    the columns of one format (see run_schema's check)."""
    columns = {}
    for null in nulls:
        columns[f"{prefix}{null}_mean"] = Column("float", low=0, required=False)
        columns[f"{prefix}{null}_std"] = Column("float", low=0, finite=False, required=False)
        columns[f"{prefix}{null}_z"] = Column("float", finite=False, required=False)
        columns[f"{prefix}{null}_p"] = Column("float", low=0, low_open=True, high=1, required=False)
        columns[f"{prefix}{null}_ncuts"] = Column("floats", low=0, required=False)
    columns[f"{prefix}ncut"] = Column("float", low=0, required=False)
    columns[f"{prefix}random_init_ncut"] = Column("float", low=0, required=False)
    return columns


def run_schema(
    conditions: Iterable[str], nulls: Iterable[str], rules: Iterable[str], archs: Sequence[str]
) -> RowSchema:
    """The rows of ``modcore reproduce``'s ``runs.jsonl``: as written now (every label
    rule of ``rules``, prefixed by its name), or as written when one rule was kept
    (unprefixed measures and that rule's settings; the committed ``results/``)."""
    nulls, rules = tuple(nulls), tuple(rules)
    one_rule = _measures("", nulls)
    by_rule = {k: v for rule in rules for k, v in _measures(f"{rule}_", nulls).items()}
    # Settings that runs written before they were settings lack: such a run is read, and
    # refused by the reproduction as made with other settings (its message says which).
    columns = {
        **_run(conditions, archs, arch_required=False),
        "pruned": Column("bool"),
        "dropout": Column("float", low=0, high=1),
        # The training's penalties, regularizers and initialisation (conditions.TRAININGS);
        # runs written before it was recorded are the 2020 paper's.
        "training": Column("mapping", required=False),
        "n_shuffles": Column("int", low=1),
        "max_iter": Column("int", low=1, required=False),
        "tol": Column("float", low=0, required=False),
        "eigen_method": Column("str", required=False),
        "drop": Column("str", required=False),
        "normalize": Column("str", optional=True, required=False),
        "assign_labels": Column("str", required=False),
        "refine": Column("bool", required=False),
        "select_by": Column("str", required=False),
        "rules": Column("mapping", values=Column("mapping"), required=False),
        "unpruned_from": Column("str", required=False),
        "trained_epochs": Column("int", low=0, required=False),
        "test_accuracy": _fraction(),
        "train_accuracy": _fraction(),
        "sparsity": _fraction(),
        "device": Column("str", required=False),
        **one_rule,
        **by_rule,
        **{
            count: Column("int", low=0, required=False)
            for count in ("n_dropped", "n_isolated", "n_unreachable", "n_floating")
        },
        "seconds_train": Column("float", low=0),
        "seconds_analysis": Column("float", low=0),
        "checkpoint": Column("str"),
        "finished_at": Column("str"),
    }

    def one_format(row: dict) -> None:
        """The measures of one label rule (unprefixed) or of every rule, all of them."""
        forms = {"one label rule": one_rule, "every label rule": by_rule}
        held = [name for name, form in forms.items() if any(c in row for c in form)]
        if len(held) != 1:
            raise ValueError(
                "columns of one label rule and of every label rule together"
                if held
                else "no measures: neither one label rule's nor every rule's columns"
            )
        missing = [c for c in forms[held[0]] if c not in row]
        if missing:
            raise ValueError(f"a row of {held[0]} lacks {missing}")
        # Runs of one rule were kept while it was modcore's default rule.
        rule = (row.get("assign_labels"), row.get("refine"))
        if held[0] == "one label rule" and rule != ("cluster_qr", True):
            raise ValueError(
                "a run of one label rule was clustered by modcore's default rule then "
                "(assign_labels 'cluster_qr', refine true), this one by assign_labels "
                f"{rule[0]!r}, refine {rule[1]!r}"
            )

    null_lists = [c for c in {**one_rule, **by_rule} if c.endswith("_ncuts")]

    def one_ncut_per_shuffle(row: dict) -> None:
        """Each null's list of shuffled n-cuts has one per shuffle (the figures pool them)."""
        for name in null_lists:
            if name in row and len(row[name]) != row["n_shuffles"]:
                raise ValueError(
                    f"{name!r} must hold n_shuffles = {row['n_shuffles']} values, "
                    f"got {len(row[name])}"
                )

    ncuts = ["ncut", "random_init_ncut"] + [
        f"{rule}_{what}" for rule in rules for what in ("ncut", "random_init_ncut")
    ]
    return RowSchema(
        columns, key=_KEY, checks=(one_format, one_ncut_per_shuffle, _ncuts_within_k(ncuts))
    )


def _exact(columns: Mapping[str, Column]) -> RowSchema:
    return RowSchema(columns, key=())


def lesion_schema(conditions: Iterable[str], archs: Sequence[str]) -> RowSchema:
    """The rows of ``modcore reproduce --lesions``'s ``runs.jsonl``."""
    p_value = Column("float", low=0, high=1, optional=True)
    tests = _exact(
        {
            "n_random": Column("int", low=0),
            "mean_chi2_p": p_value,
            "spread_chi2_p": p_value,
            "mean_fisher_p": p_value,
            "spread_fisher_p": p_value,
            "mean_effect": Column("float", low=0, finite=False, optional=True),
            "spread_effect": Column("float", low=0, finite=False, optional=True),
        }
    )
    count = Column("int", low=0)
    columns = {
        **_run(conditions, archs, arch_required=True),
        "n_random": Column("int", low=0),
        "rule": Column("str"),
        "test_accuracy": _fraction(),
        "base_accuracy": _fraction(),
        "ncut": Column("float", low=0),
        "n_sub_modules": count,
        "n_important": count,
        "hidden": Column("ints", low=1),
        "important_by_layer": Column("ints", low=0),
        "sub_modules_by_layer": Column("ints", low=0),
        "categories": Column("mapping", values=count),
        "network_tests": Column("mapping", schema=tests),
        "n_pairs": count,
        "dependency_types": Column(
            "mapping", schema=_exact({t: count for t in ("I", "II", "III", "IV")})
        ),
        "seconds_train": Column("float", low=0),
        "seconds_lesion": Column("float", low=0),
        "seconds_stages": Column("mapping", values=Column("float", low=0)),
        "n_masks": Column("mapping", values=count),
        "study": Column("str"),
        "finished_at": Column("str"),
    }

    def layers_agree(row: dict) -> None:
        important, found = row["important_by_layer"], row["sub_modules_by_layer"]
        if len(important) != len(found) or any(i > n for i, n in zip(important, found)):
            raise ValueError(
                f"'important_by_layer' {important} does not fit 'sub_modules_by_layer' {found}"
            )
        # One count per hidden layer, so that the rows of a log line up layer by layer
        # (a list of the layers holding a sub-module alone says not which they are).
        if len(found) != len(row["hidden"]):
            raise ValueError(
                f"'sub_modules_by_layer' {found} must count each of the {len(row['hidden'])} "
                f"hidden layers of 'hidden' {row['hidden']} (0 for a layer without a sub-module)"
            )

    return RowSchema(columns, key=_KEY, checks=(layers_agree, _ncuts_within_k(["ncut"])))
