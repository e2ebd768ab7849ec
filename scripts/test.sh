#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with -Werror, runs every
# test, then rebuilds under AddressSanitizer + UndefinedBehaviorSanitizer and
# runs the unit, diagnostic and small-model tests again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
jobs=$(nproc)

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCNNC_WERROR=ON
cmake --build build/release -j"$jobs"
(cd build/release && ctest --output-on-failure -j"$jobs")

cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCNNC_WERROR=ON -DCNNC_SANITIZE=ON
cmake --build build/asan -j"$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j"$jobs" -L small)
