# Long (560 lines) for one pipeline: inputs, resume key, rows, local and dask runs.
"""Significance for many networks: one table row per network, locally or on a Dask cluster.

Each row is exactly what :func:`modcore.ncut_significance` gives that network
with the same settings. Rows are appended to a results file (CSV or JSON Lines,
a :class:`modcore.common.result_log.ResultLog`) as networks finish, so a sweep that stops
(Ctrl-C, a lost machine) resumes where it was: networks already in the file with
the same settings are not run again. The returned table adds Benjamini-Hochberg
adjusted p-values, computed over all its rows when the sweep ends; they depend on
every row, so they are never written into the results file, where they would go
stale as rows are added. pandas (and Dask, for a cluster) are imported only when
a sweep runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..common.progress import Progress
from ..common.result_log import ResultLog
from ..common.rows import Column, RowSchema, ncut_within
from ..common.types import ClientLike, PathLike, ProgressLike, SeedLike
from ..method.cluster import warn_floating
from ..method.multiple_testing import benjamini_hochberg
from ..method.null import MAX_SHUFFLES, SHUFFLES, check_shuffle
from ..method.settings import ClusterSettings, takes_settings
from ..method.significance import ncut_significance, significance_of
from ..network.checks import check_n_jobs, check_positive_int, check_seed
from ..network.convert import as_network
from ..network.network import Network
from ..network.transformer import block_networks, check_view, virtual_network
from ..network.weights import _natural_key

if TYPE_CHECKING:
    import pandas

__all__ = ["COLUMNS", "FILE_COLUMNS", "SETTINGS", "WEIGHT_SUFFIXES", "sweep"]

#: The files a sweep reads, named or in a folder: weights, checkpoints and torch.export
#: programs.
WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors", ".npz", ".pt2")


def _int_setting(name: str) -> Column:
    low, high = ClusterSettings.bounds(name)
    return Column("int", low=low, high=high)


def _str_setting(name: str) -> Column:
    return Column("str", choices=ClusterSettings.choices(name))


# The parameters that change a row's numbers, with their columns: each is a column
# and part of the key that says whether a row in the results file can be reused,
# and each is passed on to ncut_significance under its name. A new parameter of
# that kind is one more line here (tests/test_sweep.py checks that none is missing).
SETTINGS: dict[str, Column] = {
    "n_shuffles": Column("int", low=1, high=MAX_SHUFFLES),
    **{name: _int_setting(name) for name in ("n_clusters", "n_init", "max_iter")},
    "tol": Column("float", low=0, low_open=True, high=1),
    **{name: _str_setting(name) for name in ("eigen_method", "assign_labels")},
    "refine": Column("bool"),
    **{name: _str_setting(name) for name in ("select_by", "drop")},
    "normalize": Column(
        "str", optional=True, choices=[n for n in ClusterSettings.choices("normalize") if n]
    ),
    "seed": Column("int", low=0),
}
# The statistics of a row, as Significance attributes, with the values they can take
# (NaN where a null of one shuffle has no spread, inf where the shuffles tie or n-cut is 0).
_STATISTICS = {
    "ncut": Column("float", low=0),
    "shuffled_mean": Column("float", low=0),
    "shuffled_std": Column("float", low=0, finite=False),
    "z_score": Column("float", finite=False),
    "p_value": Column("float", low=0, low_open=True, high=1),
    "percentile": Column("float", low=0, high=100),
    "modularity": Column("float", low=-0.5, high=1),
    "modularity_z": Column("float", finite=False),
    "in_out_ratio": Column("float", low=0, finite=False),
    "shuffled_in_out_ratio": Column("float", low=0, finite=False),
}
_SCHEMA = RowSchema(
    {
        "name": Column("str"),
        "shuffle": Column("str", choices=SHUFFLES),
        **_STATISTICS,
        "n_dropped": Column("int", low=0),
        **SETTINGS,
        "layer_sizes": Column("str"),
        "seconds": Column("float", low=0),
    },
    key=("name", "shuffle", *SETTINGS),
    checks=(ncut_within("ncut", "n_clusters"), ncut_within("shuffled_mean", "n_clusters")),
)
# One row per (network, shuffle method, settings), in the results file's column order.
FILE_COLUMNS = tuple(_SCHEMA.columns)
# The returned table's columns: the file's, and the p-value adjusted over the table's
# rows, which only exists once every row does.
COLUMNS = (
    *FILE_COLUMNS[: FILE_COLUMNS.index("p_value") + 1],
    "p_value_bh",
    *FILE_COLUMNS[FILE_COLUMNS.index("p_value") + 1 :],
)


@takes_settings
def sweep(
    networks: PathLike | Sequence[Any] | Mapping[str, Any],
    *,
    settings: ClusterSettings | None = None,
    n_clusters: int = 12,
    n_shuffles: int = 1000,
    shuffle: str | Sequence[str] = "layer",
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-5,
    eigen_method: str = "auto",
    assign_labels: str = "cluster_qr",
    refine: bool = True,
    select_by: str = "inertia",
    drop: str = "isolated",
    normalize: str | None = None,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: ProgressLike = None,
    names: Sequence[str] | None = None,
    client: ClientLike = None,
    results_path: PathLike | None = None,
    max_in_flight: int = 3,
    view: str | None = None,
) -> pandas.DataFrame:
    """Cluster many networks and test each against its shuffles; a pandas table.

    Parameters
    ----------
    networks : path, sequence or mapping
        - a directory: its weight files (``.pt``, ``.pth``, ``.safetensors``,
          ``.npz``) and torch.export programs (``.pt2``), not subdirectories, in
          natural name order, named by file name;
        - a sequence whose items are each a network: a path to a weight file
          (named by the path as given; a directory in the sequence adds its
          files as ``dir/file``), a list of 2-D arrays, a state dict or a torch
          module (named ``network0``, ``network1``, ...);
        - a mapping ``{name: network}``.

        Files are read (as :func:`modcore.ncut_significance` reads a path) when
        their turn comes, on this machine, so only the networks in progress are in
        memory.
    CLUSTER_SETTINGS_FIELDS
    n_shuffles : int, default=1000
        Size of each null.
    shuffle : str or sequence of str, default="layer"
        Shuffle method(s) (see :func:`modcore.ncut_significance`); one row per
        network and method.
    seed : None, int or numpy.random.Generator, default=None
        The same seed for every network, so each row equals
        ``ncut_significance(network, seed=row.seed)``. None: the seed of the rows
        already in ``results_path`` with the same other settings (so a stopped
        sweep resumes), else fresh entropy; the seed used is in every row.
    n_jobs : int or None, default=None
        Threads (None: all cores); with ``client``, the threads of each chunk on
        a worker (None: 1). Results do not depend on it.
    progress : None, bool or callable, default=None
        Progress over all shuffles of the sweep: None shows a bar when stderr is
        a terminal, a callable gets ``(done, total)``.
    names : sequence of str, optional
        Names for the networks of a sequence (default as above).
    client : dask.distributed.Client, optional
        Run on this Dask cluster: up to ``max_in_flight`` networks at a time,
        each scattered to the workers once, its clustering and its shuffle
        chunks as tasks. Without it the networks run one after the other here.
    results_path : str or path, optional
        ``.csv`` or ``.jsonl`` file, appended to as each network finishes, with
        the columns ``FILE_COLUMNS`` (all but ``p_value_bh``). A
        network and shuffle method already there with the same ``SETTINGS``
        (every parameter that changes the numbers) is taken as it is; rows with
        other settings stay in the file and are not used. The sweep holds a lock
        on the file while it runs: a second sweep on the same file waits for it
        (saying so on stderr), then skips what the first one wrote. See
        :mod:`modcore.common.result_log` for what happens to lines that are not rows.
    max_in_flight : int, default=3
        Networks whose tasks are on the cluster at once (with ``client``).
    view : {"blocks", "virtual"} or None, default None
        For networks that are transformers (all of them; any other is refused), as in
        :func:`modcore.ncut_significance`: ``"virtual"`` gives a row per network, its
        virtual graph; ``"blocks"`` a row per MLP, named ``"{network}/{MLP name}"``
        (each transformer is read when the sweep starts, to name its rows). A folder
        holding ``config.json`` is then a Hugging Face GPT-2 saved by
        ``save_pretrained``, one network.

    Returns
    -------
    pandas.DataFrame
        One row per network and shuffle method, in input order, with columns
        ``COLUMNS``: name, shuffle, ncut, shuffled_mean, shuffled_std, z_score,
        p_value, p_value_bh, percentile, modularity (Newman's Q), modularity_z,
        in_out_ratio, shuffled_in_out_ratio, n_dropped (as in
        :class:`modcore.Significance`), the ``SETTINGS`` (n_shuffles, n_clusters,
        n_init, max_iter, tol, eigen_method, assign_labels, refine, select_by,
        drop, normalize, seed), layer_sizes (``"784-256-10"``) and seconds (wall
        time of that network; on a cluster the networks overlap).

        ``p_value_bh`` is ``p_value`` adjusted for the false discovery rate
        (:func:`modcore.benjamini_hochberg`) over the rows of this table with
        the same shuffle method: each null is one family of m tests, m the
        number of networks. Rejecting the rows with ``p_value_bh <= q`` keeps
        the expected share of false discoveries among them at most q. It is
        computed when the sweep ends, over every row of the table (those run
        now and those taken from ``results_path``), and is not a column of the
        results file (``FILE_COLUMNS``): a row's adjusted p-value changes
        whenever another row joins the family.

    Raises
    ------
    ValueError, TypeError
        Bad settings, names that repeat or that UTF-8 cannot encode (a file name
        in another encoding), a network that cannot be read (the message names
        it), or a results file holding lines that are not rows.
    ImportError
        Without pandas (``pip install 'modcore[dask]'``), or with a ``client``
        but without dask.distributed.

    Examples
    --------
    >>> import modcore
    >>> from modcore.network.synthetic import random_pruned_mlp
    >>> nets = {f"net{i}": random_pruned_mlp((20, 20, 10), sparsity=0.5, seed=i) for i in range(2)}
    >>> table = modcore.sweep(nets, n_clusters=3, n_shuffles=9, seed=0, progress=False)
    >>> table[["name", "seed"]]
       name  seed
    0  net0     0
    1  net1     0
    >>> bool((table.p_value_bh >= table.p_value).all())
    True
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "modcore.sweep returns a pandas DataFrame: pip install 'modcore[dask]'"
        ) from exc
    shuffles = [shuffle] if isinstance(shuffle, str) else list(shuffle)
    if not shuffles:
        raise ValueError("shuffle must name at least one shuffle method")
    shuffles = [check_shuffle(s) for s in shuffles]
    if len(set(shuffles)) != len(shuffles):
        raise ValueError(f"shuffle lists a method twice: {shuffles}")
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", maximum=MAX_SHUFFLES)
    assert settings is not None  # made by @takes_settings
    row_settings = {"n_shuffles": n_shuffles, **dataclasses.asdict(settings)}
    max_in_flight = check_positive_int(max_in_flight, "max_in_flight")
    if client is not None:
        from ..method.distributed import check_client

        client = check_client(client)
        chunk_jobs = 1 if n_jobs is None else check_n_jobs(n_jobs)
    n_jobs = check_n_jobs(n_jobs)
    check_view(view)
    items = _named_networks(networks, names, view)

    with contextlib.ExitStack() as stack:
        old = []
        if results_path is not None:
            log = stack.enter_context(
                ResultLog(
                    results_path,
                    _SCHEMA,
                    columns=FILE_COLUMNS,
                    what="modcore sweep results",
                    on_wait=_say_waiting,
                )
            )
            old = log.rows
        if seed is None:
            same = [row for row in old if all(row[k] == v for k, v in row_settings.items())]
            seed = same[-1]["seed"] if same else None
        row_settings["seed"] = check_seed(seed)
        rows = {_key(row): row for row in old}
        todo = [
            (
                name,
                net,
                [
                    s
                    for s in shuffles
                    if _key({**row_settings, "name": name, "shuffle": s}) not in rows
                ],
            )
            for name, net in items
        ]
        todo = [t for t in todo if t[2]]

        bar = Progress(
            sum(len(t[2]) for t in todo) * row_settings["n_shuffles"],
            f"sweep of {len(todo)} networks",
            progress,
        )
        if client is None:
            results = _run_local(todo, bar, row_settings, view, n_jobs=n_jobs)
        else:
            results = _run_on_cluster(
                todo,
                bar,
                row_settings,
                view,
                client,
                n_jobs=chunk_jobs,
                max_in_flight=max_in_flight,
            )
        try:
            for row in results:
                rows[_key(row)] = row
                if results_path is not None:
                    log.append(row)
        finally:
            results.close()  # a generator: cancels what is still on the cluster
            bar.close()
    table = pd.DataFrame(
        [
            rows[_key({**row_settings, "name": name, "shuffle": s})]
            for name, _ in items
            for s in shuffles
        ],
        columns=list(FILE_COLUMNS),
    )
    table["p_value_bh"] = _adjusted_p_values(table)
    return table[list(COLUMNS)]


