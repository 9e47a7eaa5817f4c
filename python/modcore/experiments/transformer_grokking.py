"""Grokking modular addition: modcore's modules before and after, against neurons' frequencies.

    OMP_NUM_THREADS=1 python -m modcore.experiments.transformer_grokking train --out DIR [--p 113]
        [--fraction 0.3] [--steps 12000]
    OMP_NUM_THREADS=1 python -m modcore.experiments.transformer_grokking analyze --out DIR [--p 113]
        [--steps-at STEP ...]
    OMP_NUM_THREADS=1 python -m modcore.experiments.transformer_grokking figure --out DIR [--p 113]

The model of Nanda et al. 2023 ("Progress measures for grokking via mechanistic
interpretability"): a one-layer TransformerLens ``HookedTransformer`` (d_model 128, 4
heads of 32, d_mlp 512, ReLU, no LayerNorm) reads ``[a, b, =]`` and predicts ``(a + b) mod
p`` at the last position; 30% of the p² pairs are the training set (``--fraction``), AdamW
(lr 1e-3, weight decay 1.0, betas 0.9/0.98, 10 warm-up steps), full batch. Training runs a
copy of the model that computes the last position only (the loss depends on nothing else:
one layer, causal attention), with the HookedTransformer's own parameters and
initialisation; each checkpoint is loaded back into the HookedTransformer, which is what
modcore reads (``view="blocks"`` and ``view="virtual"``). ``train`` writes checkpoints
with train and test accuracy; ``analyze`` computes, per checkpoint, modcore's n-cut and
significance in both views and compares the MLP neurons' modules with each neuron's key
frequency: the 2-D DFT of its activation over all p² inputs, the power of frequency k
summed over the DFT terms whose frequencies in a and b are each 0 or ±k (cos/sin of ka,
kb, k(a+b), k(a-b)), the key frequency being the k of most power. NMI and ARI over the
live neurons (activation not constant), and over those whose key frequency holds at least
half of their non-constant power; p from 1000 permutations of the frequencies. ``figure``
writes the table (``grokking.md``) and the figure (``grokking.png``).
"""

import argparse
import json
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..common.files import atomic_write, json_text, write_json
from ..method.significance import ncut_significance
from .permutation_null import nmi_permutation_test
from .script import appending_log, run_script

SEED = 999  # Nanda et al.'s model seed
DATA_SEED = 598  # the train/test split
D_MODEL, N_HEADS, D_HEAD, D_MLP = 128, 4, 32, 512


def hooked(p):
    import warnings

    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=1,
        n_heads=N_HEADS,
        d_model=D_MODEL,
        d_head=D_HEAD,
        d_mlp=D_MLP,
        act_fn="relu",
        normalization_type=None,
        d_vocab=p + 1,
        d_vocab_out=p,
        n_ctx=3,
        device="cpu",
        seed=SEED,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return HookedTransformer(cfg)


class LastPosition(torch.nn.Module):
    """The HookedTransformer's computation at the last position, with its parameters."""

    def __init__(self, model):
        super().__init__()
        self.params = torch.nn.ParameterDict(
            {
                k.replace(".", "__"): torch.nn.Parameter(v.detach().clone())
                for k, v in model.named_parameters()
            }
        )

    def state(self):
        return {k.replace("__", "."): v.detach().clone() for k, v in self.params.items()}

    def forward(self, x, neurons=False):
        w = {k.replace("__", "."): v for k, v in self.params.items()}
        # the stream at position j is a function of its token alone: queries, keys and
        # values are computed once per token and position, then looked up
        table = w["embed.W_E"][None] + w["pos_embed.W_pos"][:, None]  # (3, vocab, d)
        attn = "blocks.0.attn."
        q = (torch.einsum("vd,hde->vhe", table[2], w[attn + "W_Q"]) + w[attn + "b_Q"])[x[:, 2]]
        keys = torch.einsum("pvd,hde->pvhe", table, w[attn + "W_K"]) + w[attn + "b_K"]
        values = torch.einsum("pvd,hde->pvhe", table, w[attn + "W_V"]) + w[attn + "b_V"]
        k = torch.stack([keys[j][x[:, j]] for j in range(3)], dim=1)  # (n, 3, h, e)
        v = torch.stack([values[j][x[:, j]] for j in range(3)], dim=1)
        pattern = torch.softmax(torch.einsum("nhe,nphe->nhp", q, k) / D_HEAD**0.5, dim=-1)
        z = torch.einsum("nhp,nphe->nhe", pattern, v)
        resid = table[2][x[:, 2]]
        mid = resid + torch.einsum("nhe,hed->nd", z, w["blocks.0.attn.W_O"])
        mid = mid + w["blocks.0.attn.b_O"]
        act = torch.relu(mid @ w["blocks.0.mlp.W_in"] + w["blocks.0.mlp.b_in"])
        post = mid + act @ w["blocks.0.mlp.W_out"] + w["blocks.0.mlp.b_out"]
        logits = post @ w["unembed.W_U"] + w["unembed.b_U"]
        return (logits, act) if neurons else logits


