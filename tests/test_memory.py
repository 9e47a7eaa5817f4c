"""Memory follows what is there, not what a shape or a label value could hold: run
under an address-space limit far below what a dense intermediate would need."""

import numpy as np

from processes import run_python


def test_layer_null_of_a_sparse_20000_square_layer_fits_in_little_memory():
    # The old "layer" shuffle permuted all 4e8 positions: 3.2 GB per shuffle and
    # thread (benchmarks/layer_shuffle_memory.py). Under 1.5 GB of address space
    # that is a MemoryError; sampling 2,000 positions is not.
    proc = run_python(
        """
        import numpy as np, modcore
        n, nnz = 20_000, 2_000
        rng = np.random.default_rng(0)
        flat = rng.choice(n * n, size=nnz, replace=False)
        net = modcore.Network([("in", n), ("out", n)],
                              [("in", "out", (flat // n, flat % n, rng.normal(size=nnz)))])
        sig = modcore.ncut_significance(net, n_clusters=12, n_shuffles=2, seed=0, n_jobs=2,
                                        progress=False)
        shuffled = modcore.shuffled_network(net, shuffle="layer", seed=0, index=1).blocks[0]
        assert shuffled.nnz == nnz and np.unique(shuffled.positions).size == nnz
        print("ok", sig.n_shuffles)
    """,
        address_space_gb=1.5,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ok 2"), proc.stderr


def test_ncut_label_ids_do_not_size_an_allocation():
    # Labels {0, 10**9}: sized by the largest id, the module table took 16 GB.
    proc = run_python(
        """
        import numpy as np, modcore
        w = [np.kron(np.eye(2), np.ones((3, 3)))]
        labels = [np.repeat([0, 10**9], 3), np.repeat([0, 10**9], 3)]
        print(modcore.ncut(w, labels))
    """,
        address_space_gb=1.5,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "0.0", proc.stderr


def test_rescaling_a_huge_declared_layer_with_few_edges_fits_in_little_memory():
    # normalize='rescale' kept a factor, a norm and a sum per declared unit: 3 GB for
    # the 2**27 units of the middle layer around 8 edges (1.5 GB peak at 2**26). It keeps
    # them per unit with an edge, as the graph build does.
    proc = run_python(
        """
        import numpy as np
        from modcore import _core
        big = 2**27
        sizes = np.array([4, big, 4])
        rows, cols = np.arange(4), np.array([5, 7, 100, big - 1])
        into = (0, 1, 4, big, False, None, rows * big + cols, np.ones(4))
        out = (1, 2, big, 4, False, None, cols * 4 + rows, np.full(4, 2.0))
        for normalize in ("none", "rescale"):
            g = _core.graph(sizes, [into, out], "isolated", normalize)
            print(*sorted(g["degree"]))
        # VmHWM is this program's own peak: ru_maxrss would carry the parent's (pytest's)
        # peak across the fork and exec.
        status = open("/proc/self/status").read().split("VmHWM:")[1]
        print(int(status.split()[0]) // 1024)
    """,
        address_space_gb=1.5,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    none, rescale, peak_mb = proc.stdout.splitlines()
    # Degrees over the largest weight. Rescaled, a hidden unit's one incoming weight 1
    # becomes 1 / s and its outgoing 2 becomes 2 s, with s = 1 + 1e-5 (its norm + eps).
    s = 1 + 1e-5
    in_, out_ = 1 / s / (2 * s), 1.0
    np.testing.assert_allclose([float(v) for v in none.split()], [0.5] * 4 + [1] * 4 + [1.5] * 4)
    np.testing.assert_allclose(
        [float(v) for v in rescale.split()], [in_] * 4 + [out_] * 4 + [in_ + out_] * 4, rtol=1e-12
    )
    assert int(peak_mb) < 300, peak_mb


def test_a_sparse_virtual_view_fits_in_memory_far_below_its_dense_products():
    # 20,000 tokens to 20,000 logits: the token -> logit products are 4e8 entries (1.6 GB in
    # float32). Built a chunk of rows at a time and cut to top_k, they fit under 1.5 GB of
    # address space; each row's kept logits are its largest, by numpy in float64.
    proc = run_python(
        """
        import numpy as np
        from modcore.network.transformer import virtual_network
        from modcore.network.transformer.stream import Transformer, Units
        rng = np.random.default_rng(0)
        vocab, d = 20_000, 16
        w_e, w_u = rng.normal(size=(vocab, d)), rng.normal(size=(d, vocab))
        model = Transformer("test", d, (Units("tokens", write=w_e), Units("logits", read=w_u)), ())
        block = virtual_network(model, top_k=2).blocks[0]
        rows, cols, values = block.coo()
        assert np.array_equal(np.bincount(rows, minlength=vocab), np.full(vocab, 2))
        for i in range(0, vocab, 997):
            e = np.abs(w_e[i] @ w_u)
            assert set(cols[rows == i]) == set(np.argsort(e)[-2:])
            np.testing.assert_allclose(np.sort(values[rows == i]), np.sort(e)[-2:], rtol=1e-5)
        print("ok", block.nnz)
    """,
        address_space_gb=1.5,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("ok 40000"), proc.stderr
