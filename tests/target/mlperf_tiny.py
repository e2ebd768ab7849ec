#!/usr/bin/python3
"""mlperf_tiny.py: the MLPerf Tiny networks, against PyTorch and on the targets.

Takes: CNNC SOURCE_DIR WORK_DIR [TARGET ...]. Writes the four networks with
examples/mlperf_tiny/export.py (PyTorch, seeded random weights, a batch of
two inputs and PyTorch's outputs on them) and checks `cnnc run` against
PyTorch on each: max|a-b| <= 1e-4 * max|ref|. With targets (cortex-m4,
cortex-m7, ...), runs each network there through scripts/target-bench
(QEMU; outputs checked against `cnnc run`, sizes against `cnnc info
--target`), float and int8 (`--int8 --calib`, 8 seeded N(0, 1) samples,
as docs/int8.md's table; bit for bit `cnnc run --int8`), and prints
their flash, RAM and instructions. Exit status 0 or
1."""
import os
import re
import subprocess
import sys

import numpy as np

NETS = ["resnet8", "ds_cnn", "mobilenet_v1_vww", "fc_autoencoder"]
RTOL = 1e-4


def bench(src, cnnc, work, net, target, extra):
    """target-bench of one network (int8: bit for bit `cnnc run --int8`),
    its figures printed; whether it passed."""
    r = subprocess.run([sys.executable, os.path.join(src, "scripts", "target-bench"),
                        os.path.join(work, net + ".onnx"), "--target", target] + extra,
                       capture_output=True, text=True, env=dict(os.environ, CNNC=cnnc))
    figures = dict(re.findall(r"^(flash_bytes|ram_bytes|instructions|flash_code_bytes|"
                              r"ram_stack_bytes|max_rel_error): (\S+)$", r.stdout, re.M))
    int8 = "--int8" in extra
    ok = r.returncode == 0 and (not int8 or float(figures.get("max_rel_error", 1)) == 0)
    print("%s %s%s on %s: %s" % ("ok" if ok else "FAIL", net, " int8" if int8 else "", target,
                                  " ".join("%s %s" % kv for kv in figures.items())))
    if not ok:
        print(r.stderr[-2000:])
    return ok


def main():
    cnnc, src, work = sys.argv[1:4]
    targets = sys.argv[4:]
    os.makedirs(work, exist_ok=True)
    p = subprocess.run([sys.executable, os.path.join(src, "examples", "mlperf_tiny", "export.py"),
                        work], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("export.py failed:\n" + p.stderr[-3000:])
    failures = 0
    for net in NETS:
        model, out = os.path.join(work, net + ".onnx"), os.path.join(work, net + ".cnnc.npy")
        q = subprocess.run([cnnc, "run", model, "--input", os.path.join(work, net + ".in.npy"),
                            "--output", out], capture_output=True, text=True)
        if q.returncode != 0:
            print("FAIL %s: cnnc run: %s" % (net, q.stderr[-2000:]))
            failures += 1
            continue
        y, ref = np.load(out), np.load(os.path.join(work, net + ".out.npy"))
        err = float(np.max(np.abs(y - ref))) / float(np.max(np.abs(ref)))
        ok = y.shape == ref.shape and err <= RTOL
        print("%s %s: cnnc run vs PyTorch, max rel. error %.1e" % ("ok" if ok else "FAIL", net, err))
        failures += not ok
    for t in targets:
        for net in NETS:
            failures += not bench(src, cnnc, work, net, t, [])
            calib = os.path.join(work, net + "_calib.npy")
            shape = np.load(os.path.join(work, net + ".in.npy")).shape[1:]
            np.save(calib, np.random.default_rng(7).standard_normal((8,) + shape)
                    .astype(np.float32))
            failures += not bench(src, cnnc, work, net, t, ["--int8", "--calib", calib])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
