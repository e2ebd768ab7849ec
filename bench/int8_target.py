#!/usr/bin/python3
"""int8_target.py: int8 against float on an emulated microcontroller.

    bench/int8_target.py CNNC WORKDIR [--target T] MODEL...

For each MODEL, scripts/target-bench builds and runs it for T (default
cortex-m4) twice: float, and `--int8 --calib CALIB.npy` (8 seeded N(0, 1)
samples shaped like the input), each checked there against `cnnc run` with
the same options. Prints one row per model: the weights in flash
(flash_weights_bytes), the instructions per inference (QEMU's count), and
int8's ratio to float for both, measured in this run. A model that does
not fit the board's memory is listed as such."""
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_BENCH = os.path.join(ROOT, "scripts", "target-bench")


def input_shape(cnnc, model, work):
    stem = os.path.join(work, "shape")
    subprocess.run([cnnc, model, "-o", stem + ".c"], check=True, capture_output=True)
    m = re.search(r"^#define \w+_INPUT_SHAPE \{([0-9, ]*)\}", open(stem + ".h").read(), re.M)
    return tuple(int(v) for v in m.group(1).split(","))


def bench(cnnc, model, target, extra, work):
    """{figure: value} from target-bench, or None when it did not run."""
    p = subprocess.run([TARGET_BENCH, model, "--target", target, "--workdir", work] + extra,
                       capture_output=True, text=True, env=dict(os.environ, CNNC=cnnc))
    if p.returncode != 0:
        sys.stderr.write("%s %s: %s\n" % (os.path.basename(model), " ".join(extra[:1]),
                                          (p.stdout + p.stderr).strip().splitlines()[-1:]))
        return None
    return {k: int(v) for k, v in re.findall(r"^(\w+): (\d+)$", p.stdout, re.M)}


def main():
    args = sys.argv[1:]
    target = "cortex-m4"
    if "--target" in args:
        i = args.index("--target")
        target = args[i + 1]
        del args[i:i + 2]
    cnnc, work, models = args[0], args[1], args[2:]
    os.makedirs(work, exist_ok=True)
    print("%-24s %12s %12s %6s %14s %14s %6s" % ("model (%s)" % target, "float_wbytes",
                                                "int8_wbytes", "ratio", "float_instr",
                                                "int8_instr", "ratio"))
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        calib = os.path.join(d, "calib.npy")
        rng = np.random.default_rng(1000 + len(name))
        np.save(calib, rng.standard_normal((8,) + input_shape(cnnc, model, d)).astype(np.float32))
        f = bench(cnnc, model, target, [], os.path.join(d, "float"))
        q = bench(cnnc, model, target, ["--int8", "--calib", calib], os.path.join(d, "int8"))
        if not f or not q:
            print("%-24s does not run on %s (see above)" % (name, target))
            continue
        fw, qw = f["flash_weights_bytes"], q["flash_weights_bytes"]
        fi, qi = f["instructions"], q["instructions"]
        print("%-24s %12d %12d %6.3f %14d %14d %6.3f" % (name, fw, qw, qw / fw, fi, qi, qi / fi))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
