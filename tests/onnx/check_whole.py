#!/usr/bin/python3
"""Whole-tensor mode (onnx.c): PyTorch models that mix their input's axis 0,
exported with a static shape, read by cnnc as one sample of that whole
shape. Each is checked against PyTorch through `cnnc run` and through the
generated program's infer (`--main`, built with the strict flags): both
take the input with exactly its shape and write the output with exactly
the graph output's (no batch axis added); in int8 (--int8 --calib, the
calibration set N whole samples) the program agrees with `cnnc run --int8`
bit for bit; clang builds the programs too. Also: --no-batch forces the mode
on a model batch mode would read; a batch-mode model's output keeps its
batch axis; and the refusals (a rank-6 input, a Conv whose N is 2 when the
model is read whole) are located errors, not crashes.

usage: check_whole.py CNNC WORKDIR"""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnxtest import build_program, compare, export, report, run_cnnc, run_program  # noqa: E402

CNNC, WORK = sys.argv[1], sys.argv[2]
CC = os.environ.get("CC", "gcc")
os.makedirs(WORK, exist_ok=True)
torch.manual_seed(0)


class Fn(nn.Module):
    def __init__(self, f, **params):
        super().__init__()
        self.f = f
        for k, v in params.items():
            setattr(self, k, nn.Parameter(v))

    def forward(self, x):
        return self.f(self, x)


def rand(*shape):
    return torch.randn(*shape)


# (name, module, static input shape): each mixes axis 0 one way.
CASES = [
    ("transpose01", Fn(lambda m, x: x.transpose(0, 1) * 2.0), (3, 4, 5)),
    ("softmax0", Fn(lambda m, x: torch.softmax(x, dim=0)), (4, 6)),
    ("flatten_all", Fn(lambda m, x: torch.relu(x.reshape(-1))), (2, 3, 4)),
    ("matmul_rank3", Fn(lambda m, x: x @ m.w, w=rand(2, 5, 7)), (2, 3, 5)),
    ("concat_const0", Fn(lambda m, x: torch.cat([x, m.c], dim=0), c=rand(2, 4)), (3, 4)),
    ("slice0", Fn(lambda m, x: x[1:3] + 1.0), (4, 5)),
    ("reduce0", Fn(lambda m, x: x.mean(dim=0, keepdim=True) - x.amax(dim=(0, 1), keepdim=True)),
     (3, 4, 2)),
    ("vector", Fn(lambda m, x: torch.sigmoid(x) * m.s, s=rand(6)), (6,)),
    ("per_row_bias", Fn(lambda m, x: torch.tanh(x @ m.w + m.b), w=rand(4, 3), b=rand(5, 3)),
     (5, 4)),
    ("conv_n1", Fn(lambda m, x: torch.nn.functional.conv2d(x, m.w).permute(1, 0, 2, 3)
                   .reshape(4, -1).softmax(0), w=rand(4, 3, 3, 3)), (1, 3, 6, 6)),
]


def check_int8(name, shape):
    """The int8 program against `cnnc run --int8`, bit for bit."""
    path = os.path.join(WORK, name + ".onnx")
    calib, xin, yout = path + ".calib.npy", path + ".in.npy", path + ".q.npy"
    np.save(calib, np.random.RandomState(1).randn(8, *shape).astype(np.float32))
    flags = ["--int8", "--calib", calib]
    r = cnnc("run", path, "--input", xin, "--output", yout, *flags)
    if r.returncode != 0:
        return ["cnnc run --int8: " + r.stderr.strip()[:300]]
    try:
        stem = os.path.join(WORK, name + "_int8")
        got = run_program(build_program(CNNC, CC, path, stem, flags=flags),
                          np.load(xin))
    except RuntimeError as e:
        return ["int8 program: " + str(e)[:400]]
    ref = np.load(yout)
    if got.shape != ref.shape or not np.array_equal(got, ref):
        return ["int8 program differs from cnnc run --int8 (shapes %s, %s)"
                % (got.shape, ref.shape)]
    return []


def check_clang(name):
    path = os.path.join(WORK, name + ".onnx")
    try:
        build_program(CNNC, "clang", path, os.path.join(WORK, name + "_clang"))
    except RuntimeError as e:
        return ["clang: " + str(e)[:400]]
    return []


def check_case(name, model, shape):
    path = os.path.join(WORK, name + ".onnx")
    x = rand(*shape)
    ref = export(model, x, path, 13, dynamic=False)
    if isinstance(ref, str):
        return ["export failed: " + ref]
    failures = []
    r = cnnc("info", path)
    if "so it is read as one sample" not in r.stderr:
        failures.append("not read as one sample: exit %d %s" % (r.returncode, r.stderr[:300]))
    xn = x.numpy()
    got, err = run_cnnc(CNNC, path, xn)
    if err:
        return ["cnnc run: " + err[:400]]
    if (why := compare(got, ref)):
        failures.append("cnnc run: " + why)
    try:
        prog = build_program(CNNC, CC, path, os.path.join(WORK, name))
        if (why := compare(run_program(prog, xn), ref)):
            failures.append("program: " + why)
    except RuntimeError as e:
        failures.append("program: " + str(e)[:400])
    return failures


