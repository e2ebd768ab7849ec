#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install what is missing (the
# `build` set only: a C toolchain, cmake, flex, bison, Check, protobuf-c),
# build cnnc, compile the course LeNet to C, build the generated C with the
# system compiler, and classify examples/cat.ppm with it, checked against
# `cnnc run`. No Python: the input is an image shipped in examples/, and the
# two outputs are compared by the awk below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target cnnc
out=build/quickstart
mkdir -p "$out"
cnnc=build/release/cnnc

"$cnnc" info examples/lenet.cnn
"$cnnc" examples/lenet.cnn -o "$out/lenet.c" --main
cc -std=c99 -O2 -o "$out/lenet" "$out/lenet.c" -lm

# The generated program and the interpreter on the same picture (LeNet's
# weights are the seeded initialisation, untrained: the classes are arbitrary).
"$out/lenet" infer examples/cat.ppm "$out/probs.npy"
"$cnnc" run examples/lenet.cnn --input examples/cat.ppm --output "$out/probs_ref.npy"

# The float32 values of a .npy file that cnnc wrote (format 1.0: the header
# length is the little-endian 16-bit number at byte 8), one per line.
npy_floats() {
  local len
  len=$(od -An -tu2 -j8 -N2 "$1" | tr -d ' ')
  od -An -v -tf4 -w4 -j$((10 + len)) "$1"
}
# Contract section 6: max |a - b| <= 1e-4 * max |ref| over the whole tensor.
paste <(npy_floats "$out/probs.npy") <(npy_floats "$out/probs_ref.npy") | awk '
  function abs(x) { return x < 0 ? -x : x }
  { n++; d = abs($1 - $2); if (d > diff) diff = d; if (abs($2) > ref) ref = abs($2)
    if ($1 != $1 || $2 != $2) nan = 1 }
  END { rel = ref > 0 ? diff / ref : diff
        printf "generated vs interpreter: %d values, max relative difference %.2e\n", n, rel
        exit (n == 10 && !nan && rel <= 1e-4) ? 0 : 1 }'
"$out/lenet" bench examples/cat.ppm 200
