"""Model, training, gradual pruning and checkpoints."""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.nn.utils import prune as torch_prune

from modcore.nn import (
    MLP,
    PruneSchedule,
    checkpoint,
    datasets,
    layer_sparsity,
    load_dataset,
    paper_recipe,
    prune_to_sparsity,
    remove_masks,
    train,
    weight_layers,
)
from modcore.nn.regularizers import Partition, Spectral

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def small_line():
    return load_dataset("line", n_train=640, n_test=200, seed=0)


def test_mlp_layout_and_validation():
    model = MLP([6, 5, 4, 3], dropout=0.5, seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert [tuple(layer.weight.shape) for layer in weight_layers(model)] == [(5, 6), (4, 5), (3, 4)]
    assert all((layer.bias == 0).all() for layer in weight_layers(model))
    assert torch.equal(model[0].weight, MLP([6, 5, 4, 3], seed=0)[0].weight)
    assert [type(m).__name__ for m in MLP()].count("Linear") == 5
    for widths, dropout in (([5], 0.0), ([5, 0], 0.0), ([5, 2.5], 0.0), ([5, 2], 1.0)):
        with pytest.raises(ValueError):
            MLP(widths, dropout)


def test_schedule_formula_and_update_steps():
    s = PruneSchedule(end_step=100, begin_step=20, frequency=10)
    assert s.sparsity(19) == 0.0
    assert s.sparsity(20) == pytest.approx(0.5)
    assert s.sparsity(60) == pytest.approx(0.9 + (0.5 - 0.9) * 0.5**3)
    assert s.sparsity(100) == pytest.approx(0.9) and s.sparsity(500) == pytest.approx(0.9)
    assert [t for t in range(130) if s.is_update_step(t)] == list(range(20, 101, 10))
    square = PruneSchedule(end_step=10, initial_sparsity=0.0, final_sparsity=1.0, exponent=2)
    assert square.sparsity(5) == pytest.approx(0.75)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(end_step=10, initial_sparsity=0.9, final_sparsity=0.5),
        dict(end_step=10, final_sparsity=1.5),
        dict(end_step=10, begin_step=10),
        dict(end_step=10, frequency=0),
        dict(end_step=10, exponent=0),
        dict(end_step=10.5),
    ],
)
def test_schedule_validation(kwargs):
    with pytest.raises(ValueError):
        PruneSchedule(**kwargs)


def test_prune_to_sparsity_exact_by_magnitude_and_monotone():
    layer = torch.nn.Linear(10, 7)
    with torch.no_grad():
        layer.weight.copy_(torch.randperm(70).reshape(7, 10).float() - 35.0)
    magnitudes = layer.weight.detach().abs().flatten()
    prune_to_sparsity(layer, 0.3)
    assert int((layer.weight_mask == 0).sum()) == 21
    masked = (layer.weight_mask == 0).flatten()
    assert magnitudes[masked].max() < magnitudes[~masked].min()
    prune_to_sparsity(layer, 0.62)
    assert int((layer.weight_mask == 0).sum()) == round(0.62 * 70)
    assert (layer.weight_mask.flatten()[masked] == 0).all(), "pruned weights must stay pruned"
    with pytest.raises(ValueError, match="cannot lower"):
        prune_to_sparsity(layer, 0.5)
    remove_masks(layer)
    assert not torch_prune.is_pruned(layer) and isinstance(layer.weight, torch.nn.Parameter)
    assert int((layer.weight == 0).sum()) == round(0.62 * 70)


def test_training_follows_schedule_and_keeps_pruned_weights_zero(small_line):
    model = MLP([784, 32, 16, 10], seed=0)
    schedule = PruneSchedule(end_step=40, begin_step=5, frequency=3)
    seen = []  # per training step: each layer's mask, or None before pruning starts

    def record(module, inputs):
        if module.training:
            seen.append(
                [
                    layer.weight_mask.clone() if torch_prune.is_pruned(layer) else None
                    for layer in weight_layers(module)
                ]
            )

    model.register_forward_pre_hook(record)
    train(model, small_line, epochs=5, batch_size=64, prune=schedule, progress=False)
    assert len(seen) == 50
    sizes = [layer.weight.numel() for layer in weight_layers(model)]
    last_update = None
    for step, masks in enumerate(seen):
        if schedule.is_update_step(step):
            last_update = step
        if last_update is None:
            assert masks == [None, None, None]
            continue
        expected = [round(schedule.sparsity(last_update) * n) for n in sizes]
        assert [int((m == 0).sum()) for m in masks] == expected, f"step {step}"
        if step > 0 and seen[step - 1][0] is not None:
            for before, now in zip(seen[step - 1], masks):
                assert (now[before == 0] == 0).all(), f"a pruned weight came back at step {step}"
    for layer, final_mask, n in zip(weight_layers(model), seen[-1], sizes):
        assert not torch_prune.is_pruned(layer) and "weight_orig" not in dict(
            layer.named_parameters()
        )
        assert int((layer.weight == 0).sum()) == round(0.9 * n)
        assert (layer.weight[final_mask == 0] == 0).all()


