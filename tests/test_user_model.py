"""A CNN the user defines reaches a verdict from the command line by both routes that
run no code from a file: a torch.export program (.pt2), and the user's own factory with a
state dict; every refusal of the routes that cannot work names those that do (issue 29
item 2)."""

import io
import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

torch = pytest.importorskip("torch")

import modcore
from modcore.network.convert import as_network

CNN_SOURCE = """
import torch
from torch import nn


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


def make_cnn():
    return SmallCNN()
"""
SHAPE = (1, 14, 14)


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A folder holding the user's module, its state dict, the whole pickled model and
    its torch.export program, and the model itself."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "usercnn.py").write_text(CNN_SOURCE)
    sys.path.insert(0, str(folder))
    try:
        import usercnn
    finally:
        sys.path.remove(str(folder))
    torch.manual_seed(0)
    model = usercnn.make_cnn().eval()
    torch.save(model.state_dict(), folder / "state.pt")
    torch.save(model, folder / "whole.pt")
    program = torch.export.export(model, (torch.zeros(2, *SHAPE),))
    torch.export.save(program, folder / "model.pt2")
    return folder, model


def _cli(folder, *args):
    root = str(pathlib.Path(modcore.__file__).resolve().parents[1])
    return subprocess.run(
        [sys.executable, "-m", "modcore", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PYTHONPATH": root},
        timeout=300,
    )


def _ncut_line(stdout):
    return next(line for line in stdout.splitlines() if line.startswith("network "))


def test_both_routes_reach_the_same_verdict(user):
    folder, _ = user
    common = ["--n-clusters", 3, "--n-shuffles", 9, "--quiet"]
    exported = _cli(folder, "analyze", "model.pt2", *common)
    factory = _cli(
        folder, "analyze", "--model", "usercnn:make_cnn", "--weights", "state.pt",
        "--input-shape", "1,14,14", *common,
    )  # fmt: skip
    for proc in (exported, factory):
        assert proc.returncode == 0, proc.stderr
        assert "modular than 9 'layer' shuffles" in proc.stdout
    # One network by both routes: the same n-cut and the same null.
    assert _ncut_line(exported.stdout).split("),")[1] == _ncut_line(factory.stdout).split("),")[1]


def test_an_exported_program_is_the_model_s_network(user):
    folder, model = user
    from_program = as_network(folder / "model.pt2")
    from_model = modcore.Network.from_torch(model, input_shape=SHAPE)
    assert from_program.names == from_model.names == ("input", "conv1", "conv2", "fc")
    assert from_program.fingerprint == from_model.fingerprint


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "whole.pt"],
        ["analyze", "state.pt", "--input-shape", "1,14,14"],
        ["analyze", "state.pt"],
    ],
    ids=["whole pickled model", "state dict with --input-shape", "4-D state dict"],
)
def test_every_refused_route_names_the_routes_that_work(user, args):
    folder, _ = user
    proc = _cli(folder, *args, "--quiet")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    for route in ("--model", "--weights", ".pt2", "Network.from_torch"):
        assert route in proc.stderr


def test_python_refusals_name_the_routes_that_work(user):
    folder, _ = user
    for name in ("whole.pt", "state.pt"):
        with pytest.raises(ValueError, match=r"Network\.from_torch.*") as info:
            as_network(folder / name)
        assert "--model" in str(info.value) and ".pt2" in str(info.value)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "usercnn:make_cnn"], "needs --weights"),
        (["--model", "usercnn", "--weights", "state.pt"], "expected module:function"),
        (["--model", "nosuchmodule:f", "--weights", "state.pt"], "cannot import nosuchmodule"),
        (["--model", "usercnn:nope", "--weights", "state.pt"], "usercnn has no function nope"),
        (["--model", "usercnn:SmallCNN", "--weights", "whole.pt"], "refused for safety"),
        (["state.pt", "--model", "usercnn:make_cnn", "--weights", "state.pt"], "not both"),
        ([], "not neither"),
        (["model.pt2", "--weights", "state.pt"], "--weights goes with --model"),
    ],
)
def test_model_option_mistakes_are_one_line(user, args, message):
    folder, _ = user
    proc = _cli(folder, "analyze", *args, "--input-shape", "1,14,14", "--quiet")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert message in proc.stderr


def test_weights_that_do_not_fit_the_model_are_named(user, tmp_path):
    folder, model = user
    state = dict(model.state_dict())
    del state["fc.bias"]
    torch.save(state, tmp_path / "short.pt")
    proc = _cli(
        folder, "analyze", "--model", "usercnn:make_cnn", "--weights", tmp_path / "short.pt",
        "--input-shape", "1,14,14", "--quiet",
    )  # fmt: skip
    assert proc.returncode == 2 and "does not fit the model" in proc.stderr
    assert "fc.bias" in proc.stderr


