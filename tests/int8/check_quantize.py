#!/usr/bin/python3
"""`cnnc quantize MODEL --calib CALIB.npy -o OUT.onnx` (contract section 7):
for every example model, the QDQ model it writes

- passes onnx.checker;
- runs in ONNX Runtime (npm's onnxruntime-node; QDQ as ONNX defines it,
  float between the quantizations) within one step of the output scale of
  `cnnc run --int8` on >= 99 % of the output elements, none more than 3
  (ONNX Runtime rounds in float, cnnc in integers; steps compound with
  depth);
- read back by cnnc, lowers to the same integer layers: `cnnc run` on it
  gives `cnnc run --int8`'s output bit for bit.

And its errors: no --calib, an output that is not .onnx (usage errors); a
calibration set with NaN (a located error, no OUT.onnx).

usage: check_quantize.py CNNC WORKDIR MODEL...
"""
import os
import re
import sys

import numpy as np
import onnx
import onnx.numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ort"))
import ortlib  # noqa: E402
from int8lib import expect, failures, finish, run  # noqa: E402



def input_shape(cnnc, model, work):
    out = run([cnnc, "info", model]).stdout
    m = re.search(r"^\S+\s+input\s+(\S+)", out, re.M)
    return tuple(int(v) for v in m.group(1).split("x"))


def output_step(model):
    """The scale of the model's last DequantizeLinear: one output step."""
    last = [n for n in model.graph.node if n.op_type == "DequantizeLinear"][-1]
    inits = {i.name: i for i in model.graph.initializer}
    return float(onnx.numpy_helper.to_array(inits[last.input[1]]))


def check(cnnc, work, model):
    stem = os.path.join(work, os.path.splitext(os.path.basename(model))[0])
    shape = input_shape(cnnc, model, work)
    rng = np.random.default_rng(11)
    calib, x = stem + "_calib.npy", stem + "_x.npy"
    np.save(calib, rng.standard_normal((32,) + shape).astype(np.float32))
    xs = rng.standard_normal((8,) + shape).astype(np.float32)
    np.save(x, xs)
    run([cnnc, "quantize", model, "--calib", calib, "-o", stem + ".onnx"])
    m = onnx.load(stem + ".onnx")
    onnx.checker.check_model(m)
    run([cnnc, "run", model, "--int8", "--calib", calib, "--input", x, "--output", stem + "_ref.npy"])
    ref = np.load(stem + "_ref.npy")
    run([cnnc, "run", stem + ".onnx", "--input", x, "--output", stem + "_back.npy"])
    expect(np.array_equal(np.load(stem + "_back.npy"), ref),
           "%s: read back, the same integers (bit for bit)" % os.path.basename(model))
    got = ortlib.run(stem + ".onnx", xs).reshape(ref.shape)
    d = np.abs(got - ref) / output_step(m)
    within, worst = float((d <= 1 + 1e-3).mean()), float(d.max())
    expect(within >= 0.99 and worst <= 3 + 1e-3, "%s: ONNX Runtime runs it" % os.path.basename(model),
           "(%.2f %% within 1 step, worst %.2f steps)" % (100 * within, worst))


def check_errors(cnnc, work, model):
    out = os.path.join(work, "err.onnx")
    calib = os.path.join(work, "err_calib.npy")
    np.save(calib, np.full((2, 1, 8, 8), np.nan, np.float32))
    for args, needle in (([model, "-o", out], "--calib"),
                         ([model, "--calib", calib, "-o", os.path.join(work, "x.c")], "-o OUT.onnx")):
        r = run([cnnc, "quantize"] + args, ok=False)
        expect(r.returncode == 2 and r.stderr.startswith("cnnc: error: ") and needle in r.stderr,
               "quantize usage error (%s)" % needle, repr(r.stderr[:200]))
    if os.path.exists(out):
        os.remove(out)
    r = run([cnnc, "quantize", model, "--calib", calib, "-o", out], ok=False)
    expect(r.returncode == 1 and r.stderr.startswith(calib + ": error: ") and not os.path.exists(out),
           "quantize with a NaN in CALIB: a located error, no output", repr(r.stderr[:200]))


def main():
    cnnc, work = sys.argv[1:3]
    models = sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    try:
        ortlib.require()
        for model in models:
            check(cnnc, work, model)
        check_errors(cnnc, work, [m for m in models if "digits" in m][0])
    except RuntimeError as e:
        failures.append(str(e)[:3000])
    finish(not models)


if __name__ == "__main__":
    main()
