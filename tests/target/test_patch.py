#!/usr/bin/python3
"""test_patch.py: patch-based inference (--patch N) on a Cortex-M4 in QEMU.

Takes: CNNC SOURCE_DIR WORK_DIR. Exports MLPerf Tiny's VWW network
(MobileNetV1-0.25 at 96x96, examples/mlperf_tiny/export.py) and runs it in
int8 (8 seeded N(0, 1) calibration samples, as mlperf_tiny.py) through
scripts/target-bench on cortex-m4, layer by layer and with --patch 2, 4
and 8: each build bit for bit `cnnc run --int8` on 3 samples, its sizes
those `cnnc info --target` reports. Every patched build must need less RAM
than the layer-by-layer one, and --patch 4 at most 0.6x of it (56,344 ->
28,048 B when written), with the same weights' bytes (the bands share
their layers' arrays). `cnnc info --target` must report the same
layer_bound_bytes for every build: the bound is the model's layer by
layer, before the bands. Prints each build's RAM, flash and instructions
(the cost of the recomputed halo rows and the per-band copies). Exit
status 0 or 1."""
import os
import re
import subprocess
import sys

import numpy as np

BANDS = [0, 2, 4, 8]
NET = "mobilenet_v1_vww"


def bench(src, cnnc, work, bands):
    """target-bench's figures for one build ({} after a failure, printed)."""
    opts = ["--int8", "--calib", os.path.join(work, "calib.npy"), "--samples", "3"]
    if bands:
        opts += ["--patch", str(bands)]
    r = subprocess.run([sys.executable, os.path.join(src, "scripts", "target-bench"),
                        os.path.join(work, NET + ".onnx"), "--target", "cortex-m4"] + opts,
                       capture_output=True, text=True, env=dict(os.environ, CNNC=cnnc))
    figures = dict(re.findall(r"^(\w+): (\S+)$", r.stdout, re.M))
    if r.returncode != 0 or float(figures.get("max_rel_error", 1)) != 0:
        print("FAIL --patch %d:\n%s" % (bands, (r.stdout + r.stderr)[-2000:]))
        return {}
    return figures


def layer_bound(cnnc, work, bands):
    """cnnc info --target cortex-m4's layer_bound_bytes for one build (None after a failure)."""
    args = [cnnc, "info", os.path.join(work, NET + ".onnx"), "--int8", "--calib",
            os.path.join(work, "calib.npy"), "--target", "cortex-m4"]
    r = subprocess.run(args + (["--patch", str(bands)] if bands else []), capture_output=True,
                       text=True)
    m = re.search(r"^layer_bound_bytes: (\d+)$", r.stdout, re.M)
    return int(m.group(1)) if r.returncode == 0 and m else None


def main():
    cnnc, src, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    p = subprocess.run([sys.executable, os.path.join(src, "examples", "mlperf_tiny", "export.py"),
                        work], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("export.py failed:\n" + p.stderr[-3000:])
    np.save(os.path.join(work, "calib.npy"), np.random.default_rng(7).standard_normal(
        (8, 3, 96, 96)).astype(np.float32))
    results = {n: bench(src, cnnc, work, n) for n in BANDS}
    if not all(results.values()):
        sys.exit(1)
    base = int(results[0]["ram_bytes"])
    failures = 0
    for n in BANDS:
        f = results[n]
        ram = int(f["ram_bytes"])
        ok = n == 0 or (ram < base and (n != 4 or ram <= 0.6 * base) and
                        f["flash_weights_bytes"] == results[0]["flash_weights_bytes"])
        failures += not ok
        print("%s vww int8 cortex-m4 %s: ram %d B (%.2fx), flash %s B, instructions %s (%.2fx)"
              % ("ok" if ok else "FAIL", "--patch %d" % n if n else "layer by layer", ram,
                 ram / base, f["flash_bytes"], f["instructions"],
                 int(f["instructions"]) / int(results[0]["instructions"])))
    bounds = {n: layer_bound(cnnc, work, n) for n in BANDS}
    same = bounds[0] is not None and len(set(bounds.values())) == 1
    failures += not same
    print("%s vww layer_bound_bytes with --patch 0, 2, 4, 8: %r"
          % ("ok" if same else "FAIL", [bounds[n] for n in BANDS]))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
