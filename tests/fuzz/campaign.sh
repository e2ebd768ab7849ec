#!/bin/sh
# campaign.sh: a long fuzzing campaign, the harnesses one after the other on
# one core at the lowest priority, going on past what it finds (libFuzzer's
# fork mode keeps every crash, leak, timeout and OOM and carries on).
#
# Usage: campaign.sh FUZZ_BUILD OUTDIR CPU_SECONDS [HARNESS...]
#
# FUZZ_BUILD is a -DCNNC_FUZZ=ON build with `--target fuzzers` built;
# HARNESS defaults to all six (dsl onnx npy image weights program). Each runs in
# rounds of ROUND wall seconds (default 900) until its processes have used
# CPU_SECONDS of CPU time (at nice 19 on a busy machine that takes longer
# than CPU_SECONDS). OUTDIR/<harness>/ keeps its corpus (a later campaign
# goes on from it), its findings, log-N.txt per round and cpu.txt, one
# line per round: user and system seconds, and libFuzzer's last status
# line (executions, coverage, findings). CORE=N pins it to CPU N, so that
# it and another campaign (difffuzz.py) share one core. An input counts as
# hanging after 120 s here (20 s in CI): at nice 19 on a busy machine a
# second of work can take that long.
set -eu
build=$(cd "$1" && pwd) out=$2 target=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
round=${ROUND:-900}
[ $# -gt 0 ] || set -- dsl onnx npy image weights program
for h in "$@"; do
    case $h in weights) dict=npy ;; *) dict=$h ;; esac
    mkdir -p "$out/$h"
    touch "$out/$h/cpu.txt"
    while :; do
        used=$(awk '{s += $1 + $2} END {printf "%d", s}' "$out/$h/cpu.txt")
        [ "$used" -lt "$target" ] || break
        n=$(($(wc -l <"$out/$h/cpu.txt") + 1))
        log=$out/$h/log-$n.txt
        echo "$(date -u +%FT%TZ) $h round $n, $used of $target CPU seconds used" >&2
        ${CORE:+taskset -c "$CORE"} /usr/bin/time -o "$out/$h/time.txt" -f "%U %S" nice -n 19 \
            sh "$here/run_fuzz.sh" "$build/tests/fuzz/fuzz_$h" "$here/$dict.dict" "$out/$h" \
            "$round" "$build/tests/fuzz/seeds/$h" -- -fork=1 -ignore_crashes=1 \
            -ignore_ooms=1 -ignore_timeouts=1 -timeout=120 >"$log" 2>&1 || true
        status=$(grep '^#[0-9]' "$log" | tail -n 1) || true
        if [ -z "$status" ]; then # it never started (no harness?): looping would spin
            tail -n 5 "$log" >&2
            echo "campaign.sh: $h round $n did not start: see $log" >&2
            exit 1
        fi
        echo "$(cat "$out/$h/time.txt") $status" >>"$out/$h/cpu.txt"
    done
    tail -n 1 "$out/$h/cpu.txt" >&2
done
