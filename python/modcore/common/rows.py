"""The rows of the logs modcore reads back, checked on every read: one checker for all.

A log row is read back to resume a run and to build its tables, so a row that a person
edited, joined from two files or typed by hand must be what modcore wrote or be refused:
every column present, each of its exact type (no bool for an int, no number in a string
in JSON, no 0.9 taken as seed 0), each in its range (a finite n-cut within [0, k], a
standard deviation >= 0, a p-value in (0, 1]), and no two rows of one run.
:class:`RowSchema` states a log's columns once; :class:`modcore.common.result_log.ResultLog` applies
it to every row it reads or appends, naming the file and the line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Column", "RowSchema"]

_INT_TEXT = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class Column:
    """One column of a log: its type and the values it may hold.

    Parameters
    ----------
    kind : {"int", "float", "str", "bool", "floats", "ints", "mapping"}
        ``"floats"`` and ``"ints"`` are lists of numbers, ``"mapping"`` a JSON object
        (JSON only).
    low, high : float, optional
        Inclusive bounds of a number; ``low_open`` makes ``low`` exclusive.
    finite : bool, default=True
        Whether a float must be finite (NaN and ±inf refused).
    optional : bool, default=False
        Whether the value may be None (an empty field in CSV).
    choices : sequence of str, optional
        The values a str column may hold.
    required : bool, default=True
        False: a row may lack the column (rows written before it existed); the row's
        checks say which columns go together.
    schema : RowSchema, optional
        A mapping's keys and values, checked as a row's columns.
    values : Column, optional
        The column every value of a mapping must be (any keys).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    finite: bool = True
    optional: bool = False
    choices: Sequence[str] | None = None
    required: bool = True
    schema: RowSchema | None = None
    values: Column | None = None

    def read(self, value: Any, *, text: bool) -> Any:
        """The value with this column's type; ValueError saying why it is not one."""
        if value is None or (text and value == "" and self.kind != "str"):
            if self.optional:
                return None
            raise ValueError("is missing (null)")
        if self.optional and text and value == "":
            return None
        typed = self._typed(value, text)
        self._check_range(typed)
        return typed

    def _typed(self, value: Any, text: bool) -> Any:
        if self.kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"must be text, got {value!r}")
            if self.choices is not None and value not in self.choices:
                raise ValueError(f"must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if text and value in ("True", "False"):
                return value == "True"
            raise ValueError(f"must be true or false, got {value!r}")
        if self.kind == "int":
            if text and isinstance(value, str) and _INT_TEXT.fullmatch(value):
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise ValueError(f"must be an integer, got {value!r}")
        if self.kind == "float":
            return self._float(value, text)
        if self.kind in ("floats", "ints"):
            if not isinstance(value, list):
                raise ValueError(f"must be a list of numbers, got {type(value).__name__}")
            if self.kind == "floats":
                return [self._float(v, text=False) for v in value]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise ValueError(f"must be a list of integers, got {value!r:.80}")
            return list(value)
        if self.kind == "mapping":
            return self._mapping(value)
        raise AssertionError(f"unknown column kind {self.kind!r}")

    def _mapping(self, value: Any) -> dict:
        if not isinstance(value, dict):
            raise ValueError(f"must be an object of named values, got {type(value).__name__}")
        if self.schema is not None:
            return self.schema.check(value)
        if self.values is None:
            return dict(value)
        typed = {}
        for key, item in value.items():
            try:
                typed[key] = self.values.read(item, text=False)
            except ValueError as exc:
                raise ValueError(f"[{key!r}] {exc}") from None
        return typed

    def _float(self, value: Any, text: bool) -> float:
        if not self.finite and value in ("nan", "inf", "-inf"):  # JSON's spelling of them
            return float(value)
        if text and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"must be a number, got {value!r}") from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            raise ValueError(f"must be a number, got {value!r}")
        if self.finite and not math.isfinite(number):
            raise ValueError(f"must be finite, got {number}")
        return number

    def _check_range(self, value: Any) -> None:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
                continue
            if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
                side = ">" if self.low_open else ">="
                raise ValueError(f"must be {side} {self.low}, got {v}")
            if self.high is not None and v > self.high:
                raise ValueError(f"must be <= {self.high}, got {v}")


@dataclass(frozen=True)
class RowSchema:
    """A log's columns, the columns that identify a run, and checks across columns.

    Parameters
    ----------
    columns : mapping of str to Column
        Every column, in file order; a row must have exactly these.
    key : sequence of str
        The columns that say which run a row is: two rows with the same values there
        are one run written twice.
    checks : sequence of callable, optional
        ``check(row)`` on the typed row, raising ValueError (e.g. an n-cut above the
        row's number of modules).
    """

    columns: Mapping[str, Column]
    key: Sequence[str]
    checks: Sequence[Callable[[dict], None]] = field(default=())

    def __post_init__(self):
        unknown = set(self.key) - set(self.columns)
        if unknown:
            raise ValueError(f"key columns {sorted(unknown)} are not columns")
        if any(not self.columns[c].required for c in self.key):
            raise ValueError("key columns must be required")

    def check(self, row: Mapping[str, Any], *, text: bool = False) -> dict:
        """The row with each column's type (``text``: as a CSV file holds it, every
        value a string); ValueError naming the first column that is wrong."""
        if not isinstance(row, Mapping):
            raise ValueError(f"not a mapping of columns but {type(row).__name__}")
        missing = [c for c, col in self.columns.items() if c not in row and col.required]
        extra = [c for c in row if c not in self.columns]
        if missing or extra:
            raise ValueError(
                "columns differ: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {missing}" if missing else "",
                        f"unknown {extra}" if extra else "",
                    )
                    if part
                )
            )
        typed = {}
        for name, column in self.columns.items():
            if name not in row:
                continue  # not required (checked above)
            try:
                typed[name] = column.read(row[name], text=text)
            except ValueError as exc:
                raise ValueError(f"{name!r} {exc}") from None
        for check in self.checks:
            check(typed)
        return typed

    def run_of(self, row: Mapping[str, Any]) -> tuple:
        """The values that identify the row's run (lists made hashable)."""
        return tuple(tuple(row[c]) if isinstance(row[c], list) else row[c] for c in self.key)


def ncut_within(ncut: str, n_clusters: str) -> Callable[[dict], None]:
    """A check that column ``ncut`` lies within [0, row[n_clusters]] (the n-cut of k
    modules is at most k)."""

    def check(row: dict) -> None:
        value, k = row[ncut], row[n_clusters]
        if value is not None and not 0.0 <= value <= k:
            raise ValueError(f"{ncut!r} must lie in [0, {n_clusters} = {k}], got {value}")

    return check
