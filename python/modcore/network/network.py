# Long (550 lines): the Network type and the checks of its constructors' inputs.
"""The one graph type: unit groups joined by weighted edge blocks.

A network is a list of groups (a named layer of units: an MLP layer's neurons, a
conv layer's channels, the nodes of a precomputed graph) and a list of blocks,
each a matrix of signed weights between the units of two groups (or, for a
block from a group to itself, a symmetric adjacency among its units). The graph
modcore clusters has one node per unit and an edge of weight |w| per non-zero
block entry; a chain of weight matrices (an MLP) is the special case where
block l joins group l to group l + 1.

Blocks are kept as given where that costs nothing (C-contiguous float32/float64
dense arrays, read in place by the C++ core) and otherwise as sorted, unique flat
positions ``row * n_dst + col`` with their values, so memory follows the
non-zeros.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._core import graph as core_graph
from ..common.types import InputShape
from .checks import all_finite, check_weights, real_array

if TYPE_CHECKING:
    import torch

if TYPE_CHECKING:
    from .._core import CoreBlock  # exists only in the stub

__all__ = ["Block", "Network"]

# Units of all groups together. The graph costs memory per edge, but a clustering holds
# a label for every declared unit, connected or not (8 bytes each): 2**28 units are 2 GiB
# of labels, and 2**31 units declared around a few edges were an out-of-memory kill.
# No network modcore can embed comes near it (a Lanczos basis of 2**28 nodes is ~50 GiB).
MAX_UNITS = 2**28


@dataclass(frozen=True, repr=False)
class Block:
    """Weights from the units of group ``src`` to those of group ``dst``.

    Exactly one of ``dense`` (an ``(n_src, n_dst)`` float array) and the pair
    ``positions``/``values`` (flat positions ``row * n_dst + col``, sorted and
    unique, and their non-zero values) is set. A block with ``src == dst`` is an
    undirected adjacency among that group's units, stored as its strict upper
    triangle (``row < col``).
    """

    src: int
    dst: int
    shape: tuple
    dense: np.ndarray | None = None
    positions: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def is_self(self) -> bool:
        return self.src == self.dst

    @property
    def nnz(self) -> int:
        if self.dense is not None:
            return int(np.count_nonzero(self.dense))
        return int(self.sparse()[1].size)

    def coo(self) -> tuple:
        """``(rows, cols, values)`` of the non-zero entries."""
        if self.dense is not None:
            rows, cols = np.nonzero(self.dense)
            return rows, cols, self.dense[rows, cols].astype(np.float64)
        positions, values = self.sparse()
        rows, cols = np.divmod(positions, self.shape[1])
        return rows, cols, values

    def sparse(self) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, values)`` of a block not stored dense."""
        if self.positions is None or self.values is None:
            raise ValueError("this block is stored dense")
        return self.positions, self.values

    def to_core(self) -> CoreBlock:
        """The form ``modcore._core`` reads."""
        # The core reads either the dense matrix or the sparse pair, the other left None.
        sparse = (None, None) if self.dense is not None else (self.positions, self.values)
        return (self.src, self.dst, self.shape[0], self.shape[1], self.is_self, self.dense, *sparse)

    def __repr__(self) -> str:
        return f"Block({self.src} -> {self.dst}, shape={self.shape}, nnz={self.nnz})"


