"""Significance for many networks: one table row per network, locally or on a Dask cluster.

Each row is exactly what :func:`modcore.ncut_significance` gives that network
with the same settings. Rows are appended to a results file (CSV or JSON Lines)
as networks finish, so a sweep that stops (Ctrl-C, a lost machine) resumes where
it was: networks already in the file are not run again. pandas (and Dask, for a
cluster) are imported only when a sweep runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .cluster import check_settings
from .io import check_n_jobs, check_positive_int, check_seed
from .network import Network, as_network
from .progress import Progress
from .significance import MAX_SHUFFLES, check_shuffle, ncut_significance, significance_of

__all__ = ["COLUMNS", "WEIGHT_SUFFIXES", "sweep"]

WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors", ".npz")
# One row per (network, shuffle method); the order of the file's and the table's columns.
COLUMNS = ("name", "shuffle", "ncut", "shuffled_mean", "shuffled_std", "z_score", "p_value",
           "percentile", "n_shuffles", "n_clusters", "n_init", "seed", "layer_sizes", "seconds")
_INT_COLUMNS = ("n_shuffles", "n_clusters", "n_init", "seed")
_STR_COLUMNS = ("name", "shuffle", "layer_sizes")
# A row in the results file counts as done only if it was computed with these settings.
_SETTINGS = ("n_shuffles", "n_clusters", "n_init", "seed")


def sweep(
    networks,
    *,
    n_clusters: int = 12,
    n_shuffles: int = 1000,
    shuffle="layer",
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-6,
    eigen_method: str = "auto",
    seed=0,
    n_jobs=None,
    progress=None,
    names=None,
    client=None,
    results_path=None,
    max_in_flight: int = 3,
):
    """Cluster many networks and test each against its shuffles; a pandas table.

    Parameters
    ----------
    networks : path, sequence or mapping
        - a directory: its weight files (``.pt``, ``.pth``, ``.safetensors``,
          ``.npz``; not subdirectories) in natural name order, named by file name;
        - a sequence whose items are each a network: a path to a weight file
          (named by the path as given; a directory in the sequence adds its
          files as ``dir/file``), a list of 2-D arrays, a state dict or a torch
          module (named ``network0``, ``network1``, ...);
        - a mapping ``{name: network}``.
        Files are read with :func:`modcore.weights_from_module` when their turn
        comes, on this machine, so only the networks in progress are in memory.
    n_clusters, n_shuffles, n_init, n_jobs, max_iter, tol, eigen_method
        As in :func:`modcore.ncut_significance`, the same for every network.
    shuffle : str or sequence of str, default "layer"
        Shuffle method(s); one row per network and method.
    seed : int, numpy Generator or None, default 0
        The same seed for every network, so each row equals
        ``ncut_significance(network, seed=seed)``. None draws one seed, or takes
        the one of the rows already in ``results_path``.
    progress : None, bool or callable
        Progress over all shuffles of the sweep, as in ``ncut_significance``.
    names : sequence of str, optional
        Names for the networks of a sequence (default as above).
    client : dask.distributed.Client, optional
        Run on this Dask cluster: up to ``max_in_flight`` networks at a time,
        each scattered to the workers once, its clustering and its shuffle
        chunks as tasks. Without it the networks run one after the other here.
    results_path : str or path, optional
        ``.csv`` or ``.jsonl`` file. Rows already there (same name, shuffle and
        settings) are taken as they are; each new row is appended as soon as
        its network is done. A last line cut short by a crash is dropped.
    max_in_flight : int, default 3
        Networks whose tasks are on the cluster at once (with ``client``).

    Returns
    -------
    pandas.DataFrame
        One row per network and shuffle method, in input order, with columns
        ``COLUMNS``: name, shuffle, ncut, shuffled_mean, shuffled_std, z_score,
        p_value, percentile, n_shuffles, n_clusters, n_init, seed, layer_sizes
        (``"784-256-10"``), seconds (wall time of that network; on a cluster the
        networks overlap).

    Raises
    ------
    ValueError, TypeError
        Bad settings, names that repeat, a network that cannot be read (the
        message names it), or a results file holding a row of the same name and
        shuffle with other settings.
    ImportError
        Without pandas (``pip install 'modcore[dask]'``), or with a ``client``
        but without dask.distributed.

    Examples
    --------
    >>> import modcore
    >>> from modcore.synthetic import random_pruned_mlp
    >>> nets = {f"net{i}": random_pruned_mlp((20, 20, 10), sparsity=0.5, seed=i) for i in range(2)}
    >>> modcore.sweep(nets, n_clusters=3, n_shuffles=9, progress=False)[["name", "n_shuffles"]]
       name  n_shuffles
    0  net0           9
    1  net1           9
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("modcore.sweep returns a pandas DataFrame: pip install 'modcore[dask]'"
                          ) from exc
    shuffles = [shuffle] if isinstance(shuffle, str) else list(shuffle)
    if not shuffles:
        raise ValueError("shuffle must name at least one shuffle method")
    shuffles = [check_shuffle(s) for s in shuffles]
    if len(set(shuffles)) != len(shuffles):
        raise ValueError(f"shuffle lists a method twice: {shuffles}")
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", maximum=MAX_SHUFFLES)
    cluster_settings = check_settings(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter,
                                      tol=tol, eigen_method=eigen_method)
    max_in_flight = check_positive_int(max_in_flight, "max_in_flight")
    if client is not None:
        from .distributed import check_client
        client = check_client(client)
        chunk_jobs = 1 if n_jobs is None else check_n_jobs(n_jobs)
    n_jobs = check_n_jobs(n_jobs)
    items = _named_networks(networks, names)

    store = _ResultsFile(results_path) if results_path is not None else None
    old = store.read() if store is not None else []
    if seed is None and old:
        seed = int(old[-1]["seed"])
    seed = check_seed(seed)
    settings = {"n_shuffles": n_shuffles, "n_clusters": n_clusters, "n_init": n_init, "seed": seed}
    rows = {}
    for row in old:
        rows[(row["name"], row["shuffle"])] = row
    wanted = {(name, s) for name, _ in items for s in shuffles}
    for key in wanted & rows.keys():
        differ = [f"{k}={rows[key][k]} (now {settings[k]})" for k in _SETTINGS
                  if rows[key][k] != settings[k]]
        if differ:
            raise ValueError(
                f"{results_path} already holds network {key[0]!r} ({key[1]} shuffles) with other "
                f"settings: {', '.join(differ)}; use another results file")
    todo = [(name, net, [s for s in shuffles if (name, s) not in rows]) for name, net in items]
    todo = [t for t in todo if t[2]]

    bar = Progress(sum(len(t[2]) for t in todo) * n_shuffles,
                   f"sweep of {len(todo)} networks", progress)
    opts = dict(n_clusters=n_clusters, n_shuffles=n_shuffles, n_init=n_init, seed=seed,
                max_iter=max_iter, tol=tol, eigen_method=eigen_method)
    if client is None:
        results = _run_local(todo, bar, n_jobs=n_jobs, **opts)
    else:
        results = _run_on_cluster(todo, bar, client, n_jobs=chunk_jobs,
                                  max_in_flight=max_in_flight, settings=cluster_settings,
                                  n_shuffles=n_shuffles, seed=seed)
    try:
        for row in results:
            rows[(row["name"], row["shuffle"])] = row
            if store is not None:
                store.append(row)
    finally:
        results.close()  # a generator: cancels what is still on the cluster
        bar.close()
        if store is not None:
            store.close()
    table = [rows[(name, s)] for name, _ in items for s in shuffles]
    return pd.DataFrame(table, columns=list(COLUMNS))


