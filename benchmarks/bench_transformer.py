"""A GPT-2-small-shaped transformer: both views built and clustered, their memory, and the
shuffle null against scikit-learn's SpectralClustering at equal cores.

    python benchmarks/bench_transformer.py [--quick] [--vocab 50257] [--top-k 8]
        [--shuffles 100] [--sklearn-shuffles 100] [--sklearn-cap CPU_SECONDS] [--jobs 1]
        [--views blocks virtual]

A Hugging Face ``GPT2LMHeadModel(GPT2Config(...))`` shaped as GPT-2 small (12 blocks,
d_model 768, 12 heads, d_mlp 3072, vocabulary 50,257, 1,024 positions), randomly
initialised (seed 0; nothing downloaded), read once by modcore. For each view:

- build: ``block_networks`` (12 MLPs, 768 -> 3072 -> 768, dense) or ``virtual_network``
  with ``--top-k`` (dense is refused at this size);
- cluster: ``spectral_cluster`` at k = 12 (blocks: MLP 0, whose 11 siblings have the same
  shape; ``--all-blocks`` clusters all 12);
- memory of each build and clustering: the growth of the peak resident set (VmHWM, reset
  through /proc/self/clear_refs just before the call, as ``bench_large.py``) over the
  resident set before it, divided by the edge storage (12 bytes an edge: a float64 weight
  and an int32 index);
- the null: ``ncut_significance`` with ``--shuffles`` 'layer' shuffles on ``--jobs``
  threads (its own clustering, timed separately, subtracted), against scikit-learn's
  ``SpectralClustering(affinity="precomputed", eigen_solver="arpack", n_init=25)`` on
  ``--sklearn-shuffles`` of the same shuffled networks (``modcore.shuffled_network``, the
  adjacency built inside the clock), with BLAS/OpenMP limited to ``--jobs`` threads
  (threadpoolctl). Times are per shuffle; the ratio compares those, and the numbers of
  shuffles each side ran are printed beside it. ``--sklearn-cap``: scikit-learn is asked to
  stop after that many CPU seconds and prints the time it ran as a lower bound; the timer's
  signal is acted on only when Python code runs (at GPT-2's full vocabulary it was not, and
  the run was stopped by hand).

``--quick``: vocabulary 2,048, 128 positions, 4 shuffles each.
"""

import argparse
import signal
import time
from functools import partial

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import modcore
import modcore.network.transformer as mt
from bench_large import peak_growth, start_peak
from common import cpu_name, sklearn_ncut
from modcore.nn.gpt2 import gpt2_model

EDGE_BYTES = 12


def gpt2_small(vocab, positions):
    return gpt2_model(
        n_layer=12,
        n_embd=768,
        n_head=12,
        n_inner=3072,
        vocab_size=vocab,
        n_positions=positions,
    ).eval()


def edges_of(network):
    return sum(b.nnz for b in network.blocks)


def measured(fn):
    """(result, wall seconds, CPU seconds, peak growth in bytes) of one call."""
    base = start_peak()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu, peak_growth(base)


class OverCap(Exception):
    """scikit-learn's shuffles ran past --sklearn-cap CPU seconds."""


def _over_cap(signum, frame):
    raise OverCap


def sklearn_null(network, n, jobs, cap):
    """Wall and CPU seconds per shuffle of scikit-learn's SpectralClustering on n shuffles,
    and their n-cuts; past ``cap`` CPU seconds in all (None: no cap) it stops, and the
    CPU seconds it ran are a lower bound on its time."""
    ncuts = []
    signal.signal(signal.SIGPROF, _over_cap)  # ITIMER_PROF counts this process's CPU time
    with threadpool_limits(limits=jobs):
        start, cpu = time.perf_counter(), time.process_time()
        signal.setitimer(signal.ITIMER_PROF, cap or 0)
        try:
            for i in range(n):
                adj = modcore.shuffled_network(network, seed=0, index=i).adjacency()
                live = np.asarray(adj.sum(axis=1)).ravel() > 0
                adj = adj[live][:, live]
                ncuts.append(sklearn_ncut(adj, i))
        except OverCap:
            return None, time.process_time() - cpu, np.array(ncuts)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        return (
            (time.perf_counter() - start) / n,
            (time.process_time() - cpu) / n,
            np.array(ncuts),
        )


def report_build(what, build):
    """The build's time and peak against the storage of every network it made."""
    nets, build_s, build_cpu, build_peak = build
    storage = sum(edges_of(n) for n in nets) * EDGE_BYTES
    print(
        f"[{what}] {len(nets)} network(s), {sum(n.n_units for n in nets):,} units, "
        f"{storage // EDGE_BYTES:,} edges (edge storage {storage / 2**20:,.0f} MiB); built in "
        f"{build_s:.1f} s ({build_cpu:.1f} CPU-s), peak {build_peak / 2**20:,.0f} MiB = "
        f"{build_peak / storage:.2f}x their edge storage"
    )


