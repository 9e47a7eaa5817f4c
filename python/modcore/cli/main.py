"""The ``modcore`` command: train, analyze, sweep, lesion, reproduce, demo."""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
import warnings
from pathlib import Path

from ..common.progress import end_open_line
from ..common.version import __version__
from . import analyze, demo, functional, lesion, reproduce, sweep, train
from .options import (
    UsageError,
    _check_inputs,
)

# What a run can fail with because of its input, its settings or the machine (a
# bad file, a refused parameter, a full disk, a missing extra, not enough
# memory, an eigensolver that did not converge): one line on stderr and exit 2,
# from the one handler in main(). Anything else is a bug and keeps its traceback.
_EXPECTED_ERRORS = (
    UsageError,
    ValueError,
    TypeError,
    OSError,
    ImportError,
    MemoryError,
    RuntimeError,
)


def _one_line(exc: BaseException) -> str:
    # cli_message: the same message for the command (DatasetNotFoundError names --data-dir).
    cli_message = getattr(exc, "cli_message", None)
    if cli_message:
        text = cli_message
    elif isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
        text = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, MemoryError):
        text = f"not enough memory ({exc})" if str(exc) else "not enough memory"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (not the usage block, then the error)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


# Built once per process: main() called again in one process (tests, notebooks, the fuzzer)
# spent half its time rebuilding the same ~165 options. Parsing does not change it.
@functools.cache
def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="modcore",
        description="How modular is a trained neural network?",
        epilog="Options are spelled like the Python parameters they set (--n-clusters for "
        "n_clusters); the older --clusters, --shuffles, --jobs, --threads, --permutations "
        "and --pairs still work.",
    )
    parser.add_argument("--version", action="version", version=f"modcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    analyze.add_analyze_parser(sub)
    sweep.add_sweep_parser(sub)
    train.add_train_parser(sub)
    demo.add_demo_parser(sub)
    lesion.add_lesion_parser(sub)
    reproduce.add_reproduce_parser(sub)
    functional.add_functional_parser(sub)
    # Each subcommand's --help opens with what it does: its line in `modcore --help`.
    for action in sub._choices_actions:
        command = sub.choices[action.dest]
        command.description = command.description or action.help
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # a usage error (one line already printed), --help, --version
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    # What summary.json keeps to redo the run: the command as typed and every option's value.
    extra = {
        "command": shlex.join(["modcore", *argv]),
        "arguments": {
            k: str(v) if isinstance(v, (Path, range)) else v for k, v in vars(args).items()
        },
    }
    with warnings.catch_warnings():
        # A warning is one "modcore: note:" line, not Python's two (file, line, source).
        warnings.showwarning = _show_warning
        return _run(args, extra)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    end_open_line()
    print(f"modcore: note: {_one_line(message)}", file=sys.stderr)


def _run(args, extra: dict) -> int:
    run = {
        "analyze": analyze.run_analyze,
        "sweep": sweep.run_sweep,
        "train": train.run_train,
        "demo": demo.run_demo,
        "lesion": lesion.run_lesion,
        "reproduce": reproduce.run_reproduce,
        "functional": functional.run_functional,
    }[args.command]
    try:
        _check_inputs(args)
        run(args, extra)
    except _EXPECTED_ERRORS as exc:
        end_open_line()
        print(f"modcore: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        end_open_line()
        print("modcore: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