def test_training_ends_on_the_schedule_between_updates(small_line):
    model = MLP([784, 32, 10], seed=0)
    schedule = PruneSchedule(end_step=100, frequency=7)
    train(model, small_line, epochs=2, batch_size=64, prune=schedule, progress=False)
    # 20 steps: the last update was at step 14, the run ends at step 20's target.
    sizes = [layer.weight.numel() for layer in weight_layers(model)]
    expected = [round(schedule.sparsity(20) * n) / n for n in sizes]
    assert layer_sparsity(model) == pytest.approx(expected, abs=1e-7)


def test_training_is_deterministic_and_regularisers_shrink_weights(small_line):
    def run(**kwargs):
        model = MLP([784, 32, 10], dropout=0.3, seed=1)
        history = train(
            model, small_line, epochs=2, batch_size=64, seed=5, progress=False, **kwargs
        )
        return model, history

    (a, ha), (b, hb) = run(), run()
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    for key in ("loss", "train_accuracy", "test_accuracy", "sparsity"):
        assert getattr(ha, key) == getattr(hb, key) and len(getattr(ha, key)) == 2

    def l1_norm(model):
        return sum(float(layer.weight.detach().abs().sum()) for layer in weight_layers(model))

    def l2_norm(model):
        return sum(float(layer.weight.detach().pow(2).sum()) for layer in weight_layers(model))

    # Strong enough to outweigh the data term within 20 steps.
    assert l1_norm(run(l1=0.05)[0]) < 0.8 * l1_norm(a)
    assert l2_norm(run(l2=0.5)[0]) < 0.8 * l2_norm(a)


def test_train_validates_arguments(small_line):
    model = MLP([784, 8, 10])
    for kwargs in (
        dict(epochs=0),
        dict(epochs=1, batch_size=0),
        dict(epochs=1, lr=0.0),
        dict(epochs=1, l1=-1.0),
    ):
        with pytest.raises(ValueError):
            train(model, small_line, progress=False, **kwargs)
    with pytest.raises(ValueError, match="no Linear or Conv layer"):
        train(torch.nn.Sequential(torch.nn.Flatten()), small_line, epochs=1, progress=False)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(spectral=Spectral(1e-3, n_eigenvalues=10**5)), ValueError, "spectral.n_eigen"),
        (dict(partition=Partition(0.1, n_clusters=803)), ValueError, "partition.n_clusters"),
        (dict(lr=float("inf")), ValueError, "lr must be a finite number > 0"),
        (dict(l1=float("nan")), ValueError, "l1 must be a finite number >= 0"),
        (dict(l2="5e-5"), ValueError, "l2 must be"),
        (dict(on_epoch=5), TypeError, "on_epoch must be callable"),
        (dict(prune="cubic"), TypeError, "prune must be a modcore.nn.PruneSchedule"),
    ],
)
def test_train_refuses_before_training_naming_the_keyword(
    small_line, monkeypatch, kwargs, error, message
):
    # MLP 784-8-10: 802 units, so at most 801 non-trivial eigenvalues and 802 modules.
    def trained(*args, **kw):
        raise AssertionError("training started")

    # modcore.nn.train is the function; run_phase is looked up in its module.
    monkeypatch.setattr(sys.modules[train.__module__], "run_phase", trained)
    recipe = {k: v for k, v in kwargs.items() if k not in ("lr", "prune")}
    for call, given in ((train, kwargs), (paper_recipe, recipe)):
        if given:
            with pytest.raises(error, match=message):
                call(MLP([784, 8, 10]), small_line, epochs=1, progress=False, **given)
    with pytest.raises(TypeError, match="on_trained must be callable"):
        paper_recipe(MLP([784, 8, 10]), small_line, epochs=1, on_trained=5, progress=False)


def test_the_largest_counts_the_graph_holds_train():
    # The bound is exact: MLP 6-5-4 has 15 units, 14 non-trivial eigenvalues, 15 modules.
    rng = np.random.default_rng(0)
    x, y = torch.from_numpy(rng.random((8, 6), dtype=np.float32)), torch.arange(8) % 4
    data = datasets.Dataset(x, y, x, y, n_classes=4, name="by hand", source="test")
    terms = dict(spectral=Spectral(1e-3, n_eigenvalues=14), partition=Partition(0.1, n_clusters=15))
    history = train(MLP([6, 5, 4], seed=0), data, epochs=1, seed=0, progress=False, **terms)
    assert np.isfinite(history.loss[-1])
    with pytest.raises(ValueError, match="at most 14 non-trivial eigenvalues"):
        train(MLP([6, 5, 4]), data, epochs=1, spectral=Spectral(1e-3, n_eigenvalues=15))


