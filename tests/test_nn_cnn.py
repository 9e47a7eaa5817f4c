"""The 2021 paper's CNN: layout, training on images, pruning of conv weights, checkpoints."""

import dataclasses
import importlib
import math

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F
from torch.nn.utils import prune as torch_prune

from modcore.nn import (
    CNN,
    MLP,
    PruneSchedule,
    checkpoint,
    datasets,
    layer_sparsity,
    load_dataset,
    paper_recipe,
    prune_to_sparsity,
    train,
    weight_layers,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SMALL = dict(channels=(6, 5, 4), dense=(12,))  # the paper's layout, narrower: fast to train


@pytest.fixture(scope="module")
def line_images():
    return load_dataset("line", n_train=256, n_test=64, seed=0, flatten=False)


def test_paper_cnn_layers_and_shapes():
    model = CNN(seed=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == [
        "Conv2d",
        "ReLU",
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Flatten",
        "Linear",
        "ReLU",
        "Linear",
    ]
    # 28 -> 28 ('same') -> 14 (pool) -> 14 -> 7: the dense layer reads 64 * 7 * 7 inputs.
    assert [tuple(layer.weight.shape) for layer in weight_layers(model)] == [
        (64, 1, 3, 3),
        (64, 64, 3, 3),
        (64, 64, 3, 3),
        (128, 3136),
        (10, 128),
    ]
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    rgb = CNN((3, 32, 32))  # 32 -> 16 -> 8
    assert rgb[0].in_channels == 3 and rgb[-3].in_features == 64 * 8 * 8


def test_dropout_follows_each_conv_block_and_dense_layer():
    model = CNN(conv_dropout=0.25, dense_dropout=0.5)
    layout = [
        type(m).__name__ + (f"({m.p})" if isinstance(m, torch.nn.Dropout) else "") for m in model
    ]
    assert layout == [
        "Conv2d",
        "ReLU",
        "Dropout(0.25)",
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Dropout(0.25)",
        "Conv2d",
        "ReLU",
        "MaxPool2d",
        "Dropout(0.25)",
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout(0.5)",
        "Linear",
    ]


def test_cnn_computes_the_papers_function():
    """Against torch.nn.functional written out: 3x3 convolutions padded by 1 ('same')."""
    model = CNN(**SMALL, seed=1)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    c1, c2, c3, d1, d2 = weight_layers(model)
    h = F.relu(F.conv2d(x, c1.weight, c1.bias, padding=1))
    h = F.max_pool2d(F.relu(F.conv2d(h, c2.weight, c2.bias, padding=1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, c3.weight, c3.bias, padding=1)), 2)
    h = F.relu(F.linear(h.reshape(3, -1), d1.weight, d1.bias))
    torch.testing.assert_close(model.eval()(x), F.linear(h, d2.weight, d2.bias))


def test_keras_glorot_init_and_seed():
    model = CNN(seed=3)
    for layer in weight_layers(model):
        w = layer.weight.detach()
        receptive = w[0, 0].numel() if w.dim() == 4 else 1
        bound = math.sqrt(6 / ((w.shape[0] + w.shape[1]) * receptive))
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
        assert (layer.bias == 0).all()
    assert torch.equal(CNN(seed=3)[2].weight, model[2].weight)
    assert not torch.equal(CNN(seed=4)[2].weight, model[2].weight)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_shape=(28, 28)),
        dict(input_shape=(1, 2, 2)),  # two poolings need at least 4 x 4
        dict(channels=(64, 64), pool_after=(False, True, True)),
        dict(pool_after=(0, 1, 1)),
        dict(channels=(64, 0, 64)),
        dict(conv_dropout=1.0),
        dict(dense_dropout=-0.1),
        dict(n_classes=0),
    ],
)
def test_cnn_validation(kwargs):
    with pytest.raises(ValueError):
        CNN(**kwargs)


def test_prune_to_sparsity_ranks_each_conv_and_linear_layer_by_magnitude():
    model = CNN(**SMALL, seed=0)
    magnitudes = [
        layer.weight.detach().abs().flatten().numpy().copy() for layer in weight_layers(model)
    ]
    prune_to_sparsity(model, 0.7)
    for layer, mag in zip(weight_layers(model), magnitudes):
        mask = layer.weight_mask.flatten().numpy()
        assert int((mask == 0).sum()) == round(0.7 * mag.size), type(layer).__name__
        # The masked weights are exactly the smallest ones of their own layer.
        assert mag[mask == 0].max() < mag[mask == 1].min()


def test_pruned_training_of_a_cnn_ends_at_the_target_sparsity(line_images):
    model = CNN(**SMALL, conv_dropout=0.25, dense_dropout=0.5, seed=0)
    history = train(
        model,
        line_images,
        epochs=1,
        batch_size=64,
        seed=0,
        prune=PruneSchedule(end_step=4, frequency=1),
        progress=False,
    )
    sizes = [layer.weight.numel() for layer in weight_layers(model)]
    assert len(sizes) == 5 and all(not torch_prune.is_pruned(m) for m in weight_layers(model))
    assert layer_sparsity(model) == pytest.approx([round(0.9 * n) / n for n in sizes], abs=1e-7)
    assert history.sparsity[-1] == pytest.approx(sum(round(0.9 * n) for n in sizes) / sum(sizes))


