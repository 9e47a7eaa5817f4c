"""The planted two-task transformer, completed: k = 2, 4, 8 and the eigengap's k, ablation and
gradient attribution, a figure.

    OMP_NUM_THREADS=1 python -m modcore.experiments.transformer_planted_k --out DIR [--seeds 3]

Task, model, training and the ablation attribution are those of
``modcore.experiments.transformer_planted`` (imported from it, so the two cannot drift). Added:

- a second attribution, by gradient: the first-order estimate of each task's loss rise
  under the same mean ablation, ``sum over inputs and positions of dL/da * (mean - a)``
  (attribution patching), labelled by the same rule (the task of larger rise; neither
  where both are below 1% of the largest);
- modcore's modules of MLP neurons at k = 2, 4, 8 and at the k ``modcore.eigengap``
  suggests (19 shuffles), in both views, for the trained model, the model before
  training and 10 'layer' shuffles of the trained graph;
- NMI and ARI against each attribution, p from 1000 permutations of its labels;
- the table (``planted_k.json``, ``planted_k.md``), a figure (``planted_k.png``) and the
  run log.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..common.files import atomic_write, json_text, write_json
from ..method.cluster import spectral_cluster
from ..method.eigengap import eigengap
from ..method.null import shuffled_network
from ..method.stability import compare_partitions
from . import transformer_planted as planted
from .permutation_null import nmi_permutation_test
from .script import appending_log, run_script

KS = (2, 4, 8)
N_SHUFFLED = 10


def gradient_attribution(net, x, y1, y2):
    """0 (a + b), 1 (c + d) or -1 (neither) per neuron, by the gradient estimate of the
    loss rise under mean ablation."""
    acts = {}

    def keep(module, inputs, output):
        output.retain_grad()
        acts["a"] = output

    rises = []
    for task in (0, 1):
        net.zero_grad()
        loss = planted.losses(net, x, y1, y2, keep)[task]
        loss.backward()
        a = acts["a"]
        mean = a.detach().mean(dim=(0, 1))
        rises.append(((mean - a.detach()) * a.grad).sum(dim=(0, 1)).numpy())
    rise = np.stack(rises, axis=1)
    labels = rise.argmax(1)
    labels[rise.max(1) < 0.01 * rise.max()] = -1
    return labels, rise


def permutation_p(labels, truth, rng, n_perm=1000):
    """NMI, ARI over neurons with a task and a module, and the NMI's permutation p."""
    keep = (truth >= 0) & (labels >= 0)
    return nmi_permutation_test(labels[keep], truth[keep], rng, n_perm)[:3]


def modules(network, view, k):
    clustering = spectral_cluster(network, n_clusters=k, n_jobs=1)
    return planted._neurons(clustering, view)


def main(argv=None) -> int:
    prog = "python -m modcore.experiments.transformer_planted_k"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    kept = f"{args.out}/planted_k.json holds the seeds finished so far (no table or figure)"
    return run_script(prog, lambda: _run(args), interrupted=kept)


