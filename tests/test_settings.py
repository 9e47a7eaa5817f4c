"""ClusterSettings: the clustering parameters checked once, taken by every clustering
function as ``settings=`` beside the same keywords, and the CLI's limits."""

import argparse
import dataclasses
import inspect
import textwrap

import numpy as np
import pytest

import modcore
from modcore.cli.main import _parser
from modcore.method.settings import FIELDS, ClusterSettings
from modcore.network.synthetic import planted_modular_mlp, random_pruned_mlp

# (bad keyword, exception, message): each checked by the object and by the functions.
BAD = [
    ({"n_clusters": 1}, ValueError, "n_clusters must be >= 2"),
    ({"n_clusters": 2.5}, TypeError, "n_clusters must be an int"),
    ({"n_clusters": 2**40}, ValueError, "n_clusters"),
    ({"n_init": 0}, ValueError, "n_init"),
    ({"n_init": 2**31}, ValueError, "n_init"),
    ({"max_iter": 0}, ValueError, "max_iter"),
    ({"max_iter": 2**40}, ValueError, "max_iter"),
    ({"tol": 0}, ValueError, r"tol must be in \(0, 1\)"),
    ({"tol": 1.0}, ValueError, r"tol must be in \(0, 1\)"),
    ({"tol": "1e-5"}, TypeError, "tol must be a float"),
    ({"tol": True}, TypeError, "tol must be a float"),
    ({"eigen_method": "qr"}, ValueError, "eigen_method must be one of"),
    ({"assign_labels": "discretize"}, ValueError, "assign_labels must be one of"),
    ({"refine": 1}, TypeError, "refine must be True or False"),
    ({"refine": "yes"}, TypeError, "refine must be True or False"),
    ({"select_by": "modularity"}, ValueError, "select_by must be one of"),
    ({"drop": "components"}, ValueError, r"drop must be one of .*'isolated', 'unreachable'"),
    ({"drop": None}, ValueError, "drop must be one of"),
    ({"normalize": "l2"}, ValueError, r"normalize must be one of \(None, 'rescale'\)"),
    ({"normalize": 0}, ValueError, "normalize must be one of"),
]


@pytest.fixture(scope="module")
def weights():
    return random_pruned_mlp((20, 20, 10), sparsity=0.5, seed=0)