def report(view, network, jobs, shuffles, sk_shuffles, cap):
    storage = edges_of(network) * EDGE_BYTES
    print(f"[{view}] {network.n_units:,} units, {edges_of(network):,} edges")
    clustering, c_s, c_cpu, c_peak = measured(
        lambda: modcore.spectral_cluster(network, n_clusters=12, seed=0, n_jobs=jobs)
    )
    print(
        f"[{view}] clustered (k=12, {jobs} thread(s)) in {c_s:.1f} s ({c_cpu:.1f} CPU-s), "
        f"n-cut {clustering.ncut:.4f}, peak {c_peak / 2**20:,.0f} MiB = "
        f"{c_peak / storage:.2f}x the edge storage"
    )
    sig, s_s, s_cpu, s_peak = measured(
        lambda: modcore.ncut_significance(
            network, n_clusters=12, n_shuffles=shuffles, seed=0, n_jobs=jobs, progress=False
        )
    )
    per, per_cpu = (s_s - c_s) / shuffles, (s_cpu - c_cpu) / shuffles
    print(
        f"[{view}] modcore null: {shuffles} shuffles in {s_s - c_s:.1f} s "
        f"({per_cpu:.2f} CPU-s a shuffle), {per:.2f} s a shuffle, "
        f"null {sig.shuffled_mean:.4f} +- {sig.shuffled_std:.4f}, z {sig.z_score:.2f}; "
        f"peak {s_peak / 2**20:,.0f} MiB = {s_peak / storage:.2f}x the edge storage"
    )
    if sk_shuffles:
        sk_per, sk_cpu, sk = sklearn_null(network, sk_shuffles, jobs, cap)
        if sk_per is None:
            print(
                f"[{view}] scikit-learn SpectralClustering (arpack, n_init=25) stopped at the "
                f"cap, {sk_cpu:.0f} CPU-s, after {len(sk)} of {sk_shuffles} shuffle(s): at "
                f"least {sk_cpu / (len(sk) + 1) / per_cpu:.1f}x modcore's CPU time a shuffle"
            )
            return
        print(
            f"[{view}] scikit-learn SpectralClustering (arpack, n_init=25), {sk_shuffles} "
            f"shuffles: {sk_per:.2f} s ({sk_cpu:.2f} CPU-s) a shuffle, null {sk.mean():.4f}"
            + (f" +- {sk.std(ddof=1):.4f}" if len(sk) > 1 else "")
        )
        # on a loaded machine wall time depends on the neighbours; CPU time much less
        print(
            f"[{view}] ratio scikit-learn / modcore, {jobs} thread(s) each, per shuffle "
            f"({sk_shuffles} vs {shuffles} shuffles): {sk_per / per:.1f}x wall, "
            f"{sk_cpu / per_cpu:.1f}x CPU"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="vocabulary 2,048, 4 shuffles")
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--positions", type=int, default=1024)
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--shuffles", type=int, default=100)
    parser.add_argument("--sklearn-shuffles", type=int, default=100)
    parser.add_argument(
        "--sklearn-cap", type=float, default=None, help="CPU seconds for scikit-learn's shuffles"
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--views", nargs="+", default=["blocks", "virtual"])
    parser.add_argument("--all-blocks", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.vocab, args.positions, args.shuffles, args.sklearn_shuffles = 2048, 128, 4, 4
    torch.set_num_threads(args.jobs)
    print(f"CPU: {cpu_name()}; {args.jobs} thread(s) each side")
    model, m_s, _, _ = measured(lambda: gpt2_small(args.vocab, args.positions))
    print(
        f"GPT-2 small shape, vocabulary {args.vocab:,}, {args.positions:,} positions: "
        f"{sum(p.numel() for p in model.parameters()):,} parameters, made in {m_s:.1f} s"
    )
    read, r_s, _, r_peak = measured(partial(mt.read, model))
    del model
    print(f"read in {r_s:.1f} s (peak {r_peak / 2**20:,.0f} MiB: the float64 copy of the weights)")
    if "blocks" in args.views:
        nets, *timing = measured(lambda: mt.block_networks(read))
        report_build("blocks", (list(nets.values()), *timing))
        for name, net in nets.items() if args.all_blocks else list(nets.items())[:1]:
            report(
                f"blocks {name}",
                net,
                args.jobs,
                args.shuffles,
                args.sklearn_shuffles,
                args.sklearn_cap,
            )
        del nets
    if "virtual" in args.views:
        net, *timing = measured(lambda: mt.virtual_network(read, top_k=args.top_k))
        view = f"virtual top_k={args.top_k}"
        report_build(view, ([net], *timing))
        report(view, net, args.jobs, args.shuffles, args.sklearn_shuffles, args.sklearn_cap)


if __name__ == "__main__":
    main()
