"""Memory follows what is there, not what a shape or a label value could hold: run
under an address-space limit far below what a dense intermediate would need."""

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
