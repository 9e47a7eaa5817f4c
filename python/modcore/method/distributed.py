"""Shuffle nulls on a Dask cluster (the ``client=`` of ncut_significance and sweep).

Shuffle ``s`` always draws from the random streams of ``(seed, s)``, so the null
can be cut into chunks of consecutive indices anywhere: each chunk is one C++
batch (:func:`modcore._core.shuffled_scores`) run as a Dask task, and the values
are put back by index. Which worker runs a chunk, how many threads it uses, and
whether Dask ran it twice because a worker died, change nothing in the result.

The network goes to the workers once (``client.scatter(...,
broadcast=True)``); every chunk task refers to them by key. This module imports
Dask only when called, so ``import modcore`` works without it.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING

import numpy as np

from .._core import shuffled_scores as core_shuffled_scores
from ..common.progress import Progress

if TYPE_CHECKING:
    from ..network.network import Network
    from .settings import ClusterSettings

__all__ = ["NetworkJob", "check_client", "shuffle_chunks", "shuffled_scores_on_cluster"]

# Upper bound on the shuffles of one task: on the reference net (~0.1 s per
# shuffle and thread) a chunk lasts seconds, which bounds the work a lost worker
# takes with it, the delay of Ctrl-C on running chunks and the progress steps.
MAX_CHUNK = 100
# Chunks per worker thread (when MAX_CHUNK does not bind): enough to balance the
# load between workers of different speed without much per-task overhead.
CHUNKS_PER_THREAD = 4


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "running on a Dask cluster needs dask.distributed: pip install 'modcore[dask]'"
        ) from exc
    return distributed


def check_client(client):
    """``client`` if it is a ``dask.distributed.Client``, else a TypeError."""
    distributed = _distributed()
    if not isinstance(client, distributed.Client):
        hint = ""
        if isinstance(client, str):
            hint = f"; connect first: dask.distributed.Client({client!r})"
        raise TypeError(
            f"client must be a dask.distributed.Client, got {type(client).__name__}{hint}"
        )
    return client


def shuffle_chunks(n_shuffles: int, n_threads: int, chunk_size: int | None = None) -> list:
    """Split the shuffle indices ``0 .. n_shuffles-1`` into ``(first, count)`` chunks.

    By default about ``CHUNKS_PER_THREAD`` chunks per worker thread, of at most
    ``MAX_CHUNK`` shuffles each.
    """
    if chunk_size is None:
        chunk_size = math.ceil(n_shuffles / (CHUNKS_PER_THREAD * max(n_threads, 1)))
        chunk_size = max(1, min(MAX_CHUNK, chunk_size))
    return [
        (first, min(chunk_size, n_shuffles - first)) for first in range(0, n_shuffles, chunk_size)
    ]


# --- tasks: run on the workers, found there by name (modcore is installed on them) ---


def run_chunk(
    network: Network,
    shuffle: str,
    first: int,
    count: int,
    settings: ClusterSettings,
    seed: int,
    n_jobs: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n-cuts, modularities, units dropped) of shuffles ``first .. first+count-1`` (one
    C++ batch)."""
    sizes, blocks = network.to_core()
    ncut, modularity, dropped = core_shuffled_scores(
        sizes,
        blocks,
        shuffle,
        first,
        count,
        [settings.n_clusters],
        *settings.core_args()[1:],
        seed,
        n_jobs,
        **settings.graph_args(),
    )
    return ncut[:, 0], modularity[:, 0], dropped


def run_clustering(network, settings, seed, n_jobs):
    """The network's own clustering (what ncut_significance computes locally)."""
    from .cluster import cluster_network

    return cluster_network(network, settings, seed, n_jobs)