class Network:
    """A network as unit groups and weighted edge blocks between them.

    Parameters
    ----------
    groups : sequence of (str, int)
        ``(name, n_units)`` per group, in the order labels are reported. Names
        are unique and non-empty.
    blocks : sequence of (src, dst, matrix)
        ``src`` and ``dst`` are group names or indices; ``matrix`` has shape
        ``(n_units[src], n_units[dst])`` and is a numpy array, a scipy.sparse
        matrix/array, or a triple ``(rows, cols, values)`` of its non-zeros
        (duplicates are summed). Entries are signed weights; the graph uses
        their absolute values. A block with ``src == dst`` must be symmetric;
        its diagonal is ignored (as scipy's normalized Laplacian does).

    Raises
    ------
    TypeError
        Non-numeric matrices, names that are not strings, sizes that are not ints.
    ValueError
        Shapes that do not match the groups, unknown or duplicate group names,
        NaN or infinite weights, an asymmetric self-block, no groups.

    Examples
    --------
    >>> import numpy as np, modcore
    >>> net = modcore.Network([("in", 2), ("out", 3)], [("in", "out", np.ones((2, 3)))])
    >>> net
    Network(groups=[in: 2, out: 3], blocks=[in -> out: 6 edges])
    """

    def __init__(
        self, groups: Sequence[tuple[str, int]], blocks: Sequence[tuple[str | int, str | int, Any]]
    ) -> None:
        self.names, self.sizes = _check_groups(groups)
        index = {name: i for i, name in enumerate(self.names)}
        if isinstance(blocks, (str, bytes, Mapping)) or not isinstance(blocks, Sequence):
            raise TypeError(
                f"blocks must be a sequence of (src, dst, matrix), got {type(blocks).__name__}"
            )
        self.blocks = tuple(
            _check_block(b, i, index, self.names, self.sizes) for i, b in enumerate(blocks)
        )

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def from_weights(
        cls, weights: Sequence[npt.ArrayLike], names: Sequence[str] | None = None
    ) -> Network:
        """A chain: ``weights[l]`` of shape ``(n_l, n_{l+1})`` joins layer l to l + 1.

        Layers are named ``"layer 0"``, ``"layer 1"``, ... unless ``names`` (one
        per layer of units, ``len(weights) + 1``) is given.
        """
        weights = check_weights(weights)
        sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
        if names is None:
            names = [f"layer {l}" for l in range(len(sizes))]
        elif len(names) != len(sizes):
            raise ValueError(
                f"names must have one entry per layer of units ({len(sizes)}), got {len(names)}"
            )
        net = cls.__new__(cls)
        net.names, net.sizes = _check_groups(list(zip(names, sizes)))
        net.blocks = tuple(Block(l, l + 1, w.shape, dense=w) for l, w in enumerate(weights))
        return net

    @classmethod
    def from_adjacency(cls, adjacency: Any, name: str = "nodes") -> Network:
        """A precomputed graph: a symmetric ``(n, n)`` adjacency (numpy or scipy.sparse).

        One group of ``n`` nodes; the diagonal is ignored. Labels come back as one
        array of ``n`` entries.
        """
        shape = getattr(adjacency, "shape", None)
        if shape is None:
            raise TypeError(
                f"adjacency must be a square numpy array or scipy.sparse matrix, got a "
                f"{type(adjacency).__name__} (for nested lists: np.asarray(adjacency))"
            )
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"adjacency must be a square 2-D matrix, got shape {shape}")
        return cls([(name, int(shape[0]))], [(0, 0, adjacency)])

    @classmethod
    def from_torch(
        cls,
        model: torch.nn.Module,
        *,
        input_shape: InputShape = None,
        example_input: torch.Tensor | None = None,
        kernel_norm: str = "l1",
        include_input: bool = True,
        include_dense: bool = True,
        preset: str | None = None,
        verify: bool | None = None,
    ) -> Network:
        """Trace a torch model (torch.fx) into its unit graph, verified against the
        model; see :func:`modcore.network.torch.trace.network_from_module`."""
        from .torch.trace import network_from_module

        return network_from_module(
            model,
            input_shape=input_shape,
            example_input=example_input,
            kernel_norm=kernel_norm,
            include_input=include_input,
            include_dense=include_dense,
            preset=preset,
            verify=verify,
        )

    # -- structure ------------------------------------------------------------------

    @property
    def n_units(self) -> int:
        return int(sum(self.sizes))

    @property
    def offsets(self) -> np.ndarray:
        """Global index of each group's first unit (units numbered group by group)."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def is_chain(self) -> bool:
        """True when block l joins group l to group l + 1, for every group."""
        return len(self.blocks) == len(self.sizes) - 1 and all(
            b.src == l and b.dst == l + 1 for l, b in enumerate(self.blocks)
        )

    @property
    def is_bipartite(self) -> bool:
        """Whether the groups 2-colour so that every non-empty block joins two colours
        (then the smaller C Cᵀ eigenproblem applies); chains always do, residual
        links between layers of one parity and self-blocks do not."""
        return bool(core_graph(*self.to_core())["bipartite"])

    def drop_counts(self) -> dict:
        """How many units each drop rule leaves out of this network's graph.

        Returns
        -------
        dict
            ``n_units``; ``n_isolated``: units without edges (what ``drop="isolated"``
            leaves out); ``n_unreachable``: units with edges whose connected component
            has no unit in the first group or none in the last (what ``drop="unreachable"``
            leaves out beyond the isolated ones; 0 for a network of one group);
            ``n_floating``: of those, the units whose component touches neither end.

        Examples
        --------
        >>> import numpy as np, modcore
        >>> w = [np.eye(3), np.eye(3)]
        >>> w[1][2, 2] = 0  # unit 2 of the middle layer reaches the input only
        >>> modcore.Network.from_weights(w).drop_counts()
        {'n_units': 9, 'n_isolated': 1, 'n_unreachable': 2, 'n_floating': 0}
        """
        graph = core_graph(*self.to_core())
        counts = {key: int(graph[key]) for key in ("n_isolated", "n_unreachable", "n_floating")}
        return {"n_units": self.n_units, **counts}

    def chain_weights(self) -> list:
        """The dense ``(n_l, n_{l+1})`` matrices of a chain (for figures of MLPs)."""
        if not self.is_chain:
            raise ValueError("this network is not a chain of layers")
        out = []
        for b in self.blocks:
            if b.dense is not None:
                out.append(b.dense)
            else:
                w = np.zeros(b.shape)
                positions, values = b.sparse()
                w.flat[positions] = values
                out.append(w)
        return out

    def edges(self) -> tuple:
        """``(u, v, w)``: global unit indices and signed weights of every edge."""
        off = self.offsets
        us, vs, ws = [], [], []
        for b in self.blocks:
            rows, cols, vals = b.coo()
            us.append(rows + off[b.src])
            vs.append(cols + off[b.dst])
            ws.append(np.asarray(vals, dtype=np.float64))
        if not us:
            return (np.empty(0, np.int64),) * 2 + (np.empty(0),)
        return np.concatenate(us), np.concatenate(vs), np.concatenate(ws)

    def adjacency(self) -> Any:
        """The symmetric ``|w|`` adjacency over all units as a scipy.sparse CSR matrix
        (needs scipy; parallel edges are summed)."""
        try:
            from scipy import sparse
        except ImportError as exc:
            raise ImportError("Network.adjacency needs scipy: pip install scipy") from exc
        u, v, w = self.edges()
        n = self.n_units
        a = sparse.coo_matrix((np.abs(w), (u, v)), shape=(n, n)).tocsr()
        return (a + a.T).tocsr()

    def split_labels(self, flat: npt.ArrayLike) -> list:
        """Per-group arrays from one array over all units (group by group)."""
        flat = np.asarray(flat)
        return [flat[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def with_block_entries(self, entries: Sequence[tuple[np.ndarray, np.ndarray]]) -> Network:
        """This network with each block's entries replaced by ``(positions, values)``
        (flat positions as :class:`Block` stores them, unique)."""
        if len(entries) != len(self.blocks):
            raise ValueError(f"expected entries for {len(self.blocks)} blocks, got {len(entries)}")
        net = Network.__new__(Network)
        net.names, net.sizes = self.names, self.sizes
        blocks = []
        for b, (pos, val) in zip(self.blocks, entries):
            order = np.argsort(pos, kind="stable")
            blocks.append(
                Block(
                    b.src,
                    b.dst,
                    b.shape,
                    positions=np.asarray(pos)[order],
                    values=np.asarray(val, dtype=np.float64)[order],
                )
            )
        net.blocks = tuple(blocks)
        return net

    @property
    def fingerprint(self) -> str:
        """A sha256 (hex) of what the graph is made of, so that a result can name the
        network it was computed on.

        It covers the number of units of each group, in order, and each block's groups,
        shape and non-zero entries (flat positions ``row * n_dst + col`` in increasing
        order, as int64, and their signed values as float64): a network read from
        another file format, dense or sparse, has the same fingerprint; group names
        are not covered. Computed once per network (the arrays are taken as not
        changing afterwards).

        Examples
        --------
        >>> import numpy as np, modcore
        >>> a = modcore.Network.from_weights([np.eye(2)])
        >>> b = modcore.Network.from_weights([np.eye(2)], names=["x", "y"])
        >>> a.fingerprint == b.fingerprint, len(a.fingerprint)
        (True, 64)
        """
        found = getattr(self, "_fingerprint", None)
        if found is None:
            h = hashlib.sha256(b"modcore network v1")
            h.update(np.asarray(self.sizes, dtype="<i8").tobytes())
            for b in self.blocks:
                if b.dense is not None:
                    positions = np.flatnonzero(b.dense)
                    values = b.dense.ravel()[positions]
                else:
                    positions, values = b.sparse()
                h.update(np.asarray([b.src, b.dst, *b.shape, positions.size], "<i8").tobytes())
                h.update(np.ascontiguousarray(positions, dtype="<i8").tobytes())
                h.update(np.ascontiguousarray(values, dtype="<f8").tobytes())
            found = self._fingerprint = h.hexdigest()
        return found

    def to_core(self) -> tuple[np.ndarray, list[CoreBlock]]:
        return np.asarray(self.sizes, dtype=np.int64), [b.to_core() for b in self.blocks]

    def __repr__(self) -> str:
        groups = ", ".join(f"{n}: {s}" for n, s in zip(self.names, self.sizes))
        blocks = ", ".join(
            f"{self.names[b.src]} -> {self.names[b.dst]}: {b.nnz} edges" for b in self.blocks[:6]
        )
        more = f", ... ({len(self.blocks)} blocks)" if len(self.blocks) > 6 else ""
        return f"Network(groups=[{groups}], blocks=[{blocks}{more}])"


# -- validation -----------------------------------------------------------------------


def _is_sparse(obj) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("scipy.sparse") and hasattr(obj, "tocoo")


def _check_groups(groups) -> tuple:
    if isinstance(groups, (str, bytes, Mapping)) or not isinstance(groups, Sequence):
        raise TypeError(
            f"groups must be a sequence of (name, n_units), got {type(groups).__name__}"
        )
    if len(groups) == 0:
        raise ValueError("a network needs at least one group of units")
    names, sizes = [], []
    for i, g in enumerate(groups):
        if not isinstance(g, Sequence) or isinstance(g, (str, bytes)) or len(g) != 2:
            raise TypeError(f"groups[{i}] must be a (name, n_units) pair, got {g!r}")
        name, size = g
        if not isinstance(name, str) or not name:
            raise TypeError(f"groups[{i}] name must be a non-empty str, got {name!r}")
        if not isinstance(size, numbers.Integral) or isinstance(size, bool):
            raise TypeError(
                f"groups[{i}] ({name!r}) size must be an int, got {type(size).__name__}"
            )
        if size < 1:
            raise ValueError(f"groups[{i}] ({name!r}) must have at least one unit, got {size}")
        if name in names:
            raise ValueError(f"duplicate group name {name!r}")
        names.append(name)
        sizes.append(int(size))
    if sum(sizes) > MAX_UNITS:
        raise ValueError(
            f"the groups hold {sum(sizes)} units; modcore takes at most {MAX_UNITS} "
            "(2**28: its results hold a label for every unit, connected or not)"
        )
    return tuple(names), tuple(sizes)


def _group_index(ref, index: dict, n: int, what: str) -> int:
    if isinstance(ref, str):
        if ref not in index:
            raise ValueError(f"{what} names an unknown group {ref!r}; groups: {list(index)}")
        return index[ref]
    if isinstance(ref, numbers.Integral) and not isinstance(ref, bool):
        if not 0 <= int(ref) < n:
            raise ValueError(f"{what} is group {ref}, but there are {n} groups")
        return int(ref)
    raise TypeError(f"{what} must be a group name or index, got {type(ref).__name__}")


def _check_block(block, i: int, index: dict, names, sizes) -> Block:
    if isinstance(block, Block):
        block = (
            block.src,
            block.dst,
            block.dense if block.dense is not None else _flat_to_coo(block),
        )
    if not isinstance(block, Sequence) or isinstance(block, (str, bytes)) or len(block) != 3:
        raise TypeError(f"blocks[{i}] must be a (src, dst, matrix) triple")
    src = _group_index(block[0], index, len(sizes), f"blocks[{i}] src")
    dst = _group_index(block[1], index, len(sizes), f"blocks[{i}] dst")
    shape = (sizes[src], sizes[dst])
    where = f"blocks[{i}] ({names[src]} -> {names[dst]})"
    matrix = block[2]
    if _is_sparse(matrix):
        coo = matrix.tocoo()
        _check_shape(coo.shape, shape, where)
        rows, cols, vals = coo.row, coo.col, coo.data
    elif isinstance(matrix, tuple) and len(matrix) == 3:
        rows, cols, vals = (np.asarray(a) for a in matrix)
    else:
        dense = real_array(matrix, where)
        if dense.ndim != 2:
            raise ValueError(f"{where} must be 2-D {shape}, got {dense.ndim}-D shape {dense.shape}")
        _check_shape(dense.shape, shape, where)
        if not all_finite(dense):
            raise ValueError(f"{where} contains NaN or infinite values")
        if src != dst:
            if dense.dtype not in (np.float32, np.float64):
                dense = dense.astype(np.float64)
            return Block(src, dst, shape, dense=np.ascontiguousarray(dense))
        rows, cols = np.nonzero(dense)
        vals = dense[rows, cols]
    return _coo_block(src, dst, shape, rows, cols, vals, where)


def _check_shape(got, expected, where):
    if tuple(got) != tuple(expected):
        raise ValueError(
            f"{where} has shape {tuple(got)}, expected {tuple(expected)} "
            "(n_units of src, n_units of dst)"
        )


def _coo_block(src, dst, shape, rows, cols, vals, where) -> Block:
    vals = real_array(vals, where + " values").astype(np.float64, copy=False).ravel()
    for name, a in (("rows", rows), ("cols", cols)):
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{where} {name} must be integers, got dtype {a.dtype}")
    rows = np.asarray(rows, dtype=np.int64).ravel()
    cols = np.asarray(cols, dtype=np.int64).ravel()
    if not rows.size == cols.size == vals.size:
        raise ValueError(
            f"{where}: rows, cols and values differ in length "
            f"({rows.size}, {cols.size}, {vals.size})"
        )
    if not all_finite(vals):
        raise ValueError(f"{where} contains NaN or infinite values")
    if rows.size and (
        rows.min() < 0 or rows.max() >= shape[0] or cols.min() < 0 or cols.max() >= shape[1]
    ):
        raise ValueError(f"{where} has an entry outside its shape {shape}")
    if src == dst:
        rows, cols, vals = _upper_triangle(rows, cols, vals, where)
    pos = rows * shape[1] + cols
    keep = vals != 0
    pos, vals = pos[keep], vals[keep]
    order = np.argsort(pos, kind="stable")
    pos, vals = pos[order], vals[order]
    if pos.size > 1 and (np.diff(pos) == 0).any():
        pos, start = np.unique(pos, return_index=True)
        vals = np.add.reduceat(vals, start)
        keep = vals != 0
        pos, vals = pos[keep], vals[keep]
    return Block(src, dst, shape, positions=pos, values=vals)


def _upper_triangle(rows, cols, vals, where) -> tuple:
    """A symmetric self-block's strict upper triangle; the diagonal is dropped."""
    off = rows != cols
    rows, cols, vals = rows[off], cols[off], vals[off]
    upper = rows < cols
    n = int(max(rows.max(initial=0), cols.max(initial=0))) + 1
    key = lambda r, c: r * n + c  # noqa: E731
    a_key, a_val = _summed(key(rows[upper], cols[upper]), vals[upper])
    b_key, b_val = _summed(key(cols[~upper], rows[~upper]), vals[~upper])
    scale = float(np.abs(vals).max(initial=0.0))
    if not (
        np.array_equal(a_key, b_key) and np.allclose(a_val, b_val, rtol=1e-10, atol=1e-12 * scale)
    ):
        raise ValueError(
            f"{where} joins a group to itself, so it must be a symmetric "
            "adjacency; symmetrize it, e.g. (a + a.T) / 2"
        )
    r, c = np.divmod(a_key, n)
    return r, c, a_val


def _summed(keys, vals) -> tuple:
    keys, inverse = np.unique(keys, return_inverse=True)
    out = np.zeros(keys.size)
    np.add.at(out, inverse, vals)
    nz = out != 0
    return keys[nz], out[nz]


def _flat_to_coo(block: Block) -> tuple:
    positions, values = block.sparse()
    rows, cols = np.divmod(positions, block.shape[1])
    if block.is_self:  # stored as the upper triangle: give both halves back
        return (
            np.concatenate([rows, cols]),
            np.concatenate([cols, rows]),
            np.concatenate([values, values]),
        )
    return rows, cols, values
