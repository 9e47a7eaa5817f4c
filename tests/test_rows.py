"""modcore.common.rows: every row a log holds is checked on read, and a run is never there twice."""

import json
import math

import numpy as np
import pytest

import modcore
from modcore.common.result_log import ResultLog
from modcore.common.rows import Column, RowSchema, ncut_within

SCHEMA = RowSchema(
    {
        "name": Column("str"),
        "seed": Column("int", low=0),
        "n_clusters": Column("int", low=2),
        "ncut": Column("float", low=0),
        "std": Column("float", low=0, finite=False),
        "p_value": Column("float", low=0, low_open=True, high=1),
        "refine": Column("bool"),
        "normalize": Column("str", optional=True, choices=["rescale"]),
        "ncuts": Column("floats", low=0),
    },
    key=("name", "seed"),
    checks=(ncut_within("ncut", "n_clusters"),),
)
GOOD = {
    "name": "a",
    "seed": 0,
    "n_clusters": 4,
    "ncut": 1.5,
    "std": 0.1,
    "p_value": 0.5,
    "refine": True,
    "normalize": None,
    "ncuts": [1.0, 2.0],
}


def test_a_row_as_written_reads_back_with_its_types():
    assert SCHEMA.check(GOOD) == GOOD
    assert SCHEMA.check({**GOOD, "ncut": 2, "std": math.nan})["ncut"] == 2.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seed": True}, "'seed' must be an integer, got True"),  # bool for int
        ({"seed": "0"}, "'seed' must be an integer, got '0'"),  # a number in a string
        ({"seed": 0.9}, "'seed' must be an integer, got 0.9"),  # not truncated to 0
        ({"seed": -1}, "'seed' must be >= 0"),
        ({"ncut": math.inf}, "'ncut' must be finite"),
        ({"ncut": None}, "'ncut' is missing"),
        ({"ncut": 4.5}, r"'ncut' must lie in \[0, n_clusters = 4\], got 4.5"),
        ({"std": -1.0}, "'std' must be >= 0"),
        ({"p_value": 5.0}, "'p_value' must be <= 1"),
        ({"p_value": 0.0}, "'p_value' must be > 0"),
        ({"p_value": math.nan}, "'p_value' must be finite"),
        ({"refine": "True"}, "'refine' must be true or false"),
        ({"normalize": "other"}, "'normalize' must be one of"),
        ({"name": 3}, "'name' must be text"),
        ({"ncuts": [1.0, -2.0]}, "'ncuts' must be >= 0"),
        ({"ncuts": "1,2"}, "'ncuts' must be a list of numbers"),
    ],
)
def test_a_value_of_the_wrong_type_or_range_is_refused_by_name(change, message):
    with pytest.raises(ValueError, match=message):
        SCHEMA.check({**GOOD, **change})


def test_missing_and_unknown_columns_are_named():
    row = dict(GOOD)
    del row["ncut"]
    with pytest.raises(ValueError, match=r"missing \['ncut'\]; unknown \['other'\]"):
        SCHEMA.check({**row, "other": 1})


def test_text_values_are_read_as_a_csv_file_holds_them():
    text = {k: str(v) for k, v in GOOD.items() if k != "ncuts"}
    schema = RowSchema({k: c for k, c in SCHEMA.columns.items() if k != "ncuts"}, key=("name",))
    row = schema.check({**text, "normalize": ""}, text=True)
    assert row == {k: v for k, v in GOOD.items() if k != "ncuts"}
    with pytest.raises(ValueError, match=r"'seed' must be an integer, got '0\.9'"):
        schema.check({**text, "normalize": "", "seed": "0.9"}, text=True)
    with pytest.raises(ValueError, match="'ncut' must be finite"):
        schema.check({**text, "normalize": "", "ncut": "inf"}, text=True)


def write_lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_log_holding_a_run_twice_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "runs.jsonl"
    write_lines(path, [GOOD, {**GOOD, "name": "b"}, {**GOOD, "ncut": 2.0}])
    with pytest.raises(ValueError, match=r"runs.jsonl, lines 1 and 3: the same run twice"):
        ResultLog(path, SCHEMA).snapshot()


def test_appending_a_run_the_log_holds_is_refused(tmp_path):
    path = tmp_path / "runs.jsonl"
    with ResultLog(path, SCHEMA) as log:
        log.append(GOOD)
        log.append({**GOOD, "seed": 1})
        with pytest.raises(
            ValueError, match=r"already holds this run, line 1 \(name='a', seed=0\)"
        ):
            log.append({**GOOD, "ncut": 1.0})
    assert len(ResultLog(path, SCHEMA).snapshot()) == 2


def test_a_bad_row_is_refused_naming_the_file_the_line_and_the_column(tmp_path):
    path = tmp_path / "runs.jsonl"
    write_lines(path, [GOOD, {**GOOD, "seed": 1, "std": -1}])
    with pytest.raises(ValueError, match=r"runs.jsonl, line 2: not a .* row \('std' must be >= 0"):
        ResultLog(path, SCHEMA).snapshot()


@pytest.fixture
def sweep_log(tmp_path):
    rng = np.random.default_rng(0)
    net = [rng.normal(size=(8, 6)), rng.normal(size=(6, 3))]
    path = tmp_path / "sweep.jsonl"
    modcore.sweep({"a": net, "b": net}, results_path=path, n_clusters=2, n_shuffles=5, seed=0)
    return path, net


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"ncut": math.inf}, "'ncut' must be finite"),
        ({"shuffled_std": -1.0}, "'shuffled_std' must be >= 0"),
        ({"seed": 0.9}, "'seed' must be an integer"),
        ({"p_value": 5.0}, "'p_value' must be <= 1"),
        ({"p_value": math.nan}, "'p_value' must be finite"),
        ({"ncut": 2.5}, r"'ncut' must lie in \[0, n_clusters = 2\]"),
        ({"shuffle": "other"}, "'shuffle' must be one of"),
    ],
)
def test_a_hand_edited_sweep_row_is_refused_before_any_work(sweep_log, edit, message):
    path, net = sweep_log
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[1].update(edit)
    write_lines(path, rows)
    with pytest.raises(ValueError, match=rf"sweep.jsonl, line 2: .*{message}"):
        modcore.sweep({"a": net, "b": net}, results_path=path, n_clusters=2, n_shuffles=5, seed=0)


def test_a_sweep_log_joined_by_hand_is_refused_not_counted_twice(sweep_log):
    path, net = sweep_log
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(ValueError, match=r"lines 1 and 3: the same run twice \(name='a'"):
        modcore.sweep({"a": net, "b": net}, results_path=path, n_clusters=2, n_shuffles=5, seed=0)