# --- inputs -------------------------------------------------------------------------

def _natural_key(name: str):
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", name))]


def _weight_files(directory: Path) -> list:
    files = sorted((p for p in directory.iterdir()
                    if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES),
                   key=lambda p: _natural_key(p.name))
    if not files:
        raise ValueError(f"{directory}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) in it")
    return files


def _named_networks(networks, names) -> list:
    """``[(name, network)]`` in order; networks stay unread (paths) until their turn."""
    if isinstance(networks, (str, os.PathLike)):
        path = Path(networks)
        if not path.exists():
            raise FileNotFoundError(f"no weight file or directory at {path}")
        items = ([(p.name, p) for p in _weight_files(path)] if path.is_dir()
                 else [(str(networks), path)])
    elif isinstance(networks, Mapping):
        items = [(str(k), v) for k, v in networks.items()]
    elif isinstance(networks, np.ndarray) or not hasattr(networks, "__iter__"):
        raise TypeError("networks must be a directory, a sequence of networks or a mapping "
                        f"{{name: network}}, got {type(networks).__name__}")
    else:
        items = []
        for i, net in enumerate(networks):
            if isinstance(net, np.ndarray):
                raise TypeError(
                    f"networks[{i}] is an array: sweep takes a sequence of networks, each a "
                    "list of 2-D arrays or a path (for one network pass [weights])")
            if isinstance(net, (str, os.PathLike)):
                path = Path(net)
                if path.is_dir():
                    items += [(str(path / p.name), p) for p in _weight_files(path)]
                else:
                    items.append((str(net), path))
            else:
                items.append((f"network{i}", net))
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(items):
            raise ValueError(f"names has {len(names)} entries for {len(items)} networks")
        items = [(n, net) for n, (_, net) in zip(names, items)]
    if not items:
        raise ValueError("no networks to sweep")
    seen, repeated = set(), set()
    for name, _ in items:
        (repeated if name in seen else seen).add(name)
    if repeated:
        raise ValueError(f"network names must be unique; repeated: {sorted(repeated)}")
    return items


def _load(name: str, network) -> Network:
    try:
        return as_network(network)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise type(exc)(f"network {name!r}: {exc}") from exc


