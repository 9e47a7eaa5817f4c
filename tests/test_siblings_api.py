"""Siblings agree, continued (issue 28 item 4): one name and shape for the data, kernel_norm
and map_norm, functional_modules' graph options, and the solver limits stated alike by the
C++ bindings and the Python checks (tests/test_limits.py). Old spellings warn and give the
same results."""

import argparse
import inspect

import numpy as np
import pytest

import modcore
from errors import raised

torch = pytest.importorskip("torch")

from modcore.functional.modules import functional_modules
from modcore.network.torch import KERNEL_NORMS, MAP_NORMS
from modcore.network.torch.trace import network_from_module
from modcore.nn import MLP, activations, evaluate, lesion_study, load_dataset, paper_recipe, train
from modcore.nn.lesion import lesion_accuracy


@pytest.fixture(scope="module")
def line():
    return load_dataset("line", n_train=96, n_test=40, seed=0)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


# -- 1. the data: one positional argument named data -------------------------------------


@pytest.mark.parametrize(
    "func",
    [train, paper_recipe, evaluate, lesion_study, lesion_accuracy, activations, functional_modules],
)
def test_every_function_that_takes_data_calls_it_data(func):
    params = list(inspect.signature(func).parameters.values())
    assert params[1].name == "data"
    assert params[1].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


@pytest.mark.parametrize("func", [train, paper_recipe])
def test_dataset_keyword_warns_and_trains_alike(line, func):
    epochs = {"epochs": 1} if func is train else {"epochs": 1, "prune_epochs": 1}
    run = dict(**epochs, batch_size=32, seed=3, progress=False)
    new_model, old_model = MLP([784, 16, 10], seed=0), MLP([784, 16, 10], seed=0)
    new = func(new_model, data=line, **run)
    with pytest.warns(DeprecationWarning, match=rf"{func.__name__}\(data=\.\.\.\)"):
        old = func(old_model, dataset=line, **run)
    assert old.to_dict() == {**new.to_dict(), "seconds": old.seconds}
    for key, value in _state(new_model).items():
        torch.testing.assert_close(_state(old_model)[key], value, rtol=0, atol=0)
    with pytest.raises(TypeError, match="deprecated name of data"):
        func(MLP([784, 16, 10], seed=0), dataset=line, data=line, **run)


def test_evaluate_takes_the_data_as_one_argument_and_the_old_call_warns(line):
    model = MLP([784, 16, 10], seed=0)
    x, y = line.x_test, line.y_test
    # the oracle: the model's own predictions, counted by hand
    with torch.no_grad():
        model.eval()
        expected = float((model(x).argmax(dim=1) == y).float().mean())
    assert evaluate(model, line) == pytest.approx(expected)
    assert evaluate(model, (x, y)) == pytest.approx(expected)
    assert evaluate(model, data=(x, y), batch_size=7) == pytest.approx(expected)
    for old in (
        lambda: evaluate(model, x, y),
        lambda: evaluate(model, x, y, 7),
        lambda: evaluate(model, x=x, y=y),
        lambda: evaluate(model, x, y=y, batch_size=7),
    ):
        with pytest.warns(DeprecationWarning, match=r"evaluate\(model, \(x, y\)\)"):
            assert old() == pytest.approx(expected)
    with pytest.raises(TypeError, match="Dataset or an"):
        evaluate(model, x)
    with pytest.raises(TypeError, match="takes"):
        evaluate(model, x=x)


def test_the_train_module_keeps_its_public_names():
    import importlib

    module = importlib.import_module("modcore.nn.train")
    for name in module.__all__:
        assert getattr(module, name) is getattr(modcore.nn, name)


# -- 2. kernel_norm reduces weights, map_norm activations; same names, same function ------


def test_kernel_norm_and_map_norm_compute_the_same_function_under_one_name():
    a = np.array([[1.0, -2.0, 4.0], [2.0, 3.0, -5.0]], dtype=np.float32)
    oracle = {  # numpy's definitions of the shared names
        "l2": lambda m: np.linalg.norm(m, "fro"),
        "max_column": lambda m: np.linalg.norm(np.abs(m), 1),
    }
    shared = set(KERNEL_NORMS) & set(MAP_NORMS)
    assert shared == set(oracle)
    for name in sorted(shared):
        # a kernel slice equal to a: one edge
        conv = torch.nn.Conv2d(1, 1, a.shape, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(a)[None, None])
        net = network_from_module(
            torch.nn.Sequential(conv), input_shape=(1, 2, 3), kernel_norm=name
        )
        edge = net.adjacency().toarray().max()
        # an output map equal to a (and 2a, so that the unit varies)
        ident = torch.nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            ident.weight.fill_(1.0)
        x = torch.from_numpy(np.stack([a, 2 * a]))[:, None]
        value = activations(torch.nn.Sequential(ident), x, map_norm=name).values[0, 0]
        assert edge == pytest.approx(oracle[name](a), rel=1e-6)
        assert value == pytest.approx(oracle[name](a), rel=1e-6)


