"""The transformer experiment scripts (modcore.experiments.transformer_*): their shared
permutation score against scikit-learn, the grokking figure's panels against its rows, and
their ends: one line on stderr for a bad input or Ctrl-C, never a half-written checkpoint."""

import argparse
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from modcore.experiments import transformer_grokking as grokking
from modcore.experiments import transformer_planted as planted
from modcore.experiments import transformer_planted_k as planted_k
from modcore.experiments.permutation_null import nmi_permutation_test


def test_nmi_permutation_test_against_sklearn():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 40)
    labels = np.where(rng.random(40) < 0.7, truth, rng.integers(0, 3, 40))
    nmi, ari, p, null95 = nmi_permutation_test(labels, truth, np.random.default_rng(5), 50)
    assert nmi == pytest.approx(normalized_mutual_info_score(labels, truth))
    assert ari == pytest.approx(adjusted_rand_score(labels, truth))
    draws = np.random.default_rng(5)
    null = [normalized_mutual_info_score(labels, draws.permutation(truth)) for _ in range(50)]
    assert p == pytest.approx((1 + sum(v >= nmi - 1e-12 for v in null)) / 51)
    assert null95 == pytest.approx(np.quantile(null, 0.95))
    # no permutation: p is 1 and there is no null to take a percentile of
    _, _, p0, q0 = nmi_permutation_test(labels, truth, np.random.default_rng(5), 0)
    assert p0 == 1.0 and np.isnan(q0)


def test_grokking_figure_panels_draw_each_view_from_its_columns():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = ["_ncut", "_null_mean", "_nmi", "_nmi_null95", "_nmi_clean"]
    rows = [
        {
            "step": s,
            **{
                v + c: 10 * i + j + s
                for i, v in enumerate(("blocks", "virtual"))
                for j, c in enumerate(columns)
            },
        }
        for s in (0, 250, 500)
    ]
    fig, (left, right) = plt.subplots(1, 2)
    try:
        for ax, lines in ((left, grokking._NCUT_LINES), (right, grokking._NMI_LINES)):
            grokking._view_panel(ax, rows, lines, "y", "title")
            want = [(v, c) for v in ("blocks", "virtual") for c, *_ in lines]
            drawn = ax.get_lines()
            assert len(drawn) == len(want)
            for line, (view, column) in zip(drawn, want):
                assert list(line.get_xdata()) == [0, 250, 500]
                assert list(line.get_ydata()) == [r[view + column] for r in rows]
                assert line.get_label().startswith(view)
            assert ax.get_legend() is not None
    finally:
        plt.close(fig)


def _one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_grokking_checkpoints_are_never_half_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformer_lens")
    out = tmp_path / "run"
    # the last step is kept even off the --every grid
    args = ["train", "--out", str(out), "--p", "3", "--steps", "3", "--every", "2"]
    assert grokking.main(args) == 0
    assert sorted(f.name for f in out.glob("*.pt")) == [f"step00000{s}.pt" for s in (0, 2, 3)]

    save, calls = torch.save, []

    def save_then_stop(obj, f, *a, **k):  # Ctrl-C in the middle of the second checkpoint
        calls.append(1)
        if len(calls) == 2:
            f.write(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt
        return save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", save_then_stop)
    again = tmp_path / "again"
    capsys.readouterr()
    assert grokking.main(["train", "--out", str(again), "--p", "3", "--steps", "4"]) == 130
    assert "interrupted" in _one_line(capsys.readouterr().err)
    monkeypatch.setattr(torch, "save", save)
    assert sorted(f.name for f in again.iterdir() if f.suffix == ".pt") == ["step000000.pt"]
    assert not [f for f in again.iterdir() if f.name.endswith(".tmp")]
    grokking.load(3, again / "step000000.pt")  # whole


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze"], "training.json: no such file; run the train stage"),
        (["figure"], "no such file; run the"),
        (["train", "--fraction", "0"], "leaves no training or no test pair"),
        (["train", "--p", "1"], "--p must be at least 2"),
        (["train", "--every", "0"], "--every >= 1"),
    ],
)
def test_grokking_bad_inputs_are_one_line(tmp_path, capsys, argv, message):
    assert grokking.main([*argv, "--out", str(tmp_path)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("python -m modcore.experiments.transformer_grokking: error: ")
    assert message in line


def test_grokking_analyze_refuses_unknown_steps(tmp_path, capsys):
    (tmp_path / "training.json").write_text('[{"step": 0}, {"step": 250}]')
    assert grokking.main(["analyze", "--out", str(tmp_path), "--steps-at", "0", "100"]) == 2
    assert "--steps-at [100]: no such checkpoint" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("script", [planted, planted_k])
def test_planted_scripts_end_in_one_line(tmp_path, monkeypatch, capsys, script):
    name = script.__name__.rsplit(".", 1)[1]
    assert script.main(["--seeds", "0", "--out", str(tmp_path)]) == 2
    assert "--seeds must be >= 1" in _one_line(capsys.readouterr().err)

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(planted, "data", interrupted)
    assert script.main(["--out", str(tmp_path)]) == 130
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"python -m modcore.experiments.{name}: interrupted: ")


def test_grokking_figure_states_what_the_rows_were_made_with(tmp_path, monkeypatch):
    # The figure took p, the fraction, k and the shuffles from its own command line (the
    # defaults unless repeated), not from the stages that made its rows.
    pytest.importorskip("matplotlib")
    columns = ["_ncut", "_null_mean", "_nmi", "_nmi_null95", "_nmi_clean"]
    train_rows = [
        {"step": s, "train_acc": 1.0, "test_acc": 0.5, "p": 59, "fraction": 0.5} for s in (0, 250)
    ]
    rows = [
        {
            "step": s,
            "k": 8,
            "n_shuffles": 40,
            **{v + c: 0.5 for v in ("blocks", "virtual") for c in columns},
        }
        for s in (0, 250)
    ]
    (tmp_path / "training.json").write_text(json.dumps(train_rows))
    (tmp_path / "grokking.json").write_text(json.dumps(rows))
    labels = []
    monkeypatch.setattr(
        grokking,
        "_view_panel",
        lambda ax, rows, lines, ylabel, title: labels.append(ylabel + title),
    )
    args = argparse.Namespace(out=tmp_path, p=113, fraction=0.3, k=6, shuffles=100)
    grokking.figure(args)
    assert "k = 8" in labels[0] and "(40 'layer' shuffles)" in labels[0]
    import matplotlib.pyplot as plt

    title = plt.gcf().axes[0].get_title()
    plt.close("all")
    assert title == "modular addition, p = 59, 50% of pairs"
    # rows of two analyses with other settings are refused, not drawn as one curve
    rows[1]["k"] = 6
    (tmp_path / "grokking.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=r"several k \(\[6, 8\]\)"):
        grokking.figure(args)
