"""The clustering parameters, defined once: defaults, limits, checks and documentation.

Every function that clusters takes them as keywords or as one ``settings=ClusterSettings(...)``
(:func:`takes_settings` merges the two and writes the parameters' numpydoc text into its
docstring); the CLI's option types read their limits and choices from here.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from .._core import MAX_CLUSTERS, MAX_INIT, MAX_ITER
from ..network.checks import check_positive_int

__all__ = ["ClusterSettings", "takes_settings", "MAX_CLUSTERS", "MAX_INIT", "MAX_ITER"]

# MAX_CLUSTERS, MAX_INIT and MAX_ITER: bounds that keep every value inside the C++ int
# range with room to spare, defined once in cpp/include/modcore/limits.hpp, so that
# _core's messages and these checks state the same limits. The real limits (k <= live
# units, ...) are checked against the network itself.


def _field(default, doc: str, *, bounds=None, choices=None):
    """A settings field: its default, its numpydoc text, and its limits (an int range or
    the allowed values)."""
    return field(
        default=default, metadata={"doc": doc.strip("\n"), "bounds": bounds, "choices": choices}
    )


@dataclass(frozen=True)
class ClusterSettings:
    """How a network is clustered: the parameters every clustering function shares.

    Build one and pass it as ``settings=`` to :func:`modcore.spectral_cluster`,
    :func:`modcore.ncut_significance`, :func:`modcore.ncut_curve`,
    :func:`modcore.eigengap`, :func:`modcore.stability`, :func:`modcore.sweep`,
    :func:`modcore.functional_modules`, ``modcore.nn.lesion_study`` or
    ``modcore.experiments.reproduce.reproduce``, instead of the same keywords one by one.
    The values are checked when the object is made. Each function reads the fields it
    has keywords for (:func:`modcore.eigengap` only ``tol``, ``eigen_method``, ``drop``
    and ``normalize``; :func:`modcore.ncut_curve` takes its k from ``ks``); a keyword
    given beside ``settings`` must equal the object's field.

    Parameters
    ----------
    CLUSTER_SETTINGS_FIELDS

    Raises
    ------
    ValueError
        A value outside its range or not among its choices.
    TypeError
        A value of the wrong type (a float ``n_clusters``, a str ``refine``, ...).

    Examples
    --------
    >>> import numpy as np, modcore
    >>> authors = modcore.ClusterSettings(assign_labels="kmeans", refine=False, n_init=25)
    >>> w = [np.kron(np.eye(2), np.ones((3, 3))) for _ in range(2)]
    >>> modcore.spectral_cluster(w, settings=authors.replace(n_clusters=2), seed=0).ncut
    0.0
    """

    n_clusters: int = _field(
        12,
        """
n_clusters : int, default=12
    Number of modules k, 2 <= k <= number of connected units.
""",
        bounds=(2, MAX_CLUSTERS),
    )
    n_init: int = _field(
        10,
        """
n_init : int, default=10
    k-means restarts ("kmeans" only).
""",
        bounds=(1, MAX_INIT),
    )
    max_iter: int = _field(
        300,
        """
max_iter : int, default=300
    Lloyd iterations per k-means restart.
""",
        bounds=(1, MAX_ITER),
    )
    tol: float = _field(
        1e-5,
        """
tol : float, default=1e-5
    Relative residual tolerance of the Lanczos eigensolver, in (0, 1). ``tol=1e-6``
    gives the exact settings: on the reference net 995 of 1,000 shuffles'
    n-cuts were identical at 1e-5 and 1e-6 and the two nulls' distributions
    match, while 1e-5 takes 6% fewer matrix products.
""",
    )
    eigen_method: str = _field(
        "auto",
        """
eigen_method : {"auto", "bipartite", "full", "dense"}, default="auto"
    "bipartite" solves the smaller C Cᵀ problem of a bipartite network (every
    chain is one; by Lanczos, or densely when its side is small, as in a
    star-like network with a one-unit layer), "full" runs Lanczos on the
    whole normalized adjacency (falling back to "dense" when Lanczos fails,
    up to 1,000 units), "dense" a full eigendecomposition (at most 1,000
    units); "auto" picks "dense" for <= 300 units, else "bipartite" when the
    network is bipartite, else "full". :attr:`modcore.Clustering.eigen_method` says
    which ran.
""",
        choices=("auto", "bipartite", "full", "dense"),
    )
    assign_labels: str = _field(
        "cluster_qr",
        """
