#!/bin/sh
# run_fuzz.sh: one libFuzzer harness for a while (a fuzz test, or a campaign).
#
# Usage: run_fuzz.sh FUZZER DICT WORKDIR SECONDS SEEDS... [-- OPTION...]
#
# The corpus grows in WORKDIR/corpus (kept between runs, so a campaign
# goes on where the last one stopped); SEEDS are read, never written.
# Whatever breaks lands in WORKDIR as crash-*, leak-*, timeout-* or oom-*,
# and the exit status is non-zero. The target's own output (diagnostics,
# the programs' prints) is closed; libFuzzer's and the sanitizers' reports
# stay. OPTIONs after -- go to libFuzzer as they are.
set -eu
fuzzer=$1 dict=$2 work=$3 seconds=$4
shift 4
seeds=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    seeds="$seeds $1"
    shift
done
[ $# -gt 0 ] && shift
mkdir -p "$work/corpus"
# shellcheck disable=SC2086
exec "$fuzzer" -max_total_time="$seconds" -dict="$dict" -artifact_prefix="$work/" \
    -timeout=20 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 "$@" \
    "$work/corpus" $seeds