def test_paper_recipe_uses_the_cnn_recipe(line_images, monkeypatch):
    train_module = importlib.import_module("modcore.nn.train")  # modcore.nn.train is the function
    calls = []
    real = train_module.run_phase

    def spy(model, dataset, phase, *rest, **kw):
        calls.append((phase.epochs, phase.batch_size, phase.seed, phase.prune))
        return real(model, dataset, dataclasses.replace(phase, epochs=1), *rest, **kw)

    monkeypatch.setattr(train_module, "run_phase", spy)
    paper_recipe(CNN(**SMALL, seed=0), line_images, seed=7, progress=False)
    # The 2021 paper: 10 epochs, then 10 pruned, batches of 64; the schedule spans the
    # pruning phase: 10 epochs of ceil(256 / 64) = 4 steps.
    assert calls == [(10, 64, 7, None), (10, 64, 8, PruneSchedule(end_step=40))]


def test_train_refuses_flat_data_for_a_cnn_and_images_for_an_mlp(line_images):
    flat = load_dataset("line", n_train=64, n_test=16, seed=0)
    with pytest.raises(ValueError, match=r"\(1, 28, 28\).*\(784,\).*flatten=False"):
        train(CNN(**SMALL), flat, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"\(784,\).*\(1, 28, 28\)"):
        train(MLP([784, 10]), line_images, epochs=1, progress=False)


def test_cnn_checkpoint_loads_back_with_identical_outputs(tmp_path, line_images):
    model = CNN(**SMALL, conv_dropout=0.25, dense_dropout=0.5, seed=0)
    paper_recipe(model, line_images, epochs=1, prune_epochs=1, seed=0, progress=False)
    path = tmp_path / "cnn.pt"
    checkpoint.save(model, path, {"dataset": "line"})
    loaded = checkpoint.load(path)
    assert loaded.arch == "cnn" and isinstance(loaded.model, CNN)
    assert loaded.config == {
        "input_shape": [1, 28, 28],
        "channels": [6, 5, 4],
        "pool_after": [False, True, True],
        "dense": [12],
        "n_classes": 10,
        "conv_dropout": 0.25,
        "dense_dropout": 0.5,
    }
    assert loaded.sparsity == layer_sparsity(model) and loaded.metadata == {"dataset": "line"}
    assert not loaded.model.training
    model.eval()
    assert torch.equal(loaded.model(line_images.x_test), model(line_images.x_test))


def test_first_format_mlp_checkpoints_still_load(tmp_path):
    """A file laid out as modcore wrote MLP checkpoints before CNNs existed."""
    model = MLP([6, 5, 3], dropout=0.5, seed=0).eval()
    path = tmp_path / "old.pt"
    torch.save(
        {
            "format": "modcore-mlp",
            "version": 1,
            "widths": [6, 5, 3],
            "dropout": 0.5,
            "sparsity": [0.0, 0.0],
            "metadata": {"dataset": "line"},
            "state_dict": model.state_dict(),
        },
        path,
    )
    loaded = checkpoint.load(path)
    assert loaded.arch == "mlp" and loaded.config == {"widths": [6, 5, 3], "dropout": 0.5}
    x = torch.rand(4, 6)
    assert torch.equal(loaded.model(x), model(x))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(arch="resnet"), "architecture 'resnet'"),
        (dict(config={"channels": [4], "pool_after": [True], "kernel": 5}), "cannot build a cnn"),
        (dict(config={"channels": [4], "pool_after": [True, True]}), "cannot build a cnn"),
        (dict(config={"channels": [5], "pool_after": [True]}), "weights do not match"),
    ],
)
def test_bad_architecture_in_a_checkpoint_names_the_file(tmp_path, change, message):
    path = tmp_path / "bad.pt"
    checkpoint.save(CNN(channels=(4,), pool_after=(True,), seed=0), path)
    payload = torch.load(path, weights_only=True)
    payload.update(change)
    torch.save(payload, path)
    with pytest.raises(ValueError, match=f"bad.pt: .*{message}"):
        checkpoint.load(path)


def test_seed_none_draws_a_seed_that_repeats_the_run(line_images):
    def run(seed):
        model = CNN(**SMALL, conv_dropout=0.25, seed=0)
        history = train(model, line_images, epochs=1, seed=seed, progress=False)
        return model, history

    first, history = run(None)
    assert isinstance(history.seed, int)
    again, repeat = run(history.seed)
    assert repeat.seed == history.seed and repeat.loss == history.loss
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), again.parameters()))


def test_short_cnn_training_beats_chance_on_fashion():
    if not (datasets.FASHION_SYSTEM_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion", n_train=2560, n_test=500, seed=0, flatten=False)
    model = CNN(channels=(8, 8, 8), dense=(32,), seed=0)
    history = train(model, ds, epochs=1, batch_size=64, seed=0, progress=False)  # 40 steps
    assert history.test_accuracy[-1] > 0.4, history.test_accuracy  # chance is 0.1


def test_checkpoint_save_leaves_no_partial_file(tmp_path):
    checkpoint.save(MLP([3, 2], seed=0), tmp_path / "net.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["net.pt"]
