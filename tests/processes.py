"""Python scripts run in a child process: for failures that would take the test
runner down with them (a crash, a hang, memory exhaustion) and for Ctrl-C."""

import os
import resource
import signal
import subprocess
import sys
import textwrap
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


def interrupt(script, *, ready, busy_seconds=0.0, timeout=90):
    """Run ``script`` until it prints the line ``ready``, then until it has spent
    ``busy_seconds`` of CPU time after it (to be deep inside the work the line
    announced, whatever the machine's load), and send SIGINT; (rc, out, err).

    No time limit on the reaction beyond ``timeout``: uninterrupted, the scripts
    run for many minutes, so the timeout only fires if Ctrl-C is ignored.
    """
    proc = interruptible([sys.executable, "-c", textwrap.dedent(script)], text=True)
    try:
        first = proc.stdout.readline()
        assert first == ready + "\n", first + proc.stderr.read()
        start = cpu_seconds(proc.pid)
        while cpu_seconds(proc.pid) - start < busy_seconds:
            assert proc.poll() is None, "the script ended before it was interrupted"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, first + out, err
    finally:
        proc.kill()
