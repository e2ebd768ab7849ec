#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install what is missing, build
# cnnc, compile the course LeNet to C, build the generated C with the system
# compiler, and classify an input with it (checked against `cnnc run`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)"
out=build/quickstart
mkdir -p "$out"
cnnc=build/release/cnnc

"$cnnc" info examples/lenet.cnn
"$cnnc" examples/lenet.cnn -o "$out/lenet.c" --main
cc -std=c99 -O2 -o "$out/lenet" "$out/lenet.c" -lm

# One random 3x32x32 image, classified by the generated program and by the interpreter.
/usr/bin/python3 -c "import numpy as np; np.save('$out/image.npy', np.random.default_rng(0).standard_normal((1,3,32,32)).astype('<f4'))"
"$out/lenet" infer "$out/image.npy" "$out/probs.npy"
"$cnnc" run examples/lenet.cnn --input "$out/image.npy" --output "$out/probs_ref.npy"
/usr/bin/python3 - "$out" <<'PY'
import sys, numpy as np
out = sys.argv[1]
p, r = np.load(f"{out}/probs.npy"), np.load(f"{out}/probs_ref.npy")
print("class probabilities:", np.round(p[0], 4))
print("predicted class:", int(p[0].argmax()))
err = np.abs(p - r).max() / np.abs(r).max()
print(f"generated vs interpreter: max relative difference {err:.2e}")
sys.exit(0 if err <= 1e-4 else 1)
PY
"$out/lenet" bench "$out/image.npy" 200
