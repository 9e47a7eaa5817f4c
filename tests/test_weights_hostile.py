"""Weight inputs that mean something else than they seem are refused or honoured,
never misread; files cannot make modcore allocate what they do not hold, run
their code, or block."""

import os
import pickle

import numpy as np
import pytest

import modcore
from modcore.network.weights import weights_from_module
from processes import run_python


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def transposed(*layers):
    """The oracle: each Linear's (out, in) weight as (in, out), in the order given."""
    return [layer.weight.detach().numpy().T for layer in layers]


def assert_same(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


# --- numpy inputs ------------------------------------------------------------------


def test_masked_arrays_and_timedeltas_are_refused():
    w = np.ma.masked_array(np.ones((3, 2)), mask=np.eye(3, 2, dtype=bool))
    with pytest.raises(TypeError, match="masked array"):
        modcore.spectral_cluster([w, np.ones((2, 2))], n_clusters=2)
    with pytest.raises(TypeError, match="timedelta64"):
        modcore.spectral_cluster([np.ones((3, 2), dtype="m8[s]")], n_clusters=2)


# --- modules: read in the order the forward calls them, and only as a chain ---------


def test_forward_order_is_honoured_over_registration_order(torch):
    class Reversed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.last = torch.nn.Linear(3, 2)  # registered first, called last
            self.first = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.last(torch.relu(self.first(x)))

    model = Reversed()
    assert_same(weights_from_module(model), transposed(model.first, model.last))


def test_in_place_activations_and_modes_survive_the_reading(torch):
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 4),
        torch.nn.ReLU(inplace=True),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(4, 2),
    )
    model.train()
    assert_same(weights_from_module(model), transposed(model[0], model[3]))
    assert model.training and all(m.training for m in model.modules())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def modules(torch):
    nn = torch.nn

    class CalledTwice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)

        def forward(self, x):
            return self.a(torch.relu(self.a(x)))

    class Branches(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(6, 2)

        def forward(self, x):
            return self.c(torch.cat([self.a(x), self.b(x)], dim=1))

    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x):
            return x + self.b(torch.relu(self.a(x)))

    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.a(x)

    shared = nn.Linear(3, 3)
    return {
        "called twice": (CalledTwice(), "called twice"),
        "registered twice": (nn.Sequential(shared, nn.ReLU(), shared), "also registered as"),
        "branches": (Branches(), "reads the input, expected the output of 'a'"),
        "skip": (Skip(), "output does not come from the last layer"),
        "unused": (Unused(), r"\['head'\] are not called"),
    }


@pytest.mark.parametrize("case", ["called twice", "registered twice", "branches", "skip", "unused"])
def test_modules_that_are_not_chains_are_refused(torch, case):
    model, match = modules(torch)[case]
    with pytest.raises(ValueError, match=match):
        weights_from_module(model)


# --- state dicts: a chain in key order, and only what can be one --------------------


def test_tied_tensors_in_a_state_dict_are_refused(torch, tmp_path):
    shared = torch.nn.Linear(3, 3)
    state = torch.nn.Sequential(shared, torch.nn.ReLU(), shared).state_dict()
    with pytest.raises(ValueError, match="hold the same tensor"):
        weights_from_module(state)
    torch.save(state, tmp_path / "tied.pt")  # torch.save keeps the sharing
    with pytest.raises(ValueError, match=r"tied\.pt.*hold the same tensor"):
        weights_from_module(tmp_path / "tied.pt")
    # Two slices of one storage are two tensors, not tied weights.
    big = torch.arange(24.0).reshape(6, 4)
    got = weights_from_module({"0.weight": big[:3, :4], "1.weight": big[3:, :3]})
    assert_same(got, [big[:3, :4].numpy().T, big[3:, :3].numpy().T])


def test_a_broadcasting_pruning_mask_is_refused(torch):
    state = {"0.weight_orig": torch.ones(3, 4), "0.weight_mask": torch.ones(1, 4)}
    with pytest.raises(ValueError, match="weight_mask' has shape \\(1, 4\\)"):
        weights_from_module(state)


def test_sparse_tensors_are_refused(torch):
    with pytest.raises(ValueError, match="sparse"):
        weights_from_module({"0.weight": torch.eye(3).to_sparse()})


