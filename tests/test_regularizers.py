"""The spectral clusterability regularizer: eigenvalues against numpy's dense
eigendecomposition of a normalized Laplacian built here, gradients against finite
differences (torch.autograd.gradcheck, float64), repeated eigenvalues, warm starts."""

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn

from modcore.nn import CNN, MLP, load_dataset, train
from modcore.nn.regularizers import (
    DegenerateEigenvalueWarning,
    Partition,
    PartitionRegularizer,
    Spectral,
    SpectralRegularizer,
    laplacian_eigenvalues,
)
from spectral_resume import whole_and_resumed

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _laplacian_spectrum(sizes, blocks):
    """Oracle: the normalized Laplacian's eigenvalues (ascending) from a dense adjacency,
    isolated units dropped, and its number of connected components."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    a = np.zeros((offsets[-1], offsets[-1]))
    for (src, dst), b in blocks:
        b = np.asarray(b, dtype=float)
        a[offsets[src] : offsets[src + 1], offsets[dst] : offsets[dst + 1]] += b
        a[offsets[dst] : offsets[dst + 1], offsets[src] : offsets[src + 1]] += b.T
    live = a.sum(1) > 0
    a = a[live][:, live]
    d = a.sum(1)
    lap = np.eye(len(a)) - a / np.sqrt(np.outer(d, d))
    values = np.linalg.eigvalsh(lap)
    return values, int(np.sum(values < 1e-9))


def _chain_blocks(widths, rng, zero_fraction=0.0):
    blocks = []
    for i, (m, n) in enumerate(zip(widths, widths[1:])):
        b = np.abs(rng.standard_normal((m, n)))
        b[rng.random((m, n)) < zero_fraction] = 0.0
        blocks.append(((i, i + 1), b))
    return blocks


@pytest.mark.parametrize("method", ["dense", "bipartite", "full"])
def test_eigenvalues_match_numpy(method):
    rng = np.random.default_rng(0)
    sizes = [30, 25, 20, 5]
    blocks = _chain_blocks(sizes, rng, zero_fraction=0.5)
    values, c = _laplacian_spectrum(sizes, blocks)
    tensors = [(p, torch.from_numpy(b)) for p, b in blocks]
    got = laplacian_eigenvalues(sizes, tensors, 4, eigen_method=method)
    np.testing.assert_allclose(got.numpy(), values[c : c + 4], atol=1e-9)


def test_skips_one_zero_per_component():
    # Two disconnected chains: two eigenvalues 0, the next ones are returned.
    rng = np.random.default_rng(1)
    top = np.abs(rng.standard_normal((6, 5)))
    top[3:, :] = 0
    top[:3, 3:] = 0
    bottom = np.abs(rng.standard_normal((5, 4)))
    bottom[:3, 2:] = 0
    bottom[3:, :2] = 0
    blocks = [((0, 1), top), ((1, 2), bottom)]
    values, c = _laplacian_spectrum([6, 5, 4], blocks)
    assert c == 2
    got = laplacian_eigenvalues([6, 5, 4], [(p, torch.from_numpy(b)) for p, b in blocks], 3)
    np.testing.assert_allclose(got.numpy(), values[2:5], atol=1e-9)


def test_gradcheck_on_blocks():
    rng = np.random.default_rng(2)
    sizes = [7, 6, 5, 3]
    blocks = [torch.from_numpy(b + 0.1).requires_grad_() for _, b in _chain_blocks(sizes, rng)]

    def f(*bs):
        return laplacian_eigenvalues(sizes, [((i, i + 1), b) for i, b in enumerate(bs)], 3)

    assert torch.autograd.gradcheck(f, blocks, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_through_abs_of_signed_weights_and_lanczos():
    # Signed weights (|W| inside), a graph past the dense size (Lanczos, bipartite).
    torch.manual_seed(0)
    sizes = [200, 120, 40]
    ws = [
        torch.randn(120, 200, dtype=torch.float64, requires_grad=True),
        torch.randn(40, 120, dtype=torch.float64, requires_grad=True),
    ]

    def f(w1, w2):
        blocks = [((0, 1), w1.abs().T), ((1, 2), w2.abs().T)]
        return laplacian_eigenvalues(sizes, blocks, 2, tol=1e-12).sum()

    # Finite differences on a few entries (a full gradcheck would be 28,800 solves).
    f(*ws).backward()
    rng = np.random.default_rng(3)
    h = 1e-6
    for w in ws:
        for _ in range(6):
            idx = tuple(int(rng.integers(0, s)) for s in w.shape)
            with torch.no_grad():
                w[idx] += h
                up = f(*ws).item()
                w[idx] -= 2 * h
                down = f(*ws).item()
                w[idx] += h
            assert w.grad[idx].item() == pytest.approx((up - down) / (2 * h), abs=1e-7, rel=1e-4)


class _Value(nn.Module):
    """The regularizer as a module's output, so functional_call can swap the model's
    weights for gradcheck's inputs."""

    def __init__(self, model, reg):
        super().__init__()
        self.model, self.reg = model, reg

    def forward(self):
        return self.reg.eigenvalues()


