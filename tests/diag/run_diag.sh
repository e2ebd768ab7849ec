#!/bin/sh
# run_diag.sh: the diagnostics suite.
#
# Usage: run_diag.sh CNNC [DIR]   (DIR defaults to this script's directory)
#
# Every DIR/NAME.err holds the exact first line `cnnc info NAME.cnn` must
# print on stderr, or its first lines when it has several (the source line
# and the caret, where their bytes are the point: escaping). NAME.cnn is
# DIR's file or, for the inputs that are too large or too binary to commit,
# made here by gen_case; the files in DIR/NAME.d/, if any, are copied
# beside it (the networks it imports). For each case: the
# exit status is non-zero and below 128 (no signal), no sanitizer spoke, the
# first line is `NAME.cnn:LINE:COL: error: ...` and equals the golden one.
# `run_diag.sh CNNC --update` rewrites the goldens (review the diff!).
set -u
cnnc=$1
dir=${2:-$(dirname "$0")}
update=0
if [ "$dir" = --update ]; then
    dir=$(dirname "$0")
    update=1
fi
dir=$(cd "$dir" && pwd)
case $cnnc in /*) ;; *) cnnc=$(pwd)/$cnnc ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Inputs made at test time.
gen_case() {
    case $1 in
    long_line) # a 1 MB line of blanks, then a stray character
        printf 'model m {\n  input 3x8x8\n' >"$work/$1.cnn"
        head -c 1048576 /dev/zero | tr '\0' ' ' >>"$work/$1.cnn"
        printf '@\n  relu\n}\n' >>"$work/$1.cnn" ;;
    long_name) # a 1 MB identifier used as an unknown layer kind
        printf 'model m {\n  input 3x8x8\n  ' >"$work/$1.cnn"
        head -c 1048576 /dev/zero | tr '\0' 'a' >>"$work/$1.cnn"
        printf '\n}\n' >>"$work/$1.cnn" ;;
    deep_nesting) # 20000 nested parentheses: beyond the parser's stack
        { printf 'model m {\n  input 3x8x8\n  c: conv(8, kernel='
          head -c 20000 /dev/zero | tr '\0' '('
          head -c 20000 /dev/zero | tr '\0' ')'
          printf ')\n}\n'; } >"$work/$1.cnn" ;;
    binary_garbage) # bytes of an ELF header and beyond
        printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\003\000>\000' >"$work/$1.cnn" ;;
    nul_byte) # a NUL inside a statement
        printf 'model m {\n  input 3x8\0003\n  relu\n}\n' >"$work/$1.cnn" ;;
    not_utf8) # Latin-1 e-acute in a layer name
        printf 'model m {\n  input 16\n  caf\351: dense(4)\n}\n' >"$work/$1.cnn" ;;
    control_byte) # a terminal escape sequence (ESC [ 3 1 m) after a layer
        printf 'model m {\n  input 16\n  relu \033[31m\n}\n' >"$work/$1.cnn" ;;
    invalid_utf8_message) # a stray run echoed in the message: '@', a C1 control, 0xFF
        printf 'model m {\n  input 16\n  relu @\302\233\377 # caf\303\251\n}\n' >"$work/$1.cnn" ;;
    utf8_kept) # valid UTF-8 and a tab before the error columns: kept, carets aligned
        printf 'model m {\n  input 16\n\t\316\273\342\234\223 @\n}\n' >"$work/$1.cnn" ;;
    empty)
        : >"$work/$1.cnn" ;;
    *)
        return 1 ;;
    esac
}

pass=0
fail=0
for golden in "$dir"/*.err; do
    name=$(basename "$golden" .err)
    if [ -f "$dir/$name.cnn" ]; then
        cp "$dir/$name.cnn" "$work/"
    elif ! gen_case "$name"; then
        echo "FAIL $name: no $name.cnn and no generator"
        fail=$((fail + 1))
        continue
    fi
    if [ -d "$dir/$name.d" ]; then
        cp -R "$dir/$name.d/." "$work/"
    fi
    (cd "$work" && "$cnnc" info "$name.cnn" >/dev/null 2>"$name.stderr")
    status=$?
    lines=$(wc -l <"$golden")
    first=$(head -n 1 "$work/$name.stderr")
    got=$(head -n "$lines" "$work/$name.stderr")
    if [ $update = 1 ]; then
        printf '%s\n' "$got" >"$golden"
    fi
    expected=$(cat "$golden")
    why=
    if [ $status = 0 ]; then
        why="exit status 0"
    elif [ $status -ge 128 ]; then
        why="killed by a signal (status $status)"
    elif grep -q -e 'Sanitizer' -e 'runtime error:' "$work/$name.stderr"; then
        why="a sanitizer reported a problem"
    elif ! printf '%s\n' "$first" | grep -q "^$name\.cnn:[0-9][0-9]*:[0-9][0-9]*: error: "; then
        why="first line is not FILE:LINE:COL: error:"
    elif [ "$got" != "$expected" ]; then
        why="first lines differ"
    fi
    if [ -n "$why" ]; then
        echo "FAIL $name: $why"
        echo "  expected: $expected"
        echo "  got:      $(printf '%s' "$got" | cut -c1-300)"
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
    rm -rf "$work"/* "$work"/.[!.]*
done
echo "diag: $pass passed, $fail failed"
[ $fail = 0 ] && [ $pass -gt 0 ]
