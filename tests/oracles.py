"""Slow, obviously-correct numpy/scipy versions of each stage, for the tests."""

import numpy as np
import scipy.sparse as sp


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