def dataset(p, fraction=0.3):
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    x = torch.tensor(np.stack([a.ravel(), b.ravel(), np.full(p * p, p)], axis=1))
    y = torch.tensor((a.ravel() + b.ravel()) % p)
    order = np.random.default_rng(DATA_SEED).permutation(p * p)
    cut = int(fraction * p * p)
    return x, y, torch.tensor(order[:cut]), torch.tensor(order[cut:])


def train(args, log):
    torch.manual_seed(SEED)
    model = hooked(args.p)
    fast = LastPosition(model)
    check = torch.randint(0, args.p, (50, 3))
    check[:, 2] = args.p
    with torch.no_grad():
        gap = (model(check)[:, -1] - fast(check)).abs().max().item()
    log(f"last-position copy against the HookedTransformer at init: max |logit gap| {gap:.2e}")
    x, y, tr, te = dataset(args.p, args.fraction)
    opt = torch.optim.AdamW(fast.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    # Nanda et al.'s 10-step linear warm-up
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s / 10, 1.0))
    args.out.mkdir(parents=True, exist_ok=True)
    rows, start = [], time.process_time()
    for step in range(args.steps + 1):
        if step % args.every == 0 or step == args.steps:
            with torch.no_grad():
                logits = fast(x)
                loss = F.cross_entropy(logits, y, reduction="none")
                right = (logits.argmax(-1) == y).float()
            row = {
                "step": step,
                "train_loss": loss[tr].mean().item(),
                "test_loss": loss[te].mean().item(),
                "train_acc": right[tr].mean().item(),
                "test_acc": right[te].mean().item(),
                "cpu_s": round(time.process_time() - start, 1),
                "p": args.p,
                "fraction": args.fraction,
            }
            rows.append(row)
            # never a half-written checkpoint, whenever the run is stopped
            with atomic_write(args.out / f"step{step:06d}.pt", "wb") as f:
                torch.save(fast.state(), f)
            log(json_text(row, indent=None))
            write_json(args.out / "training.json", rows)
        if step == args.steps:
            break
        loss = F.cross_entropy(fast(x[tr]), y[tr])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()


def load(p, path):
    """The HookedTransformer of a checkpoint ``train`` wrote with this ``p``."""
    model = hooked(p)
    try:
        state = torch.load(path, weights_only=True)
        missing = model.load_state_dict(state, strict=False)
    except (RuntimeError, pickle.UnpicklingError, AttributeError) as exc:
        raise ValueError(
            f"{path}: not a checkpoint of this script at p = {p}: {str(exc)[:300]}"
        ) from exc
    if missing.unexpected_keys or not all(
        k.endswith(("mask", "IGNORE")) for k in missing.missing_keys
    ):
        raise ValueError(f"{path}: not a checkpoint of this script's model: {missing}")
    return model.eval()


