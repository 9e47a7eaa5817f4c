"""Shuffle nulls and sweeps on a real Dask cluster: LocalCluster, 2 worker processes.

The worker processes import modcore themselves, so they run the installed
(editable) package: the same C++ as this process.
"""

import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

distributed = pytest.importorskip("dask.distributed")

import modcore
from modcore.method.distributed import (
    MAX_CHUNK,
    check_client,
    shuffle_chunks,
    shuffled_scores_on_cluster,
)
from modcore.method.settings import ClusterSettings
from modcore.network.network import Network
from modcore.network.synthetic import random_pruned_mlp
from processes import interruptible
from solver_cases import IDS, REACH

K = 4
N = 40


@contextlib.contextmanager
def local_cluster():
    """2 worker processes of 1 thread; closed with timeouts so a test cannot hang on it."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    try:
        client = distributed.Client(cluster, timeout="60s")
        try:
            client.wait_for_workers(2, timeout=60)
            yield cluster, client
        finally:
            client.close(timeout=10)
    finally:
        cluster.close(timeout=20)


@pytest.fixture(scope="module")
def client():
    with local_cluster() as (_, client):
        yield client


@pytest.fixture(scope="module")
def net():
    return random_pruned_mlp((60, 50, 40, 10), sparsity=0.7, seed=0)


def local(net, **kw):
    return modcore.ncut_significance(net, n_clusters=K, progress=False, **kw)


def null(client, net, shuffle="layer", n=N, seed=3, **kw):
    return shuffled_scores_on_cluster(
        client, Network.from_weights(net), shuffle, n, ClusterSettings(n_clusters=K), seed, **kw
    ).ncut[:, 0]


def test_chunks_cover_every_index_once():
    for n, threads, size in [(1, 2, None), (40, 2, None), (10_000, 2, None), (7, 1, 3)]:
        chunks = shuffle_chunks(n, threads, size)
        indices = np.concatenate([np.arange(f, f + c) for f, c in chunks])
        np.testing.assert_array_equal(indices, np.arange(n))
        assert max(c for _, c in chunks) <= (size or MAX_CHUNK)
    assert len(shuffle_chunks(40, 2)) == 8  # 4 per worker thread


@pytest.mark.parametrize("shuffle", ["layer", "layer_nonzero_distribution"])
def test_cluster_result_identical_to_local(client, net, shuffle):
    here = local(net, n_shuffles=N, shuffle=shuffle, seed=3)
    there = local(net, n_shuffles=N, shuffle=shuffle, seed=3, client=client)
    np.testing.assert_array_equal(there.shuffled_ncuts, here.shuffled_ncuts)
    assert there.to_dict() == here.to_dict()


@pytest.mark.parametrize("chunk_size", [1, 7, N])
def test_any_chunking_gives_the_same_null(client, net, chunk_size):
    expected = local(net, n_shuffles=N, seed=3).shuffled_ncuts
    np.testing.assert_array_equal(null(client, net, chunk_size=chunk_size), expected)
    np.testing.assert_array_equal(null(client, net, chunk_size=chunk_size, n_jobs=2), expected)


def scheduler_modcore_tasks(dask_scheduler):
    return [k for k in dask_scheduler.tasks if str(k).startswith("modcore-")]


def known_keys(keys):
    def known(dask_scheduler):
        return [k for k in keys if k in dask_scheduler.tasks]

    return known


def test_network_is_scattered_once_to_every_worker(client, net, monkeypatch):
    scatters, submits = [], []
    scatter, submit = client.scatter, client.submit

    def spy_scatter(data, *args, **kwargs):
        futures = scatter(data, *args, **kwargs)
        scatters.append((data, kwargs, futures, client.who_has(futures)))
        return futures

    def spy_submit(func, *args, **kwargs):
        submits.append((args, kwargs))
        return submit(func, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", spy_scatter)
    monkeypatch.setattr(client, "submit", spy_submit)
    local(net, n_shuffles=N, seed=3, client=client)

    assert len(scatters) == 1
    data, kwargs, futures, holders = scatters[0]
    assert kwargs.get("broadcast") is True
    assert isinstance(data, Network)
    assert all(np.array_equal(a, b) for a, b in zip(data.chain_weights(), net))
    # One task per chunk, each referring to the scattered network, none carrying an array.
    assert len(submits) == len(shuffle_chunks(N, 2)) > 1

    def arrays_in(obj):
        if isinstance(obj, np.ndarray):
            return 1
        if isinstance(obj, (list, tuple)):
            return sum(arrays_in(x) for x in obj)
        if isinstance(obj, dict):
            return sum(arrays_in(x) for x in obj.values())
        return 0

    for args, kwargs in submits:
        assert arrays_in(args) + arrays_in(kwargs) == 0
        assert args[0] is futures
    # broadcast: the network went to both workers, before any task.
    assert len(holders) == 1
    assert all(len(workers) == 2 for workers in holders.values())
    # Afterwards the cluster holds nothing of this run: no network, no tasks.
    assert client.run_on_scheduler(known_keys([futures.key])) == []
    assert client.run_on_scheduler(scheduler_modcore_tasks) == []


def test_interrupt_cancels_pending_chunks(client, net):
    seen = []

    def interrupt(done, total):
        seen.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        null(client, net, n=400, chunk_size=2, progress=interrupt)
    assert seen == [2]
    deadline = time.monotonic() + 30
    while client.run_on_scheduler(scheduler_modcore_tasks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.run_on_scheduler(scheduler_modcore_tasks) == []
    # The cluster is still fine afterwards.
    np.testing.assert_array_equal(
        null(client, net, n=4), local(net, n_shuffles=4, seed=3).shuffled_ncuts
    )


def test_real_ctrl_c_cancels_the_cluster_work():
    """SIGINT in the middle of a long null: KeyboardInterrupt, and the scheduler drops its tasks."""
    script = textwrap.dedent("""
        import logging, sys, time, modcore
        from dask.distributed import Client, LocalCluster
        from modcore.network.synthetic import random_pruned_mlp

        def tasks(dask_scheduler):
            return sum(str(k).startswith("modcore-") for k in dask_scheduler.tasks)

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.CRITICAL)
        client = Client(cluster)
        try:
            w = random_pruned_mlp((60, 50, 40, 10), sparsity=0.7, seed=0)
            try:
                modcore.ncut_significance(
                    w, n_clusters=4, n_shuffles=100_000, seed=0, client=client,
                    progress=lambda done, total: print("progress", flush=True))
                print("finished", flush=True)
            except KeyboardInterrupt:
                deadline = time.monotonic() + 20
                while client.run_on_scheduler(tasks) and time.monotonic() < deadline:
                    time.sleep(0.05)
                print("interrupted", client.run_on_scheduler(tasks), flush=True)
                sys.exit(130)
        finally:
            client.close(timeout=10)
            cluster.close(timeout=20)
    """)
    proc = interruptible([sys.executable, "-c", script], text=True)
    try:
        first = proc.stdout.readline()
        assert first == "progress\n", proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted 0" in out


def modcore_task_states(dask_scheduler):
    return {k: ts.state for k, ts in dask_scheduler.tasks.items() if str(k).startswith("modcore-")}


def test_a_chunk_cancelled_elsewhere_is_an_error_not_a_hole(client, net):
    cancelled = []

    def cancel_a_pending_chunk(done, total):
        if cancelled:
            return
        states = client.run_on_scheduler(modcore_task_states)
        pending = sorted(
            (k for k, state in states.items() if state != "memory"),
            key=lambda k: int(k.rsplit("-", 1)[1]),
        )
        assert pending, states  # 200 chunks: the first result comes long before the last
        cancelled.append(pending[-1])
        client.cancel([distributed.Future(pending[-1], client)])

    with pytest.raises(concurrent.futures.CancelledError):
        null(client, net, n=400, chunk_size=2, progress=cancel_a_pending_chunk)
    assert cancelled


def test_task_errors_reach_the_caller(client, net):
    with pytest.raises(ValueError, match="shuffle"):
        null(client, net, shuffle="no_such_shuffle", n=4)


def test_client_must_be_a_client():
    with pytest.raises(TypeError, match=r"Client\('tcp://host:8786'\)"):
        check_client("tcp://host:8786")
    with pytest.raises(TypeError, match=r"dask\.distributed\.Client"):
        modcore.ncut_significance([np.ones((3, 3))], n_clusters=2, n_shuffles=3, client=object())


def story_of(keys):
    def story(dask_scheduler):
        return [(s[0], s[1], s[2]) for s in dask_scheduler.story(*keys)]

    return story


def test_killed_worker_loses_and_duplicates_no_shuffle(net):
    n, size = 120, 3
    expected = local(net, n_shuffles=n, seed=3).shuffled_ncuts
    with local_cluster() as (_, client):
        state = {"events": []}

        def kill_one_worker(done, total):
            state["events"].append(done)
            if "victim" in state:
                return
            # Wait for a worker to hold a chunk (with 39 of 40 chunks left, one soon does).
            busy, deadline = {}, time.monotonic() + 60
            while not busy and time.monotonic() < deadline:
                busy = {w: keys for w, keys in client.processing().items() if keys}
            assert busy, "no worker picked up a chunk"
            victim, keys = next(iter(busy.items()))
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            state.update(victim=victim, keys=keys, done=done)

        result = null(client, net, n=n, chunk_size=size, progress=kill_one_worker)
        history = client.run_on_scheduler(story_of(state["keys"]))

    np.testing.assert_array_equal(result, expected)
    assert "victim" in state and state["done"] < n  # killed while chunks were pending
    # Every chunk counted exactly once: progress went up one chunk at a time to n.
    assert state["events"] == list(range(size, n + 1, size))
    # The killed worker's chunk(s) ran again on another worker.
    rerun = [
        k
        for k in state["keys"]
        if sum(1 for key, _, end in history if key == k and end == "processing") >= 2
    ]
    assert rerun


@pytest.mark.parametrize("name, changed, baseline", REACH, ids=IDS)
def test_each_solver_setting_reaches_the_workers(client, net, name, changed, baseline):
    opts = dict(n_shuffles=6, seed=4)
    there = local(net, client=client, **opts, **changed).shuffled_ncuts
    np.testing.assert_array_equal(there, local(net, **opts, **changed).shuffled_ncuts)
    assert not np.array_equal(there, local(net, **opts, **baseline).shuffled_ncuts)


def test_the_drop_rule_reaches_the_workers(client):
    # Sparse enough that shuffles have components missing an end (tests/test_drop.py).
    sparse = random_pruned_mlp((24, 20, 16, 8), sparsity=0.9, seed=0)
    opts = dict(n_shuffles=6, seed=4, drop="unreachable")
    there = local(sparse, client=client, **opts)
    assert there.to_dict() == local(sparse, **opts).to_dict()
    plain = local(sparse, n_shuffles=6, seed=4)
    assert (there.shuffled_n_dropped > plain.shuffled_n_dropped).any()


def test_scheduler_option_of_the_command(client, net, tmp_path):
    np.savez(tmp_path / "net.npz", *net)
    out = tmp_path / "res.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modcore",
            "analyze",
            str(tmp_path / "net.npz"),
            "--n-clusters",
            str(K),
            "--n-shuffles",
            "12",
            "--seed",
            "3",
            "--quiet",
            "--json",
            str(out),
            "--scheduler",
            client.scheduler.address,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    saved = json.loads(out.read_text())["nulls"]["layer"]
    assert saved["shuffled_ncuts"] == local(net, n_shuffles=12, seed=3).shuffled_ncuts.tolist()


def test_sweep_on_cluster_identical_to_local_and_resumable(client, tmp_path):
    pytest.importorskip("pandas")
    nets = {f"net{i}": random_pruned_mlp((30, 25, 20, 10), sparsity=0.6, seed=i) for i in range(3)}
    opts = dict(
        n_clusters=3, n_shuffles=12, seed=5, shuffle=["layer", "layer_nonzero"], progress=False
    )
    here = modcore.sweep(nets, **opts)
    there = modcore.sweep(nets, **opts, client=client, max_in_flight=2)
    columns = [c for c in here.columns if c != "seconds"]
    assert there[columns].equals(here[columns])
    rough = dict(max_iter=1, tol=0.5, eigen_method="full")  # reach the workers too
    there = modcore.sweep(nets, **opts, **rough, client=client, max_in_flight=2)
    assert there[columns].equals(modcore.sweep(nets, **opts, **rough)[columns])
    assert not there["shuffled_mean"].equals(here["shuffled_mean"])

    # Half on the cluster, the rest resumed locally from the same file: the same table.
    path = tmp_path / "results.csv"
    modcore.sweep({k: nets[k] for k in ["net0", "net1"]}, **opts, client=client, results_path=path)
    resumed = modcore.sweep(nets, **opts, results_path=path)
    assert resumed[columns].equals(here[columns])
    assert len(path.read_text().splitlines()) == 1 + 6


def test_sequential_stop_on_a_cluster_equals_the_local_run(client, net):
    here = local(net, n_shuffles=40, stop_after=3, seed=3)
    there = modcore.ncut_significance(
        net, n_clusters=K, n_shuffles=40, stop_after=3, seed=3, client=client, progress=False
    )
    assert here.n_shuffles < 40
    np.testing.assert_array_equal(there.shuffled_ncuts, here.shuffled_ncuts)
    np.testing.assert_array_equal(there.shuffled_modularity, here.shuffled_modularity)
    assert (there.p_value, there.n_shuffles) == (here.p_value, here.n_shuffles)