def _gradcheck_weights(model, reg, names):
    wrapper = _Value(model, reg)
    inputs = [model.get_parameter(n).detach().clone().requires_grad_() for n in names]

    def f(*ws):
        return torch.func.functional_call(wrapper, {f"model.{n}": w for n, w in zip(names, ws)}, ())

    return torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_on_an_mlp_and_zero_weights_get_zero():
    model = MLP([6, 5, 4, 3], seed=0).double()
    reg = SpectralRegularizer(model, n_eigenvalues=2)
    assert _gradcheck_weights(model, reg, ["0.weight", "2.weight", "4.weight"])
    with torch.no_grad():
        model[0].weight[0, 0] = 0.0
    reg().backward()
    assert model[0].weight.grad[0, 0] == 0  # sign(0) = 0: no push off zero
    assert torch.isfinite(model[2].weight.grad).all()


@pytest.mark.parametrize("kernel_norm", ["l1", "l2"])
def test_gradcheck_on_a_cnn(kernel_norm):
    model = CNN((1, 6, 6), n_classes=3, channels=(3, 4, 4), dense=(5,), seed=0).double()
    reg = SpectralRegularizer(model, n_eigenvalues=2, kernel_norm=kernel_norm)
    assert reg.sizes == (1, 3, 4, 4, 5, 3)  # input channel, convolutions, dense units
    assert _gradcheck_weights(model, reg, ["0.weight", "2.weight", "5.weight", "9.weight"])
    with torch.no_grad():
        model[2].weight[1, 2] = 0.0  # a pruned kernel slice
    reg().backward()
    assert torch.isfinite(model[2].weight.grad).all()
    assert (model[2].weight.grad[1, 2] == 0).all()


def test_regularizer_value_is_the_graph_spectrum():
    model = MLP([8, 7, 6, 4], seed=1).double()
    reg = SpectralRegularizer(model, n_eigenvalues=3)
    blocks = [
        ((i, i + 1), layer.weight.detach().abs().T.numpy())
        for i, layer in enumerate((model[0], model[2], model[4]))
    ]
    values, c = _laplacian_spectrum([8, 7, 6, 4], blocks)
    assert reg().item() == pytest.approx(values[c : c + 3].sum(), abs=1e-9)


def test_repeated_eigenvalue_at_the_cut_warns_and_gives_a_finite_stable_gradient():
    # Four equal modules, all joined weakly and equally: the three smallest non-trivial
    # eigenvalues are one (the symmetric group of the modules); ask for two.
    m, width = 4, 3
    inside = np.kron(np.eye(m), np.ones((width, width)))
    b = torch.tensor(inside + 0.01, dtype=torch.float64, requires_grad=True)
    sizes = [m * width, m * width]
    values, c = _laplacian_spectrum(sizes, [((0, 1), b.detach().numpy())])
    assert values[c + 2] - values[c] < 1e-12  # the planted repeat
    grads = []
    for _ in range(2):
        with pytest.warns(DegenerateEigenvalueWarning, match="repeated past the 2"):
            lam = laplacian_eigenvalues(sizes, [((0, 1), b)], 2)
        np.testing.assert_allclose(lam.detach().numpy(), values[c : c + 2], atol=1e-12)
        (g,) = torch.autograd.grad(lam.sum(), b)
        assert torch.isfinite(g).all()
        grads.append(g)
    torch.testing.assert_close(grads[0], grads[1])  # the same subgradient each time
    # Three of them: no repeat at the cut-off, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateEigenvalueWarning)
        laplacian_eigenvalues(sizes, [((0, 1), b)], 3).sum().backward()