def _adjusted_p_values(table) -> np.ndarray:
    """Benjamini-Hochberg over the rows of each shuffle method (one family per null)."""
    adjusted = np.empty(len(table))
    shuffle = table["shuffle"].to_numpy()
    for method in np.unique(shuffle):
        rows = shuffle == method
        adjusted[rows] = benjamini_hochberg(table["p_value"].to_numpy()[rows])
    return adjusted


def _key(row: dict) -> tuple:
    """What makes a row reusable: network name, shuffle method and every setting."""
    return _SCHEMA.run_of(row)


def _say_waiting(path) -> None:
    print(
        f"modcore: another process is writing {path}; waiting for it to finish",
        file=sys.stderr,
        flush=True,
    )


# --- inputs -------------------------------------------------------------------------


def _weight_files(directory: Path) -> list:
    files = sorted(
        (p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES),
        key=lambda p: _natural_key(p.name),
    )
    if not files:
        raise ValueError(f"{directory}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) in it")
    return files


def _checked_path(path: Path) -> Path:
    """A network file or folder named to the sweep, checked before any work starts (its
    networks are read in their turn): a missing path or a file of a type no reader takes
    is refused here, not after the progress bar has begun."""
    if not path.exists():
        raise FileNotFoundError(f"no weight file or directory at {path}")
    suffix = path.suffix.lower()
    if path.is_file() and suffix not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported weight file type {suffix!r}; expected one of "
            f"{', '.join(WEIGHT_SUFFIXES)}"
        )
    return path