def key_frequencies(p, act):
    """Each neuron's key frequency (1..p//2) and the share of its non-constant power."""
    grid = act.T.reshape(-1, p, p)  # (neurons, a, b)
    power = np.abs(np.fft.fft2(grid)) ** 2
    power[:, 0, 0] = 0.0
    fold = np.minimum(np.arange(p), p - np.arange(p))
    fa, fb = fold[:, None], fold[None, :]
    by_k = np.zeros((grid.shape[0], p // 2 + 1))
    for k in range(1, p // 2 + 1):
        terms = ((fa == 0) | (fa == k)) & ((fb == 0) | (fb == k))
        by_k[:, k] = power[:, terms].sum(axis=1)
    total = power.sum(axis=(1, 2))
    key = by_k.argmax(axis=1)
    share = np.divide(
        by_k[np.arange(len(key)), key], total, out=np.zeros(len(key)), where=total > 0
    )
    return key, share


def analyze(args, log):
    rows_train = _read_rows(args.out / "training.json", "train")
    by_step = {r["step"]: r for r in rows_train}
    steps = list(by_step) if args.steps_at is None else args.steps_at
    unknown = sorted(set(steps) - set(by_step))
    if unknown:
        raise ValueError(
            f"--steps-at {unknown}: no such checkpoint in {args.out / 'training.json'} "
            f"(it has {len(by_step)}, from {min(by_step)} to {max(by_step)})"
        )
    x, _, _, _ = dataset(args.p)
    # rows of checkpoints analysed before (by an earlier call) are kept, one row a step
    done = args.out / "grokking.json"
    rows = json.loads(done.read_text()) if done.exists() else []
    for step in steps:
        model = load(args.p, args.out / f"step{step:06d}.pt")
        fast = LastPosition(model)
        with torch.no_grad():
            _, act = fast(x, neurons=True)
            gap = (model(x[:200])[:, -1] - fast(x[:200])).abs().max().item()
        log(
            f"step {step}: HookedTransformer against the last-position copy: "
            f"max |logit gap| {gap:.1e}"
        )
        key, share = key_frequencies(args.p, act.numpy())
        live = act.numpy().std(axis=0) > 0
        clean = live & (share >= 0.5)
        row = dict(by_step[step])
        row.update(
            neurons_live=int(live.sum()),
            median_share=float(np.median(share[live])) if live.any() else 0.0,
            neurons_clean=int(clean.sum()),
            n_key_frequencies=len(np.unique(key[clean])),
            key_frequencies=sorted(
                (int(k), int(n)) for k, n in zip(*np.unique(key[clean], return_counts=True))
            ),
        )
        row.update(k=args.k, n_shuffles=args.shuffles)
        rng = np.random.default_rng(step)
        for view in ("blocks", "virtual"):
            options = dict(n_clusters=args.k, n_shuffles=args.shuffles, seed=0, n_jobs=1)
            if view == "blocks":
                (sig,) = ncut_significance(model, view="blocks", **options).values()
            else:
                sig = ncut_significance(model, view=view, **options)
            row[f"{view}_ncut"] = float(sig.ncut)
            row[f"{view}_null_mean"] = float(np.mean(sig.shuffled_ncuts))
            row[f"{view}_z"] = float(sig.z_score)
            row[f"{view}_p"] = float(sig.p_value)
            labels = np.asarray(sig.labels[1 if view == "blocks" else 3])
            # every live neuron, and those whose key frequency holds half their power;
            # the virtual view drops units without edges (label -1)
            for name, keep in (("", live), ("_clean", clean)):
                keep = keep & (labels >= 0)
                if keep.sum() > 1 and len(np.unique(key[keep])) > 1:
                    scores = nmi_permutation_test(labels[keep], key[keep], rng)
                else:
                    scores = (float("nan"),) * 4
                for stat, value in zip(("nmi", "ari", "nmi_p", "nmi_null95"), scores):
                    row[f"{view}_{stat}{name}"] = value
        rows = sorted([r for r in rows if r["step"] != step] + [row], key=lambda r: r["step"])
        log(json_text(row, indent=None))
        write_json(done, rows)


def _read_rows(path, stage):
    """The rows of a JSON file an earlier stage (``train`` or ``analyze``) wrote."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file; run the {stage} stage on this --out first")
    return json.loads(path.read_text())


def write_table(args):
    rows = _read_rows(args.out / "grokking.json", "analyze")
    lines = [
        "| step | train acc | test acc | live neurons (>= 50% one freq.) | key freqs | "
        "blocks n-cut (null mean, z, p) | virtual n-cut (null mean, z, p) | "
        "NMI blocks, live (ARI, p) | NMI virtual, live (ARI, p) | NMI blocks, >= 50% (p) | "
        "NMI virtual, >= 50% (p) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            str(r["step"]),
            f"{r['train_acc']:.3f}",
            f"{r['test_acc']:.3f}",
            f"{r['neurons_live']} ({r['neurons_clean']})",
            str(r["n_key_frequencies"]),
        ]
        for view in ("blocks", "virtual"):
            cells.append(
                f"{r[view + '_ncut']:.3f} ({r[view + '_null_mean']:.3f}, "
                f"{r[view + '_z']:.1f}, {r[view + '_p']:.3f})"
            )
        for view in ("blocks", "virtual"):
            cells.append(
                f"{r[view + '_nmi']:.3f} ({r[view + '_ari']:.3f}, {r[view + '_nmi_p']:.3f})"
            )
        for view in ("blocks", "virtual"):
            cells.append(f"{r[view + '_nmi_clean']:.3f} ({r[view + '_nmi_p_clean']:.3f})")
        lines.append("| " + " | ".join(cells) + " |")
    with atomic_write(args.out / "grokking.md") as f:
        f.write("\n".join(lines) + "\n")


def figure(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_rows = _read_rows(args.out / "training.json", "train")
    rows = _read_rows(args.out / "grokking.json", "analyze")
    # what the rows were made with (files of before they recorded it: the options)
    p = _recorded(train_rows, "p", args.p)
    fraction = _recorded(train_rows, "fraction", args.fraction)
    k, shuffles = _recorded(rows, "k", args.k), _recorded(rows, "n_shuffles", args.shuffles)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    steps = [r["step"] for r in train_rows]
    ax = axes[0]
    ax.plot(steps, [r["train_acc"] for r in train_rows], label="train accuracy")
    ax.plot(steps, [r["test_acc"] for r in train_rows], label="test accuracy")
    ax.set_xlabel("step")
    ax.set_title(f"modular addition, p = {p}, {fraction:.0%} of pairs")
    ax.legend(fontsize=8)
    _view_panel(
        axes[1],
        rows,
        _NCUT_LINES,
        f"n-cut, k = {k}",
        f"modcore's n-cut and its null ({shuffles} 'layer' shuffles)",
    )
    _view_panel(
        axes[2],
        rows,
        _NMI_LINES,
        "NMI, modules of MLP neurons vs key frequency",
        "modules against the neurons' key frequencies",
    )
    fig.tight_layout()
    with atomic_write(args.out / "grokking.png", "wb") as f:
        fig.savefig(f, format="png", dpi=110)


def _recorded(rows, key, given):
    """The one value of ``key`` the rows record, else ``given``."""
    values = {r[key] for r in rows if key in r}
    if len(values) > 1:
        raise ValueError(f"the rows were made with several {key} ({sorted(values)})")
    return values.pop() if values else given


# The lines a panel draws for each view: (column after the view's name, style, label,
# other keywords of plot).
_NCUT_LINES: tuple[tuple[str, str, str, dict], ...] = (
    ("_ncut", "o-", "{view}", {}),
    ("_null_mean", "--", "{view}: shuffles' mean", {}),
)
_NMI_LINES: tuple[tuple[str, str, str, dict], ...] = (
    ("_nmi", "o-", "{view}, live", {}),
    ("_nmi_null95", "--", "{view}, live: 95th percentile of the permutation null", {"alpha": 0.5}),
    ("_nmi_clean", "s:", "{view}, >= 50% one frequency", {}),
)


def _view_panel(ax, rows, lines, ylabel, title) -> None:
    """One panel of the figure: ``lines`` of both views over the analysed steps."""
    at = [r["step"] for r in rows]
    for view, colour in (("blocks", "C0"), ("virtual", "C1")):
        for column, style, label, more in lines:
            values = [r[view + column] for r in rows]
            ax.plot(at, values, style, color=colour, label=label.format(view=view), **more)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)


def main(argv=None) -> int:
    prog = "python -m modcore.experiments.transformer_grokking"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["train", "analyze", "figure"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--p", type=int, default=113)
    parser.add_argument("--fraction", type=float, default=0.3, help="of pairs to train on")
    parser.add_argument("--steps", type=int, default=12000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--k", type=int, default=6, help="modules of the clustering")
    parser.add_argument("--shuffles", type=int, default=100)
    parser.add_argument("--steps-at", type=int, nargs="*", help="checkpoints to analyze")
    args = parser.parse_args(argv)
    kept = {
        "train": f"the checkpoints written so far and their accuracies ({args.out}/"
        "training.json) are kept; train starts again from step 0",
        "analyze": f"the steps analysed so far are in {args.out}/grokking.json; analyze "
        "--steps-at the others to go on",
        "figure": "the table and figure are written whole or not at all",
    }[args.stage]
    return run_script(prog, lambda: _run(args), interrupted=kept)


def _run(args) -> None:
    _check(args)
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    log = appending_log(args.out / f"{args.stage}_run.log")
    log(f"command: {' '.join(sys.argv)}")
    log(
        f"python {platform.python_version()}, torch {torch.__version__}, 1 thread, "
        f"CPU {platform.processor() or platform.machine()}"
    )
    if args.stage == "figure":
        write_table(args)
        figure(args)
        return
    (train if args.stage == "train" else analyze)(args, log)


def _check(args) -> None:
    """Options that would fail late, or train on nothing: refused before any work."""
    if args.p < 2:
        raise ValueError(f"--p must be at least 2, got {args.p}")
    if not 1 <= int(args.fraction * args.p * args.p) < args.p * args.p:
        raise ValueError(
            f"--fraction {args.fraction} of {args.p}² pairs leaves no training or no test pair"
        )
    if args.steps < 0 or args.every < 1:
        raise ValueError(f"--steps must be >= 0 and --every >= 1, got {args.steps}, {args.every}")


if __name__ == "__main__":
    sys.exit(main())
