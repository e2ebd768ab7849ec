#!/bin/sh
# run.sh: the digits example end to end with cnnc's generated trainer.
#
#     examples/digits/run.sh [CNNC] [WORKDIR]
#
# Writes the data, compiles digits.cnn with its training code and main(),
# trains on one core (about 98% validation accuracy in well under a minute),
# saves the best epoch's weights, bakes them into a fresh inference-only
# program and runs it. CNNC defaults to `cnnc` on PATH, WORKDIR to a new
# temporary folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cnnc=${1:-cnnc}
work=${2:-$(mktemp -d)}
mkdir -p "$work/trained"
cd "$work"

/usr/bin/python3 "$here/make_digits.py" .
"$cnnc" "$here/digits.cnn" -o digits_train.c --train --main
cc -O2 digits_train.c -o digits_train -lm
./digits_train train digits_x.npy digits_y.npy --val-split 0.2 --save trained

# The trained weights baked back in: a plain inference program.
"$cnnc" "$here/digits.cnn" --weights trained -o digits.c --main
cc -O2 digits.c -o digits -lm
./digits infer digits_x.npy scores.npy
echo "trained model in $work/digits.c, its scores in $work/scores.npy"
