"""How often the drop rule matters: for each network, the units drop="unreachable" leaves
out beyond drop="isolated", and what that does to the n-cut (and, with --n-shuffles, to z).

    python benchmarks/drop_counts.py results/checkpoints/ [more files or folders]
        [--n-clusters 12] [--n-shuffles 0] [--no-ncut] [--input-shape C,H,W] [--json out.json]

"isolated" leaves out units without edges (the paper's TensorFlow code, modcore's default);
"unreachable" also every connected component without a unit in both the first and the last
layer (the authors' PyTorch port). Per network: units, isolated, unreachable (the extra units
"unreachable" drops), floating (of those, units whose component touches neither end), the
n-cut under each rule (default clustering settings, seed 0) and, with --n-shuffles N, the
z-score against N "layer" shuffles under each rule. Not a timing benchmark.
"""

import argparse
import json
import sys
import warnings
from pathlib import Path

import modcore
from modcore.network.convert import as_network

SUFFIXES = (".pt", ".pth", ".npz", ".safetensors")


def files_of(paths):
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        else:
            out.append(path)
    return out


def network_of(path, input_shape):
    """A chain (MLP weights or checkpoint); a conv checkpoint traced as the 2021 paper's
    CNN (conv channels only) when --input-shape is given."""
    try:
        return as_network(path)
    except ValueError:
        if input_shape is None:
            raise
        from modcore.nn import checkpoint

        model = checkpoint.load(path).model
        return modcore.Network.from_torch(model, input_shape=input_shape, preset="paper_cnn")


def measure(network, n_clusters, n_shuffles, ncut):
    row = network.drop_counts()
    if not ncut:
        return row
    for drop in ("isolated", "unreachable"):
        opts = dict(n_clusters=n_clusters, drop=drop, seed=0)
        if n_shuffles:
            sig = modcore.ncut_significance(network, n_shuffles=n_shuffles, progress=False, **opts)
            row[f"ncut_{drop}"], row[f"z_{drop}"] = sig.ncut, sig.z_score
        else:
            row[f"ncut_{drop}"] = modcore.spectral_cluster(network, **opts).ncut
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="weight files, checkpoints or folders of them")
    p.add_argument("--n-clusters", type=int, default=12)
    p.add_argument("--n-shuffles", type=int, default=0, help="also z under each rule (0: no)")
    p.add_argument("--no-ncut", action="store_true", help="counts only, no clustering")
    p.add_argument("--input-shape", help="C,H,W for conv checkpoints")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args(argv)
    shape = tuple(int(s) for s in args.input_shape.split(",")) if args.input_shape else None
    warnings.simplefilter("ignore", modcore.FloatingUnitsWarning)  # counted in the table

    rows = []
    head = f"{'network':40s} {'units':>6s} {'isolated':>8s} {'unreach.':>8s} {'floating':>8s}"
    if not args.no_ncut:
        head += f" {'ncut iso':>9s} {'ncut unr':>9s} {'change':>8s}"
        if args.n_shuffles:
            head += f" {'z iso':>7s} {'z unr':>7s}"
    print(head)
    for path in files_of(args.paths):
        try:
            row = measure(
                network_of(path, shape), args.n_clusters, args.n_shuffles, not args.no_ncut
            )
        except (ValueError, TypeError, ImportError) as exc:
            print(f"{path.name:40s} skipped: {exc}")
            continue
        row = {"network": str(path), **row}
        rows.append(row)
        line = (
            f"{path.name[-40:]:40s} {row['n_units']:6d} {row['n_isolated']:8d} "
            f"{row['n_unreachable']:8d} {row['n_floating']:8d}"
        )
        if "ncut_isolated" in row:
            change = row["ncut_unreachable"] - row["ncut_isolated"]
            line += f" {row['ncut_isolated']:9.4f} {row['ncut_unreachable']:9.4f} {change:+8.4f}"
        if "z_isolated" in row:
            line += f" {row['z_isolated']:7.2f} {row['z_unreachable']:7.2f}"
        print(line, flush=True)
    if not rows:
        print("no networks read", file=sys.stderr)
        return 1
    hit = [r for r in rows if r["n_unreachable"]]
    print(
        f"\n{len(hit)} of {len(rows)} networks have units that 'unreachable' drops beyond "
        f"'isolated' ({sum(r['n_unreachable'] for r in rows)} units in all; "
        f"{sum(1 for r in rows if r['n_floating'])} networks with a component touching "
        "neither end)"
    )
    if hit and "ncut_isolated" in hit[0]:
        changes = [r["ncut_unreachable"] - r["ncut_isolated"] for r in hit]
        print(
            f"n-cut change on those: mean {sum(changes) / len(changes):+.4f}, "
            f"largest {max(changes, key=abs):+.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
