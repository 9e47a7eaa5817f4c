"""One run of a reproduction: the data, the training (resumed from its state), the
checkpoint, and the row of its analysis under both label rules."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..method.settings import ClusterSettings
from .conditions import (
    _SETTINGS_BEFORE,
    ALL_CONDITIONS,
    NULLS,
    RULES,
    TRAININGS,
    UNPRUNED_FROM,
    training_of,
)
from .runlog import _describe

if TYPE_CHECKING:
    pass

__all__ = ["available_datasets", "check_device", "checkpoint_meta", "checkpoint_path", "state_path"]


def available_datasets(datasets, data_dir, settings, say, *, for_cli=False) -> tuple:
    """``({name: Dataset}, {name: why skipped})``; a ValueError when none is there. The
    reasons name the command's ``--data-dir`` when ``for_cli``, else ``data_dir=``."""
    available, skipped = {}, {}
    for name in datasets:
        try:
            available[name] = _load(name, data_dir, settings)
        except FileNotFoundError as exc:
            why = getattr(exc, "cli_message", None) if for_cli else None
            skipped[name] = " ".join((why or str(exc)).split())
            say(f"skipping {name}: {skipped[name]}", flush=True)
    if not available:
        raise ValueError(
            "none of the data sets is available: "
            + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    return available, skipped


def _load(name, data_dir, settings):
    from ..nn import load_dataset

    return load_dataset(
        name,
        data_dir=data_dir,
        seed=0,
        n_train=settings["n_train"],
        n_test=settings["n_test"],
        flatten=settings["arch"] == "mlp",
    )


def _trainings(available, seeds, done, conditions) -> dict:
    """``{(data set, training, seed): [conditions still to do]}``, in table order: one
    training serves the pruned and the unpruned condition of a training and seed."""
    jobs: dict = {}
    trainings = list(dict.fromkeys(t for _, t in conditions.values()))
    for name in available:
        for training in trainings:
            for seed in range(seeds):
                for cond, (_, t) in conditions.items():
                    if t == training and (name, cond, seed) not in done:
                        jobs.setdefault((name, training, seed), []).append(cond)
    return jobs


def _terms(training) -> dict:
    """The keywords of :func:`modcore.nn.paper_recipe` that ``training`` sets."""
    from ..nn.regularizers import Partition, Spectral

    settings = TRAININGS[training]
    terms: dict = {k: settings[k] for k in ("l1", "l2") if k in settings}
    if "spectral" in settings:
        terms["spectral"] = Spectral(**settings["spectral"])
    if "partition" in settings:
        terms["partition"] = Partition(**settings["partition"])
    return terms


def _train_model(
    model,
    data,
    *,
    epochs,
    seed,
    prune,
    show,
    state=None,
    on_trained=None,
    on_epoch=None,
    terms=None,
) -> dict:
    """Train ``model`` in place as the authors did: ``epochs`` plain, then, if ``prune``,
    ``epochs`` of pruning from there. ``{pruned: (model, history)}`` for the unpruned
    network (a copy taken after the plain phase, absent when the training resumed in its
    pruning phase) and, if ``prune``, the pruned one. ``state``: the training's state
    file (resumed from if it exists); ``on_trained(model, history)`` is called after the
    plain phase of a pruned training; ``terms``: penalties and regularizers of both phases
    (:func:`_terms`). Its own function so tests can count trainings."""
    from ..nn import CNN, RECIPES, paper_recipe, train

    if not prune:  # the plain phase alone: paper_recipe's first call of train
        batch = RECIPES["cnn" if isinstance(model, CNN) else "mlp"]["batch_size"]
        history = train(
            model,
            data,
            epochs=epochs,
            batch_size=batch,
            seed=seed,
            progress=show,
            state=state,
            on_epoch=on_epoch,
            **(terms or {}),
        )
        return {False: (model, history)}
    stages = {}

    def keep_unpruned(trained, history):
        stages[False] = (copy.deepcopy(trained), copy.deepcopy(history))
        if on_trained is not None:
            on_trained(trained, history)

    history = paper_recipe(
        model,
        data,
        epochs=epochs,
        prune_epochs=epochs,
        seed=seed,
        progress=show,
        on_trained=keep_unpruned,
        state=state,
        on_epoch=on_epoch,
        **(terms or {}),
    )
    stages[True] = (model, history)
    return stages


def _model(data, settings, training, seed):
    """The untrained network of a run: the paper's MLP or CNN, as ``training`` initialises
    it."""
    from ..nn import CNN, MLP

    dropout = TRAININGS[training]["dropout"]
    model: MLP | CNN
    if settings["arch"] == "mlp":
        widths = [data.n_features, *settings["hidden"], data.n_classes]
        model = MLP(widths, dropout=dropout, seed=seed)
    else:
        rate = 0.25 if dropout else 0.0
        model = CNN(
            data.input_shape,
            n_classes=data.n_classes,
            conv_dropout=rate,
            dense_dropout=dropout,
            seed=seed,
        )
    return _initialised(model, training, seed)


def _initialised(model, training, seed):
    """``model`` (fresh) with the initialisation of ``training``."""
    from ..nn import clusterable_init

    modules = TRAININGS[training].get("clusterable_init")
    if modules is not None:
        clusterable_init(model, modules, seed=seed)
    return model


def _network(model):
    """The graph that is clustered: an MLP's chain, a CNN's conv channels."""
    from ..network.convert import as_network
    from ..network.network import Network
    from ..nn import CNN

    if not isinstance(model, CNN):
        return as_network(model)
    return Network.from_torch(model, input_shape=tuple(model.input_shape), preset="paper_cnn")


class _EnoughRuns(Exception):
    """``max_runs`` new runs are written: stop (a training stopped so keeps its state)."""


def checkpoint_path(out, data_name, condition, seed) -> Path:
    """Where the network of a run is saved (also read by the lesion reproduction)."""
    return Path(out) / "checkpoints" / f"{data_name}_{condition.replace(', ', '_')}_seed{seed}.pt"


def state_path(out, data_name, training, seed, *, prune) -> Path:
    """The state file of the training of a data set, training (:data:`TRAININGS`) and seed,
    between epochs (one training of both phases, or of the plain phase alone when only it
    is wanted)."""
    tag = "no-dropout" if training == "plain" else training
    phases = "" if prune else "_plain"
    return Path(out) / "training" / f"{data_name}_{tag}_seed{seed}{phases}.pt"


def _runs(data, training, seed, conditions, settings, out, n_jobs, device, say, show, emit):
    """The rows of ``conditions`` (of one training), each passed to ``emit`` as soon as
    its network is saved: from the checkpoints already there, else from one training
    (resumed from its state file), which saves them. ``say``: epoch lines, or None."""
    from ..nn import checkpoint

    todo = []
    for condition in conditions:
        path = checkpoint_path(out, data.name, condition, seed)
        # Trained before (each file is saved whole or not at all): the run's own float32
        # checkpoint, else the float16 one of a committed record.
        saved = next((p for p in (path, path.with_suffix(".safetensors")) if p.exists()), None)
        if saved is not None:
            emit(_analyse(saved, data, condition, seed, settings, n_jobs))
        else:
            todo.append(condition)
    if not todo:
        return
    (unpruned,) = [c for c, (p, t) in ALL_CONDITIONS.items() if not p and t == training]
    (pruned,) = [c for c, (p, t) in ALL_CONDITIONS.items() if p and t == training]
    prune = pruned in todo
    state = state_path(out, data.name, training, seed, prune=prune)
    state.parent.mkdir(parents=True, exist_ok=True)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)

    def finished(model, history, condition, *, last=False):
        path = checkpoint_path(out, data.name, condition, seed)
        meta = checkpoint_meta(data, condition, seed, settings, history)
        checkpoint.save(model, path, {**meta, "device": str(device)})
        if last:  # the training's networks are saved: its state is no longer needed
            state.unlink(missing_ok=True)
        if condition in todo:
            emit(_analyse(path, data, condition, seed, settings, n_jobs))

    def epoch_line(history):
        if say is None:
            return
        total = settings["epochs"] * (2 if prune else 1)
        say(
            f"  {data.name}, {training}, seed {seed}: epoch {len(history.loss)}/{total}: "
            f"loss {history.loss[-1]:.4f}, batch acc {history.train_accuracy[-1]:.4f}, test "
            f"acc {history.test_accuracy[-1]:.4f}, sparsity {history.sparsity[-1]:.3f}, "
            f"{history.seconds[-1]:.0f} s; state in {state}",
            flush=True,
        )

    stages = _train_model(
        _model(data, settings, training, seed).to(device),
        data,
        epochs=settings["epochs"],
        seed=seed,
        prune=prune,
        show=show,
        state=state,
        on_trained=lambda model, history: finished(model, history, unpruned),
        on_epoch=epoch_line,
        terms=_terms(training),
    )
    model, history = stages[True] if prune else stages[False]
    finished(model, history, pruned if prune else unpruned, last=True)


