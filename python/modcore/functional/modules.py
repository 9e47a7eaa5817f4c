"""Functional modules: a model's units clustered by how they fire together, on their
coactivation graph (:mod:`modcore.functional.coactivation`), tested against its shuffles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..common.deprecation import renamed_keywords
from ..common.types import InputShape, ProgressLike, SeedLike
from ..method.cluster import Clustering, spectral_cluster
from ..method.settings import ClusterSettings, takes_settings
from ..method.significance import Significance, ncut_significance
from ..network.checks import check_positive_int
from ..network.network import Network
from .coactivation import _is_activations, coactivation_graph

if TYPE_CHECKING:
    import torch

if TYPE_CHECKING:  # torch is an optional dependency
    from ..nn.activations import Activations

__all__ = ["FunctionalModules", "functional_modules"]


@dataclass(frozen=True, repr=False)
class FunctionalModules:
    """Modules of a model's units found by clustering their coactivation graph.

    Attributes
    ----------
    labels : list of int arrays
        ``labels[g][i]``: the functional module of unit ``i`` of group
        ``group_names[g]``; -1 for units not clustered (constant over the data,
        or uncorrelated with every other unit).
    group_names : tuple of str
        The groups, named as modcore's tracer names them (module qualified
        names), so ``labels`` match :attr:`modcore.Clustering.labels` of the
        traced weight graph by (group name, unit index).
    ncut : float
        n-cut of the coactivation graph under these modules.
    significance : Significance or None
        The n-cut against ``n_shuffles`` coactivation graphs whose upper-triangle
        entries were permuted uniformly (the "layer" shuffle of a self-block);
        None when ``n_shuffles == 0``.
    clustering : Clustering
        The clustering of the graph itself (labels over its nodes, eigenvalues,
        seed, solver).
    activations : Activations
        The recorded activations; row ``i`` is node ``i`` of ``graph``.
    graph : Network
        The coactivation graph.
    method : str
        "spearman" or "pearson".
    squared : bool
        Whether edges are ``r ** 2``.
    """

    labels: list
    group_names: tuple
    ncut: float
    significance: Significance | None
    clustering: Clustering
    activations: Activations
    graph: Network
    method: str
    squared: bool

    def to_dict(self) -> dict:
        """Plain values for JSON (without the activations and the graph)."""
        c = self.clustering
        d = {
            "labels": [lab.tolist() for lab in self.labels],
            "group_names": list(self.group_names),
            "ncut": self.ncut,
            "n_clusters": c.n_clusters,
            "n_init": c.n_init,
            "seed": c.seed,
            "eigenvalues": c.eigenvalues.tolist(),
            "eigen_method": c.eigen_method,
            "n_components": c.n_components,
            "method": self.method,
            "squared": self.squared,
            "map_norm": self.activations.map_norm,
            "n_samples": int(self.activations.values.shape[1]),
            "dropped": [list(u) for u in self.activations.dropped],
            "significance": None,
        }
        if self.significance is not None:
            sig = self.significance.to_dict()
            d["significance"] = {
                k: sig[k]
                for k in (
                    "shuffled_ncuts",
                    "shuffled_mean",
                    "shuffled_std",
                    "z_score",
                    "p_value",
                    "percentile",
                    "n_shuffles",
                    "shuffle",
                )
            }
        return d

    def __repr__(self) -> str:
        flat = np.concatenate(self.labels)
        sizes = np.bincount(flat[flat >= 0], minlength=self.clustering.n_clusters).tolist()
        sig = ""
        if self.significance is not None:
            s = self.significance
            sig = f", z={s.z_score:.2f}, p={s.p_value:.4g}, n_shuffles={s.n_shuffles}"
        return (
            f"FunctionalModules(ncut={self.ncut:.4f}{sig}, module sizes={sizes}, "
            f"unclustered={int((flat < 0).sum())}, method={self.method!r}, "
            f"seed={self.clustering.seed})"
        )


@renamed_keywords(reduction="map_norm")
@takes_settings
def functional_modules(
    model: torch.nn.Module | Activations,
    data: Any = None,
    *,
    settings: ClusterSettings | None = None,
    n_clusters: int = 12,
    n_shuffles: int = 1000,
    units: Sequence[str] | None = None,
    map_norm: str = "l2",
    batch_size: int = 1024,
    method: str = "spearman",
    squared: bool = True,
    assign_labels: str = "cluster_qr",
    refine: bool = True,
    n_init: int = 10,
    select_by: str = "inertia",
    max_iter: int = 300,
    tol: float = 1e-5,
    eigen_method: str = "auto",
    drop: str = "isolated",
    normalize: str | None = None,
    seed: SeedLike = None,
    n_jobs: int | None = None,
    progress: ProgressLike = None,
    input_shape: InputShape = None,
) -> FunctionalModules:
    """Cluster a model's units by their coactivations and test the n-cut.

    Records the units' activations on ``data`` (:func:`modcore.nn.activations`),
    builds the coactivation graph (:func:`coactivation_graph`), clusters it with
    modcore's spectral clustering and, unless ``n_shuffles == 0``, compares its
    n-cut with graphs whose upper-triangle entries are uniformly permuted (the
    2021 paper's null, here modcore's "layer" shuffle of the self-block, in C++).

    Parameters
    ----------
    model : torch.nn.Module or Activations
        The model, or activations already recorded (then ``data``, ``units`` and
        ``input_shape`` must be left unset, and ``map_norm``/``batch_size`` are not used).
    data : modcore.nn.Dataset, torch.Tensor or numpy.ndarray
        Inputs, batch first (of a Dataset, its test split).
    n_shuffles : int, default=1000
        Size of the null; 0 clusters without one.
    units, map_norm, batch_size
        As in :func:`modcore.nn.activations` (``reduction=``, the old name of
        ``map_norm``, still works for one release and warns).
    method, squared
        As in :func:`coactivation_graph`.
    CLUSTER_SETTINGS_FIELDS
    seed, n_jobs, progress
        As in :func:`modcore.ncut_significance`.
    input_shape : tuple of int, optional
        The shape of one input without the batch dimension, as the siblings'
        ``input_shape`` (:func:`modcore.spectral_cluster`): the model runs on the data
        itself, so here it checks them, a ValueError when the data's examples have
        another shape (None: no check).

    Returns
    -------
    FunctionalModules

    Raises
    ------
    ValueError, TypeError
        As :func:`modcore.nn.activations`, :func:`coactivation_graph` and
        :func:`modcore.ncut_significance` (so ``drop="unreachable"`` and
        ``normalize="rescale"``, which a coactivation graph of one group of units
        does not have, are ValueErrors naming why); ``data``, ``units`` or
        ``input_shape`` given with recorded activations; data whose examples do
        not have the shape ``input_shape``.

    Examples
    --------
    >>> import torch, modcore
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    >>> x = torch.randn(200, 6, generator=torch.Generator().manual_seed(0))
    >>> fm = modcore.functional_modules(model, x, n_clusters=2, n_shuffles=9, seed=0,
    ...                                 progress=False)
    >>> fm.group_names, len(fm.significance.shuffled_ncuts)
    (('0', '2'), 9)
    """
    if _is_activations(model):
        if data is not None or units is not None or input_shape is not None:
            raise ValueError(
                "model is recorded activations: leave data, units and input_shape unset "
                "(they were fixed when the activations were recorded)"
            )
        # recognised by its attributes, so that this module need not import torch
        acts = cast("Activations", model)
    else:
        if data is None:
            raise TypeError("functional_modules needs data to run the model on")
        from ..nn.activations import activations

        acts = activations(
            cast("torch.nn.Module", model),
            data,
            units=units,
            map_norm=map_norm,
            batch_size=batch_size,
            input_shape=input_shape,
        )
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", minimum=0)
    graph = coactivation_graph(acts, method=method, squared=squared)
    # settings carries drop and normalize: a coactivation graph (one group, a self-block)
    # refuses "unreachable" and "rescale" with the siblings' ValueError naming why.
    options: dict[str, Any] = dict(settings=settings, seed=seed, n_jobs=n_jobs)
    if n_shuffles:
        significance = ncut_significance(
            graph, n_shuffles=n_shuffles, shuffle="layer", progress=progress, **options
        )
        clustering = significance.clustering
    else:
        significance, clustering = None, spectral_cluster(graph, **options)
    node_labels = clustering.labels[0]
    labels = []
    for g, size in enumerate(acts.group_sizes):
        lab = np.full(size, -1, dtype=np.int64)
        rows = acts.unit_group == g
        lab[acts.unit_index[rows]] = node_labels[rows]
        labels.append(lab)
    return FunctionalModules(
        labels=labels,
        group_names=tuple(acts.group_names),
        ncut=clustering.ncut,
        significance=significance,
        clustering=clustering,
        activations=acts,
        graph=graph,
        method=method,
        squared=bool(squared),
    )
