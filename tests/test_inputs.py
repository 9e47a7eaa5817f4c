"""Every public function that takes a network takes it in every form: weight arrays, a
modcore.Network, a torch module, a state dict, a .pt / .safetensors / .npz path (str or
path-like), a list of torch tensors; all through modcore.network.convert.as_network (a module by
the tracer, files and state dicts by the chain reader, both storing |w|). Errors name
the accepted forms; torch is imported only for torch inputs."""

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import modcore

torch = pytest.importorskip("torch")
from torch import nn


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    with torch.no_grad():  # some pruned weights, as in the networks modcore is for
        for layer in net[::2]:
            layer.weight[layer.weight.abs() < 0.1] = 0
    return net


@pytest.fixture(scope="module")
def forms(model, tmp_path_factory):
    """name -> the same network in that form; "arrays" read off the layers by hand."""
    folder = tmp_path_factory.mktemp("forms")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    arrays = [m.weight.detach().numpy().T.copy() for m in linears]
    torch.save(model.state_dict(), folder / "net.pt")
    np.savez(folder / "net.npz", *arrays)
    out = {
        "arrays": arrays,
        "tensors": [m.weight.T for m in linears],  # requiring grad
        "network": modcore.Network.from_weights(arrays),
        "module": model,
        "state dict": model.state_dict(),
        "pt str": str(folder / "net.pt"),
        "pt path": folder / "net.pt",
        "npz path": folder / "net.npz",
    }
    try:
        from safetensors.torch import save_file
    except ImportError:
        return out
    save_file(model.state_dict(), folder / "net.safetensors")
    out["safetensors path"] = folder / "net.safetensors"
    return out


def labels_of(c):
    return np.concatenate(c.labels)


LABELS = [np.array([0, 1] * 4), np.array([0, 1, 2] * 2), np.array([2, 1, 0, 0, 1]), np.arange(3)]


def run_sweep(net):
    pytest.importorskip("pandas")
    table = modcore.sweep({"n": net}, n_clusters=3, n_shuffles=3, seed=0, progress=False)
    return table[["ncut", "shuffled_mean", "n_dropped"]].to_numpy()


# entry point -> what it gives for a network, as arrays to compare
ENTRY_POINTS = {
    "spectral_cluster": lambda n: [
        labels_of(modcore.spectral_cluster(n, n_clusters=3, seed=0)),
        modcore.spectral_cluster(n, n_clusters=3, seed=0).ncut,
    ],
    "ncut_significance": lambda n: [
        modcore.ncut_significance(n, n_clusters=3, n_shuffles=4, seed=0, progress=False).to_dict()[
            "shuffled_ncuts"
        ]
    ],
    "ncut": lambda n: [modcore.ncut(n, LABELS)],
    "modularity": lambda n: [modcore.modularity(n, LABELS)],
    "eigengap": lambda n: [modcore.eigengap(n, max_k=6, n_shuffles=2, seed=0).eigenvalues],
    "ncut_curve": lambda n: [
        modcore.ncut_curve(n, ks=[2, 3], n_shuffles=3, seed=0, progress=False).shuffled_ncuts
    ],
    "stability": lambda n: [modcore.stability(n, n_clusters=3, n_seeds=2, seed=0).ncuts],
    "sweep": run_sweep,
    "shuffled_network": lambda n: modcore.shuffled_network(n, seed=0, index=1).chain_weights(),
    "as_network": lambda n: modcore.network.convert.as_network(n).chain_weights(),
    "weights_from_module": lambda n: modcore.weights_from_module(n),
}
FORMS = [
    "tensors",
    "network",
    "module",
    "state dict",
    "pt str",
    "pt path",
    "npz path",
    "safetensors path",
]
# Forms that are not the weights of a torch model: weights_from_module reads only those.
NOT_TORCH = {"tensors", "network"}


def call(entry, net):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", modcore.EigengapWarning)
        return ENTRY_POINTS[entry](net)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_form_gives_what_the_arrays_give(forms, entry, form):
    if form not in forms:
        pytest.skip("safetensors is not installed")
    if entry == "weights_from_module" and form in NOT_TORCH:
        pytest.skip("weights_from_module reads torch models and files only")
    # weights_from_module is the loader itself: it gives the arrays. Every reader of a
    # model or file stores |w|; arrays and Networks built by hand are kept as given.
    if entry == "weights_from_module":
        expected = forms["arrays"]
    elif form in NOT_TORCH:
        expected = call(entry, forms["arrays"])
    else:
        expected = call(entry, [np.abs(a) for a in forms["arrays"]])
    got = call(entry, forms[form])
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


BAD = [
    (42, TypeError, "torch.nn.Module, a state dict, a path"),
    ([nn.Linear(3, 2), nn.Linear(2, 2)], TypeError, "weights\\[0\\] is a torch Linear module"),
    (torch.ones(3, 3), TypeError, "single tensor: pass a list"),
    ("no/such/net.pt", FileNotFoundError, "no weight file"),
]


@pytest.mark.parametrize("bad, exc, match", BAD, ids=["int", "modules", "tensor", "missing"])
@pytest.mark.parametrize("entry", [e for e in ENTRY_POINTS if e != "weights_from_module"])
def test_errors_name_the_accepted_forms(entry, bad, exc, match):
    with pytest.raises(exc, match=match):
        call(entry, bad)


def test_a_file_of_another_type_names_the_types(tmp_path):
    path = tmp_path / "net.txt"
    path.write_text("weights")
    with pytest.raises(ValueError, match=r"expected \.pt/\.pth, \.safetensors or \.npz"):
        modcore.ncut_significance(path, n_clusters=2, n_shuffles=2, progress=False)


def test_torch_is_imported_only_for_torch_inputs(tmp_path):
    np.savez(tmp_path / "net.npz", np.ones((4, 3)), np.ones((3, 2)))
    torch.save({"0.weight": torch.ones(3, 4)}, tmp_path / "net.pt")
    code = textwrap.dedent(f"""
        import importlib.abc, sys

        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is not installed here")

        sys.meta_path.insert(0, NoTorch())
        import numpy as np, modcore
        from modcore.network.synthetic import random_pruned_mlp

        w = random_pruned_mlp((20, 16, 6), sparsity=0.5, seed=0)
        sig = modcore.ncut_significance(w, n_clusters=3, n_shuffles=3, seed=0, progress=False)
        c = modcore.spectral_cluster({str(tmp_path / "net.npz")!r}, n_clusters=2, seed=0)
        assert "torch" not in sys.modules, "torch was imported"
        print(sig.n_shuffles, c.n_clusters)
        try:
            modcore.spectral_cluster({str(tmp_path / "net.pt")!r}, n_clusters=2)
        except ImportError as exc:
            print(exc)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == "3 2"
    assert "needs torch: pip install 'modcore[torch]'" in second
    assert Path(tmp_path / "net.pt").name in second