def _named_networks(networks, names, view=None) -> list:
    """``[(name, network)]`` in order; networks stay unread (paths) until their turn, but
    for ``view="blocks"``, where each transformer is read into its MLPs' networks."""
    if isinstance(networks, (str, os.PathLike)):
        path = _checked_path(Path(networks))
        items: list[tuple[str, Any]] = (
            [(p.name, p) for p in _weight_files(path)]
            if path.is_dir() and not _model_folder(path, view)
            else [(str(networks), path)]
        )
    elif isinstance(networks, Mapping):
        items = [(str(k), v) for k, v in networks.items()]
    elif isinstance(networks, np.ndarray) or not hasattr(networks, "__iter__"):
        raise TypeError(
            "networks must be a directory, a sequence of networks or a mapping "
            f"{{name: network}}, got {type(networks).__name__}"
        )
    else:
        items = []
        for i, net in enumerate(networks):
            if isinstance(net, np.ndarray):
                raise TypeError(
                    f"networks[{i}] is an array: sweep takes a sequence of networks, each a "
                    "list of 2-D arrays or a path (for one network pass [weights])"
                )
            if isinstance(net, (str, os.PathLike)):
                path = _checked_path(Path(net))
                if path.is_dir() and not _model_folder(path, view):
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
    seen: set[str] = set()
    repeated: set[str] = set()
    for name, _ in items:
        (repeated if name in seen else seen).add(name)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # A file name in another encoding: caught here, not when its row is written.
            raise ValueError(
                f"network name {name!r} is not valid text (a file name that is "
                "not UTF-8?): rename the file or pass names="
            ) from None
    if repeated:
        raise ValueError(f"network names must be unique; repeated: {sorted(repeated)}")
    if view == "blocks":
        return [
            (f"{name}/{block}", net)
            for name, model in items
            for block, net in _read(name, block_networks, model).items()
        ]
    return items


