"""The one progress reporter (modcore.common.progress.Progress): callback, tqdm and plain text."""

import sys

import pytest

from modcore.common.progress import Progress


def test_callback_gets_done_and_the_growing_total(capsys):
    seen = []
    with Progress(2, "work", lambda done, total: seen.append((done, total))) as bar:
        bar.update(1)
        bar.add(3, "more")
        bar.update(2, {"loss": "0.5"})
        bar.update(2)
    assert seen == [(1, 2), (3, 5), (5, 5)]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("show", [None, False])
def test_nothing_shown_off_a_terminal_or_when_off(capsys, show):
    assert not sys.stderr.isatty()  # pytest captures stderr
    with Progress(3, "work", show) as bar:
        bar.update(3, {"loss": "0.5"})
    assert capsys.readouterr().err == ""


def test_plain_text_without_tqdm(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with Progress(2, "study", True, unit="lesions") as bar:
        bar.update(1)
        bar.add(2, "pairs")
        bar.update(2)
    with Progress(2, "train", True, unit="epochs") as bar:
        bar.update(1, {"loss": "0.50", "test acc": "0.90"})
        bar.update(1, {"loss": "0.25", "test acc": "0.95"})
    # Counts rewrite one line (ended on close); updates with numbers get lines of their own.
    assert capsys.readouterr().err == (
        "\rstudy: 1/2 lesions\rstudy: pairs: 3/4 lesions\n"
        "train: 1/2 epochs  loss 0.50  test acc 0.90\n"
        "train: 2/2 epochs  loss 0.25  test acc 0.95\n"
    )


def test_tqdm_bar_shows_stage_count_unit_and_numbers(capsys):
    pytest.importorskip("tqdm")
    with Progress(0, "lesion study", True, unit="lesions") as bar:
        bar.add(4, "single lesions")
        bar.update(4)
        bar.add(2, "double lesions")
        bar.update(2, {"pairs": "1"})
    final = capsys.readouterr().err.split("\r")[-1]
    assert final.startswith("lesion study: double lesions: 100%")
    assert "6/6 lesions" in final and "pairs=1" in final
