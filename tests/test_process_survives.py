"""Nothing a caller passes kills the interpreter: thread counts are capped at the
cores, every integer is range-checked before it reaches pybind11 (whose own
overflow error would print the weight arrays), and what cannot fit in memory
fails with a Python exception. Crash-prone cases run in a child process under
an address-space limit (``ulimit -v``)."""

import numpy as np
import pytest

import modcore
from modcore.network.synthetic import random_pruned_mlp
from processes import run_python


@pytest.fixture(scope="module")
def net():
    return random_pruned_mlp((40, 30, 20), sparsity=0.5, seed=0)


def test_a_million_threads_under_an_address_space_limit():
    # Each thread's stack is reserved address space: 10**6 (or a few thousand
    # under 8 GB) made libgomp print "Thread creation failed" and exit.
    proc = run_python(
        """
        import numpy as np, modcore
        from modcore import _core
        from modcore.network.network import Network
        from modcore.network.synthetic import random_pruned_mlp
        w = random_pruned_mlp((40, 30, 20), sparsity=0.5, seed=0)
        a = modcore.spectral_cluster(w, n_clusters=3, seed=0, n_jobs=10**6)
        b = modcore.ncut_significance(w, n_clusters=3, n_shuffles=8, seed=0, n_jobs=2000,
                                      progress=False)
        x = np.random.default_rng(0).normal(size=(200, 4))
        c = _core.kmeans(x, 3, 4, 100, 0, 10**6)   # the binding caps threads itself
        sizes, blocks = Network.from_weights(w).to_core()
        d = _core.shuffled_scores(sizes, blocks, "layer", 0, 4, [3], 2, 100, 1e-6, "auto",
                                  "ncut", True, "kmeans", 0, 10**6)
        print("ok", a.ncut, b.ncut, c["inertia"], d[0].shape)
    """,
        address_space_gb=4,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_clusters": 2**40}, "n_clusters"),
        ({"n_clusters": 2**64}, "n_clusters"),
        ({"n_init": 2**31}, "n_init"),
        ({"max_iter": 2**40}, "max_iter"),
        ({"n_shuffles": 10**12}, "n_shuffles"),
        ({"n_jobs": 2**64}, None),  # capped at the cores, not refused
        ({"seed": 2**64}, "seed"),
        ({"seed": -1}, "seed"),
    ],
)
def test_integers_are_range_checked_before_the_core(net, kwargs, match):
    call = {"n_clusters": 3, "n_shuffles": 2, "seed": 0, "progress": False, **kwargs}
    if match is None:
        assert modcore.ncut_significance(net, **call).n_shuffles == 2
        return
    with pytest.raises(ValueError, match=match) as info:
        modcore.ncut_significance(net, **call)
    assert "incompatible function arguments" not in str(info.value)


@pytest.mark.parametrize("index", [-1, 2**63, 2**64])
def test_shuffle_index_is_range_checked(net, index):
    with pytest.raises(ValueError, match="index"):
        modcore.shuffled_network(net, seed=0, index=index)


@pytest.mark.parametrize("sizes", [(2**40, 2), (2**30, 2**30 - 1), (2**28, 1)])
def test_group_sizes_beyond_the_limit_are_refused(sizes):
    # 2**31 - 1 declared units around one edge were an out-of-memory kill (21.7 GB): a
    # clustering holds a label for each unit, so they are refused before any work.
    groups = [("a", sizes[0]), ("b", sizes[1])]
    with pytest.raises(ValueError, match=r"at most 268435456 \(2\*\*28"):
        modcore.Network(groups, [("a", "b", ([0], [0], [1.0]))])


def test_units_without_edges_cost_only_their_labels():
    # 2**26 declared units around 8 edges: the labels (8 bytes a unit, 512 MiB) and
    # nothing else that grows with the units. The graph's former table of every unit
    # (16 bytes each) did not fit under this limit (std::bad_alloc).
    proc = run_python(
        """
        import numpy as np, modcore
        n = 2**25
        rng = np.random.default_rng(0)
        rows, cols = rng.integers(0, n, 8), rng.integers(0, n, 8)
        net = modcore.Network([("a", n), ("b", n)], [("a", "b", (rows, cols, np.ones(8)))])
        res = modcore.spectral_cluster(net, n_clusters=2, seed=0, n_jobs=1)
        counts = net.drop_counts()
        print("ok", sum(map(len, res.labels)), res.n_dropped, counts["n_isolated"])
    """,
        address_space_gb=1.0,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    ok, n_labels, n_dropped, n_isolated = proc.stdout.split()
    assert ok == "ok" and int(n_labels) == 2**26
    assert int(n_dropped) == int(n_isolated) >= 2**26 - 16


def test_lesion_counts_are_bounded(torch_one_thread):
    from modcore.nn import MLP
    from modcore.nn.lesion import lesion_study, random_lesions

    labels = [np.zeros(4, int), np.array([0, 0, 1, 1]), np.zeros(2, int)]
    with pytest.raises(ValueError, match="n must be <="):
        random_lesions(labels, layer=1, size=1, n=10**9, seed=0)
    import torch

    x, y = torch.rand(8, 4), torch.randint(0, 2, (8,))
    with pytest.raises(ValueError, match="random_lesions must be <="):
        lesion_study(
            MLP([4, 4, 2], seed=0), (x, y), clustering=labels, random_lesions=10**9, progress=False
        )
