"""``modcore analyze``: cluster one network, test it against its shuffles, print the verdict and
optionally write JSON and an HTML report."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ..common.files import write_json
from ..method.significance import ncut_significance
from ..network.torch import KERNEL_NORMS, PRESETS
from ..network.transformer import VIEWS
from ..report.verdict import ALPHA, best_k_rule, k_choice, null_description, verdict, verdict_over_k
from .model import MODEL_HELP, WEIGHTS_HELP, model_from_factory
from .options import (
    UsageError,
    _add_analysis_options,
    _add_scheduler_option,
    _check_plot_installed,
    _dask_client,
    _graph_options,
    _integer,
    _output_dir,
    _rule,
    _shape,
)


def add_analyze_parser(sub) -> None:
    a = sub.add_parser("analyze", help="cluster a network and test it against shuffles")
    a.add_argument(
        "network",
        type=Path,
        nargs="?",
        help="weights (.pt/.pth, .safetensors or .npz), a modcore checkpoint, a torch.export "
        "program (.pt2, from torch.export.save), or a Hugging Face GPT-2 folder "
        "(save_pretrained: config.json, model.safetensors) with --view; or give --model and "
        "--weights",
    )
    a.add_argument("--model", metavar="MODULE:FUNCTION", help=MODEL_HELP)
    a.add_argument("--weights", type=Path, metavar="STATE.pt", help=WEIGHTS_HELP)
    _add_analysis_options(a, shuffles=1000)
    a.add_argument(
        "--view",
        choices=VIEWS,
        help="the unit graph of a transformer (docs: Transformers): blocks = each MLP alone, "
        "a table per MLP; virtual = tokens, positions, heads, neurons and logits joined "
        "through the residual stream",
    )
    a.add_argument(
        "--top-k",
        type=_integer(1, 2**31 - 1),
        help="with --view virtual: keep each unit's top-k edges to every later group "
        "(ties included; default: all)",
    )
    a.add_argument(
        "--input-shape",
        type=_shape,
        help="trace the model of a modcore checkpoint or of --model with inputs of this "
        "shape, without the batch dimension, e.g. 1,28,28 (for CNNs and residual nets; "
        "a .pt2 program keeps the shape it was exported with; a plain state dict holds no "
        "model: use --model)",
    )
    a.add_argument(
        "--kernel-norm",
        choices=KERNEL_NORMS,
        default="l1",
        help="the conv edges of a traced model (a checkpoint, a .pt2 program or --model): "
        "the l1 (default), l2 or max_column norm of each kernel slice (max_column: the "
        "authors' 2021 code)",
    )
    a.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        help="cluster a traced model's convolution channels only (a checkpoint, a .pt2 "
        "program or --model), as the 2021 paper (and modcore lesion --preset)",
    )
    a.add_argument(
        "--report",
        type=_output_dir,
        help="write summary.json, figures and index.html to this directory",
    )
    _add_scheduler_option(a)


def run_analyze(args, extra: dict) -> None:
    _check_plot_installed(args)
    if (args.network is None) == (args.model is None):
        raise UsageError(
            "give the network file, or --model module:function with --weights, not "
            + ("both" if args.model else "neither")
        )
    if args.weights is not None and args.model is None:
        raise UsageError("--weights goes with --model (the factory whose model it fills)")
    if args.model is not None and (args.view is not None or args.top_k is not None):
        raise UsageError(
            f"{'--view' if args.view is not None else '--top-k'} reads a Hugging Face GPT-2 "
            "folder; a model from --model is traced (give the folder instead)"
        )
    extra["network"] = str(args.network) if args.model is None else f"{args.model} {args.weights}"
    if args.scheduler and not isinstance(args.n_clusters, int):
        raise UsageError(
            "--scheduler runs the null of one k; --n-clusters auto and a:b run their "
            "nulls here (one embedding per shuffle serves every k): give one k"
        )
    if args.model is not None:
        from ..network.network import Network

        model = model_from_factory(args.model, args.weights)
        network = Network.from_torch(
            model, input_shape=args.input_shape, kernel_norm=args.kernel_norm, preset=args.preset
        )
        with _dask_client(args.scheduler) as client:
            _analyze(network, args, extra, client=client)
        return
    transformer = (args.network / "config.json").is_file()  # a Hugging Face folder
    if args.view is not None or args.top_k is not None or transformer:
        networks = _load_transformer(args)
        with _dask_client(args.scheduler) as client:
            _analyze_views(networks, args, extra, client=client)
        return
    network = _load_network(args.network, args.input_shape, args.kernel_norm, args.preset)
    with _dask_client(args.scheduler) as client:
        _analyze(network, args, extra, client=client)


def _load_transformer(args) -> dict:
    """``{None: network}`` for --view virtual, ``{MLP name: network}`` for blocks."""
    from ..network.transformer import block_networks, virtual_network
    from ..network.transformer.read_gpt2 import load_gpt2

    if not args.network.is_dir():
        raise UsageError(
            f"{args.network}: --view and --top-k read a Hugging Face GPT-2 folder "
            "(config.json, model.safetensors), not a file"
        )
    if args.view is None:
        raise UsageError(
            f"{args.network} is a folder: a transformer needs --view blocks (each MLP alone) "
            "or --view virtual (units joined through the residual stream)"
        )
    if args.top_k is not None and args.view != "virtual":
        raise UsageError("--top-k applies to --view virtual")
    if args.input_shape is not None or args.preset is not None:
        option = "--input-shape" if args.input_shape is not None else "--preset"
        raise UsageError(f"{option} applies to traced models, not to a transformer")
    model = load_gpt2(args.network)
    if args.view == "virtual":
        return {None: virtual_network(model, top_k=args.top_k)}
    return block_networks(model)


def _analyze_views(networks: dict, args, extra: dict, client=None) -> None:
    """The one network of --view virtual, or each MLP of --view blocks in turn: a table
    per MLP, --json holding them all, --report a folder per MLP."""
    extra["view"] = args.view
    if None in networks:
        extra["top_k"] = args.top_k
        _analyze(networks[None], args, extra, client=client)
        return
    results = {}
    for i, (name, network) in enumerate(networks.items()):
        print(f"== MLP {name} ({i + 1} of {len(networks)}) ==")
        report = None if args.report is None else args.report / f"{i:03d}-{name}"
        one = argparse.Namespace(**{**vars(args), "json": None, "report": report})
        results[name] = _analyze(network, one, {**extra, "block": name}, client=client)
    if args.json:
        write_json(args.json, {"view": "blocks", "blocks": results})
        print(f"results written to {args.json}")


def _load_network(path: Path, input_shape=None, kernel_norm="l1", preset=None):
    """The network in a weight file (a chain), or the traced model of a checkpoint or a
    torch.export program (the files that kernel_norm and preset apply to; input_shape,
    to a checkpoint alone)."""
    from ..network.convert import _exported_network, as_network
    from ..network.network import Network

    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.suffix.lower() == ".pt2":
        if input_shape is not None:
            raise UsageError(
                f"--input-shape does not apply to {path}: a torch.export program runs on "
                "the input shape it was exported with (export it again with an example "
                "input of the shape you want)"
            )
        return _exported_network(path, None, kernel_norm=kernel_norm, preset=preset)
    if input_shape is None and kernel_norm == "l1" and preset is None:
        return as_network(path)
    from ..network.torch_files import MODEL_ROUTES, load_torch_file
    from ..nn import checkpoint

    payload = load_torch_file(path) if path.suffix.lower() in (".pt", ".pth") else None
    if not (isinstance(payload, dict) and str(payload.get("format", "")).startswith("modcore-")):
        raise UsageError(
            f"--input-shape, --kernel-norm and --preset trace the model of a modcore "
            f"checkpoint, and {path} is not one (a state dict or weight file holds no model "
            "to trace). Routes that work: " + MODEL_ROUTES
        )
    model = checkpoint.load(path).model
    return Network.from_torch(
        model,
        input_shape=input_shape if input_shape is not None else model.input_shape,
        kernel_norm=kernel_norm,
        preset=preset,
    )


def _choose_clusters(network, args, extra: dict):
    """The k to analyze, and the n-cut curves: over the range of --n-clusters a:b, or over
    the eigengap's k and its neighbours for --n-clusters auto."""
    from ..method.eigengap import EigengapWarning, eigengap

    if args.n_clusters == "auto":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EigengapWarning)
            gap = eigengap(network, **_graph_options(args), seed=args.seed, n_jobs=args.n_jobs)
        extra["eigengap"] = gap.to_dict()
        print(
            f"--n-clusters auto: the eigengap suggests k = {gap.k} (relative gap "
            f"{gap.relative_gaps[gap.k - 2]:.3f}); the verdict is shown at its neighbours too"
        )
        for w in caught:
            print(f"note: {w.message}")
        return gap.k, _curves(network, args, range(max(2, gap.k - 1), gap.k + 2))
    if isinstance(args.n_clusters, range):
        curves = _curves(network, args, args.n_clusters)
        name, first = next(iter(curves.items()))
        print(
            f"{'k':>3s} {'n-cut':>8s} {'mean':>8s} {'std':>8s} {'z':>8s} {'p uncorr.':>10s} "
            f"{'Q':>7s}   ({name} null)"
        )
        for sig in first.significances:
            print(
                f"{sig.n_clusters:3d} {sig.ncut:8.4f} {sig.shuffled_mean:8.4f} "
                f"{sig.shuffled_std:8.4f} {sig.z_score:8.2f} {sig.p_value:10.4f} "
                f"{sig.modularity:7.4f}"
            )
        k = first.best_k
        rule = best_k_rule(name, first.p_value, first.z_score)
        print(f"details below for k = {k}, {rule}; the verdict over k is corrected for that choice")
        return k, curves
    return args.n_clusters, None