def cnnc(*args):
    return subprocess.run([CNNC] + list(args), capture_output=True, text=True, timeout=300)


def check_forced():
    """--no-batch on a model batch mode reads: the input's axis 0 becomes
    part of the sample (an output without a batch axis); without it, the
    same model keeps its batch axis."""
    path = os.path.join(WORK, "rowwise.onnx")
    model = Fn(lambda m, x: torch.relu(x @ m.w), w=rand(4, 3))
    x = rand(2, 4)
    ref = export(model, x, path, 13, dynamic=False)
    np.save(path + ".in.npy", x.numpy())
    failures = []
    for flags, want_shape in (([], (2, 3)), (["--no-batch"], (2, 3))):
        r = cnnc("run", path, "--input", path + ".in.npy", "--output", path + ".out.npy", *flags)
        if r.returncode != 0:
            failures.append("%s: %s" % (flags, r.stderr.strip()[:300]))
            continue
        got = np.load(path + ".out.npy")
        if got.shape != want_shape or (why := compare(got, ref)):
            failures.append("%s: %s" % (flags, got.shape if got.shape != want_shape else why))
    # One sample of batch mode's reading is [1, 4]; whole mode takes [2, 4] only.
    np.save(path + ".one.npy", x.numpy()[:1])
    r = cnnc("run", path, "--input", path + ".one.npy", "--output", path + ".out.npy",
             "--no-batch")
    if r.returncode != 1 or "takes exactly (2, 4)" not in r.stderr:
        failures.append("--no-batch with a [1, 4] input: exit %d %s" % (r.returncode, r.stderr))
    r = cnnc("info", path, "--no-batch")
    if r.returncode != 0:
        failures.append("info --no-batch: " + r.stderr.strip()[:200])
    return failures


def expect_error(path, want, *flags):
    r = cnnc("run", path, "--input", path + ".in.npy", "--output", path + ".out.npy", *flags)
    if r.returncode != 1 or want not in r.stderr or "internal error" in r.stderr:
        return ["%s: exit %d, stderr %r (wanted %r)" % (os.path.basename(path), r.returncode,
                                                         r.stderr.strip()[:300], want)]
    return []


def check_errors():
    failures = []
    path = os.path.join(WORK, "rank6.onnx")
    x = rand(1, 2, 1, 2, 1, 3)
    export(Fn(lambda m, x: x.transpose(0, 1) + 1.0), x, path, 13, dynamic=False)
    np.save(path + ".in.npy", x.numpy())
    failures += expect_error(path, "input 'x' has rank 6; expected [N, F], [N, C, L]")
    failures += expect_error(path, "has rank 6; read as one sample (whole-tensor mode), ranks 1 "
                             "to 4 are supported", "--no-batch")
    path = os.path.join(WORK, "rank5.onnx")  # mixes axis 0: read whole, and refused there
    x = rand(2, 2, 1, 2, 3)
    export(Fn(lambda m, x: x.transpose(0, 1) + 1.0), x, path, 13, dynamic=False)
    np.save(path + ".in.npy", x.numpy())
    failures += expect_error(path, "has rank 5; read as one sample (whole-tensor mode), ranks 1 "
                             "to 4 are supported")
    path = os.path.join(WORK, "conv_n2.onnx")
    x = rand(2, 3, 5, 5)
    export(Fn(lambda m, x: torch.nn.functional.conv2d(x, m.w).transpose(0, 1), w=rand(4, 3, 3, 3)),
           x, path, 13, dynamic=False)
    np.save(path + ".in.npy", x.numpy())
    failures += expect_error(path, "(Conv): read as one sample (whole-tensor mode), the input's "
                             "axis 0 is its N, which must be 1, not 2")
    path = os.path.join(WORK, "softmax0.onnx")
    np.save(path + ".labels.npy", np.zeros(4, np.int64))
    r = cnnc("grad", path, "--input", path + ".in.npy", "--labels", path + ".labels.npy",
             "--outdir", os.path.join(WORK, "grad"))
    if r.returncode != 1 or "training (--train, grad) needs a batch of samples" not in r.stderr:
        failures.append("grad of a whole model: exit %d %s" % (r.returncode, r.stderr[:300]))
    return failures


def main():
    rc = 0
    for name, model, shape in CASES:
        rc |= report(name, check_case(name, model, shape))
    # (Not matmul_rank3: a MatMul stays float in int8 builds, and float sums
    # in the program and the interpreter differ in the last bit, batch mode too.)
    for name, shape in (("transpose01", (3, 4, 5)), ("conv_n1", (1, 3, 6, 6)),
                        ("per_row_bias", (5, 4))):
        rc |= report(name + " int8", check_int8(name, shape))
    rc |= report("clang", check_clang("reduce0") + check_clang("conv_n1"))
    rc |= report("--no-batch", check_forced())
    rc |= report("errors", check_errors())
    sys.exit(rc)


main()
