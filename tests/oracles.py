"""Slow, obviously-correct numpy/scipy versions of each stage, for the tests."""

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph


def adjacency(weights):
    """Symmetric adjacency over all neurons (isolated ones included) and layer offsets."""
    sizes = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    n = offsets[-1]
    blocks = sp.lil_matrix((n, n))
    for l, w in enumerate(weights):
        a = np.abs(np.asarray(w, dtype=np.float64))
        blocks[offsets[l] : offsets[l + 1], offsets[l + 1] : offsets[l + 2]] = a
    upper = blocks.tocsr()
    return (upper + upper.T).tocsr(), offsets


def block_adjacency(groups, blocks):
    """Dense symmetric adjacency of named groups [(name, size)] joined by blocks
    [(src name, dst name, (src size, dst size) matrix)]: |matrix| placed at the groups'
    offsets, blocks between the same groups summed, then mirrored. Numpy only."""
    sizes = dict(groups)
    start = dict(zip(sizes, np.cumsum([0, *sizes.values()]).tolist()))
    n = sum(sizes.values())
    adj = np.zeros((n, n))
    for src, dst, block in blocks:
        block = np.abs(np.asarray(block, dtype=np.float64))
        assert block.shape == (sizes[src], sizes[dst]), (src, dst, block.shape)
        adj[start[src] : start[src] + sizes[src], start[dst] : start[dst] + sizes[dst]] += block
    return adj + adj.T


def live_adjacency(weights):
    """Adjacency restricted to neurons with edges, and the mask of those neurons."""
    a, _ = adjacency(weights)
    live = np.asarray(a.sum(axis=1)).ravel() > 0
    return a[live][:, live].tocsr(), live


def ncut(adj, labels):
    """sum_A cut(A, rest) / vol(A) straight from the definition."""
    adj = sp.csr_matrix(adj)
    deg = np.asarray(adj.sum(axis=1)).ravel()
    total = 0.0
    for a in np.unique(labels):
        inside = labels == a
        vol = deg[inside].sum()
        if vol > 0:
            cut = adj[inside][:, ~inside].sum()
            total += cut / vol
    return total


def normalized_adjacency(adj):
    d = 1.0 / np.sqrt(np.asarray(adj.sum(axis=1)).ravel())
    return sp.diags(d) @ adj @ sp.diags(d)


def flat_labels(labels_by_layer):
    return np.concatenate(labels_by_layer)


def same_partition(a, b):
    """True when the labellings a and b are equal up to renaming the labels."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def cluster_qr(vectors):
    """Labels from an embedding by column-pivoted QR (Damle, Minden & Ying 2019), with scipy."""
    import scipy.linalg

    k = vectors.shape[1]
    _, _, piv = scipy.linalg.qr(vectors.T, pivoting=True, mode="economic")
    u, _, vt = np.linalg.svd(vectors[piv[:k], :].T)
    return np.abs(vectors @ (u @ vt)).argmax(axis=1)


def improving_moves(adj, labels):
    """(unit, module) pairs whose single move lowers the n-cut; the last unit of a module stays."""
    k = labels.max() + 1
    base = ncut(adj, labels)
    counts = np.bincount(labels, minlength=k)
    moves = []
    for i in range(len(labels)):
        if counts[labels[i]] == 1:
            continue
        for b in range(k):
            if b != labels[i]:
                moved = labels.copy()
                moved[i] = b
                if ncut(adj, moved) < base - 1e-10:
                    moves.append((i, b))
    return moves


# --- the null's seeds ---------------------------------------------------------------

M64 = 2**64 - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def null_clustering_seed(seed, index):
    """The clustering seed of shuffle ``index`` (cpp/src/shuffle.cpp, rng.hpp): the first
    xoshiro256++ draw of stream ``index`` of splitmix64(seed ^ kClusterTag)."""
    base = splitmix64(seed ^ 0x636C757374657231)[1]
    _, mixed = splitmix64(base ^ ((0xD1B54A32D192ED03 * (index + 1)) & M64))
    state, s = mixed ^ index, []
    for _ in range(4):
        state, value = splitmix64(state)
        s.append(value)
    total = (s[0] + s[3]) & M64
    return ((((total << 23) | (total >> 41)) & M64) + s[0]) & M64


# --- how the network becomes the graph: drop rules and rescaling ---------------------


def unit_components(adj):
    """Component id of every unit (isolated units are components of their own)."""
    return csgraph.connected_components(sp.csr_matrix(adj), directed=False)[1]


def reach(adj, offsets):
    """Per unit: (isolated, unreachable, floating) masks, by the definitions: no edges; a
    component (with edges) without a unit in the first group or without one in the
    last; one without both. The authors' port (delete_isolated_ccs) drops both kinds."""
    adj = sp.csr_matrix(adj)
    isolated = np.asarray(adj.sum(axis=1)).ravel() == 0
    comp = unit_components(adj)
    first = set(comp[offsets[0] : offsets[1]][~isolated[offsets[0] : offsets[1]]].tolist())
    last = set(comp[offsets[-2] : offsets[-1]][~isolated[offsets[-2] : offsets[-1]]].tolist())
    has_first = np.isin(comp, list(first))
    has_last = np.isin(comp, list(last))
    unreachable = ~isolated & ~(has_first & has_last)
    floating = ~isolated & ~has_first & ~has_last
    return isolated, unreachable, floating


def rescaled(weights, biases=None, eps=1e-5):
    """The port's normalize_weights_array, in modcore's (n_in, n_out) layout: for each
    hidden layer in order, s = norm of each unit's incoming weights (as already scaled)
    + eps; incoming columns / s, outgoing rows * s (and the unit's bias / s)."""
    ws = [np.array(w, dtype=np.float64) for w in weights]
    bs = None if biases is None else [np.array(b, dtype=np.float64) for b in biases]
    for l in range(len(ws) - 1):
        # The norm of x as m * ||x / m|| (m its largest entry), finite for huge weights.
        m = np.abs(ws[l]).max(axis=0)
        s = m * np.linalg.norm(ws[l] / np.where(m > 0, m, 1.0), axis=0) + eps
        ws[l] = ws[l] / s[None, :]
        ws[l + 1] = ws[l + 1] * s[:, None]
        if bs is not None:
            bs[l] = bs[l] / s
    return ws if bs is None else (ws, bs)


def dense_blocks(net, *, nonzero=False):
    """A Network's graph as dense ``|w|`` matrices, one per (source, target) group pair,
    its blocks' entries summed; ``nonzero`` leaves out pairs with no edge."""
    out = {}
    for b in net.blocks:
        d = np.zeros(b.shape)
        rows, cols, vals = b.coo()
        np.add.at(d, (rows, cols), np.abs(vals))
        key = (net.names[b.src], net.names[b.dst])
        out[key] = out.get(key, 0) + d
    return {k: v for k, v in out.items() if v.any()} if nonzero else out