def test_help_says_model_runs_the_user_s_code():
    proc = _cli(".", "analyze", "--help")
    text = " ".join(proc.stdout.split())
    assert "runs YOUR code" in text and "weights_only=True" in text


# -- the exported program: safety and ops it cannot read ------------------------------------


def _rewrite(src, dst, change):
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for item in a.infolist():
            b.writestr(item, change(item.filename, a.read(item.filename)))


def test_a_program_with_a_pickled_object_is_refused_before_loading(user, tmp_path, monkeypatch):
    folder, _ = user

    def loaded(*a, **k):
        raise AssertionError("torch.export.load ran on an unsafe archive")

    monkeypatch.setattr(torch.export, "load", loaded)

    def pickled_sample(name, data):  # a pickle naming a function: unpickling imports it
        if not name.endswith("sample_inputs/model.pt"):
            return data
        buffer = io.BytesIO()
        torch.save({"call": os.getcwd}, buffer)
        return buffer.getvalue()

    _rewrite(folder / "model.pt2", tmp_path / "sample.pt2", pickled_sample)
    with pytest.raises(ValueError, match=r"refused for safety.*sample_inputs/model\.pt"):
        as_network(tmp_path / "sample.pt2")

    def pickled_weight(name, data):
        if not name.endswith("model_weights_config.json"):
            return data
        config = json.loads(data)
        next(iter(config["config"].values()))["use_pickle"] = True
        return json.dumps(config).encode()

    _rewrite(folder / "model.pt2", tmp_path / "weight.pt2", pickled_weight)
    with pytest.raises(ValueError, match=r"refused for safety: 'conv1\.weight'"):
        as_network(tmp_path / "weight.pt2")


def test_an_aten_op_outside_the_table_is_refused_by_name(tmp_path):
    class Bilinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 3))

        def forward(self, x):
            return torch.matmul(x, self.w)

    program = torch.export.export(Bilinear(), (torch.zeros(2, 4),))
    torch.export.save(program, tmp_path / "m.pt2")
    with pytest.raises(ValueError, match=r"node 'matmul' is call_function aten\.matmul"):
        as_network(tmp_path / "m.pt2")


def test_a_program_renamed_pt_is_told_to_be_pt2(user, tmp_path):
    folder, _ = user
    (tmp_path / "model.pt").write_bytes((folder / "model.pt2").read_bytes())
    with pytest.raises(ValueError, match=r"named \.pt2"):
        as_network(tmp_path / "model.pt")


# -- BatchNorm and the other ops of small CNNs, through .pt2 --------------------------------


class _ConvBnNet(torch.nn.Module):
    """Conv-BN-ReLU blocks, a residual add, max and adaptive average pooling, dropout."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(6)
        self.fc = nn.Linear(6, 10)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        h = torch.nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        h = h + torch.nn.functional.relu6(self.bn2(self.conv2(h)))
        h = torch.nn.functional.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(self.drop(h))


class _BnMlp(torch.nn.Module):
    """BatchNorm1d after a Linear (folded) and one without affine weights (a scale)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.fc1, self.bn1 = nn.Linear(12, 8), nn.BatchNorm1d(8)
        self.bn2 = nn.BatchNorm1d(8, affine=False)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc2(torch.nn.functional.leaky_relu(self.bn2(self.bn1(self.fc1(x)))))


class _InPlaceNet(torch.nn.Module):
    """In-place ReLU and +=, BN after a max pool, overlapping padded pools, a shared conv,
    adaptive max pooling read through its indices' tuple, feature dropout, view."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv = nn.Conv2d(3, 5, 3, padding=1)
        self.bn = nn.BatchNorm2d(5)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.drop = nn.Dropout2d(0.2)
        self.conv2 = nn.Conv2d(5, 5, 1)
        self.fc = nn.Linear(5 * 4, 3)

    def forward(self, x):
        h = self.bn(self.pool(self.act(self.conv(x))))
        h += torch.nn.functional.hardswish(self.conv2(h))
        h = self.drop(torch.nn.functional.avg_pool2d(h, 3, 1, 1))
        h = torch.nn.functional.elu(self.conv2(h))
        h = torch.nn.functional.adaptive_max_pool2d(h, 2)
        return self.fc(h.view(h.size(0), -1))


def _with_statistics(model):
    """Running statistics and affine weights away from their initial values, so that a
    BatchNorm read wrongly (or not folded) changes the edges."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(0.2 + 3 * torch.rand(m.num_features, generator=g))
            if m.weight is not None:
                m.weight.data.copy_(4 * torch.rand(m.num_features, generator=g) - 2)
    return model.eval()


