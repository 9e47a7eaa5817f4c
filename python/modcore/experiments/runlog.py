"""A reproduction's run log, ``runs.jsonl``: its options, opening it against the settings it
was made with, and reading its rows back checked."""

from __future__ import annotations

from contextlib import contextmanager

from ..common.result_log import ResultLog
from ..network.checks import check_n_jobs, check_positive_int
from .conditions import ALL_CONDITIONS, ARCHS, NULLS, RULES
from .run_rows import run_schema

__all__ = ["read_runs", "run_log", "run_options"]

_SCHEMA = run_schema(ALL_CONDITIONS, NULLS, RULES, ARCHS)


def run_options(seeds, quick, quick_values, max_runs, n_jobs, progress) -> tuple:
    """``(seeds, max_runs, n_jobs, say)`` of a reproduction, checked before any training."""
    seeds = check_positive_int(
        seeds if seeds is not None else (quick_values["seeds"] if quick else 5), "seeds"
    )
    if max_runs is not None:
        max_runs = check_positive_int(max_runs, "max_runs")
    if n_jobs is not None:
        n_jobs = check_n_jobs(n_jobs)
    say = print if progress else (lambda *a, **k: None)
    return seeds, max_runs, n_jobs, say


@contextmanager
def run_log(path, what, ours, theirs, say, *, schema=_SCHEMA):
    """The :class:`~modcore.common.result_log.ResultLog` of a reproduction, open, every row in it
    checked by ``schema`` (default: a reproduce run's) and to be made with the settings
    ``ours`` (``theirs(row)`` are a row's): runs made with other settings are refused,
    never mixed in."""
    with ResultLog(
        path,
        schema,
        what=what,
        on_wait=lambda p: say(
            f"another process is writing {p}; waiting for it to finish", flush=True
        ),
    ) as log:
        for run in log.rows:
            made = theirs(run)
            if made != ours:
                raise ValueError(
                    f"{path} holds {what} made with other settings ({_describe(made)}; now "
                    f"{_describe(ours)}): use another --out, or delete it to start over"
                )
        yield log


def read_runs(path) -> list:
    """The runs in a ``runs.jsonl`` (none if it does not exist).

    Parameters
    ----------
    path : str or path-like
        A ``runs.jsonl`` written by :func:`reproduce`.

    Returns
    -------
    list of dict
        One dict per finished run, in file order.

    Raises
    ------
    ValueError
        If a line is not a run. A run being written at this moment (or cut short
        by a crash) is left out; the file is only read, never waited for: see
        :meth:`modcore.common.result_log.ResultLog.snapshot`.
    """
    return ResultLog(path, _SCHEMA, what="modcore reproduce runs").snapshot()


def _describe(settings: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())