def _curves(network, args, ks) -> dict:
    from ..method.curve import ncut_curve

    return {
        shuffle: ncut_curve(
            network,
            ks=ks,
            n_shuffles=args.n_shuffles,
            shuffle=shuffle,
            **_rule(args),
            **_graph_options(args),
            seed=args.seed,
            n_jobs=args.n_jobs,
            progress=not args.quiet,
        )
        for shuffle in args.shuffle or ["layer"]
    }


def _analyze(network, args, extra: dict, client=None) -> dict:
    from ..report.html import summary, write_report

    k, curves = _choose_clusters(network, args, extra)
    if curves:  # the curve has each null at k already
        significances = {name: c.significance(k) for name, c in curves.items()}
    else:
        significances = {}
    for shuffle in [] if curves else args.shuffle or ["layer"]:
        significances[shuffle] = ncut_significance(
            network,
            n_clusters=k,
            n_shuffles=args.n_shuffles,
            shuffle=shuffle,
            **_rule(args),
            **_graph_options(args),
            seed=args.seed,
            n_jobs=args.n_jobs,
            progress=not args.quiet,
            client=client,
        )
    if isinstance(extra.get("arguments"), dict):  # the nulls that ran, not None for the default
        extra["arguments"]["shuffle"] = list(significances)
    results = summary(network, significances, extra, curves=curves)
    _print_table(results)
    if args.json:
        write_json(args.json, results)
        print(f"results written to {args.json}")
    if args.report is not None:
        index = write_report(args.report, network, significances, extra, curves=curves)
        print(f"report written to {index}")
    return results


