"""Check what the sdist and the wheel in DIST hold.

    python .ci/check_dist.py DIST

Run from the checkout. The sdist must carry every file git tracks under cpp/ (the vendored
Eigen and Spectra headers with their licences among them), python/ and tests/, and the build
files; the wheel every tracked file of the package (py.typed among them), the compiled _core and
the licences (modcore's MIT, and MPL-2.0 for the Eigen and Spectra code compiled into it).
"""

import fnmatch
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

VENDORED = [
    f"cpp/third_party/{lib}/{name}"
    for lib, licence in (("eigen", "COPYING.MPL2"), ("spectra", "LICENSE"))
    for name in (licence, "VERSION", "debian-copyright")
]


def tracked(*paths):
    out = subprocess.run(
        ["git", "ls-files", "-z", *paths], check=True, capture_output=True, text=True
    ).stdout
    return {p for p in out.split("\0") if p}


def only(dist, pattern):
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        sys.exit(f"expected one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


def require(archive, names, wanted):
    missing = sorted(set(wanted) - set(names))
    if missing:
        sys.exit(f"{archive.name} lacks {len(missing)} file(s): {', '.join(missing[:20])}")


def check_sdist(path):
    with tarfile.open(path) as tar:
        # members are "modcore-<version>/<path in the checkout>"
        names = {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}
    wanted = tracked(
        "cpp", "python", "tests", "CMakeLists.txt", "pyproject.toml", "README.md", "LICENSE"
    )
    if not set(VENDORED) <= wanted:
        sys.exit(f"the checkout does not track {sorted(set(VENDORED) - wanted)}")
    require(path, names, wanted)
    headers = [n for n in names if n.startswith("cpp/third_party/")]
    print(
        f"{path.name}: {len(names)} files, {len(headers)} under cpp/third_party, "
        f"with {', '.join(VENDORED[0::3])}"
    )


def check_wheel(path):
    with zipfile.ZipFile(path) as whl:
        names = set(whl.namelist())
    package = {"modcore/" + p[len("python/modcore/") :] for p in tracked("python/modcore")}
    licences = {
        f"modcore-{path.name.split('-')[1]}.dist-info/licenses/{p}"
        for p in ["LICENSE", *VENDORED[0::3]]
    }
    require(path, names, package | {"modcore/py.typed"} | licences)
    core = fnmatch.filter(names, "modcore/_core.*.so")
    if len(core) != 1:
        sys.exit(f"{path.name} should hold one compiled modcore/_core.*.so, found {core}")
    print(
        f"{path.name}: the package's {len(package)} files, py.typed, {core[0]}, "
        "the licences of modcore, Eigen and Spectra"
    )


def main(dist):
    dist = Path(dist)
    check_sdist(only(dist, "modcore-*.tar.gz"))
    check_wheel(only(dist, "modcore-*.whl"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
