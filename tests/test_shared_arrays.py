"""Arrays another thread writes to while the C++ core reads them.

The core reads the caller's arrays in place, without the GIL, and more than once: the
graph build counts each unit's edges, then fills them in; a large null reads the network
again for every shuffle. A thread that writes to those arrays in between must get a
result or a RuntimeError saying what happened, never a write outside what the first read
sized (which is what tests/run_sanitizers.sh would catch) or a crash. Each stress runs in
a child process, so a crash fails the test instead of taking the runner down.
"""

import pytest

from processes import run_python

# Three states of one dense block, each with its own pattern of zeros, written into the
# array over and over by a second thread (numpy releases the GIL for the copies) while
# the main thread runs `CALL` on it. Prints the number of results and of errors.
STRESS = """
import threading
import numpy as np
from modcore import _core

rng = np.random.default_rng(0)
first = rng.normal(size=(300, 200)) * (rng.random((300, 200)) < 0.3)
states = [first, np.roll(first, 7, axis=1), np.where(rng.random(first.shape) < 0.5, first, 0)]
live = states[0].copy()
last = np.abs(rng.normal(size=(200, 12)))
sizes = np.array([300, 200, 12])
blocks = [(0, 1, 300, 200, False, live, None, None), (1, 2, 200, 12, False, last, None, None)]
stop = threading.Event()

def write():
    i = 0
    while not stop.is_set():
        np.copyto(live, states[i % 3])
        i += 1

writer = threading.Thread(target=write)
writer.start()
results = errors = 0
try:
    for _ in range(ROUNDS):
        try:
            out = CALL
        except RuntimeError as e:
            assert "changed while" in str(e), e
            errors += 1
            continue
        CHECK
        results += 1
finally:
    stop.set()
    writer.join()
print(results, errors)
"""

# The graph: every unit it keeps has edges, of finite weight.
GRAPH = (
    "_core.graph(sizes, blocks)",
    """assert len(out['degree']) <= 512 and out['n_edges'] > 0
        assert (out['degree'] > 0).all() and np.isfinite(out['degree']).all()""",
)
# A null of 'layer_nonzero' shuffles (which puts shuffled values at the positions it
# reads), with the large-graph code (the arrays read again for every shuffle) or the
# small-graph code (read once, into a copy).
NULL = (
    "_core.shuffled_scores(sizes, blocks, 'layer_nonzero', 0, 3, [4], 10, 100, 1e-4, 'auto', "
    "'inertia', True, 'cluster_qr', 0, 1, large_graph=LARGE)",
    """assert ((out[0] >= 0) & (out[0] <= 4)).all()""",
)


@pytest.mark.parametrize(
    "call, large, rounds",
    [(GRAPH, None, 300), (NULL, 0, 40), (NULL, 2**62, 40)],
    ids=["graph", "null, large-graph code", "null, small-graph code"],
)
def test_a_concurrent_writer_gets_a_result_or_a_clear_error(call, large, rounds):
    expr, check = call
    script = (
        STRESS.replace("ROUNDS", str(rounds))
        .replace("CALL", expr)
        .replace("CHECK", check)
        .replace("LARGE", str(large))
    )
    proc = run_python(script, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results, errors = map(int, proc.stdout.split())
    assert results + errors == rounds
