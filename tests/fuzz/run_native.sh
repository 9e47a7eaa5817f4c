#!/usr/bin/env bash
# Fuzz with the C++ core instrumented too, as atheris documents for native extensions:
# modcore built by clang with AddressSanitizer and libFuzzer's coverage into a scratch
# virtualenv, then tests/fuzz/run.py under atheris's ASan + libFuzzer runtime, so the
# fuzzer is guided by the core's branches and an out-of-bounds access is a finding.
#   bash tests/fuzz/run_native.sh [run.py args...]
# Needs clang and libomp-dev (apt) and atheris (pip install ".[fuzz]").
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${MODCORE_FUZZ_VENV:-/tmp/modcore-fuzz-venv}"
python3 -m venv --system-site-packages "$venv"
CC=clang CXX=clang++ "$venv/bin/pip" install -q --no-build-isolation \
    -Ccmake.define.MODCORE_FUZZ=ON -Cbuild-dir="$repo/build/fuzz" "$repo"
runtime="$("$venv/bin/python" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so"
cd "$repo"
# Python itself is not instrumented: leak reports would be about the interpreter.
LD_PRELOAD="$runtime" ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1" \
    "$venv/bin/python" tests/fuzz/run.py "$@"