def _analyse(path, data, condition, seed, settings, n_jobs) -> dict:
    """The row of ``runs.jsonl`` of the run whose network is the checkpoint ``path`` (a
    ``.pt``, or the ``.safetensors`` of a record): its n-cut, nulls, z and p under each
    label rule of :data:`RULES`, and its training record."""
    from ..method.cluster import spectral_cluster
    from ..method.significance import ncut_significance
    from ..nn import checkpoint, record

    saved = record.load(path) if path.suffix == ".safetensors" else checkpoint.load(path)
    meta = saved.metadata
    pruned, training = ALL_CONDITIONS[condition]
    made = {k: meta.get(k) for k in ("arch", "epochs", "data_source", "condition", "seed")}
    # Checkpoints saved before trainings were recorded are the paper's (dropout or not).
    made["training"] = meta.get("training", TRAININGS[training_of(meta)])
    wanted = {
        "arch": settings["arch"],
        "epochs": settings["epochs"],
        "data_source": data.source,
        "condition": condition,
        "seed": seed,
        "training": TRAININGS[training],
    }
    if made != wanted:
        raise ValueError(
            f"{path} was trained with other settings ({_describe(made)}; now "
            f"{_describe(wanted)}): use another --out"
        )
    history = meta["history"]
    t0 = time.perf_counter()
    network = _network(saved.model)
    random_init = _network(
        _initialised(type(saved.model)(**saved.config, seed=seed), training, seed)
    )
    row = {
        "dataset": data.name,
        "condition": condition,
        "seed": seed,
        "pruned": pruned,
        "dropout": TRAININGS[training]["dropout"],
        "training": TRAININGS[training],
        **settings,
        "rules": rules_made(settings),
        "unpruned_from": UNPRUNED_FROM,
        "trained_epochs": meta["trained_epochs"],
        "test_accuracy": meta["test_accuracy"],
        "train_accuracy": meta["train_accuracy"],
        "sparsity": history["sparsity"][-1],
        "device": meta.get("device", "cpu"),
    }
    for rule in RULES:
        solver = _solver(settings, rule)
        for null in NULLS:
            sig = ncut_significance(
                network,
                n_shuffles=settings["n_shuffles"],
                shuffle=null,
                seed=seed,
                n_jobs=n_jobs,
                progress=False,
                **solver,
            )
            row.update(
                {
                    f"{rule}_{null}_mean": sig.shuffled_mean,
                    f"{rule}_{null}_std": sig.shuffled_std,
                    f"{rule}_{null}_z": sig.z_score,
                    f"{rule}_{null}_p": sig.p_value,
                    f"{rule}_{null}_ncuts": [float(v) for v in sig.shuffled_ncuts],
                }
            )
        # The same clustering (same network, seed and rule) under both nulls.
        row[f"{rule}_ncut"] = sig.ncut
        row[f"{rule}_random_init_ncut"] = spectral_cluster(
            random_init, seed=seed, n_jobs=n_jobs, **solver
        ).ncut
    # What the drop rule left out, and what "unreachable" would (see modcore.Clustering).
    for count in ("n_dropped", "n_isolated", "n_unreachable", "n_floating"):
        row[count] = getattr(sig.clustering, count)
    # Of the training that made it (summed over the epochs of every session it took).
    row["seconds_train"] = float(sum(history["seconds"]))
    row["seconds_analysis"] = time.perf_counter() - t0
    row["checkpoint"] = str(path.relative_to(path.parent.parent))
    row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return row


