"""The fuzz targets' committed corpora, replayed: their seeds and every input a fuzzing run
found (tests/fuzz/corpus/<target>/found/) keep meeting the contract, a result or a
ValueError / TypeError. The fuzzing itself is tests/fuzz/run.py (atheris)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fuzz"))
from targets import TARGETS, corpus

CASES = [(name, path) for name in TARGETS for path in corpus(name)]
NEEDS = {
    "pt": "torch",
    "checkpoint": "torch",
    "safetensors": "safetensors",
    "jsonl": "pandas",  # the tables built from the rows read
    "csv": "pandas",
}


def test_every_target_has_seeds():
    assert {name for name, _ in CASES} == set(TARGETS)


@pytest.mark.parametrize(
    "name, path", CASES, ids=[f"{n}/{p.parent.name}/{p.name}" for n, p in CASES]
)
def test_corpus_input_meets_the_contract(name, path):
    if name in NEEDS:  # the readers of these files need an optional package
        pytest.importorskip(NEEDS[name])
    TARGETS[name](path.read_bytes())  # anything but ValueError / TypeError escapes
