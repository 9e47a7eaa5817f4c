"""Do modcore's modules of MLP neurons recover a task split planted in a transformer?

    OMP_NUM_THREADS=1 python -m modcore.experiments.transformer_planted [--quick] [--out DIR]

(needs torch and transformers; results/transformer/ holds its committed run).

The task is modular by construction: sequences ``[a, b, c, d]`` with a, b in 0..p-1 (tokens
0..p-1) and c, d in 0..q-1 (tokens p..p+q-1); at position 1 the model predicts
``(a + b) mod p``, at position 3 ``p + (c + d) mod q``. A one-block Hugging Face GPT-2
(d_model 32, 4 heads, 128 MLP neurons, no dropout) is trained on every (a, b) and (c, d)
pair (full batch, AdamW) at one thread. Each neuron is attributed to the task whose loss
rises more when its activation is replaced by its mean over the data (neither, and left
out, where both rises are below 1% of the largest rise). Then modcore clusters the trained
model into k = 2 modules in both views (blocks: the MLP alone; virtual) and compares the
neurons' modules with the attribution: NMI and ARI (:func:`modcore.compare_partitions`), a
p-value from 1000 permutations of the attribution labels, and the same scores for the
model before training and for 10 'layer'-shuffled networks of the trained graph.
"""

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..common.files import atomic_write, json_text, write_json
from ..method.cluster import spectral_cluster
from ..method.null import shuffled_network
from ..method.stability import compare_partitions
from ..network import transformer as mt
from ..nn.gpt2 import gpt2_model
from .script import run_script

P, Q = 13, 17


def data():
    ab = np.array([(a, b) for a in range(P) for b in range(P)])
    cd = np.array([(c, d) for c in range(Q) for d in range(Q)])
    n = max(len(ab), len(cd))
    rng = np.random.default_rng(0)
    # every pair of each task at least once; the shorter list topped up at random
    ab = np.concatenate([ab, ab[rng.integers(0, len(ab), n - len(ab))]])
    cd = np.concatenate([cd, cd[rng.integers(0, len(cd), n - len(cd))]])
    ab, cd = ab[rng.permutation(n)], cd[rng.permutation(n)]
    x = np.stack([ab[:, 0], ab[:, 1], P + cd[:, 0], P + cd[:, 1]], axis=1)
    y1 = (ab[:, 0] + ab[:, 1]) % P
    y2 = P + (cd[:, 0] + cd[:, 1]) % Q
    return torch.tensor(x), torch.tensor(y1), torch.tensor(y2)


def model(seed):
    return gpt2_model(
        n_layer=1,
        n_embd=32,
        n_head=4,
        n_inner=128,
        vocab_size=P + Q,
        n_positions=4,
        seed=seed,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )


def losses(net, x, y1, y2, hook=None):
    handle = None if hook is None else net.transformer.h[0].mlp.act.register_forward_hook(hook)
    try:
        logits = net(x).logits
    finally:
        if handle is not None:
            handle.remove()
    return F.cross_entropy(logits[:, 1], y1), F.cross_entropy(logits[:, 3], y2)


def train(net, x, y1, y2, steps, log):
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.1)
    net.train()
    for step in range(steps):
        l1, l2 = losses(net, x, y1, y2)
        opt.zero_grad()
        (l1 + l2).backward()
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"step {step}: loss a+b {l1.item():.4f}, c+d {l2.item():.4f}")
    net.eval()


def accuracy(net, x, y1, y2):
    with torch.no_grad():
        logits = net(x).logits
    return (
        (logits[:, 1].argmax(-1) == y1).float().mean().item(),
        (logits[:, 3].argmax(-1) == y2).float().mean().item(),
    )


def attribution(net, x, y1, y2):
    """0 (a + b), 1 (c + d) or -1 (neither) per MLP neuron, by mean ablation."""
    with torch.no_grad():
        acts: dict[str, torch.Tensor] = {}
        base = losses(net, x, y1, y2, lambda m, i, o: acts.setdefault("a", o))
        mean = acts["a"].mean(dim=(0, 1))
        rise = np.zeros((mean.numel(), 2))
        for n in range(mean.numel()):

            def ablate(m, i, o, n=n):
                o = o.clone()
                o[..., n] = mean[n]
                return o

            l1, l2 = losses(net, x, y1, y2, ablate)
            rise[n] = [l1.item() - base[0].item(), l2.item() - base[1].item()]
    labels = rise.argmax(1)
    labels[rise.max(1) < 0.01 * rise.max()] = -1
    return labels, rise


