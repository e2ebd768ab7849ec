#!/usr/bin/python3
"""`./M train ... --save DIR` with a frozen part writes a complete --weights
folder (docs/training.md, "Freezing"; contract section 5).

For each MODEL and OPTIONS: `cnnc MODEL --train --main OPTIONS` trains two
epochs on a fixed random batch with --save DIR. Then:
- DIR holds a file for every parameter and buffer `cnnc weights MODEL`
  writes (no more, no fewer);
- every frozen parameter's file equals `cnnc weights`'s bit for bit (the
  compiled-in values, read back from flash through the inference code's
  repacked arrays), and at least one trained parameter changed;
- `cnnc run MODEL --weights DIR` agrees with the inference program
  compiled with `--weights DIR` (`./I infer`) within contract section 6's
  rtol 1e-4: generated against interpreted, as every inference test, since
  the two sum in different orders. A folder missing a frozen tensor fails
  both.
An int8 backbone build holds its frozen weights only as integers: DIR
then has no file for them (the folder is the trained head and the float
layers; the backbone's float weights are the ones it was quantized from).

usage: check_save_frozen.py CNNC OUTDIR CC SOURCE_DIR
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_grad import report_cases  # noqa: E402

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2"]

# (model under SOURCE_DIR, options, input shape, trained parameters,
# parameters with no file because an int8 layer holds them)
CASES = [
    ("examples/lenet.cnn", ["--freeze-until", "fc4"], (3, 32, 32), ["fc5.weight", "fc5.bias"], []),
    ("examples/lenet.cnn", ["--train-bias-only"], (3, 32, 32),
     ["conv1.bias", "conv2.bias", "fc3.bias", "fc4.bias", "fc5.bias"], []),
    ("tests/traingen/cut.cnn", ["--freeze-until", "bn1"], (2, 8, 8),
     ["c2.weight", "c2.bias", "p.weight", "fc.weight", "fc.bias"], []),
    ("examples/lenet.cnn", ["--freeze-until", "fc4", "--int8", "--calib", "CALIB"], (3, 32, 32),
     ["fc5.weight", "fc5.bias"],
     ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc3.weight", "fc3.bias",
      "fc4.weight", "fc4.bias"]),
]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


def npys(folder):
    return {f[:-4]: np.load(os.path.join(folder, f)) for f in os.listdir(folder)
            if f.endswith(".npy")}


def fresh_dir(path):
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        os.remove(os.path.join(path, f))
    return path


def check(cnnc, cc, src, work, case):
    model, options, shape, trained, int8_held = case
    path = os.path.join(src, model)
    rng = np.random.default_rng(16)
    x, calib = os.path.join(work, "x.npy"), os.path.join(work, "calib.npy")
    y = os.path.join(work, "y.npy")
    np.save(x, rng.standard_normal((8,) + shape).astype(np.float32))
    np.save(y, rng.integers(0, 4, 8).astype(np.int32))
    np.save(calib, rng.standard_normal((16,) + shape).astype(np.float32))
    options = [calib if o == "CALIB" else o for o in options]
    stem = os.path.join(work, "m")
    run([cnnc, path, "-o", stem + ".c", "--train", "--main", "--batch", "4"] + options)
    run([cc] + STRICT + [stem + ".c", "-o", stem, "-lm"])
    saved, initial = fresh_dir(os.path.join(work, "saved")), fresh_dir(os.path.join(work, "init"))
    run([stem, "train", x, y, "--epochs", "2", "--batch", "4", "--val-split", "0", "--lr", "0.05",
         "--save", saved])
    run([cnnc, "weights", path, "--outdir", initial])
    got, want = npys(saved), npys(initial)
    errors = []
    if set(got) != set(want) - set(int8_held):
        errors.append("saved %s, expected %s" % (sorted(got), sorted(set(want) - set(int8_held))))
    for name in sorted(set(got) & set(want)):
        same = got[name].shape == want[name].shape and got[name].tobytes() == want[name].tobytes()
        frozen = name not in trained and not name.endswith(("running_mean", "running_var"))
        if frozen and not same:
            errors.append("%s: frozen, but its saved values differ from the model's" % name)
    if all(np.array_equal(got[t], want[t]) for t in trained if t in got):
        errors.append("no trained parameter changed")
    if not int8_held:
        out_run, out_gen, inf = (os.path.join(work, f) for f in ("run.npy", "gen.npy", "inf"))
        run([cnnc, "run", path, "--weights", saved, "--input", x, "--output", out_run])
        run([cnnc, path, "--weights", saved, "--main", "-o", inf + ".c"])
        run([cc] + STRICT + [inf + ".c", "-o", inf, "-lm"])
        run([inf, "infer", x, out_gen])
        a, b = np.load(out_gen), np.load(out_run)
        if not np.abs(a - b).max() <= 1e-4 * np.abs(b).max():
            errors.append("cnnc run --weights DIR and ./I infer differ by %g" % np.abs(a - b).max())
    return errors


def main(argv):
    cnnc, outdir, cc, src = argv[1:5]

    def check_case(numbered):
        i, case = numbered
        work = os.path.join(outdir, str(i))
        os.makedirs(work, exist_ok=True)
        return check(cnnc, cc, src, work, case)
    return report_cases(enumerate(CASES), lambda n: "%s %s" % (n[1][0], " ".join(n[1][1])),
                        check_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