def test_meta_tensors_are_refused_by_name(torch, tmp_path):
    # a shape without values: a file holding one, and a model built on the meta device
    path = tmp_path / "meta.pt"
    torch.save({"0.weight": torch.ones(3, 3).to("meta")}, path)
    with pytest.raises(ValueError, match=r"meta\.pt: key '0\.weight' is a meta tensor"):
        weights_from_module(path)
    with pytest.raises(ValueError, match="is a meta tensor"):
        weights_from_module(torch.nn.Linear(3, 3, device="meta"))


# --- files ---------------------------------------------------------------------------


def test_expanded_tensor_is_refused_before_it_is_materialized(torch, tmp_path):
    # 30,000 x 30,000 float32 from one row of storage: a 120 KB file that would be
    # 3.6 GB as an array. Under a 3 GB address-space limit a copy could not even start.
    path = tmp_path / "expanded.pt"
    torch.save({"0.weight": torch.ones(30_000).expand(30_000, 30_000)}, path)
    assert path.stat().st_size < 200_000
    proc = run_python(
        f"""
        import modcore
        try:
            modcore.weights_from_module({str(path)!r})
        except ValueError as exc:
            print(exc)
    """,
        address_space_gb=3,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "expanded.pt: key '0.weight' is an expanded view" in proc.stdout


class Payload:
    """Unpickling this would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_pickled_code_is_refused_plainly_and_never_run(torch, tmp_path, writer):
    path, marker = tmp_path / "evil.pt", tmp_path / "pwned"
    state = {"0.weight": Payload(marker)}
    if writer == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state, protocol=4))
    with pytest.raises(ValueError) as info:
        weights_from_module(path)
    message = str(info.value)
    assert "evil.pt" in message and "refused for safety" in message
    assert "code objects (builtins.open)" in message or "code objects (io.open)" in message
    assert "weights_only=False" not in message and "\n" not in message
    assert not marker.exists()


def test_bfloat16_safetensors_are_widened(torch, tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    weights = {
        "0.weight": torch.randn(4, 6).to(torch.bfloat16),
        "2.weight": torch.randn(3, 4).to(torch.bfloat16),
    }
    path = tmp_path / "bf16.safetensors"
    safetensors_torch.save_file(weights, str(path))
    got = weights_from_module(path)
    assert [g.dtype for g in got] == [np.float32, np.float32]
    assert_same(got, [weights[k].float().numpy().T for k in ("0.weight", "2.weight")])


def test_directories_and_fifos_are_refused_without_opening(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(ValueError, match="a directory"):
        weights_from_module(tmp_path / "dir.npz")
    fifo = tmp_path / "x.npz"
    os.mkfifo(fifo)
    # In a child process: open() on a FIFO without a writer would block forever.
    proc = run_python(
        f"""
        import modcore
        try:
            modcore.weights_from_module({str(fifo)!r})
        except ValueError as exc:
            print(exc)
    """,
        timeout=60,
    )
    assert "not a regular file" in proc.stdout, proc.stderr


def test_legacy_format_files_are_refused_before_torch_reads_them(torch, tmp_path, monkeypatch):
    # torch's pre-1.6 reader allocates the storage sizes a file declares before reading
    # them: a 2.9 kB file found by fuzzing (tests/fuzz/corpus/checkpoint/found/) asked
    # for gigabytes. Such files never reach torch.load; a zip-format file still does.
    from modcore.network.convert import as_network
    from modcore.network.torch_files import NOT_ZIP

    legacy = tmp_path / "legacy.pt"
    torch.save({"0.weight": torch.ones(3, 2)}, legacy, _use_new_zipfile_serialization=False)
    current = tmp_path / "current.pt"
    torch.save({"0.weight": torch.ones(3, 2)}, current)
    real_load = torch.load
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a) or real_load(*a, **k))
    with pytest.raises(ValueError, match=r"legacy format of PyTorch < 1\.6") as err:
        as_network(str(legacy))
    assert str(legacy) in str(err.value) and NOT_ZIP in str(err.value) and calls == []
    assert tuple(as_network(str(current)).sizes) == (2, 3) and calls
