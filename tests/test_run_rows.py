"""The run logs of modcore reproduce and reproduce --lesions are checked row by row on
read (modcore.experiments.run_rows): hand-edited, joined or truncated rows are refused with a
ValueError naming the file and the line, before any table is built from them."""

import json
import math
from pathlib import Path

import pytest

from modcore.common.rows import Column, RowSchema
from modcore.experiments import lesions as rl
from modcore.experiments import runlog as rep

RESULTS = Path(__file__).resolve().parent.parent / "results"
# A one-rule row as reproduce wrote them before 2026-12-07 (the first row of the MLP
# results/runs.jsonl of 2026-11-25, before that reproduction was rerun with both rules).
ONE_RULE_LOG = Path(__file__).resolve().parent / "data" / "one_rule_run.jsonl"


def first_row(path):
    return json.loads(path.read_text().splitlines()[0])


def write(tmp_path, rows):
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _lines(path):
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def test_the_committed_logs_read_back():
    # Every-rule rows (results/, and results/cnn, which grows as its trainings finish), an
    # older one-rule row and lesion rows: every line is read back as a row.
    assert len(rep.read_runs(RESULTS / "runs.jsonl")) == _lines(RESULTS / "runs.jsonl") == 40
    assert len(rep.read_runs(ONE_RULE_LOG)) == 1
    cnn = RESULTS / "cnn" / "runs.jsonl"
    assert len(rep.read_runs(cnn)) == _lines(cnn) >= 2
    lesions = RESULTS / "lesions" / "runs.jsonl"
    assert len(rl.read_lesion_runs(lesions)) == _lines(lesions) == 10


ONE_RULE = first_row(ONE_RULE_LOG)
EVERY_RULE = first_row(RESULTS / "cnn" / "runs.jsonl")


@pytest.mark.parametrize(
    "row, change, message",
    [
        # the cases: a missing n-cut (was a KeyError in reproduce), a seed in a
        # string (was "'<' not supported" after retraining), a null n-cut (was nan)
        (ONE_RULE, {"ncut": "delete"}, r"one label rule lacks \['ncut'\]"),
        (EVERY_RULE, {"modcore_ncut": "delete"}, r"every label rule lacks \['modcore_ncut'\]"),
        (ONE_RULE, {"seed": "0"}, "'seed' must be an integer, got '0'"),
        (ONE_RULE, {"ncut": None}, "'ncut' is missing"),
        (EVERY_RULE, {"authors_layer_p": 5}, "'authors_layer_p' must be <= 1"),
        (EVERY_RULE, {"modcore_ncut": 13.0}, r"'modcore_ncut' must lie in \[0, n_clusters = 12\]"),
        (EVERY_RULE, {"ncut": 1.0}, "one label rule and of every label rule together"),
        (ONE_RULE, {"assign_labels": "kmeans"}, "this one by assign_labels 'kmeans'"),
        (ONE_RULE, {"condition": "pruned twice"}, "'condition' must be one of"),
        (ONE_RULE, {"test_accuracy": math.inf}, "'test_accuracy' must be finite"),
        # a null's n-cuts are pooled by the figures: one per shuffle (was numpy's error on
        # an empty pool, naming no file)
        (ONE_RULE, {"layer_ncuts": []}, "'layer_ncuts' must hold n_shuffles = 320 values"),
        (EVERY_RULE, {"authors_layer_ncuts": [1.0]}, "'authors_layer_ncuts' must hold"),
    ],
)
def test_a_wrong_reproduce_row_is_refused_naming_file_and_line(tmp_path, row, change, message):
    bad = dict(row)
    for key, value in change.items():
        if value == "delete":
            del bad[key]
        else:
            bad[key] = value
    path = write(tmp_path, [row, bad] if bad["seed"] != row["seed"] else [bad])
    line = 2 if bad["seed"] != row["seed"] else 1
    with pytest.raises(ValueError, match=message) as err:
        rep.read_runs(path)
    assert f"{path}, line {line}" in str(err.value)


def test_a_run_joined_in_twice_is_refused_naming_both_lines(tmp_path):
    # runs.jsonl joined by hand: aggregated as two seeds before
    other = {**ONE_RULE, "seed": 1}
    path = write(tmp_path, [ONE_RULE, other, {**ONE_RULE, "ncut": 4.5}])
    with pytest.raises(ValueError, match="lines 1 and 3: the same run twice"):
        rep.read_runs(path)


