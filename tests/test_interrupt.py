"""Ctrl-C inside each long C++ loop: the call ends with KeyboardInterrupt within a
second or two, however long the work would have run (minutes here). Each script
prints a line once the C++ call runs; SIGINT follows once the child has spent a
second of CPU time after it, so it lands inside the call whatever the load, and the
script reports whether the C++ call itself handled it (processes.WATCH_CORE)."""

import pytest

import modcore
from modcore.network.synthetic import random_pruned_mlp
from processes import interrupt, run_python

# Ends the script with code 130 and a line on stdout when KeyboardInterrupt arrives.
CALL = """
import sys
try:
    {call}
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
print("finished", flush=True)
"""


def assert_interrupted(setup, call, core_function):
    """SIGINT a second of CPU time into ``_core.<core_function>``; the C++ call itself
    must have seen it (processes.WATCH_CORE)."""
    rc, out, err = interrupt(
        setup + CALL.format(call=call),
        ready="calling",
        in_core=core_function,
        busy_seconds=1.0,
        timeout=20,
    )
    assert rc == 130 and "interrupted" in out, (rc, out, err)
    assert f"SIGINT handled inside _core.{core_function}" in out, (out, err)


def test_kmeans_plus_plus_seeding_with_a_large_k():
    # 2000 two-unit components and one dense block: k = 2020 leaves 19 eigenvectors
    # to Lanczos (fast), then k-means++ seeds 2020 centres in 2020 dimensions over
    # 4200 points: about 10^11 operations before the first Lloyd step.
    assert_interrupted(
        """
import numpy as np, modcore
rng = np.random.default_rng(0)
w = np.zeros((2100, 2100))
w[np.arange(2000), np.arange(2000)] = rng.uniform(1, 2, 2000)
w[2000:, 2000:] = rng.uniform(1, 2, (100, 100))
""",
        "modcore.spectral_cluster([w], n_clusters=2020, n_init=1, seed=0, n_jobs=1, "
        'assign_labels="kmeans", refine=False)',
        "cluster",
    )


def test_graph_build_of_a_huge_dense_block():
    # 3.6e9 entries of a zero-filled (lazily mapped) float32 block: seconds of
    # reading before the graph exists. _core is called directly, as the
    # Python-side checks of so large an array would take longer still.
    allocate = "import numpy as np\nw = np.zeros((60000, 60000), np.float32)\n"
    if run_python(allocate + "print('ok')", timeout=60).stdout.strip() != "ok":
        pytest.skip("cannot map a 14 GB array here")
    assert_interrupted(
        allocate
        + """
from modcore import _core
w[0, 0] = 1.0
block = (0, 1, 60000, 60000, False, w, None, None)
""",
        "_core.graph(np.array([60000, 60000]), [block])",
        "graph",
    )


def test_dense_eigensolve_beyond_its_limit_is_refused_at_once():
    # Eigen's dense solver cannot poll a token: instead of minutes without Ctrl-C,
    # 3,000 units are refused before any work.
    w = random_pruned_mlp((1500, 1500), sparsity=0.99, seed=0)
    with pytest.raises(ValueError, match="too many for a dense eigendecomposition"):
        modcore.spectral_cluster(w, n_clusters=4, eigen_method="dense", seed=0)