def agreement(labels, truth):
    """NMI and ARI over the neurons attributed to a task and placed in a module."""
    keep = (truth >= 0) & (labels >= 0)
    agree = compare_partitions(labels[keep], truth[keep])
    return agree.normalized_mutual_info, agree.adjusted_rand


def scores(labels, truth, rng, n_perm=1000):
    """NMI, ARI, and the p-value of the NMI against permutations of the attribution."""
    nmi, ari = agreement(labels, truth)
    null = np.array([agreement(labels, rng.permutation(truth))[0] for _ in range(n_perm)])
    return nmi, ari, (1 + np.count_nonzero(null >= nmi)) / (n_perm + 1)


def main(argv=None) -> int:
    prog = "python -m modcore.experiments.transformer_planted"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 steps, 2 seeds")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    kept = "nothing written (--out gets its files when every seed is done)"
    return run_script(prog, lambda: _run(args), interrupted=kept)


def _run(args) -> None:
    steps, seeds = (300, 2) if args.quick else (args.steps, args.seeds)
    if steps < 1 or seeds < 1:
        raise ValueError(f"--steps and --seeds must be >= 1, got {steps}, {seeds}")
    torch.set_num_threads(1)
    lines = []

    def log(text):
        print(text, flush=True)
        lines.append(text)

    log(f"command: {' '.join(sys.argv)}")
    log(f"python {platform.python_version()}, torch {torch.__version__}, 1 thread, p={P}, q={Q}")
    x, y1, y2 = data()
    rows = []
    for seed in range(seeds):
        net = model(seed)
        before = {view: _net_of(net, view) for view in ("blocks", "virtual")}
        start = time.process_time()
        train(net, x, y1, y2, steps, log)
        acc = accuracy(net, x, y1, y2)
        truth, _ = attribution(net, x, y1, y2)
        log(
            f"seed {seed}: {steps} steps in {time.process_time() - start:.0f} CPU-s, train acc "
            f"a+b {acc[0]:.3f}, c+d {acc[1]:.3f}; neurons by task (a+b, c+d, neither): "
            f"{[int(np.sum(truth == t)) for t in (0, 1, -1)]}"
        )
        rng = np.random.default_rng(seed)
        for view in ("blocks", "virtual"):
            trained = _net_of(net, view)
            shuffled = [shuffled_network(trained, seed=seed, index=i) for i in range(10)]
            row = {"seed": seed, "view": view, "acc_ab": acc[0], "acc_cd": acc[1]}
            for name, graph in [("trained", trained), ("init", before[view])]:
                lab = _neurons(spectral_cluster(graph, n_clusters=2, n_jobs=1), view)
                row[f"{name}_nmi"], row[f"{name}_ari"], row[f"{name}_p"] = scores(lab, truth, rng)
            nmis = [
                scores(
                    _neurons(spectral_cluster(s, n_clusters=2, n_jobs=1), view),
                    truth,
                    rng,
                    1,
                )[0]
                for s in shuffled
            ]
            row["shuffled_nmi_mean"], row["shuffled_nmi_max"] = (
                float(np.mean(nmis)),
                float(np.max(nmis)),
            )
            rows.append(row)
            log(json_text(row, indent=None))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "planted.json", rows)
        with atomic_write(args.out / "planted_run.log") as f:
            f.write("\n".join(lines) + "\n")
        log(f"written to {args.out}")


def _net_of(net, view):
    """The view's network of the MLP neurons: the MLP alone, or the virtual graph."""
    if view == "blocks":
        (graph,) = mt.block_networks(net).values()
        return graph
    return mt.virtual_network(net)


def _neurons(clustering, view):
    """The MLP neurons' module labels."""
    return np.asarray(clustering.labels[1 if view == "blocks" else 3])


if __name__ == "__main__":
    sys.exit(main())