def _typed(row: dict) -> dict:
    """The row with each column's type (str, int or float), as it reads back from a file."""
    return {k: (str(row[k]) if k in _STR_COLUMNS else
                int(row[k]) if k in _INT_COLUMNS else float(row[k])) for k in COLUMNS}


def _row(name, network, sig, seconds) -> dict:
    row = {k: getattr(sig, k) for k in COLUMNS if hasattr(sig, k)}
    row.update(name=name, layer_sizes="-".join(map(str, network.sizes)), seconds=round(seconds, 3))
    return _typed(row)


# --- running ------------------------------------------------------------------------

def _run_local(todo, bar, n_jobs, **opts):
    for name, network, shuffles in todo:
        net = _load(name, network)
        for shuffle in shuffles:
            start, seen = time.perf_counter(), [0]

            def forward(done, total, seen=seen):
                bar.update(done - seen[0])
                seen[0] = done

            sig = ncut_significance(net, shuffle=shuffle, n_jobs=n_jobs, progress=forward,
                                    **opts)
            yield _row(name, net, sig, time.perf_counter() - start)


def _run_on_cluster(todo, bar, client, n_jobs, max_in_flight, settings, n_shuffles, seed):
    from .distributed import NetworkJob, _distributed

    distributed = _distributed()
    queue = iter(todo)
    owner = {}    # future key -> (job, name, network, start)
    jobs = []
    finished = distributed.as_completed([], with_results=True)

    def start_next() -> bool:
        for name, network, shuffles in queue:
            net = _load(name, network)
            job = NetworkJob(client, net, shuffles, n_shuffles, settings, seed, n_jobs=n_jobs,
                             cluster=True)
            jobs.append(job)
            entry = (job, name, net, time.perf_counter())
            for future in job.futures:
                owner[future.key] = entry
                finished.add(future)
            return True
        return False

    try:
        for _ in range(max_in_flight):
            if not start_next():
                break
        for future, result in finished:
            job, name, net, start = owner.pop(future.key)
            bar.update(job.record(future, result))
            if not job.done:
                continue
            seconds = time.perf_counter() - start
            for shuffle, ncuts in job.ncuts.items():
                sig = significance_of(job.clustering, ncuts, shuffle)
                yield _row(name, net, sig, seconds)
            job.cancel()  # nothing pending: lets the scattered network go
            jobs.remove(job)
            start_next()
    finally:
        for job in jobs:
            job.cancel()


# --- the results file ---------------------------------------------------------------

class _ResultsFile:
    """Rows appended one by one to a CSV or JSON Lines file, read back on resume."""

    def __init__(self, path):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix == ".csv":
            self.kind = "csv"
        elif suffix in (".jsonl", ".ndjson"):
            self.kind = "jsonl"
        else:
            raise ValueError(f"results_path must end in .csv or .jsonl, got {self.path.name!r}")
        self._file = None

    def read(self) -> list:
        """Complete rows already in the file; a damaged last line is removed from it."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return []
        text = self.path.read_text()
        lines = text.splitlines(keepends=True)
        if self.kind == "csv":
            header, body = (lines[0], lines[1:]) if lines else ("", [])
            columns = next(csv.reader([header]), [])
            if tuple(columns) != COLUMNS:
                raise ValueError(f"{self.path}: not a modcore sweep results file (its columns "
                                 f"are {columns}, expected {list(COLUMNS)})")
        else:
            header, body = "", lines
        rows, good = [], [header] if header else []
        for i, line in enumerate(body):
            row = self._parse(line)
            if row is not None:
                rows.append(row)
                good.append(line)
            elif i < len(body) - 1:
                raise ValueError(f"{self.path}, line {len(lines) - len(body) + i + 1}: not a "
                                 "modcore sweep results row")
            # else: the last line, cut short by a crash: dropped here, its network redone
        if "".join(good) != text:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(good))
            os.replace(tmp, self.path)
        return rows

    def _parse(self, line: str):
        if not line.endswith("\n"):
            return None  # a row is written with its newline in one go
        try:
            if self.kind == "csv":
                values = next(csv.reader([line]))
                if len(values) != len(COLUMNS):
                    return None
                raw = dict(zip(COLUMNS, values))
            else:
                raw = json.loads(line)
                if not isinstance(raw, dict) or set(raw) != set(COLUMNS):
                    return None
            return _typed(raw)
        except (ValueError, TypeError, StopIteration):
            return None

    def append(self, row: dict) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._file = open(self.path, "a", newline="")
            if new and self.kind == "csv":
                self._file.write(self._line(dict(zip(COLUMNS, COLUMNS))))
        self._file.write(self._line(row))
        self._file.flush()

    def _line(self, row: dict) -> str:
        if self.kind == "jsonl":
            return json.dumps({k: row[k] for k in COLUMNS}) + "\n"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(
            [repr(row[k]) if isinstance(row[k], float) else row[k] for k in COLUMNS])
        return buf.getvalue()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