def test_warm_start_gives_the_cold_result():
    torch.manual_seed(1)
    sizes = [400, 100, 10]
    w1 = torch.rand(400, 100, dtype=torch.float64)
    w2 = torch.rand(100, 10, dtype=torch.float64)
    model_blocks = [((0, 1), w1), ((1, 2), w2)]
    from modcore.nn.laplacian import _Solver

    solver = _Solver(sizes, [(0, 1), (1, 2)], 3, 1e-10, "auto")
    laplacian_eigenvalues(sizes, model_blocks, 3, solver=solver)
    assert solver.warm is not None
    moved = [((0, 1), w1 * (1 + 0.01 * torch.rand_like(w1))), ((1, 2), w2)]
    warm = laplacian_eigenvalues(sizes, moved, 3, solver=solver)
    cold = laplacian_eigenvalues(sizes, moved, 3, tol=1e-10)
    np.testing.assert_allclose(warm.numpy(), cold.numpy(), atol=1e-9)


def test_refusals():
    with pytest.raises(ValueError, match="room for"):
        laplacian_eigenvalues([2, 2], [((0, 1), torch.eye(2, dtype=torch.float64))], 3)
    with pytest.raises(ValueError, match="to itself"):
        laplacian_eigenvalues([3], [((0, 0), torch.ones(3, 3))], 1)
    folded = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    with torch.no_grad():
        folded[1].weight.fill_(3.0)
    with pytest.raises(ValueError, match=re.escape("not |W| of that layer alone")):
        SpectralRegularizer(folded.eval(), input_shape=(4,))
    with pytest.raises(ValueError, match="strength"):
        Spectral(strength=-1.0)
    with pytest.raises(ValueError, match="every"):
        Spectral(strength=1.0, every=0)


@pytest.mark.parametrize(
    "regularizer, name, most",
    [(SpectralRegularizer, "n_eigenvalues", 8), (PartitionRegularizer, "n_clusters", 9)],
)
def test_counts_are_checked_at_construction(regularizer, name, most):
    model = MLP([4, 3, 2], seed=0)  # 9 units: at most 8 non-trivial eigenvalues, 9 modules
    for bad, error in [(2.5, TypeError), ("2", TypeError), (True, TypeError), (0, ValueError)]:
        with pytest.raises(error, match=name):
            regularizer(model, **{name: bad})
    with pytest.raises(ValueError, match=f"{name}={most + 1} is more than .* 9 units"):
        regularizer(model, **{name: most + 1})
    # the largest count allowed is honoured by the first call
    assert torch.isfinite(regularizer(model, **{name: np.int64(most)})()).all()


def test_training_with_the_regularizer_lowers_the_eigenvalues():
    ds = load_dataset("line", n_train=256, n_test=64, seed=0)
    options = dict(epochs=4, batch_size=32, lr=1e-2, seed=0, progress=False)
    plain, regularized = MLP([784, 24, 24, 10], seed=0), MLP([784, 24, 24, 10], seed=0)
    train(plain, ds, **options)
    train(regularized, ds, spectral=Spectral(strength=1.0, every=1), **options)
    measure = lambda m: SpectralRegularizer(m, n_eigenvalues=3)().item()  # noqa: E731
    # Seen: 2.07 plain, 1.55 regularized.
    assert measure(regularized) < 0.85 * measure(plain)


def test_partition_loss_is_the_weight_mass_between_modcores_modules():
    from modcore import spectral_cluster

    model = MLP([10, 8, 8, 4], seed=0).double()
    loss = PartitionRegularizer(model, n_clusters=3)
    value = loss()
    expected_labels = spectral_cluster(model, n_clusters=3).labels
    assert all((a == b).all() for a, b in zip(loss.labels, expected_labels))
    between = total = 0.0
    for i, layer in enumerate((model[0], model[2], model[4])):
        w = layer.weight.detach().abs().numpy()  # (out, in)
        src, dst = expected_labels[i], expected_labels[i + 1]
        between += w[dst[:, None] != src[None, :]].sum()
        total += w.sum()
    assert value.item() == pytest.approx(between / total, rel=1e-12)
    assert 0 < value.item() < 1