@pytest.mark.parametrize("kwargs, exc, match", BAD)
def test_bad_values_are_refused_by_the_object_and_by_every_function(weights, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ClusterSettings(**kwargs)
    with pytest.raises(exc, match=match):
        ClusterSettings().replace(**kwargs)
    with pytest.raises(exc, match=match):
        modcore.spectral_cluster(weights, **kwargs)
    with pytest.raises(exc, match=match):
        modcore.ncut_significance(weights, n_shuffles=2, progress=False, **kwargs)
    with pytest.raises(exc, match=match):
        modcore.stability(weights, n_seeds=2, **kwargs)
    if "n_clusters" not in kwargs:  # ncut_curve takes ks instead
        with pytest.raises(exc, match=match):
            modcore.ncut_curve(weights, ks=[2, 3], n_shuffles=2, progress=False, **kwargs)


def test_values_are_normalized_and_the_object_is_frozen():
    s = ClusterSettings(n_clusters=np.int64(3), refine=np.bool_(False), tol=np.float32(0.5))
    assert (type(s.n_clusters), type(s.refine), type(s.tol)) == (int, bool, float)
    assert (s.n_clusters, s.refine, s.tol) == (3, False, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_clusters = 4  # type: ignore[misc]
    assert s.replace(n_clusters=5).n_clusters == 5 and s.n_clusters == 3
    assert ClusterSettings() == ClusterSettings(**{f: ClusterSettings.default(f) for f in FIELDS})


CHANGED = dict(n_clusters=3, assign_labels="kmeans", refine=False, n_init=3, drop="unreachable")


@pytest.fixture(scope="module")
def planted():
    w, _ = planted_modular_mlp([24, 24, 24], n_modules=3, noise=0.3, seed=1)
    return w


def test_clustering_functions_give_the_same_result_from_settings_and_keywords(planted):
    settings = ClusterSettings(**CHANGED)
    a = modcore.spectral_cluster(planted, settings=settings, seed=0)
    b = modcore.spectral_cluster(planted, **CHANGED, seed=0)
    assert a.to_dict() == b.to_dict()
    assert (a.n_clusters, a.assign_labels, a.refine, a.n_init, a.drop) == (
        3,
        "kmeans",
        False,
        3,
        "unreachable",
    )
    run = dict(n_shuffles=5, seed=0, progress=False)
    a = modcore.ncut_significance(planted, settings=settings, **run)
    b = modcore.ncut_significance(planted, **CHANGED, **run)
    assert a.to_dict() == b.to_dict() and a.n_clusters == 3
    curve = {k: v for k, v in CHANGED.items() if k != "n_clusters"}
    a = modcore.ncut_curve(planted, ks=[2, 3], settings=settings, **run)
    b = modcore.ncut_curve(planted, ks=[2, 3], **curve, **run)
    assert a.to_dict() == b.to_dict()
    assert a.significance(3).clustering.assign_labels == "kmeans"
    a = modcore.stability(planted, n_seeds=2, settings=settings, seed=0)
    b = modcore.stability(planted, n_seeds=2, **CHANGED, seed=0)
    np.testing.assert_array_equal(a.ncuts, b.ncuts)
    assert a.clusterings[0].n_init == 3
    gap = dict(tol=0.5, eigen_method="full", drop="unreachable")
    a = modcore.eigengap(planted, max_k=6, n_shuffles=3, settings=ClusterSettings(**gap), seed=0)
    b = modcore.eigengap(planted, max_k=6, n_shuffles=3, **gap, seed=0)
    assert a.to_dict() == b.to_dict()


def test_sweep_takes_settings(planted):
    pytest.importorskip("pandas")
    run = dict(n_shuffles=3, seed=0, progress=False)
    a = modcore.sweep([planted], settings=ClusterSettings(**CHANGED), **run)
    b = modcore.sweep([planted], **CHANGED, **run)
    cols = [c for c in a.columns if c != "seconds"]
    assert a[cols].equals(b[cols])
    assert tuple(a.loc[0, ["n_clusters", "assign_labels", "drop"]]) == (3, "kmeans", "unreachable")


def test_functional_modules_and_lesion_study_take_settings():
    torch = pytest.importorskip("torch")
    from modcore.nn import lesion_study

    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    rule = dict(n_clusters=2, assign_labels="kmeans", n_init=2)
    run = dict(n_shuffles=4, seed=0, progress=False)
    a = modcore.functional_modules(model, x, settings=ClusterSettings(**rule), **run)
    b = modcore.functional_modules(model, x, **rule, **run)
    assert a.to_dict() == b.to_dict() and a.clustering.assign_labels == "kmeans"
    # drop and normalize come with the object, and a coactivation graph refuses them
    with pytest.raises(ValueError, match="one group"):
        modcore.functional_modules(model, x, settings=ClusterSettings(drop="unreachable"), **run)
    y = (x[:, 0] > 0).long()
    lesion = dict(random_lesions=3, double=False, seed=0, progress=False)
    # lesion_study has keywords for n_clusters and n_init; the object brings the rest
    a = lesion_study(model, (x, y), settings=ClusterSettings(n_clusters=2, n_init=2), **lesion)
    b = lesion_study(model, (x, y), n_clusters=2, n_init=2, **lesion)
    a, b = ({k: v for k, v in s.to_dict().items() if k != "seconds"} for s in (a, b))
    assert a == b
    kmeans = ClusterSettings(**rule)
    a = lesion_study(model, (x, y), settings=kmeans, **lesion)
    assert a.ncut == modcore.spectral_cluster(model, settings=kmeans, seed=0).ncut


def test_a_keyword_beside_settings_must_agree(weights):
    settings = ClusterSettings(n_clusters=3)
    # the same value given twice is fine, even as another int type
    same = modcore.spectral_cluster(weights, settings=settings, n_clusters=np.int64(3), seed=0)
    assert same.n_clusters == 3
    with pytest.raises(ValueError, match=r"n_clusters=12 conflicts with settings.n_clusters=3"):
        modcore.spectral_cluster(weights, settings=settings, n_clusters=12)
    with pytest.raises(ValueError, match="refine=1 conflicts"):
        modcore.ncut_significance(weights, settings=ClusterSettings(), refine=1, n_shuffles=2)
    with pytest.raises(ValueError, match="drop='unreachable' conflicts"):
        modcore.eigengap(weights, settings=ClusterSettings(), drop="unreachable")
    with pytest.raises(TypeError, match=r"settings must be a modcore\.ClusterSettings, got dict"):
        modcore.spectral_cluster(weights, settings={"n_clusters": 3})


CLUSTERING_FUNCTIONS = {
    "spectral_cluster": lambda: modcore.spectral_cluster,
    "ncut_significance": lambda: modcore.ncut_significance,
    "ncut_curve": lambda: modcore.ncut_curve,
    "eigengap": lambda: modcore.eigengap,
    "stability": lambda: modcore.stability,
    "sweep": lambda: modcore.sweep,
    "functional_modules": lambda: modcore.functional_modules,
    "reproduce": lambda: __import__("modcore.experiments.reproduce", fromlist=["x"]).reproduce,
}


@pytest.mark.parametrize("name", CLUSTERING_FUNCTIONS)
def test_every_clustering_function_documents_the_settings_from_one_text(name):
    func = CLUSTERING_FUNCTIONS[name]()
    params = inspect.signature(func).parameters
    assert params["settings"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["settings"].default is None
    doc = inspect.getdoc(func)
    assert "CLUSTER_SETTINGS_FIELDS" not in doc
    assert "settings : ClusterSettings, optional" in doc
    for field in FIELDS:
        if field in params:
            # the field's own text, whatever the function's default
            text = dataclasses.fields(ClusterSettings)[FIELDS.index(field)].metadata["doc"]
            body = text.split("\n", 1)[1]
            assert textwrap.indent(inspect.cleandoc(body), "    ") in doc, field
            default = params[field].default
            shown = f'"{default}"' if isinstance(default, str) else repr(default)
            if default != ClusterSettings.default(field):
                assert f"{field} : " in doc and f"default={shown}" in doc
    assert (ClusterSettings.__doc__ or "").count("default=") >= len(FIELDS)


def _subparser(command):
    parser = _parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices[command]


def _action(parser, flag):
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    return action


@pytest.mark.parametrize("command", ["analyze", "sweep", "lesion", "functional", "reproduce"])
def test_cli_limits_and_choices_are_the_objects(command, capsys):
    parser = _subparser(command)
    flags = {a for action in parser._actions for a in action.option_strings}
    for field in ("n_clusters", "n_init"):
        flag = "--" + field.replace("_", "-")
        if flag not in flags:
            continue
        low, high = ClusterSettings.bounds(field)
        action = _action(parser, flag)
        assert action.type(str(low)) == low and action.type(str(high)) == high
        if command != "reproduce":
            assert action.default == ClusterSettings.default(field)
        for bad in (low - 1, high + 1):
            with pytest.raises(argparse.ArgumentTypeError, match=str(bad)):
                action.type(str(bad))
    for field in ("assign_labels", "select_by", "drop", "normalize"):
        flag = "--" + field.replace("_", "-")
        if flag not in flags:
            continue
        action = _action(parser, flag)
        choices = [c or "none" for c in ClusterSettings.choices(field)]
        assert list(action.choices) == choices
        assert action.default == (ClusterSettings.default(field) or "none")


def test_an_unknown_keyword_is_named_with_the_function(weights):
    with pytest.raises(
        TypeError, match=r"spectral_cluster\(\) got an unexpected keyword .*n_cluster"
    ):
        modcore.spectral_cluster(weights, n_cluster=3)