def _run(args) -> None:
    if args.steps < 1 or args.seeds < 1:
        raise ValueError(f"--steps and --seeds must be >= 1, got {args.steps}, {args.seeds}")
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    log = appending_log(args.out / "planted_k_run.log")
    log(f"command: {' '.join(sys.argv)}")
    log(f"python {platform.python_version()}, torch {torch.__version__}, 1 thread")
    x, y1, y2 = planted.data()
    rows, neurons = [], {}
    for seed in range(args.seeds):
        net = planted.model(seed)
        before = {view: planted._net_of(net, view) for view in ("blocks", "virtual")}
        start = time.process_time()
        planted.train(net, x, y1, y2, args.steps, lambda text: None)
        acc = planted.accuracy(net, x, y1, y2)
        truths = {"ablation": planted.attribution(net, x, y1, y2)}
        truths["gradient"] = gradient_attribution(net, x, y1, y2)
        both = (truths["ablation"][0] >= 0) & (truths["gradient"][0] >= 0)
        cross = compare_partitions(truths["ablation"][0][both], truths["gradient"][0][both])
        same = truths["ablation"][0][both] == truths["gradient"][0][both]
        log(
            f"seed {seed}: trained in {time.process_time() - start:.0f} CPU-s, acc "
            f"{acc[0]:.3f}/{acc[1]:.3f}; neurons (a+b, c+d, neither) by ablation "
            + str([int(np.sum(truths["ablation"][0] == t)) for t in (0, 1, -1)])
            + " by gradient "
            + str([int(np.sum(truths["gradient"][0] == t)) for t in (0, 1, -1)])
            + f"; the two attributions agree on {np.mean(same):.3f}"
            f" of the neurons both attribute (NMI {cross.normalized_mutual_info:.3f})"
        )
        rng = np.random.default_rng(seed)
        for view in ("blocks", "virtual"):
            trained = planted._net_of(net, view)
            gap = eigengap(trained, n_shuffles=19, seed=seed, n_jobs=1)
            log(f"seed {seed} {view}: eigengap k = {gap.k} (clear: {gap.clear})")
            shuffled = [shuffled_network(trained, seed=seed, index=i) for i in range(N_SHUFFLED)]
            for k_name, k in [(str(k), k) for k in KS] + [("eigengap", gap.k)]:
                labels = modules(trained, view, k)
                init_labels = modules(before[view], view, k)
                shuffled_labels = [modules(s, view, k) for s in shuffled]
                if k == 2 and view == "blocks":
                    neurons[seed] = (labels, truths["ablation"][1])
                for truth_name, (truth, _) in truths.items():
                    row: dict[str, object] = {"seed": seed, "view": view, "k": k, "k_from": k_name}
                    row["eigengap_clear"] = bool(gap.clear)
                    row["attribution"] = truth_name
                    row["nmi"], row["ari"], row["p"] = permutation_p(labels, truth, rng)
                    row["init_nmi"], row["init_ari"], row["init_p"] = permutation_p(
                        init_labels, truth, rng
                    )
                    nmis = [permutation_p(s, truth, rng, 0)[0] for s in shuffled_labels]
                    row["shuffled_nmi_mean"] = float(np.mean(nmis))
                    row["shuffled_nmi_max"] = float(np.max(nmis))
                    rows.append(row)
                    log(json_text(row, indent=None))
        write_json(args.out / "planted_k.json", rows)
    write_table(rows, args.out / "planted_k.md")
    figure(rows, neurons, args.out / "planted_k.png")
    log(f"written to {args.out}")


def write_table(rows, path):
    lines = [
        "| seed | view | k | attribution | NMI | ARI | p (perm.) | before training NMI | "
        "shuffled NMI mean / max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        k = f"{r['k']} (eigengap)" if r["k_from"] == "eigengap" else str(r["k"])
        lines.append(
            f"| {r['seed']} | {r['view']} | {k} | {r['attribution']} | {r['nmi']:.3f} | "
            f"{r['ari']:.3f} | {r['p']:.3f} | {r['init_nmi']:.3f} | "
            f"{r['shuffled_nmi_mean']:.3f} / {r['shuffled_nmi_max']:.3f} |"
        )
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")


def figure(rows, neurons, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, view in zip(axes[:2], ("blocks", "virtual")):
        mine = [r for r in rows if r["view"] == view and r["attribution"] == "ablation"]
        fixed = [r for r in mine if r["k_from"] != "eigengap"]
        for key, colour, label in [
            ("nmi", "C0", "trained"),
            ("init_nmi", "C2", "before training"),
            ("shuffled_nmi_max", "C7", f"shuffled (max of {N_SHUFFLED})"),
        ]:
            ax.scatter(
                [r["k"] for r in fixed],
                [r[key] for r in fixed],
                color=colour,
                label=label,
                alpha=0.8,
            )
        gaps = [r for r in mine if r["k_from"] == "eigengap"]
        ax.scatter(
            [r["k"] for r in gaps],
            [r["nmi"] for r in gaps],
            marker="*",
            s=140,
            color="C3",
            label="trained, eigengap's k",
        )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k (modules)")
        ax.set_ylabel("NMI, neurons' modules vs ablation attribution")
        ax.set_title(f"view={view!r}, {len({r['seed'] for r in mine})} seeds")
        ax.legend(fontsize=8)
    labels, rise = neurons[0]
    ax = axes[2]
    for m in np.unique(labels):
        sel = labels == m
        ax.scatter(rise[sel, 0], rise[sel, 1], s=14, label=f"module {m}", alpha=0.8)
    ax.set_xlabel("loss rise of a+b under mean ablation")
    ax.set_ylabel("loss rise of c+d")
    ax.set_title("seed 0, blocks, k=2: each MLP neuron")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)


if __name__ == "__main__":
    sys.exit(main())