class _ResampleNet(torch.nn.Module):
    """PReLU, a transposed convolution, zero padding, nearest upsampling, a BN after them."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.act = nn.PReLU(4)
        self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 3, 3)
        self.fc = nn.Linear(3 * 34 * 34, 2)

    def forward(self, x):
        h = self.bn(torch.nn.functional.pad(self.up(self.act(self.conv(x))), (1, 1, 1, 1)))
        h = torch.nn.functional.interpolate(h, scale_factor=2.0)
        return self.fc(self.conv2(h).flatten(1))


_PROGRAMS = {"conv-bn": (_ConvBnNet, (1, 12, 12)), "bn-mlp": (_BnMlp, (12,))}
_PROGRAMS["in-place"] = (_InPlaceNet, (3, 16, 16))
_PROGRAMS["resample"] = (_ResampleNet, (2, 8, 8))


@pytest.mark.parametrize("kind", sorted(_PROGRAMS))
def test_a_program_with_batchnorm_is_the_model_s_network(kind, tmp_path):
    make, shape = _PROGRAMS[kind]
    torch.manual_seed(3)
    model = _with_statistics(make())
    program = torch.export.export(model, (torch.zeros(2, *shape),))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert "aten.batch_norm.default" in ops  # what torch.export gives a model in eval mode
    torch.export.save(program, tmp_path / "m.pt2")
    from_program = as_network(tmp_path / "m.pt2")
    from_model = modcore.Network.from_torch(model, input_shape=shape)
    assert from_program.names == from_model.names
    assert from_program.sizes == from_model.sizes
    a, b = from_program.adjacency(), from_model.adjacency()
    assert a.shape == b.shape and abs(a - b).max() < 1e-6 * abs(b).max()
    # The BatchNorms change the edges: a model whose BNs are identities reads otherwise.
    plain = make().eval()
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if "bn" not in k}, strict=False
    )
    assert abs(modcore.Network.from_torch(plain, input_shape=shape).adjacency() - b).max() > 1e-3


def test_the_cli_gives_a_verdict_from_a_program_with_batchnorm(tmp_path):
    torch.manual_seed(4)
    program = torch.export.export(_with_statistics(_ConvBnNet()), (torch.zeros(2, 1, 12, 12),))
    torch.export.save(program, tmp_path / "bn.pt2")
    proc = _cli(tmp_path, "analyze", "bn.pt2", "--n-clusters", 3, "--n-shuffles", 9, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "modular than 9 'layer' shuffles" in proc.stdout


@pytest.mark.parametrize(
    "model, message",
    [
        (_BnMlp().train(), r"node 'batch_norm' \(aten\.batch_norm\.default\) runs in training"),
        (
            torch.nn.Sequential(
                torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3, track_running_stats=False)
            ).eval(),
            r"'batch_norm' .* runs in training mode .*without running statistics.*model\.eval\(\)",
        ),
        (
            torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Dropout(0.5)).train(),
            r"'dropout' .* runs in training mode",
        ),
    ],
    ids=["train mode", "no running statistics", "dropout in train mode"],
)
def test_a_program_in_training_mode_is_refused(model, message, tmp_path):
    n_in = 12 if isinstance(model, _BnMlp) else 4
    torch.export.save(torch.export.export(model, (torch.zeros(2, n_in),)), tmp_path / "t.pt2")
    with pytest.raises(ValueError, match=message):
        as_network(tmp_path / "t.pt2")


def test_a_decomposed_program_is_refused_naming_the_op_and_the_route(tmp_path):
    program = torch.export.export(_BnMlp().eval(), (torch.zeros(2, 12),)).run_decompositions()
    torch.export.save(program, tmp_path / "core.pt2")
    with pytest.raises(ValueError) as info:
        as_network(tmp_path / "core.pt2")
    text = str(info.value)
    assert "aten.addmm" in text and "run_decompositions" in text
    assert "Network.from_torch" in text and "--model" in text


def test_an_op_whose_torch_twin_takes_other_arguments_is_refused():
    class Scaled(torch.nn.Module):  # aten.elu's third argument is a scale, F.elu's inplace
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 3)

        def forward(self, x):
            return torch.ops.aten.elu(self.fc(x), 1.0, 2.0)

    from modcore.network.torch.exported import module_from_exported

    program = torch.export.export(Scaled(), (torch.zeros(2, 3),))
    with pytest.raises(ValueError, match=r"node 'elu' is call_function aten\.elu\.default with 3"):
        module_from_exported(program)
