"""``modcore sweep``: many networks, one table row per network and shuffle, resumable."""

from __future__ import annotations

import math
from pathlib import Path

from ..common.files import atomic_write, write_json
from ..network.transformer import VIEWS
from .options import (
    _add_analysis_options,
    _add_scheduler_option,
    _dask_client,
    _graph_options,
    _output_file,
    _rule,
)


def add_sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="test many networks; one table row per network and shuffle")
    s.add_argument(
        "networks",
        nargs="+",
        type=Path,
        help="weight files (.pt/.pth, .safetensors, .npz), torch.export programs (.pt2) or "
        "directories of them; with "
        "--view, Hugging Face GPT-2 folders (save_pretrained: config.json, model.safetensors)",
    )
    _add_analysis_options(s, shuffles=1000, choose_k=False)
    s.add_argument(
        "--view",
        choices=VIEWS,
        help="read the networks as transformers (docs: Transformers): blocks = a row per "
        "MLP, named NETWORK/MLP; virtual = a row per network, its units joined through "
        "the residual stream",
    )
    s.add_argument(
        "--out",
        type=_output_file,
        help="results file (.csv or .jsonl): rows are appended as networks finish, "
        "and networks already in it are skipped, so a stopped sweep resumes",
    )
    s.add_argument(
        "--csv",
        type=_output_file,
        help="write the final table as CSV here, with p_value_bh (Benjamini-Hochberg "
        "over the table's rows per shuffle method), which --out does not hold",
    )
    _add_scheduler_option(s)


def run_sweep(args, extra: dict) -> None:
    with _dask_client(args.scheduler) as client:
        _sweep(args, client)


def _sweep(args, client) -> None:
    from ..experiments.sweep import sweep

    # One directory alone: rows named by file name, as modcore.sweep(directory) does.
    networks = args.networks[0] if len(args.networks) == 1 else args.networks
    table = sweep(
        networks,
        n_clusters=args.n_clusters,
        n_shuffles=args.n_shuffles,
        shuffle=args.shuffle or ["layer"],
        **_rule(args),
        **_graph_options(args),
        seed=args.seed,
        n_jobs=args.n_jobs,
        progress=not args.quiet,
        client=client,
        results_path=args.out,
        view=args.view,
    )
    columns = [
        "name",
        "shuffle",
        "ncut",
        "shuffled_mean",
        "shuffled_std",
        "z_score",
        "p_value",
        "p_value_bh",
    ]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print("p_value_bh: Benjamini-Hochberg adjusted over the rows of each shuffle method")
    if args.out:
        print(f"results in {args.out}")
    if args.csv:
        with atomic_write(args.csv) as f:
            table.to_csv(f, index=False)  # floats written with repr: they read back exactly
        print(f"table written to {args.csv}")
    if args.json:
        # Python's json, not pandas' to_json, which rounds floats to 10 digits; non-finite
        # values as the strings "inf" / "-inf" / "nan", as Significance.to_dict does.
        records = [
            {
                k: v if not isinstance(v, float) or math.isfinite(v) else str(v)
                for k, v in row.items()
            }
            for row in table.to_dict(orient="records")
        ]
        write_json(args.json, records)
        print(f"results written to {args.json}")