class NetworkJob:
    """One network in flight on a cluster: the network, scattered once, and the
    futures of its shuffle nulls (one per shuffle method) and, optionally, of
    its own clustering.

    Feed every finished future of ``futures`` to :meth:`record`; when ``done``,
    ``ncuts[shuffle]``, ``modularity[shuffle]`` and ``dropped[shuffle]`` hold each null in
    shuffle-index order and ``clustering`` the network's clustering (if it was
    asked for). Call :meth:`cancel` when done or on error: it releases all of it
    on the cluster.
    """

    def __init__(
        self,
        client,
        network,
        shuffles,
        n_shuffles,
        settings,
        seed,
        n_jobs=1,
        chunk_size=None,
        cluster=False,
    ):
        self.client = client
        tag = uuid.uuid4().hex[:12]
        # hash=False: fresh keys. With content-hash keys, scattering a network again
        # right after an earlier call let its keys go can lose the new data to the
        # earlier release still on its way to the scheduler.
        self.network = client.scatter(network, broadcast=True, hash=False)
        self.ncuts = {s: np.full(n_shuffles, np.nan) for s in shuffles}
        self.modularity = {s: np.full(n_shuffles, np.nan) for s in shuffles}
        self.dropped = {s: np.full(n_shuffles, -1, dtype=np.int64) for s in shuffles}
        self.remaining = len(shuffles) * n_shuffles
        self.clustering = None
        self._cluster_pending = cluster
        # future key -> None (clustering) or (shuffle, first, count)
        self._parts: dict[str, tuple[str, int, int] | None] = {}
        self.futures = []
        chunks = shuffle_chunks(n_shuffles, sum(client.nthreads().values()), chunk_size)
        if cluster:
            future = client.submit(
                run_clustering, self.network, settings, seed, n_jobs, key=f"modcore-cluster-{tag}"
            )
            self._parts[future.key] = None
            self.futures.append(future)
        for shuffle in shuffles:
            for first, count in chunks:
                future = client.submit(
                    run_chunk,
                    self.network,
                    shuffle,
                    first,
                    count,
                    settings,
                    seed,
                    n_jobs,
                    key=f"modcore-shuffles-{tag}-{shuffle}-{first}",
                )
                self._parts[future.key] = (shuffle, first, count)
                self.futures.append(future)

    def record(self, future, result) -> int:
        """Store a finished future's result; returns the number of shuffles it held."""
        if isinstance(result, BaseException):
            # as_completed hands over a cancelled future with its exception as the
            # result instead of raising it. (Not future.status: a result already
            # received stays good even if its worker dies afterwards and the key
            # shows as pending again.)
            raise result
        part = self._parts.pop(future.key)
        if part is None:
            self.clustering, self._cluster_pending = result, False
            return 0
        shuffle, first, count = part
        ncut, modularity, dropped = result
        if len(ncut) != count:
            raise RuntimeError(
                f"chunk {first}+{count} of the {shuffle!r} null returned {len(ncut)} values"
            )
        self.ncuts[shuffle][first : first + count] = ncut
        self.modularity[shuffle][first : first + count] = modularity
        self.dropped[shuffle][first : first + count] = dropped
        self.remaining -= count
        return count

    @property
    def done(self) -> bool:
        return self.remaining == 0 and not self._cluster_pending

    def cancel(self) -> None:
        """Release everything on the cluster: pending tasks, results, the scattered network.

        Explicitly, not by dropping references: after Ctrl-C the traceback still
        holds some futures, which would keep their keys alive on the scheduler.
        """
        held = self.futures + ([self.network] if self.network is not None else [])
        if held:
            self.client.cancel(held)
        self.futures, self.network = [], None


def shuffled_scores_on_cluster(
    client,
    network,
    shuffle,
    n_shuffles,
    settings,
    seed,
    n_jobs=1,
    progress=None,
    chunk_size=None,
    stop=None,
):
    """The null of ``ncut_significance`` computed on a Dask cluster.

    Same values, in the same order, as the local ``shuffled_scores`` with the
    same arguments. Progress advances as chunks finish (``as_completed``); on
    any exception, Ctrl-C included, the pending chunks are cancelled. With
    ``stop = (ncut, h)`` (the sequential test) the chunks left are cancelled
    once the shuffles finished from index 0 on, without a gap, hold h n-cuts
    <= ncut; those shuffles are returned.
    """
    from .null import NullScores

    distributed = _distributed()
    bar = Progress(n_shuffles, f"{shuffle} shuffles", progress)
    job = None
    try:
        job = NetworkJob(
            client,
            network,
            [shuffle],
            n_shuffles,
            settings,
            seed,
            n_jobs=n_jobs,
            chunk_size=chunk_size,
        )
        ncuts = job.ncuts[shuffle]
        for future, result in distributed.as_completed(job.futures, with_results=True):
            bar.update(job.record(future, result))
            if stop is not None:
                missing = np.flatnonzero(np.isnan(ncuts))
                prefix = ncuts[: missing[0] if missing.size else n_shuffles]
                if np.count_nonzero(prefix <= stop[0]) >= stop[1]:
                    return NullScores(
                        prefix[:, None],
                        job.modularity[shuffle][: len(prefix), None],
                        job.dropped[shuffle][: len(prefix)],
                    )
        if not job.done:  # as_completed yields every future once, so this cannot happen
            raise RuntimeError(f"{job.remaining} shuffles missing from the cluster's results")
        return NullScores(ncuts[:, None], job.modularity[shuffle][:, None], job.dropped[shuffle])
    finally:
        if job is not None:
            job.cancel()
        bar.close()
