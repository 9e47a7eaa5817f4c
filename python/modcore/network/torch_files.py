"""A ``.pt`` / ``.pth`` file read without running code from it (``torch.load`` with
``weights_only=True``), and, when it is refused, why: pickled code objects named, TorchScript
and torch.export archives recognized, damaged files said to be so."""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from pathlib import Path

__all__ = ["MODEL_ROUTES", "NOT_ZIP", "is_zip_format", "load_torch_file"]

#: Why a file that is not in torch.save's zip format is refused before torch.load sees it:
#: the pre-1.6 legacy reader allocates the storage sizes a file declares before reading
#: them, so a few bytes can ask for gigabytes (found by fuzzing).
NOT_ZIP = (
    "not in torch.save's zip format (corrupt, truncated or not a torch file; a file in the "
    "legacy format of PyTorch < 1.6 is refused too: load it and save it again with a "
    "current torch)"
)

#: The routes by which a model whose graph needs its code (a CNN, a residual net) reaches
#: modcore without running code from a file: every refusal of such a file names them.
MODEL_ROUTES = (
    "from the command line, `modcore analyze --model yourpkg.module:make_model --weights "
    "state.pt --input-shape 1,28,28` (your own code builds the model, and torch.save("
    "model.state_dict()) fills it) or a torch.export program, `modcore analyze model.pt2` "
    "(torch.export.save); in Python, modcore.Network.from_torch(model, input_shape=...)"
)


def load_torch_file(path: str | Path):
    """``torch.load(path, weights_only=True)`` (no pickled code runs) on the CPU.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.pt`` / ``.pth`` file.

    Returns
    -------
    object
        What the file holds: tensors, containers of them and plain values only.

    Raises
    ------
    ValueError
        Naming the file and the reason when it cannot be parsed (corrupt,
        truncated, not a torch file, or pickled objects other than tensors).
    ImportError
        If torch is not installed.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
    >>> torch.save({"0.weight": torch.ones(2, 3)}, path)
    >>> load_torch_file(path)["0.weight"].shape
    torch.Size([2, 3])
    """
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"reading {path} needs torch: pip install 'modcore[torch]'") from exc
    path = Path(path)
    if path.is_file() and not is_zip_format(path):
        names = _pickled_globals(path)
        reason = _CODE_REFUSED.format(", ".join(names)) if names else NOT_ZIP
        raise ValueError(f"{path}: cannot be read by torch.load(weights_only=True): {reason}")
    try:
        # torch warns (on stderr) about pickle protocols it may not read; the error
        # below says what went wrong.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    # torch.load raises many types (UnpicklingError, RuntimeError, OSError,
    # EOFError, ...) for a damaged or foreign file; all mean "cannot parse".
    except Exception as exc:
        archive = _program_archive(path)
        if archive is not None:
            raise ValueError(f"{path}: {archive}") from exc
        names = _pickled_globals(path)
        reason = _CODE_REFUSED.format(", ".join(names)) if names else _reason(exc)
        raise ValueError(
            f"{path}: cannot be read by torch.load(weights_only=True): {reason}"
        ) from exc


def is_zip_format(file) -> bool:
    """Whether a path or binary file holds a zip archive torch.save could have written;
    zipfile.is_zipfile itself raises on some damaged ones (a multi-disk end record)."""
    try:
        return zipfile.is_zipfile(file)
    except zipfile.BadZipFile:
        return False


def _program_archive(path: Path) -> str | None:
    """What a zip file holding a program, not a state dict, is, and what to pass instead."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception:  # not a zip file: torch's own reason stands
        return None
    if any(n.endswith("/constants.pkl") or "/code/__torch__/" in n for n in names):
        return (
            "a TorchScript archive (torch.jit.save), not a state dict: modcore does not load "
            "TorchScript (it carries code, and its compiled graph cannot be traced into "
            f"units). Routes that work: {MODEL_ROUTES}"
        )
    if any(n.endswith("/archive_format") or n.endswith("/models/model.json") for n in names):
        return (
            "a torch.export archive (torch.export.save), not a state dict: modcore reads "
            "such a program from a file named .pt2 (e.g. `modcore analyze model.pt2`, or "
            "modcore.as_network('model.pt2')); rename it"
        )
    return None


def _pickled_globals(path: Path) -> list:
    """The globals (classes, functions) that a file holding a plain pickle, not
    torch's zip format, would import; read by pickletools, which runs nothing.
    Torch's own unpickler stops at such a file's first opcode it does not know."""
    import pickletools

    names: list[str] = []
    strings: list[str] = []
    try:
        with open(path, "rb") as file:
            if file.read(2) == b"PK":  # a zip archive: torch's format, not a plain pickle
                return []
        # Read whole, so that a length the file declares cannot make a read allocate it.
        for op, arg, _ in pickletools.genops(io.BytesIO(path.read_bytes())):
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(".".join(strings[-2:]))
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:
        pass
    return list(dict.fromkeys(names))


# What torch's weights-only unpickler names when a file pickles more than tensors:
# a global (a class or function), an object it would build, a function it would call.
_CODE_OBJECT = re.compile(
    r"GLOBAL (\S+)|unrecognized function (\S+)|add_safe_globals` but got (.+?)$"
    r"|add_safe_globals`, but got (.+?)$",
    re.M,
)


_CODE_REFUSED = (
    "refused for safety: the file holds pickled code objects ({}), not only tensors, and "
    "modcore never runs code from a file (a whole model saved with torch.save(model)?). "
    "Routes that work: " + MODEL_ROUTES
)


def _reason(exc: Exception) -> str:
    """Why torch.load failed, in one line; torch's advice to load with
    weights_only=False (which would run the file's code) is never relayed."""
    text = str(exc)
    found = _CODE_OBJECT.search(text)
    if found is not None:
        return _CODE_REFUSED.format(next(group for group in found.groups() if group).rstrip(". "))
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not re.search(r"weights.only|documentation", line, re.I)
    ]
    message = lines[0] if lines else "no message"
    return f"{type(exc).__name__}: {message} (corrupt, truncated or not a torch file)"
