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

The bound is the model's layer by layer, whatever build is planned: under
--patch N (passes/patch.c bands the leading layers) it is the bound of the
graph before the bands, so that the ratio shows what the bands save. For
tests/codegen/models/patch_stem.cnn, worked by hand, the peak is at pw
(16x23x19), which reads dw (8x23x19) while writing its own:

  float: dw 8*23*19*4 = 13984 -> 14016 + pw 16*23*19*4 = 27968  = 41984 bytes
  int8:  dw 8*23*19 = 3496 -> 3520 + pw 6992 -> 7040            = 10560 bytes

with and without --patch 2, 3 (host) and --patch 4 (int8, cortex-m4); each
banded build's arena is below the same build's without bands (the ratio
falls: what the bands save). Every failure is listed."""
import os
import re
import subprocess
import sys

import numpy as np

CNNC, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
MODEL = os.path.join(SRC, "tests", "report", "irb.cnn")
FLOAT_BOUND, INT8_BOUND = 48 * 100 * 4 * 2, 832 + 4800 * 2
STEM = os.path.join(SRC, "tests", "codegen", "models", "patch_stem.cnn")
STEM_FLOAT_BOUND, STEM_INT8_BOUND = 14016 + 27968, 3520 + 7040
failures = []


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())
    return ok


def figures(*args, model=MODEL):
    r = subprocess.run([CNNC, "info", model, *args], capture_output=True, text=True, timeout=120)
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

stem_calib = os.path.join(WORK, "stem_calib.npy")
np.save(stem_calib, np.random.default_rng(1).standard_normal((8, 3, 45, 37)).astype(np.float32))
stem_int8 = ["--int8", "--calib", stem_calib, "--target", "cortex-m4"]
unbanded = {}
for what, args, arena_key, bound in (
        ("patch_stem float", [], "arena_bytes", STEM_FLOAT_BOUND),
        ("patch_stem float --patch 2", ["--patch", "2"], "arena_bytes", STEM_FLOAT_BOUND),
        ("patch_stem float --patch 3", ["--patch", "3"], "arena_bytes", STEM_FLOAT_BOUND),
        ("patch_stem int8 cortex-m4", stem_int8, "ram_arena_bytes", STEM_INT8_BOUND),
        ("patch_stem int8 cortex-m4 --patch 4", stem_int8 + ["--patch", "4"], "ram_arena_bytes",
         STEM_INT8_BOUND)):
    fig = figures(*args, model=STEM)
    check_bound(what, fig, arena_key, bound)
    arena = int(fig.get(arena_key, -1))
    if "--patch" not in args:
        unbanded[arena_key] = arena
    else:
        check(0 < arena < unbanded[arena_key], f"{what}: the bands' arena below the unbanded",
              f"arena {arena}, unbanded {unbanded[arena_key]}")
for f in failures:
    print("FAIL:", f)
print("ok" if not failures else f"{len(failures)} failures")
sys.exit(1 if failures else 0)