def test_partition_loss_gradcheck_and_fixed_until_refreshed():
    model = MLP([6, 5, 4, 3], seed=0).double()
    loss = PartitionRegularizer(model, n_clusters=2)
    labels = [lab.copy() for lab in loss.refresh()]

    class Value(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self):
            return loss()

    names = ["0.weight", "2.weight", "4.weight"]
    inputs = [model.get_parameter(n).detach().clone().requires_grad_() for n in names]

    def f(*ws):
        return torch.func.functional_call(Value(), {f"model.{n}": w for n, w in zip(names, ws)}, ())

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    with torch.no_grad():
        model[2].weight.mul_(-3.0)
    loss()
    assert all((a == b).all() for a, b in zip(loss.labels, labels))  # not reclustered
    with pytest.raises(ValueError, match="group sizes"):
        loss.use([np.zeros(2, dtype=int)])


def test_training_with_the_partition_loss_lowers_the_mass_between_modules():
    ds = load_dataset("line", n_train=256, n_test=64, seed=0)
    options = dict(epochs=2, batch_size=32, lr=1e-2, seed=0, progress=False)
    plain, shaped = MLP([784, 24, 24, 10], seed=0), MLP([784, 24, 24, 10], seed=0)
    train(plain, ds, **options)
    train(shaped, ds, partition=Partition(strength=1.0, n_clusters=4, refresh_every=4), **options)
    measure = lambda m: PartitionRegularizer(m, n_clusters=4)().item()  # noqa: E731
    assert measure(shaped) < 0.8 * measure(plain)


def test_partition_training_resumes_bitwise(tmp_path):
    ds = load_dataset("line", n_train=128, n_test=32, seed=0)
    # Clustered once, at step 0: a resumed run must use that partition, not recluster.
    settings = Partition(strength=1.0, n_clusters=6, refresh_every=1000)

    class Stop(Exception):
        pass

    after_one = {}

    def stop_after_one(history):
        if len(history.loss) == 1:
            after_one["labels"] = PartitionRegularizer(resumed, n_clusters=6).refresh()
            raise Stop

    whole, resumed = MLP([784, 12, 12, 10], seed=0), MLP([784, 12, 12, 10], seed=0)
    options = dict(epochs=2, batch_size=32, lr=0.05, seed=0, progress=False, partition=settings)
    train(whole, ds, **options)
    state = tmp_path / "s.pt"
    with pytest.raises(Stop):
        train(resumed, ds, state=state, on_epoch=stop_after_one, **options)
    first = PartitionRegularizer(MLP([784, 12, 12, 10], seed=0), n_clusters=6).refresh()
    # The case bites: reclustering after an epoch gives another partition.
    assert any((a != b).any() for a, b in zip(first, after_one["labels"]))
    train(resumed, ds, state=state, **options)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_paper_recipe_with_both_regularizers_prunes_as_usual(arch):
    from modcore.nn import layer_sparsity, paper_recipe, weight_layers

    flat = arch == "mlp"
    ds = load_dataset("line", n_train=64, n_test=16, seed=0, flatten=flat)
    if flat:
        model = MLP([784, 16, 10], seed=0)
    else:
        model = CNN((1, 28, 28), n_classes=10, channels=(3, 4, 4), dense=(8,), seed=0)
    history = paper_recipe(
        model,
        ds,
        epochs=1,
        prune_epochs=1,
        batch_size=16,
        seed=0,
        progress=False,
        spectral=Spectral(strength=1e-3, n_eigenvalues=2, every=2),
        partition=Partition(strength=0.1, n_clusters=3, refresh_every=2),
    )
    # The regularizers read the masked weights while pruning and leave the schedule alone.
    assert np.isfinite(history.loss).all()
    sizes = [layer.weight.numel() for layer in weight_layers(model)]
    assert layer_sparsity(model) == pytest.approx([round(0.9 * n) / n for n in sizes], abs=1e-7)


def test_spectral_training_resumes_bitwise(tmp_path):
    # 40 + 10 units on the smaller side: Lanczos, which the warm start feeds.
    whole, resumed, warm = whole_and_resumed(
        lambda: MLP([784, 40, 40, 10], seed=0), tmp_path, lr=1e-2
    )
    # The solver's start is kept with the state (on this float32 net a cold start gives
    # the same bits too: the eigenvectors' differences fall below float32).
    assert warm.shape == (784 + 40 + 40 + 10, 3) and warm.dtype == torch.float64
    for a, b in zip(whole.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_train_refuses_settings_of_the_wrong_kind():
    ds = load_dataset("line", n_train=32, n_test=8, seed=0)
    with pytest.raises(TypeError, match=r"spectral must be a modcore\.nn\.regularizers\.Spectral"):
        train(MLP([784, 4, 10]), ds, epochs=1, spectral={"strength": 1.0})
