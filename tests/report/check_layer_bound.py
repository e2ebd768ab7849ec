#!/usr/bin/python3
"""check_layer_bound.py: `cnnc info`'s layer-wise liveness bound.

Usage: check_layer_bound.py CNNC SRCDIR WORKDIR

The oracle is the bound worked by hand for tests/report/irb.cnn (an
inverted-residual block 8 -> 48 -> 48 -> 8 on 10x10, the input added back):
one layer at a time, every layer's output has bytes of its own, the add
(elementwise) may write over the projection, the graph input is the
caller's, and every buffer is rounded up to 64 bytes. The peak is at the
depthwise layer, which reads the expanded tensor while writing its own:

  float: expand 48*10*10*4 + dw 48*10*10*4             = 38400 bytes
  int8:  the quantized input (kept for the add: 800 -> 832 bytes)
         + expand 4800 + dw 4800 bytes                 = 10432 bytes

The ratio line must be the printed arena over that bound (3 decimals), for
the host and for --target cortex-m4 (whose planned arena is its own).
Every failure is listed."""
import os
import re
import subprocess
import sys

import numpy as np

CNNC, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
MODEL = os.path.join(SRC, "tests", "report", "irb.cnn")
FLOAT_BOUND, INT8_BOUND = 48 * 100 * 4 * 2, 832 + 4800 * 2
failures = []


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())
    return ok


def figures(*args):
    r = subprocess.run([CNNC, "info", MODEL, *args], capture_output=True, text=True, timeout=120)
    if not check(r.returncode == 0, f"info {' '.join(args)} exits 0", r.stderr):
        return {}
    return dict(re.findall(r"^(\w+): ([\d.]+)$", r.stdout, re.M))


def check_bound(what, fig, arena_key, bound):
    check(fig.get("layer_bound_bytes") == str(bound), f"{what}: layer_bound_bytes {bound}",
          f"printed {fig.get('layer_bound_bytes')}")
    if arena_key in fig:
        ratio = f"{int(fig[arena_key]) / bound:.3f}"
        check(fig.get("arena_to_layer_bound") == ratio, f"{what}: arena_to_layer_bound {ratio}",
              f"printed {fig.get('arena_to_layer_bound')}")
    else:
        check(False, f"{what}: prints {arena_key}")


os.makedirs(WORK, exist_ok=True)
calib = os.path.join(WORK, "calib.npy")
np.save(calib, np.random.default_rng(0).standard_normal((16, 8, 10, 10)).astype(np.float32))
int8 = ["--int8", "--calib", calib]
check_bound("float", figures(), "arena_bytes", FLOAT_BOUND)
check_bound("int8", figures(*int8), "arena_bytes", INT8_BOUND)
check_bound("int8 cortex-m4", figures(*int8, "--target", "cortex-m4"), "ram_arena_bytes",
            INT8_BOUND)
for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
