"""Python scripts run in a child process: for failures that would take the test
runner down with them (a crash, a hang, memory exhaustion) and for Ctrl-C."""

import os
import resource
import signal
import subprocess
import sys
import textwrap
import threading
import time


def run_python(script, *, address_space_gb=None, timeout=120):
    """Run ``script``; with ``address_space_gb``, under that ``ulimit -v``.

    Returns the CompletedProcess; a hang raises subprocess.TimeoutExpired.
    """

    def limit():
        if address_space_gb is not None:
            size = int(address_space_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
    )


def cpu_seconds(pid) -> float:
    """CPU time (user + system) the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interruptible(args, **popen_kwargs) -> subprocess.Popen:
    """Start ``args`` with stdout and stderr piped and SIGINT handled as a terminal's
    Ctrl-C would be. A runner started in the background by a non-interactive shell
    (``cmd &``, nohup) ignores SIGINT, and an ignored SIGINT stays ignored across exec,
    so Python would never raise KeyboardInterrupt in the child."""
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **popen_kwargs,
    )


# Prepended to a script by interrupt(in_core=NAME). A profile hook keeps the calls into
# modcore._core that have not returned, each with the Python frame that made it; a thread
# prints the ready line once _core.NAME is running. The SIGINT handler says where it ran:
# "inside _core.NAME" only while NAME has not returned and the innermost Python frame is
# the one that called it, i.e. when the C++ polled for signals (the binding's
# PyErr_CheckSignals). A signal that lands in Python before or after the call, or in
# Python code the call runs, reports "outside _core".
WATCH_CORE = """
import signal as _signal, sys as _sys, threading as _threading, time as _time

_core_calls = []


def _watch(frame, event, arg):
    if event.startswith("c_") and getattr(arg, "__module__", None) == "modcore._core":
        if event == "c_call":
            _core_calls.append((arg.__name__, frame))
        else:
            _core_calls.pop()


def _on_sigint(signum, frame):
    inside = bool(_core_calls) and _core_calls[-1][1] is frame
    print("SIGINT handled", "inside _core." + _core_calls[-1][0] if inside else "outside _core",
          flush=True)
    raise KeyboardInterrupt


def _announce(name, line):
    while not any(call == name for call, _ in list(_core_calls)):
        _time.sleep(0.01)
    print(line, flush=True)


_signal.signal(_signal.SIGINT, _on_sigint)
_sys.setprofile(_watch)
_threading.Thread(target=_announce, args=({name!r}, {ready!r}), daemon=True).start()
"""


def interrupt(script, *, ready, in_core=None, busy_seconds=0.0, timeout=90):
    """Run ``script`` until it prints the line ``ready``, then until it has spent
    ``busy_seconds`` of CPU time after it (to be deep inside the work the line
    announced, whatever the machine's load), and send SIGINT; (rc, out, err).

    With ``in_core`` (the name of a ``modcore._core`` function), the script does not
    print ``ready`` itself: it is printed once that function is running, and ``out``
    gets the line "SIGINT handled inside _core.NAME" only if the signal was handled
    from inside the C++ call (see WATCH_CORE), else "SIGINT handled outside _core".

    No time limit on the reaction beyond ``timeout``: uninterrupted, the scripts
    run for many minutes, so the timeout only fires if Ctrl-C is ignored, or if the
    script never gets ready (it is killed, and the ready line is missing).
    """
    if in_core is not None:
        script = WATCH_CORE.format(name=in_core, ready=ready) + textwrap.dedent(script)
    proc = interruptible([sys.executable, "-c", textwrap.dedent(script)], text=True)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        first = proc.stdout.readline()
        assert first == ready + "\n", f"got {first!r}, not {ready!r}: " + proc.stderr.read()
        watchdog.cancel()
        start = cpu_seconds(proc.pid)
        while cpu_seconds(proc.pid) - start < busy_seconds:
            assert proc.poll() is None, "the script ended before it was interrupted"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, first + out, err
    finally:
        watchdog.cancel()
        proc.kill()