LESION = first_row(RESULTS / "lesions" / "runs.jsonl")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"network_tests": {**LESION["network_tests"], "mean_chi2_p": "0.01"}}, "mean_chi2_p"),
        ({"dependency_types": {"I": 1, "II": 2}}, r"missing \['III', 'IV'\]"),
        ({"important_by_layer": [5, 1, 2]}, "does not fit 'sub_modules_by_layer'"),
        ({"important_by_layer": [5, 1, 2, 1.5]}, "must be a list of integers"),
        # the layers holding a sub-module alone: which ones, the row does not say
        (
            {"important_by_layer": [5, 1, 2], "sub_modules_by_layer": [9, 10, 5]},
            r"must count each of the 4 hidden layers of 'hidden' \[256, 256, 256, 256\]",
        ),
        ({"hidden": "delete"}, r"missing \['hidden'\]"),
        ({"categories": {"small": -1}}, r"\['small'\] must be >= 0"),
        ({"seconds_lesion": "delete"}, r"missing \['seconds_lesion'\]"),
    ],
)
def test_a_wrong_lesion_row_is_refused_naming_file_and_line(tmp_path, change, message):
    bad = {**LESION, **{k: v for k, v in change.items() if v != "delete"}}
    for key in [k for k, v in change.items() if v == "delete"]:
        del bad[key]
    path = write(tmp_path, [bad])
    with pytest.raises(ValueError, match=message) as err:
        rl.read_lesion_runs(path)
    assert f"{path}, line 1" in str(err.value)
    # a reproduction's row is not a lesion row, and the other way round
    with pytest.raises(ValueError, match="line 1"):
        rl.read_lesion_runs(write(tmp_path, [ONE_RULE]))
    with pytest.raises(ValueError, match="line 1"):
        rep.read_runs(write(tmp_path, [LESION]))


def test_columns_that_may_be_absent_and_nested_columns():
    inner = RowSchema({"a": Column("int")}, key=())
    schema = RowSchema(
        {
            "k": Column("str"),
            "new": Column("int", required=False),
            "sizes": Column("ints", low=1),
            "nested": Column("mapping", schema=inner),
            "any": Column("mapping", values=Column("float", low=0)),
        },
        key=("k",),
    )
    row = {"k": "x", "sizes": [1, 2], "nested": {"a": 1}, "any": {"s": 1.5}}
    assert schema.check(row) == row
    assert schema.check({**row, "new": 3})["new"] == 3
    for change, message in [
        ({"sizes": [0]}, "'sizes' must be >= 1"),
        ({"sizes": [True]}, "'sizes' must be a list of integers"),
        ({"nested": {"a": 1, "b": 2}}, r"'nested' .*unknown \['b'\]"),
        ({"nested": [1]}, "'nested' must be an object"),
        ({"any": {"s": -1.0}}, r"'any' \['s'\] must be >= 0"),
        ({"new": "3"}, "'new' must be an integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            schema.check({**row, **change})
    with pytest.raises(ValueError, match=r"missing \['k'\]"):
        schema.check({k: v for k, v in row.items() if k != "k"})


def test_lesion_rows_counting_different_layers_are_refused_before_the_table(tmp_path):
    # Two networks of one condition, one with no sub-module in its last hidden layer,
    # written as the layers holding a sub-module: the table's mean over layers ended in
    # numpy's "inhomogeneous shape" error, naming no file.
    other = {
        **LESION,
        "seed": 1,
        "important_by_layer": [5, 1, 2],
        "sub_modules_by_layer": [9, 10, 5],
        "n_important": 8,
        "n_sub_modules": 24,
    }
    path = write(tmp_path, [LESION, other])
    with pytest.raises(ValueError, match="hidden layers") as err:
        rl.read_lesion_runs(path)
    assert f"{path}, line 2" in str(err.value)
    # handed to the table directly, the rows are refused in words, not by numpy
    with pytest.raises(ValueError, match=r"different numbers of layers \(seed: layers"):
        rl.aggregate_lesions([LESION, other])
    # counted over every hidden layer (0 where there is no sub-module), they line up
    every = {**other, "important_by_layer": [5, 1, 2, 0], "sub_modules_by_layer": [9, 10, 5, 0]}
    table = rl.aggregate_lesions(rl.read_lesion_runs(write(tmp_path, [LESION, every])))
    assert "(5.0 / 1.0 / 2.0 / 0.5)" in table
