#!/usr/bin/env bash
# Build modcore with AddressSanitizer + UndefinedBehaviorSanitizer into a scratch
# virtualenv and run the tests that exercise the C++ core under it.
#   bash tests/run_sanitizers.sh [pytest args...]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MODCORE_ASAN_VENV:-/tmp/modcore-asan-venv}"
python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install -q --no-build-isolation \
    -Ccmake.define.MODCORE_SANITIZE=ON -Cbuild-dir="$repo/build/asan" "$repo"
asan="$(g++ -print-file-name=libasan.so)"
ubsan="$(g++ -print-file-name=libubsan.so)"
cd "$repo"
# Python itself is not instrumented: leak reports would be about the interpreter.
LD_PRELOAD="$asan:$ubsan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/test_ncut.py tests/test_spectral.py tests/test_kmeans.py tests/test_cluster.py \
    tests/test_significance.py tests/test_properties.py tests/test_network.py \
    tests/test_degenerate.py tests/test_assign_labels.py tests/test_analysis.py \
    tests/test_drop.py tests/test_rescale.py tests/test_large_graph.py tests/test_shared_arrays.py "$@"