def test_progress_lines_without_tqdm(small_line, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    train(MLP([784, 8, 10]), small_line, epochs=2, batch_size=128, progress=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("train: 2/2 epochs") and "test acc" in lines[1]


def test_paper_recipe_progress_names_each_phase(small_line, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    model = MLP([784, 16, 10], seed=0)
    history = paper_recipe(
        model, small_line, epochs=2, prune_epochs=3, batch_size=64, seed=0, progress=True
    )
    lines = capsys.readouterr().err.strip().splitlines()
    # Each phase counts its own epochs; the pruning phase shows its sparsity first; the
    # two accuracies are named for what they measure.
    assert [line.split("  ")[0] for line in lines] == [
        "train: 1/2 epochs",
        "train: 2/2 epochs",
        "prune: 1/3 epochs",
        "prune: 2/3 epochs",
        "prune: 3/3 epochs",
    ]
    for line, sparsity, batch, test in zip(
        lines[2:], history.sparsity[2:], history.train_accuracy[2:], history.test_accuracy[2:]
    ):
        assert line.split("  ")[1] == f"sparsity {sparsity:.3f}"
        assert f"batch acc {batch:.4f}" in line and f"test acc {test:.4f}" in line
    assert "sparsity" not in lines[0] and "train acc" not in lines[0]
    # A callable still counts the epochs of both phases as one run.
    seen = []
    paper_recipe(
        MLP([784, 16, 10], seed=0),
        small_line,
        epochs=2,
        prune_epochs=3,
        batch_size=64,
        seed=0,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_short_training_beats_chance_on_line():
    ds = load_dataset("line", n_train=6400, n_test=1000, seed=0)
    history = train(MLP(seed=0), ds, epochs=4, progress=False)  # 200 steps
    assert history.test_accuracy[-1] > 0.5, history.test_accuracy  # chance is 0.1


def test_short_training_beats_chance_on_fashion():
    if not (datasets.FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion", n_train=12800, n_test=2000, seed=0)
    history = train(MLP(seed=0), ds, epochs=2, progress=False)  # 200 steps
    assert history.test_accuracy[-1] > 0.7, history.test_accuracy  # chance is 0.1


def test_paper_recipe_ends_at_final_sparsity(small_line):
    model = MLP([784, 64, 32, 10], seed=0)
    history = paper_recipe(model, small_line, epochs=1, prune_epochs=2, progress=False)
    assert len(history.test_accuracy) == 3 and history.sparsity[0] == 0.0
    sizes = [layer.weight.numel() for layer in weight_layers(model)]
    assert layer_sparsity(model) == pytest.approx([round(0.9 * n) / n for n in sizes], abs=1e-7)
    assert history.sparsity[-1] == pytest.approx(sum(round(0.9 * n) for n in sizes) / sum(sizes))


@pytest.fixture
def pruned_model(small_line):
    model = MLP([784, 16, 10], dropout=0.25, seed=0)
    train(
        model, small_line, epochs=1, batch_size=64, prune=PruneSchedule(end_step=10), progress=False
    )
    return model


def test_checkpoint_round_trip(tmp_path, pruned_model, small_line):
    path = tmp_path / "mlp.pt"
    meta = {
        "dataset": "line",
        "test_accuracy": np.float32(0.5),
        "epochs": np.int64(3),
        "tags": ("a", 1),
    }
    checkpoint.save(pruned_model, path, meta)
    loaded = checkpoint.load(path)
    assert loaded.arch == "mlp" and loaded.config == {"widths": [784, 16, 10], "dropout": 0.25}
    assert loaded.metadata == {
        "dataset": "line",
        "test_accuracy": 0.5,
        "epochs": 3,
        "tags": ["a", 1],
    }
    assert type(loaded.metadata["epochs"]) is int
    assert loaded.sparsity == layer_sparsity(pruned_model)
    assert loaded.sparsity == pytest.approx([round(0.9 * 784 * 16) / (784 * 16), 0.9], abs=1e-7)
    pruned_model.eval()
    assert torch.equal(loaded.model(small_line.x_test), pruned_model(small_line.x_test))
    assert torch.load(path, weights_only=True)["format"] == "modcore-model"


def test_checkpoint_errors(tmp_path, pruned_model):
    path = tmp_path / "mlp.pt"
    with pytest.raises(ValueError, match=r"metadata\['history'\] is a object"):
        checkpoint.save(pruned_model, path, {"history": object()})
    with pytest.raises(TypeError, match=r"MLP or modcore\.nn\.CNN"):
        checkpoint.save(torch.nn.Linear(2, 2), path)
    masked = MLP([4, 3, 2])
    prune_to_sparsity(masked, 0.5)
    with pytest.raises(ValueError, match="remove_masks"):
        checkpoint.save(masked, path)
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "missing.pt")
    torch.save(pruned_model.state_dict(), path)
    with pytest.raises(ValueError, match="not a modcore checkpoint"):
        checkpoint.load(path)
    checkpoint.save(pruned_model, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"mlp\.pt: cannot be read by torch\.load"):
        checkpoint.load(path)