def checkpoint_meta(data, condition, seed, settings, history) -> dict:
    """The metadata saved with a reproduction's network (also by the lesion reproduction,
    which reads it back to check a checkpoint was trained with its settings): the run,
    and the training's per-epoch history."""
    pruned, training = ALL_CONDITIONS[condition]
    return {
        "dataset": data.name,
        "data_source": data.source,
        "condition": condition,
        "seed": seed,
        "arch": settings["arch"],
        "dropout": TRAININGS[training]["dropout"],
        "training": TRAININGS[training],
        "sparsity": 0.9 if pruned else 0.0,
        "epochs": settings["epochs"],
        "trained_epochs": len(history.test_accuracy),
        "test_accuracy": history.test_accuracy[-1],
        "train_accuracy": history.train_accuracy[-1],
        "history": history.to_dict(),
    }


def rules_made(settings) -> dict:
    """The label rules a run is clustered by, as recorded in it: name -> settings."""
    return {rule: _solver(settings, rule) for rule in RULES}


def _rule_before(run) -> dict:
    """What a run written before both rules were kept was clustered by: its one rule."""
    keys = [f.name for f in dataclasses.fields(ClusterSettings)]
    return {"one rule": {k: run.get(k, _SETTINGS_BEFORE.get(k)) for k in keys}}


def check_device(device):
    """``device`` as a ``torch.device`` where training can run: the CPU, or a CUDA device
    torch sees."""
    import torch

    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if checked.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if checked.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: torch sees no CUDA device here")
        if checked.index is not None and checked.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    return checked


def _say_run(say, row, index, total) -> None:
    rules = "; ".join(
        f"{rule}: n-cut {row[rule + '_ncut']:.3f} ("
        + ", ".join(f"{n} z {row[f'{rule}_{n}_z']:.2f} p {row[f'{rule}_{n}_p']:.3f}" for n in NULLS)
        + f"), random init {row[rule + '_random_init_ncut']:.3f}"
        for rule in RULES
    )
    say(
        f"[{index}/{total}] {row['dataset']}, {row['condition']}, seed {row['seed']}: test acc "
        f"{row['test_accuracy']:.4f}; {rules}; {row['seconds_train']:.0f} s training, "
        f"{row['seconds_analysis']:.0f} s analysis",
        flush=True,
    )


def _solver(settings: dict, rule: str) -> dict:
    """The clustering settings of ``rule`` (every field of settings.ClusterSettings) as
    keywords: a run's numbers come from the settings it records."""
    shared = {f.name: settings.get(f.name) for f in dataclasses.fields(ClusterSettings)}
    return {**shared, **RULES[rule][1]}