def test_reduction_is_the_old_name_of_map_norm():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.Flatten())
    torch.manual_seed(0)
    x = torch.randn(30, 2, 6, 6)
    new = activations(model, x, map_norm="mean_abs")
    with pytest.warns(DeprecationWarning, match=r"activations\(map_norm=\.\.\.\)"):
        old = activations(model, x, reduction="mean_abs")
    np.testing.assert_array_equal(old.values, new.values)
    with pytest.warns(DeprecationWarning, match="Activations.map_norm"):
        assert old.reduction == "mean_abs" == old.map_norm
    run = dict(n_clusters=2, n_shuffles=4, seed=0, progress=False)
    fm_new = functional_modules(model, x, map_norm="spectral", **run)
    with pytest.warns(DeprecationWarning, match=r"functional_modules\(map_norm=\.\.\.\)"):
        fm_old = functional_modules(model, x, reduction="spectral", **run)
    assert fm_old.ncut == fm_new.ncut and fm_new.to_dict()["map_norm"] == "spectral"
    np.testing.assert_array_equal(
        fm_old.significance.shuffled_ncuts, fm_new.significance.shuffled_ncuts
    )


def test_the_cli_spells_map_norm_like_the_parameter():
    from modcore.cli.main import _parser

    (sub,) = [a for a in _parser()._actions if a.dest == "command"]
    parser = sub.choices["functional"]
    base = ["net.pt", "--dataset", "fashion"]
    assert parser.parse_args([*base, "--map-norm", "spectral"]).map_norm == "spectral"
    assert parser.parse_args([*base, "--reduction", "spectral"]).map_norm == "spectral"
    (action,) = [a for a in parser._actions if "--map-norm" in a.option_strings]
    assert tuple(action.choices) == MAP_NORMS
    hidden = [a for a in parser._actions if "--reduction" in a.option_strings]
    assert hidden[0].help == argparse.SUPPRESS
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--reduction", "l1"])  # a kernel norm, not a map's


# -- 3. functional_modules takes drop, normalize and input_shape as its siblings --------


@pytest.fixture(scope="module")
def recorded():
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    x = torch.randn(120, 6, generator=torch.Generator().manual_seed(0))
    return model, x


@pytest.mark.parametrize(
    "options",
    [{"drop": "unreachable"}, {"normalize": "rescale"}, {"drop": "floating"}, {"normalize": 1}],
)
def test_functional_graph_options_are_refused_as_the_siblings_refuse_them(recorded, options):
    model, x = recorded
    run = dict(n_clusters=2, seed=0)
    graph = functional_modules(model, x, n_shuffles=0, **run).graph
    sibling = raised(lambda: modcore.spectral_cluster(graph, **run, **options))
    assert raised(lambda: functional_modules(model, x, n_shuffles=0, **run, **options)) == sibling
    assert raised(lambda: functional_modules(model, x, n_shuffles=3, **run, **options)) == sibling


def test_functional_drop_and_normalize_defaults_and_settings(recorded):
    model, x = recorded
    run = dict(n_clusters=2, n_shuffles=3, seed=0, progress=False)
    plain = functional_modules(model, x, **run)
    named = functional_modules(model, x, drop="isolated", normalize=None, **run)
    assert plain.ncut == named.ncut and plain.clustering.drop == "isolated"
    assert plain.clustering.normalize is None
    settings = modcore.ClusterSettings(n_clusters=2, drop="unreachable")
    expected = raised(
        lambda: modcore.spectral_cluster(plain.graph, settings=settings, drop="isolated")
    )
    got = raised(
        lambda: functional_modules(model, x, settings=settings, drop="isolated", n_shuffles=0)
    )
    assert got == expected and "conflicts with settings.drop" in got[1]


def test_functional_input_shape_checks_the_data(recorded):
    model, x = recorded
    run = dict(n_clusters=2, n_shuffles=0, seed=0)
    assert functional_modules(model, x, input_shape=(6,), **run).ncut == (
        functional_modules(model, x, **run).ncut
    )
    with pytest.raises(
        ValueError, match=r"input_shape is \(7,\) but the data's samples have shape \(6,\)"
    ):
        functional_modules(model, x, input_shape=(7,), **run)
    # a malformed input_shape is refused as the readers refuse it
    sibling = raised(lambda: modcore.spectral_cluster(model, input_shape="6", n_clusters=2))
    assert raised(lambda: functional_modules(model, x, input_shape="6", **run)) == sibling
    acts = activations(model, x)
    with pytest.raises(ValueError, match="leave data, units and input_shape unset"):
        functional_modules(acts, input_shape=(6,), **run)
