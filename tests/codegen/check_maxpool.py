#!/usr/bin/python3
"""Generated max pooling against PyTorch on inputs holding NaN and +-inf.

compiler/ops/pool/pool_emit.c takes the window's maximum in two passes (over
its rows, then its columns), in vectors of 16 or 8 floats or in plain C;
NaN must still win wherever the window holds one, as in PyTorch. Each case
is a torch.nn.MaxPool2d exported to ONNX (the DSL has no pool dilation),
compiled by cnnc with --main, built with CC and FLAGS, and run on a batch
where about one cell in 25 is NaN and a few are +-inf; the output must
equal PyTorch's bit for bit up to the NaN payload.

usage: check_maxpool.py CNNC WORKDIR CC [--need-cpu FLAG] [FLAGS...]
"""
import os
import subprocess
import sys

import numpy as np
import torch

from check_examples import skip_unless_cpu  # same folder

# (C, H, W, kernel, stride, padding, dilation, ceil_mode): the rows and
# columns passes' vector widths (16, 8, none), strides 1, 2 (deinterleaved)
# and 3 (plain columns), dilation, ceil mode, asymmetric kernels, and
# resnet18's stem pool.
CASES = [
    (2, 9, 40, 3, 2, 1, 1, False),
    (2, 9, 40, 3, 1, 1, 1, True),
    (2, 8, 37, 3, 2, 1, 2, False),
    (2, 8, 37, 2, 2, 0, 1, True),
    (1, 7, 21, 3, 3, 1, 2, True),
    (3, 6, 12, 3, 1, 1, 1, False),
    (2, 5, 7, (2, 3), (1, 2), (1, 1), 1, False),
    (2, 4, 30, (1, 27), 1, 0, 1, False),
    (4, 112, 112, 3, 2, 1, 1, False),
]
failures = []


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                    r.stdout, r.stderr))


def nan_laced(shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    cells = rng.random(shape)
    x[cells < 0.04] = np.nan
    x[(cells >= 0.04) & (cells < 0.05)] = np.inf
    x[(cells >= 0.05) & (cells < 0.06)] = -np.inf
    x[0, 0, 0, :3] = np.nan  # a NaN at the start of a row and the padding
    return x


def check(cnnc, work, cc, flags, i, case):
    c, h, w, k, s, p, d, ceil = case
    name = "mp%d" % i
    onnx_path = os.path.join(work, name + ".onnx")
    pool = torch.nn.MaxPool2d(k, s, p, dilation=d, ceil_mode=ceil)
    torch.onnx.export(pool, torch.zeros(1, c, h, w), onnx_path, opset_version=13)
    src = os.path.join(work, name + ".c")
    run([cnnc, onnx_path, "-o", src, "--main"])
    prog = os.path.join(work, name)
    run([cc, "-std=c99", "-O2", *flags, src, "-o", prog, "-lm"])
    rng = np.random.default_rng(i)
    x = nan_laced((2, c, h, w), rng)
    np.save(os.path.join(work, name + ".in.npy"), x)
    out = os.path.join(work, name + ".out.npy")
    run([prog, "infer", os.path.join(work, name + ".in.npy"), out])
    want = pool(torch.from_numpy(x)).numpy()
    got = np.load(out).reshape(want.shape)
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        failures.append("%s %s: NaN at %d cells, PyTorch %d" % (
            name, case, np.isnan(got).sum(), np.isnan(want).sum()))
    elif not np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)]):
        failures.append("%s %s: values differ" % (name, case))
    if np.isnan(want).sum() == 0:
        failures.append("%s %s: no NaN in PyTorch's output (test too weak)" % (name, case))


def main():
    cnnc, work, cc = sys.argv[1:4]
    flags = sys.argv[4:]
    skip_unless_cpu(flags)
    os.makedirs(work, exist_ok=True)
    for i, case in enumerate(CASES):
        try:
            check(cnnc, work, cc, flags, i, case)
        except RuntimeError as e:
            failures.append("%s: %s" % (case, str(e)[:2000]))
    for f in failures:
        print("FAIL:", f)
    print("%d cases, %d failures" % (len(CASES), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