def _model_folder(path: Path, view) -> bool:
    """Whether a folder named under a view is one model (a Hugging Face save)."""
    return view is not None and (path / "config.json").is_file()


def _load(name: str, network, view=None) -> Network:
    if view == "virtual":
        return _read(name, virtual_network, network)
    return _read(name, as_network, network)


def _read(name: str, reader, network):
    try:
        return reader(network)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise type(exc)(f"network {name!r}: {exc}") from exc


def _row(name, network, sig, settings, seconds) -> dict:
    row = {k: getattr(sig, k) for k in (*_STATISTICS, "n_dropped")}
    row.update(
        settings,
        name=name,
        shuffle=sig.shuffle,
        layer_sizes="-".join(map(str, network.sizes)),
        seconds=round(seconds, 3),
    )
    return _SCHEMA.check(row)


# --- running ------------------------------------------------------------------------


def _run_local(todo, bar, settings, view, n_jobs):
    for name, network, shuffles in todo:
        net = _load(name, network, view)
        for shuffle in shuffles:
            start, seen = time.perf_counter(), [0]

            def forward(done, total, seen=seen):
                bar.update(done - seen[0])
                seen[0] = done

            sig = ncut_significance(
                net, shuffle=shuffle, n_jobs=n_jobs, progress=forward, **settings
            )
            yield _row(name, net, sig, settings, time.perf_counter() - start)


