#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with -Werror, runs every
# test but the long sweeps (label `sweep`: `ctest -L sweep` runs them), then
# rebuilds under AddressSanitizer + UndefinedBehaviorSanitizer and runs the
# unit, diagnostic and small-model tests again, and last builds the libFuzzer
# harnesses with clang and runs each for a minute (tests/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
jobs=$(nproc)

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCNNC_WERROR=ON
cmake --build build/release -j"$jobs"
(cd build/release && ctest --output-on-failure -j"$jobs" -LE sweep)

cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCNNC_WERROR=ON -DCNNC_SANITIZE=ON
cmake --build build/asan -j"$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j"$jobs" -L small)

cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCNNC_FUZZ=ON
cmake --build build/fuzz -j"$jobs" --target fuzzers
(cd build/fuzz && ctest --output-on-failure -j"$jobs" -L fuzz)
