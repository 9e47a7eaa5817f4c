"""weights_from_module: modules, state dicts and weight files to (n_in, n_out) arrays."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from modcore.network.weights import weights_from_module


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def numbered(widths):
    """Known, distinct weights, one (n_in, n_out) array per layer: entry (i, j) of layer l
    is 100 l + i + j / 128, exact in float32."""
    return [
        (100 * l + np.arange(a)[:, None] + np.arange(b)[None, :] / 128).astype(np.float32)
        for l, (a, b) in enumerate(zip(widths[:-1], widths[1:]))
    ]


def set_weights(linears, arrays):
    """Give each Linear layer its array (torch keeps (out, in), hence the transpose)."""
    import torch

    with torch.no_grad():
        for layer, w in zip(linears, arrays, strict=True):
            layer.weight.copy_(torch.from_numpy(w.T.copy()))


def assert_same(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_array_equal(g, e)


WIDTHS = [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 3, 2]


@pytest.fixture
def deep(torch):
    """Eleven Linear layers in a Sequential, so names run 1, 3, ..., 21 (11 sorts before 3
    only as text), with parameter-free layers in between; the weights set by hand."""
    linears = [torch.nn.Linear(a, b) for a, b in zip(WIDTHS[:-1], WIDTHS[1:])]
    set_weights(linears, numbered(WIDTHS))
    layers = [torch.nn.Flatten()]
    for i, linear in enumerate(linears):
        layers += [linear, torch.nn.Dropout(0.1) if i % 2 else torch.nn.ReLU()]
    layers.append(torch.nn.Identity())
    return torch.nn.Sequential(*layers)


def test_import_does_not_load_torch():
    code = "import sys, modcore, modcore.network.weights; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_module_and_state_dict(torch, deep):
    expected = numbered(WIDTHS)
    assert [w.shape for w in expected][:2] == [(12, 11), (11, 10)]
    assert_same(weights_from_module(deep), expected)
    assert_same(weights_from_module(deep.state_dict()), expected)
    assert all(w.dtype == np.float32 for w in weights_from_module(deep))


def test_nested_containers_and_modcore_mlp(torch):
    from modcore.nn import MLP

    inner, outer = torch.nn.Linear(5, 4), torch.nn.Linear(4, 3)
    set_weights([inner, outer], numbered([5, 4, 3]))
    model = torch.nn.Sequential(torch.nn.Sequential(inner, torch.nn.Tanh()), outer)
    assert_same(weights_from_module(model), numbered([5, 4, 3]))
    mlp = MLP([6, 5, 4], dropout=0.5, seed=0)  # Linear, ReLU, Dropout, Linear
    set_weights([mlp[0], mlp[3]], numbered([6, 5, 4]))
    assert_same(weights_from_module(mlp), numbered([6, 5, 4]))


def test_parametrized_linear_and_no_aliasing(torch):
    from torch.nn.utils.parametrizations import weight_norm

    model = torch.nn.Sequential(weight_norm(torch.nn.Linear(5, 4)), torch.nn.Linear(4, 1))
    got = weights_from_module(model)
    assert_same(got, [model[0].weight.detach().numpy().T, model[1].weight.detach().numpy().T])
    with torch.no_grad():
        model[1].weight.add_(1.0)
    assert not np.array_equal(got[1], model[1].weight.detach().numpy().T)


def test_pruning_masks_are_applied(torch):
    from modcore.nn import MLP, prune_to_sparsity

    model = MLP([20, 10, 5], seed=0)
    prune_to_sparsity(model, 0.7)
    expected = [(m.weight_orig * m.weight_mask).detach().numpy().T for m in (model[0], model[2])]
    for source in (model, model.state_dict()):
        got = weights_from_module(source)
        assert_same(got, expected)
        assert [int((w == 0).sum()) for w in got] == [140, 35]


def test_pt_files(torch, deep, tmp_path):
    from modcore.nn import MLP, checkpoint

    path = tmp_path / "deep.pt"
    torch.save(deep.state_dict(), path)
    assert_same(weights_from_module(path), numbered(WIDTHS))
    assert_same(weights_from_module(str(path)), numbered(WIDTHS))
    mlp = MLP([6, 5, 4], seed=0)  # Linear, ReLU, Linear
    set_weights([mlp[0], mlp[2]], numbered([6, 5, 4]))
    checkpoint.save(mlp, tmp_path / "mlp.pt", {"dataset": "line"})
    assert_same(weights_from_module(tmp_path / "mlp.pt"), numbered([6, 5, 4]))


def test_safetensors_natural_order(torch, deep, tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "deep.safetensors"
    safetensors_torch.save_file(deep.state_dict(), str(path))
    assert_same(weights_from_module(path), numbered(WIDTHS))


def test_npz_layouts(tmp_path):
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b)) for a, b in zip(range(14, 2, -1), range(13, 1, -1))]
    np.savez(tmp_path / "positional.npz", *weights)  # arr_0 ... arr_11, file order
    assert_same(weights_from_module(tmp_path / "positional.npz"), weights)
    named = {f"W{i}": w for i, w in enumerate(weights)}
    np.savez(tmp_path / "named.npz", **dict(reversed(list(named.items()))))
    assert_same(weights_from_module(tmp_path / "named.npz"), weights)
    state = {}
    for i, w in enumerate(weights):
        state[f"net.{i}.weight"], state[f"net.{i}.bias"] = w.T, np.zeros(w.shape[1])
    np.savez_compressed(tmp_path / "state.npz", **state)
    assert_same(weights_from_module(tmp_path / "state.npz"), weights)
    assert weights_from_module(tmp_path / "named.npz")[0].dtype == np.float64


def test_half_precision_becomes_float32(torch):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2)).to(torch.bfloat16)
    got = weights_from_module(model)
    assert got[0].dtype == np.float32
    np.testing.assert_array_equal(got[0], model[0].weight.float().detach().numpy().T)


@pytest.mark.parametrize(
    "layer, name",
    [
        ("Conv2d(1, 4, 3)", "Conv2d"),
        ("Embedding(10, 4)", "Embedding"),
        ("BatchNorm1d(4)", "BatchNorm1d"),
        ("BatchNorm1d(4, affine=False)", "BatchNorm1d"),
        ("LayerNorm(4)", "LayerNorm"),
    ],
)
def test_modules_with_other_parametrised_layers(torch, layer, name):
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4), eval(f"torch.nn.{layer}"), torch.nn.Linear(4, 2)
    )
    with pytest.raises(ValueError, match=f"layer '1' is a {name}"):
        weights_from_module(model)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("features.0.weight", np.zeros((8, 3, 3, 3)), "4-D.*convolution"),
        ("token_embedding.weight", np.zeros((100, 8)), "embedding"),
        ("wte.weight", np.zeros((100, 8)), "embedding"),
        ("bn.weight", np.zeros(8), "1-D"),
        ("bn.running_mean", np.zeros(8), "not a Linear layer's"),
        ("lstm.weight_ih_l0", np.zeros((32, 8)), "not a Linear layer's"),
    ],
)
def test_state_dicts_with_other_layers(key, value, message):
    state = {key: value, "fc.weight": np.zeros((2, 8))}
    with pytest.raises(ValueError, match=message) as info:
        weights_from_module(state)
    assert repr(key) in str(info.value)


def test_conv_net_in_pt_file_names_key_and_file(torch, tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 2))
    path = tmp_path / "conv.pt"
    torch.save(net.state_dict(), path)
    with pytest.raises(ValueError, match=r"conv\.pt.*'0\.weight'.*4-D"):
        weights_from_module(path)


def test_whole_pickled_model_is_refused(torch, tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), path)
    with pytest.raises(ValueError, match=r"model\.pt.*Sequential.*state_dict\(\)"):
        weights_from_module(path)


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_pt(path, torch):
    torch.save({"0.weight": torch.ones(30, 20), "2.weight": torch.ones(5, 30)}, path)


def write_safetensors(path, torch):
    pytest.importorskip("safetensors.torch").save_file({"0.weight": torch.ones(30, 20)}, str(path))


def write_npz(path, torch):
    np.savez(path, np.ones((20, 30)), np.ones((30, 5)))


@pytest.mark.parametrize(
    "suffix, writer", [(".pt", write_pt), (".safetensors", write_safetensors), (".npz", write_npz)]
)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_files_raise_value_error_naming_the_file(torch, tmp_path, suffix, writer, damage):
    path = tmp_path / f"weights{suffix}"
    writer(path, torch)
    assert weights_from_module(path)
    if damage == "truncated":
        truncate(path)
    else:
        path.write_bytes(b"" if damage == "empty" else b"\x89not a weight file\x00" * 50)
    with pytest.raises(ValueError) as info:
        weights_from_module(path)
    assert str(path) in str(info.value)


def test_npz_that_is_really_npy(tmp_path):
    path = tmp_path / "single.npz"
    with open(path, "wb") as f:
        np.save(f, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"single\.npz: not a readable \.npz"):
        weights_from_module(path)
    bad_zip = tmp_path / "other.npz"
    with zipfile.ZipFile(bad_zip, "w") as archive:
        archive.writestr("W0.npy", b"not an array")
    with pytest.raises(ValueError, match=r"other\.npz"):
        weights_from_module(bad_zip)


def test_missing_unknown_and_wrong_types(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        weights_from_module(tmp_path / "nope.pt")
    (tmp_path / "w.h5").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unsupported weight file type '\.h5'"):
        weights_from_module(tmp_path / "w.h5")
    with pytest.raises(TypeError, match="list"):
        weights_from_module([np.ones((2, 2))])
    with pytest.raises(ValueError, match="no Linear"):
        weights_from_module({})


def test_shapes_must_chain(tmp_path):
    np.savez(tmp_path / "w.npz", W0=np.ones((4, 3)), W1=np.ones((4, 2)))
    with pytest.raises(ValueError, match="weights\\[1\\]"):
        weights_from_module(tmp_path / "w.npz")
