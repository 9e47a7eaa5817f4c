"""Write the seed corpora of the fuzz targets: small valid inputs the fuzzer mutates.

    python tests/fuzz/make_corpus.py [TARGET ...]

Run once to make tests/fuzz/corpus/ (committed); inputs found by fuzzing go into
tests/fuzz/corpus/<target>/found/ beside these seeds.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import struct
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import TARGETS, corpus_dir

import modcore


def _chains():
    rng = np.random.default_rng(0)
    return {
        "mlp": [rng.normal(size=(6, 5)), rng.normal(size=(5, 3))],
        "pruned": [rng.normal(size=(8, 6)) * (rng.random((8, 6)) < 0.4), rng.normal(size=(6, 4))],
        "float32": [rng.normal(size=(4, 4)).astype(np.float32)] * 3,
    }


def weight_files() -> dict:
    """{target: {name: bytes}} for the three weight file formats."""
    import torch
    from safetensors.numpy import save as save_safetensors

    out: dict = {"npz": {}, "pt": {}, "safetensors": {}}
    for name, chain in _chains().items():
        buf = io.BytesIO()
        np.savez(buf, *chain)
        out["npz"][name] = buf.getvalue()
        state = {f"{i}.weight": torch.from_numpy(w.T.copy()) for i, w in enumerate(chain)}
        buf = io.BytesIO()
        torch.save(state, buf)
        out["pt"][name] = buf.getvalue()
        out["safetensors"][name] = save_safetensors({k: v.numpy() for k, v in state.items()})
    return out


def checkpoints() -> dict:
    import torch

    from modcore.nn import CNN, MLP, checkpoint

    out = {}
    for name, model in {
        "mlp": MLP([6, 5, 3], seed=0),
        "cnn": CNN((1, 8, 8), n_classes=3, channels=(2, 2, 2), dense=(4,), seed=0),
    }.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tmp = Path(f"/tmp/modcore-corpus-{name}.pt")
            checkpoint.save(model, tmp, {"dataset": "line"})
            out[name] = tmp.read_bytes()
            tmp.unlink()
    del torch
    return out


def idx_files() -> dict:
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    raw = struct.pack(">BBBB", 0, 0, 0x08, 3) + struct.pack(">3I", *images.shape)
    raw += images.tobytes()
    labels = struct.pack(">BBBBI", 0, 0, 0x08, 1, 2) + bytes([1, 7])
    return {"images": raw, "images-gz": gzip.compress(raw), "labels": labels}


ROOT = Path(__file__).resolve().parents[2]


def _short_lists(row: dict) -> dict:
    """``row`` with every list of more than 3 numbers cut to 3 (the null's n-cuts), so
    that seeds stay small."""
    return {k: v[:3] if isinstance(v, list) and len(v) > 3 else v for k, v in row.items()}


def _first_rows(path: Path, n: int) -> bytes:
    lines = path.read_text().splitlines()[:n]
    return "".join(json.dumps(_short_lists(json.loads(line))) + "\n" for line in lines).encode()


def _sweep_log(suffix: str) -> bytes:
    rng = np.random.default_rng(0)
    nets = {name: [rng.normal(size=(6, 5)), rng.normal(size=(5, 4))] for name in ("a", "b")}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        modcore.sweep(nets, n_clusters=2, n_shuffles=3, seed=0, results_path=path, progress=False)
        return path.read_bytes()


def log_inputs(suffix: str) -> dict:
    """Logs modcore wrote: a sweep's, and (JSONL) the committed reproductions' run logs
    (one-rule and two-rule rows, lesion rows), their lists cut short."""
    out = {"sweep": _sweep_log(suffix)}
    if suffix == ".jsonl":
        out["reproduce-one-rule"] = _first_rows(ROOT / "results" / "runs.jsonl", 2)
        out["reproduce-two-rules"] = _first_rows(ROOT / "results" / "cnn" / "runs.jsonl", 1)
        out["lesions"] = _first_rows(ROOT / "results" / "lesions" / "runs.jsonl", 2)
    return out


def core_inputs(n: int = 24) -> dict:
    """Byte strings that reach the core's computation (not a validation error), found by
    drawing random ones: the fuzzer starts from inputs that get past the checks."""
    rng = random.Random(0)
    found: dict = {}
    core = TARGETS["core"]
    import targets

    clear, targets.CLEAR = targets.CLEAR, ()
    try:
        while len(found) < n:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(20, 300)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    core(data)
                except (ValueError, TypeError):
                    continue
            found[f"reaches-core-{len(found):02d}"] = data
    finally:
        targets.CLEAR = clear
    return found


def cli_inputs(n: int = 8) -> dict:
    """Command lines are drawn from the bytes: any bytes make one."""
    rng = random.Random(0)
    return {f"argv-{i}": bytes(rng.randrange(256) for _ in range(24)) for i in range(n)}


MAKERS = {
    "npz": lambda: weight_files()["npz"],
    "pt": lambda: weight_files()["pt"],
    "safetensors": lambda: weight_files()["safetensors"],
    "checkpoint": checkpoints,
    "idx": idx_files,
    "core": core_inputs,
    "cli": cli_inputs,
    "jsonl": lambda: log_inputs(".jsonl"),
    "csv": lambda: log_inputs(".csv"),
}


def main(names) -> None:
    assert set(MAKERS) == set(TARGETS), "every target needs its seeds"
    for name in names or MAKERS:
        inputs = MAKERS[name]()
        folder = corpus_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        for stem, data in inputs.items():
            (folder / stem).write_bytes(data)
        print(f"{name}: {len(inputs)} seeds in {folder}")


if __name__ == "__main__":
    main(sys.argv[1:])
