"""What the n-cut refinement costs: the default rule against cluster_qr alone, in CPU time.

    python benchmarks/bench_refine.py [--quick]

On the reference net (k=12, 1 thread), in this process: one clustering, and the
"layer" null per shuffle, each with the default rule (cluster_qr + refinement) and
with ``refine=False``; the best of R runs of the process's CPU time (all its
threads), which a busy shared machine disturbs less than wall time. The ratio is
the refinement's share; compare builds by their ratios (and by the CPU time where
the machine is the same).
"""

import argparse
import time
from functools import partial

import modcore
from common import cpu_name, reference_network


def best_cpu_ms(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats, batches, per_batch = (10, 4, 5) if args.quick else (40, 12, 10)
    net = reference_network(0)
    print(f"CPU: {cpu_name()}; reference net, k=12, 1 thread; best of {repeats} / {batches}")
    rows = {}
    for name, rule in (("default", {}), ("without refinement", dict(refine=False))):
        cluster = partial(modcore.spectral_cluster, net, seed=0, n_jobs=1, **rule)
        null = partial(
            modcore.ncut_significance,
            net,
            n_shuffles=per_batch,
            seed=0,
            n_jobs=1,
            progress=False,
            **rule,
        )
        cluster()  # warm-up
        rows[name] = (best_cpu_ms(cluster, repeats), best_cpu_ms(null, batches) / per_batch)
        print(
            f"{name:20s} one clustering {rows[name][0]:6.1f} ms CPU, "
            f"null {rows[name][1]:6.1f} ms CPU a shuffle"
        )
    (d1, dn), (b1, bn) = rows["default"], rows["without refinement"]
    print(f"default / without refinement: one clustering {d1 / b1:.2f}x, null {dn / bn:.2f}x")


if __name__ == "__main__":
    main()