def _print_table(results: dict) -> None:
    sizes = "-".join(str(s) for s in results["layer_sizes"])
    print(
        f"network {results['network']} ({sizes}), k={results['n_clusters']}, "
        f"n-cut {results['ncut']:.4f}, Newman's Q {results['modularity']:.4f}"
    )
    print(f"{'shuffle':28s} {'N':>6s} {'mean':>8s} {'std':>8s} {'z':>8s} {'p':>8s}")
    for name, r in results["nulls"].items():
        # float(): an infinite z-score (a null with no spread) is the string "inf" in JSON,
        # and one shuffle's std and z-score "nan".
        print(
            f"{name:28s} {r['n_shuffles']:6d} {r['shuffled_mean']:8.4f} "
            f"{float(r['shuffled_std']):8.4f} {float(r['z_score']):8.2f} {r['p_value']:8.4f}"
        )
    print(f"verdict (one-sided, {ALPHA:.0%} level: is the n-cut lower than the shuffles'?):")
    print(f"  how k was chosen: {k_choice(results)}")
    curves = results.get("curves") or {}
    k = results["n_clusters"]
    if curves and "eigengap" not in results:
        for c in curves.values():
            print(f"  over k: {verdict_over_k(c)}")
        print(f"  at k = {k} alone (p uncorrected for choosing k):")
    for r in results["nulls"].values():
        print(f"  {verdict(r)}\n    {null_description(r['shuffle'])}")
    if curves and "eigengap" in results:
        print("  at the neighbouring k (each p uncorrected):")
        for c in curves.values():
            for r in c["per_k"]:
                if r["n_clusters"] != k:
                    print(f"    k = {r['n_clusters']}: {verdict(r)}")
        for c in curves.values():
            print(f"  over these k: {verdict_over_k(c)}")