def _run_on_cluster(todo, bar, settings, view, client, n_jobs, max_in_flight):
    from ..method.distributed import NetworkJob, _distributed

    distributed = _distributed()
    cluster_settings = ClusterSettings(
        **{f.name: settings[f.name] for f in dataclasses.fields(ClusterSettings)}
    )
    queue = iter(todo)
    owner = {}  # future key -> (job, name, network, start)
    jobs = []
    finished = distributed.as_completed([], with_results=True)

    def start_next() -> bool:
        for name, network, shuffles in queue:
            net = _load(name, network, view)
            job = NetworkJob(
                client,
                net,
                shuffles,
                settings["n_shuffles"],
                cluster_settings,
                settings["seed"],
                n_jobs=n_jobs,
                cluster=True,
            )
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
            assert job.clustering is not None  # a job is done once its clustering is in
            warn_floating(job.clustering)
            for shuffle, ncuts in job.ncuts.items():
                sig = significance_of(
                    job.clustering,
                    ncuts,
                    shuffle,
                    modularity=job.modularity[shuffle],
                    dropped=job.dropped[shuffle],
                )
                yield _row(name, net, sig, settings, seconds)
            job.cancel()  # nothing pending: lets the scattered network go
            jobs.remove(job)
            start_next()
    finally:
        for job in jobs:
            job.cancel()