assign_labels : {"cluster_qr", "kmeans"}, default="cluster_qr"
    "cluster_qr": the deterministic discretization of Damle, Minden & Ying
    (scikit-learn's ``assign_labels="cluster_qr"``); a module may come out
    empty. "kmeans": k-means with ``n_init`` restarts, one kept by ``select_by``.
    ``assign_labels="kmeans", refine=False, n_init=25`` is the authors' rule.
""",
        choices=("cluster_qr", "kmeans"),
    )
    refine: bool = _field(
        True,
        """
refine : bool, default=True
    Afterwards, move single units to the module that lowers the n-cut most
    until no move lowers it: sweeps over the units in three orders computed
    from their weights (never their indices) from the same start, the lowest
    n-cut kept, so the order of units does not matter; every module keeps a unit.
""",
        choices=(True, False),
    )
    select_by: str = _field(
        "inertia",
        """
select_by : {"inertia", "ncut"}, default="inertia"
    Which k-means restart is kept ("kmeans" only): the lowest inertia (the
    authors' rule), or the lowest n-cut (each restart refined first when
    ``refine``).
""",
        choices=("inertia", "ncut"),
    )
    drop: str = _field(
        "isolated",
        """
drop : {"isolated", "unreachable"}, default="isolated"
    Which units are left out of the graph (label -1); a shuffled network loses
    its own. "isolated": units
    without edges, as the authors' TensorFlow code behind the paper's
    tables. "unreachable": also every connected component that has no unit
    in the first group or none in the last (an MLP's input and output
    layers; a traced model's input and last layer), as the authors' PyTorch
    port (nn-clustering-pytorch) does. A small fragment cut off from the
    rest is a component of its own, so it can take a module at almost no
    cut and lower the n-cut; with "isolated" a :class:`modcore.FloatingUnitsWarning`
    says when the network has a component that touches neither end. A
    network of one group (a precomputed adjacency) has no ends:
    "unreachable" is a ValueError there. :attr:`modcore.Clustering.n_dropped` and
    the counts beside it say what was left out and why.
""",
        choices=("isolated", "unreachable"),
    )
    normalize: str | None = _field(
        None,
        """
normalize : {None, "rescale"}, default=None
    "rescale": before clustering (a shuffled network after shuffling), the port's
    function-preserving rescaling.
    For each hidden group l in order (a group with blocks in and out; an
    MLP's layers but the first and the last), each unit i gets ``s_i =
    ||W_l[:, i]||_2 + 1e-5``, the L2 norm of its incoming weights (over all
    blocks into the group, as rescaled by the groups before it); then
    ``W_l[:, i] /= s_i`` and ``W_{l+1}[i, :] *= s_i`` (modcore's ``(n_in,
    n_out)`` layout: torch's ``W_l[i, :] /= s_i``, ``W_{l+1}[:, i] *= s_i``).
    A ReLU network computes the same function (with biases ``b_l[i] /=
    s_i``), since ReLU is positively homogeneous; the graph changes. For a
    traced conv net the edges are kernel-slice norms, and the rescaled graph
    is the graph of the rescaled net when ``kernel_norm="l2"``. Not defined
    for a block from a group to itself (a precomputed adjacency): ValueError.
""",
        choices=(None, "rescale"),
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            bounds, choices = f.metadata["bounds"], f.metadata["choices"]
            if bounds is not None:
                low, high = bounds
                value = check_positive_int(value, f.name, minimum=low, maximum=high)
            elif choices == (True, False):
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{f.name} must be True or False, got {type(value).__name__}")
                value = bool(value)
            elif choices is not None:
                if not (value is None or isinstance(value, str)) or value not in choices:
                    raise ValueError(
                        f"{f.name} must be one of {_choices_text(choices)}, got {value!r}"
                    )
            object.__setattr__(self, f.name, value)
        tol = self.tol
        if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real):
            raise TypeError(f"tol must be a float, got {type(tol).__name__}")
        if not 0 < float(tol) < 1:
            raise ValueError(f"tol must be in (0, 1), got {tol!r}")
        object.__setattr__(self, "tol", float(tol))

    def replace(self, **changes: Any) -> ClusterSettings:
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def bounds(cls, name: str) -> tuple[int, int]:
        """The inclusive range of the integer field ``name`` (for the CLI's types)."""
        return _limit(name, "bounds", "an integer setting")

    @classmethod
    def choices(cls, name: str) -> tuple:
        """The values the field ``name`` takes (for the CLI's choices)."""
        return _limit(name, "choices", "a setting with choices")

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of the field ``name``."""
        return _fields()[name].default

    def graph_args(self) -> dict:
        """How ``_core`` turns the network (and each shuffled one) into the graph."""
        return {"drop": self.drop, "normalize": self.normalize or "none"}

    def core_args(self) -> tuple[int, int, int, float, str, str, bool, str]:
        return (
            self.n_clusters,
            self.n_init,
            self.max_iter,
            self.tol,
            self.eigen_method,
            self.select_by,
            self.refine,
            self.assign_labels,
        )


def _fields() -> dict:
    return {f.name: f for f in dataclasses.fields(ClusterSettings)}


def _limit(name: str, kind: str, what: str):
    """The field's ``bounds`` or ``choices``; a ValueError if it has none or is no field."""
    try:
        limit = _fields()[name].metadata[kind]
    except KeyError:
        raise ValueError(f"ClusterSettings has no field {name!r}") from None
    if limit is None:
        raise ValueError(f"{name} is not {what}")
    return limit


def _choices_text(choices: tuple) -> str:
    return "(" + ", ".join(repr(c) for c in choices) + ")"


#: The settings' names, in the order the docstrings list them.
FIELDS = tuple(f.name for f in dataclasses.fields(ClusterSettings))

_SETTINGS_DOC = """
settings : ClusterSettings, optional
    The parameters below in one :class:`modcore.ClusterSettings`; a keyword given
    beside it must equal its field (ValueError otherwise).
"""

# The line a docstring holds where the parameters' text goes.
_MARK = "CLUSTER_SETTINGS_FIELDS"


def settings_doc(names, defaults=None) -> str:
    """The numpydoc Parameters entries of the fields ``names``, unindented, with the
    defaults of ``defaults`` (a function's own, where they differ from the class's)."""
    fields, entries = _fields(), []
    for name in names:
        doc = fields[name].metadata["doc"]
        if defaults and defaults[name] != fields[name].default:
            head, _, rest = doc.partition("\n")
            doc = f"{head[: head.index('default=')]}default={_literal(defaults[name])}\n{rest}"
        entries.append(doc)
    return "\n".join(entries)


def _literal(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _fill_doc(doc: str | None, text: str) -> str | None:
    if doc is None:
        return None
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == _MARK:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = textwrap.indent(text, indent).rstrip("\n")
            return "\n".join(lines) + ("\n" if doc.endswith("\n") else "")
    raise ValueError(f"the docstring has no {_MARK} line")


ClusterSettings.__doc__ = _fill_doc(ClusterSettings.__doc__, settings_doc(FIELDS))

F = TypeVar("F", bound=Callable[..., Any])


def takes_settings(func: F) -> F:
    """Let ``func`` take ``settings=ClusterSettings(...)`` beside the fields' keywords.

    ``func`` has a keyword-only ``settings`` parameter and keywords named like some of
    the fields. The wrapper always calls it with ``settings`` set to a checked
    ClusterSettings and those keywords set to its values: the object given (a keyword
    passed beside it must agree with it), or one made from the keywords (the function's
    own defaults included; fields it has no keyword for keep the class defaults). The
    docstring's ``CLUSTER_SETTINGS_FIELDS`` line becomes the ``settings`` entry and the
    entries of those fields.
    """
    signature = inspect.signature(func)
    names = tuple(name for name in FIELDS if name in signature.parameters)
    defaults = {name: signature.parameters[name].default for name in names}
    func.__doc__ = _fill_doc(
        func.__doc__, _SETTINGS_DOC.strip("\n") + "\n" + settings_doc(names, defaults)
    )

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        given = kwargs.get("settings")
        if given is None:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:  # as Python words it: "f() got an unexpected ..."
                raise TypeError(f"{func.__name__}() {exc}") from None
            bound.apply_defaults()
            settings = ClusterSettings(**{name: bound.arguments[name] for name in names})
        elif not isinstance(given, ClusterSettings):
            raise TypeError(
                f"settings must be a modcore.ClusterSettings, got {type(given).__name__}"
            )
        else:
            settings = given
            for name in names:
                if name in kwargs and not _same(kwargs[name], getattr(settings, name)):
                    raise ValueError(
                        f"{name}={kwargs[name]!r} conflicts with settings.{name}="
                        f"{getattr(settings, name)!r}; give it in one place"
                    )
        kwargs.update({name: getattr(settings, name) for name in names}, settings=settings)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _same(a, b) -> bool:
    """Whether a keyword equals a field (``refine=1`` does not equal ``True``)."""
    if isinstance(a, (bool, np.bool_)) != isinstance(b, (bool, np.bool_)):
        return False
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # an array or another value without a plain ==
        return False
