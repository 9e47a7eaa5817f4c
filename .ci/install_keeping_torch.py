"""pip install the given requirements, failing loudly if that would replace the installed torch.

    python .ci/install_keeping_torch.py REQUIREMENT...

Run it with the interpreter to install into, after `pip install torch==2.13.0`: the extras
give torch a range, and this machine's local 2.13.0 build must satisfy it. pip's plan is
read first (--dry-run --report) and nothing is installed if it holds a torch; after the
install, torch must still import at the version it had before.
"""

import json
import os
import subprocess
import sys
import tempfile


def torch_version():
    return subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def main(requirements):
    before = torch_version()
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--report",
                report,
                *requirements,
            ],
            check=True,
        )
        with open(report) as f:
            plan = json.load(f)["install"]
    for item in plan:
        meta = item["metadata"]
        if meta["name"].lower() == "torch":
            sys.exit(
                f"pip install {' '.join(requirements)} would replace torch {before} by "
                f"torch {meta['version']}: a dependency range excludes the installed torch"
            )
    subprocess.run([sys.executable, "-m", "pip", "install", *requirements], check=True)
    after = torch_version()
    if after != before:
        sys.exit(
            f"torch changed from {before} to {after} during pip install {' '.join(requirements)}"
        )
    print(f"installed {' '.join(requirements)}; torch stays {after}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
