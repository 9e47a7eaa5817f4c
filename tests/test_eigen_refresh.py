"""The spectral regularizer's refresh between steps (modcore.nn.eigen_refresh): the block
operator and the folded one against a dense normalized adjacency built here, refreshed
eigenpairs against numpy's dense eigendecomposition and the full solve, gradients
through the refresh against finite differences, and when the full solve is taken
instead."""

import numpy as np
import pytest
from scipy.sparse.linalg import eigsh

torch = pytest.importorskip("torch")

from modcore.nn import MLP, clusterable_init
from modcore.nn.eigen_refresh import BlockOperator, FoldedOperator, Folding, refresh
from modcore.nn.laplacian import _Solver
from modcore.nn.regularizers import SpectralRegularizer, laplacian_eigenvalues
from spectral_resume import whole_and_resumed

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _dense_n(sizes, pairs, blocks):
    """Oracle: D^-1/2 A D^-1/2 as a dense matrix, units without edges left as zero rows."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    a = np.zeros((offsets[-1], offsets[-1]))
    for (src, dst), b in zip(pairs, blocks):
        a[offsets[src] : offsets[src + 1], offsets[dst] : offsets[dst + 1]] += b
        a[offsets[dst] : offsets[dst + 1], offsets[src] : offsets[src + 1]] += b.T
    d = a.sum(1)
    s = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    return s[:, None] * a * s[None, :]


def _planted(sizes, modules, rng, strength=20.0):
    """Blocks of a chain whose units fall into ``modules`` groups, edges inside a module
    ``strength`` times heavier: well separated top eigenvalues."""
    labels = [rng.integers(0, modules, n) for n in sizes]
    blocks = []
    for i in range(len(sizes) - 1):
        b = rng.random((sizes[i], sizes[i + 1]))
        b[labels[i][:, None] == labels[i + 1][None, :]] *= strength
        blocks.append(b)
    return [(i, i + 1) for i in range(len(sizes) - 1)], blocks


def test_block_operator_is_the_normalized_adjacency():
    rng = np.random.default_rng(0)
    sizes = [7, 5, 4]
    pairs, blocks = _planted(sizes, 2, rng)
    blocks[0][3] = 0  # unit 3 of group 0 has no edges: a zero row
    op = BlockOperator(sizes, pairs, blocks)
    x = rng.standard_normal((16, 3))
    np.testing.assert_allclose(op(x), _dense_n(sizes, pairs, blocks) @ x, atol=1e-12)
    assert not op.live[3] and op.live.sum() == 15
    # float32 blocks: the products in float32, the result float64, to float32's rounding
    op32 = BlockOperator(sizes, pairs, [b.astype(np.float32) for b in blocks])
    assert op32(x).dtype == np.float64
    np.testing.assert_allclose(op32(x), op(x), atol=1e-5)


def test_folded_operator_is_c_transpose_c_on_the_smaller_colour():
    rng = np.random.default_rng(4)
    sizes = [7, 5, 4, 3]  # colours {0, 2}: 11 units, {1, 3}: 8, the kept one
    pairs, blocks = _planted(sizes, 2, rng)
    blocks[1][:, 2] = 0  # unit 2 of group 2 has no edges
    folding = Folding.of(sizes, pairs)
    kept = np.r_[np.arange(7, 12), np.arange(16, 19)]
    other = np.r_[np.arange(0, 7), np.arange(12, 16)]
    np.testing.assert_array_equal(folding.rows, kept)
    np.testing.assert_array_equal(folding.other, other)
    n = _dense_n(sizes, pairs, blocks)
    c = n[np.ix_(other, kept)]  # N = [[0, C], [Cᵀ, 0]] in this order of the units
    assert np.abs(n[np.ix_(kept, kept)]).max() == 0 and np.abs(n[np.ix_(other, other)]).max() == 0
    op = FoldedOperator(BlockOperator(sizes, pairs, blocks), folding)
    v = rng.standard_normal((8, 3))
    image = op(v)
    np.testing.assert_allclose(image[:8], c.T @ c @ v, atol=1e-12)
    np.testing.assert_allclose(image[8:], c @ v, atol=1e-12)  # C v, carried along
    # groups joined in a triangle do not 2-colour
    assert Folding.of([3, 3, 3], [(0, 1), (1, 2), (0, 2)]) is None


def _operator(kind, sizes, pairs, blocks):
    op = BlockOperator(sizes, pairs, blocks)
    return op if kind == "adjacency" else FoldedOperator(op, Folding.of(sizes, pairs))


@pytest.mark.parametrize("kind", ["adjacency", "folded"])
def test_refresh_from_a_nearby_graph_reaches_the_dense_eigenpairs(kind):
    rng = np.random.default_rng(1)
    sizes = [60, 40, 30]
    pairs, blocks = _planted(sizes, 4, rng)
    n = _dense_n(sizes, pairs, blocks)
    values, vectors = np.linalg.eigh(n)
    # The start: the top eigenvectors below the trivial one, of the graph before a step.
    step = 0.05 * rng.random((sum(sizes), sum(sizes)))

    def before(steps):  # the graph ``steps`` steps back, on a straight path
        return [b * (1 + steps * step[: b.shape[0], : b.shape[1]]) for b in blocks]

    start = np.linalg.eigh(_dense_n(sizes, pairs, before(1)))[1][:, ::-1][:, 1:7]
    op = _operator(kind, sizes, pairs, blocks)
    out = refresh(op, start, 3, tol=1e-9, max_iter=50)
    assert out is not None
    got, x, residuals, iterations = out
    assert residuals[:3].max() <= 1e-9 and iterations > 0
    np.testing.assert_allclose(got[:3], values[::-1][1:4], atol=1e-12)
    np.testing.assert_allclose(x.T @ x, np.eye(6), atol=1e-12)
    # The residuals are those of N, the vectors of all units.
    np.testing.assert_allclose(residuals, np.linalg.norm(n @ x - x * got, axis=0), atol=1e-12)
    # The vectors span the same space as the dense eigenvectors (signs aside).
    top = vectors[:, ::-1][:, 1:4]
    np.testing.assert_allclose(np.abs(top.T @ x[:, :3]), np.eye(3), atol=1e-8)
    # Too few iterations: None, for the caller's full solve.
    assert refresh(op, start, 3, tol=1e-14, max_iter=1) is None
    # The vectors of the step before that: the motion extrapolated, fewer iterations.
    previous = np.linalg.eigh(_dense_n(sizes, pairs, before(2)))[1][:, ::-1][:, 1:4]
    faster = refresh(op, start, 3, tol=1e-9, max_iter=50, previous=previous)
    assert faster is not None and faster[3] < iterations
    np.testing.assert_allclose(faster[0][:3], values[::-1][1:4], atol=1e-12)
    # No motion: what is left after projecting is noise, dropped (same steps, same pairs).
    still = refresh(op, start, 3, tol=1e-9, max_iter=50, previous=start[:, :3])
    assert still is not None and still[3] == iterations
    np.testing.assert_allclose(still[0], got, atol=1e-12)


@pytest.mark.parametrize("kind", ["adjacency", "folded"])
def test_refresh_runs_numpys_blas_on_one_thread(kind):
    # numpy's BLAS keeps a pool of every core whatever torch.set_num_threads says: on a
    # loaded machine the refresh's small products took 15-60 ms each instead of 0.5 ms.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(2)
    sizes = [50, 30, 20]
    pairs, blocks = _planted(sizes, 4, rng)
    values = np.linalg.eigh(_dense_n(sizes, pairs, blocks))[0][::-1][1:4]
    nearby = [b * (1 + 0.05 * rng.random(b.shape)) for b in blocks]
    start = np.linalg.eigh(_dense_n(sizes, pairs, nearby))[1][:, ::-1][:, 1:7]
    op = _operator(kind, sizes, pairs, blocks)
    seen = []

    def watched(x):
        seen.append(
            {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}
        )
        return op(x)

    for attribute in ("deflate", "restrict", "residual_norms", "extend"):
        setattr(watched, attribute, getattr(op, attribute))
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        out = refresh(watched, start, 3, tol=1e-9, max_iter=50)
        after = {
            p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"
        }
    assert out is not None and out[3] > 0 and len(seen) == out[3] + 1
    assert all(threads == {1} for threads in seen) and after == {2}  # restored after
    np.testing.assert_allclose(out[0][:3], values, atol=1e-12)


def _planted_mlp(widths):
    model = MLP(widths, seed=0).double()
    clusterable_init(model, 4, seed=0)
    return model


def test_refresh_without_threadpoolctl_runs_as_it_is(monkeypatch):
    import sys

    from modcore.nn import eigen_refresh

    rng = np.random.default_rng(3)
    sizes = [40, 30, 20]
    pairs, blocks = _planted(sizes, 4, rng)
    start = np.linalg.eigh(_dense_n(sizes, pairs, blocks))[1][:, ::-1][:, 1:7]
    start = start + 1e-3 * rng.standard_normal(start.shape)
    op = _operator("adjacency", sizes, pairs, blocks)
    limited = refresh(op, start, 3, tol=1e-9, max_iter=50)
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    eigen_refresh._blas_pools.cache_clear()
    try:
        assert eigen_refresh._blas_pools() is None
        plain = refresh(op, start, 3, tol=1e-9, max_iter=50)
    finally:
        eigen_refresh._blas_pools.cache_clear()
    assert limited is not None and plain is not None
    np.testing.assert_allclose(plain[0], limited[0], atol=1e-12)


def test_regularizer_refreshes_and_agrees_with_full_solves():
    # 1094 units (refreshed) with planted modules (separated eigenvalues).
    model = _planted_mlp([784, 200, 100, 10])
    reg = SpectralRegularizer(model, n_eigenvalues=3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(6):
        got = reg.eigenvalues().detach()
        blocks = [(p, b.detach()) for p, b in reg.graph.blocks()]
        exact = laplacian_eigenvalues(reg.sizes, blocks, 3, tol=1e-12)
        # residual at most refresh_tol = 1e-4: within tol, and far closer past a gap
        torch.testing.assert_close(got, exact, atol=1e-6, rtol=0)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 0.02 * torch.rand(p.shape, generator=generator, dtype=p.dtype))
    assert reg._solver.full == 1 and reg._solver.refreshed == 5
    # the 3 + 1 + 3 last vectors, then the 3 smallest's of the solve before
    assert reg.warm_start.shape == (784 + 200 + 100 + 10, 3 + 1 + 3 + 3)


def test_gradient_through_the_refresh_is_the_finite_difference():
    model = _planted_mlp([784, 200, 100, 10])
    reg = SpectralRegularizer(model, n_eigenvalues=3, refresh_tol=1e-10)
    reg.eigenvalues()  # the first solve is full; the next ones are refreshed
    model.zero_grad()
    reg().backward()
    assert reg._solver.refreshed == 1
    rng = np.random.default_rng(3)
    h = 1e-6
    for name in ("0.weight", "2.weight", "4.weight"):
        w = model.get_parameter(name)
        for _ in range(4):
            idx = tuple(int(rng.integers(0, s)) for s in w.shape)
            with torch.no_grad():
                w[idx] += h
                up = reg().item()
                w[idx] -= 2 * h
                down = reg().item()
                w[idx] += h
            assert w.grad[idx].item() == pytest.approx((up - down) / (2 * h), abs=1e-7, rel=1e-4)
    assert reg._solver.full == 1  # every finite difference was refreshed too


def test_pruned_graphs_are_refreshed_in_one_piece_and_solved_in_full_in_two():
    model = _planted_mlp([784, 200, 100, 10])
    with torch.no_grad():
        model[2].weight[model[2].weight.abs() < 0.02] = 0.0  # pruned, still in one piece
    reg = SpectralRegularizer(model, n_eigenvalues=3)
    reg.eigenvalues()
    got = reg.eigenvalues().detach()
    assert reg._solver.full == 1 and reg._solver.refreshed == 1
    exact = laplacian_eigenvalues(
        reg.sizes, [(p, b.detach()) for p, b in reg.graph.blocks()], 3, tol=1e-12
    )
    torch.testing.assert_close(got, exact, atol=1e-6, rtol=0)
    with torch.no_grad():  # output unit 9 now joins only hidden unit 0, alone with it
        model[4].weight[9] = 0.0
        model[4].weight[9, 0] = 1.0
        model[4].weight[:, 0] = 0.0
        model[4].weight[9, 0] = 1.0
        model[2].weight[0] = 0.0
    reg.eigenvalues()
    assert reg._solver.full == 2 and reg._solver.refreshed == 1


def test_small_graphs_are_solved_in_full():
    small = SpectralRegularizer(_planted_mlp([100, 50, 10]), n_eigenvalues=3)
    small.eigenvalues()
    small.eigenvalues()
    assert small._solver.full == 2 and small._solver.refreshed == 0
    never = SpectralRegularizer(_planted_mlp([784, 200, 100, 10]), refresh_tol=None)
    never.eigenvalues()
    never.eigenvalues()
    assert never._solver.full == 2


def test_a_graph_that_is_not_bipartite_is_refreshed_on_n_itself():
    rng = np.random.default_rng(5)
    sizes = [500, 400, 300]
    pairs = [(0, 1), (1, 2), (0, 2)]  # a triangle of groups: no folding
    labels = [rng.integers(0, 4, n) for n in sizes]  # planted modules: a spectral gap
    blocks = [
        rng.random((sizes[a], sizes[b])) * (1 + 19 * (labels[a][:, None] == labels[b][None, :]))
        for a, b in pairs
    ]
    solver = _Solver(sizes, pairs, 3, 1e-10, "auto")
    assert solver._folding is None
    for _ in range(3):
        tensors = [(p, torch.from_numpy(b)) for p, b in zip(pairs, blocks)]
        got = laplacian_eigenvalues(sizes, tensors, 3, solver=solver).numpy()
        top = eigsh(_dense_n(sizes, pairs, blocks), k=4, which="LA", tol=1e-12)[0]
        np.testing.assert_allclose(got, 1 - np.sort(top)[::-1][1:4], atol=1e-6)
        blocks = [b * (1 + 0.02 * rng.random(b.shape)) for b in blocks]
    assert solver.full == 1 and solver.refreshed == 2


def test_an_unclear_cut_is_iterated_on_before_a_full_solve(monkeypatch):
    import modcore.nn.laplacian as laplacian

    wanted = []

    def recording(op, start, k, **kw):
        wanted.append(k)
        return refresh(op, start, k, **kw)

    monkeypatch.setattr(laplacian, "refresh", recording)
    # The paper's MLP at init, 20 Adam steps on: the 4th eigenvalue sits at the edge
    # of the random spectrum's bulk, a few thousandths above the 3rd, and its first
    # Ritz value is not clear of the 3rd by its residual.
    model = MLP(seed=0)
    reg = SpectralRegularizer(model, n_eigenvalues=3)
    reg.eigenvalues()
    generator = torch.Generator().manual_seed(0)
    x, y = (
        torch.rand(128, 784, generator=generator),
        torch.randint(0, 10, (128,), generator=generator),
    )
    optimizer = torch.optim.Adam(model.parameters())
    for _ in range(20):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    got = reg.eigenvalues().detach().double()
    assert wanted == [3, 4]  # the 4th wanted too, then clear: no full solve
    assert reg._solver.full == 1 and reg._solver.refreshed == 1
    blocks = [(p, b.detach().double()) for p, b in reg.graph.blocks()]
    exact = laplacian_eigenvalues(reg.sizes, blocks, 3, tol=1e-12)
    torch.testing.assert_close(got, exact, atol=1e-6, rtol=0)


def test_refreshed_training_resumes_bitwise(tmp_path, monkeypatch):
    import modcore.nn.laplacian as laplacian

    refreshed = []

    def counting(*args, **kw):
        out = refresh(*args, **kw)
        refreshed.append(out is not None)
        return out

    monkeypatch.setattr(laplacian, "refresh", counting)

    def model():
        net = MLP([784, 200, 100, 10], seed=0)
        clusterable_init(net, 4, seed=0)
        return net

    whole, resumed, warm = whole_and_resumed(model, tmp_path, lr=1e-3)
    assert warm.shape == (784 + 200 + 100 + 10, 2 + 1 + 3 + 2)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert sum(refreshed) >= 10  # the steps were refreshed (4 a run: 1 full, then refreshes)
