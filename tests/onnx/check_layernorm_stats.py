#!/usr/bin/python3
"""LayerNormalization's optional outputs (Mean, InvStdDev: the statistics
training keeps) against NumPy in float64, through `cnnc run` and the
generated program, for every normalised-axes choice of a [N, 3, 4, 5] input
and for Y, Mean and InvStdDev each as the model's output. Reference:
Mean = mean(x) over axes axis.., InvStdDev = 1 / sqrt(mean((x - Mean)^2) +
epsilon), Y = (x - Mean) * InvStdDev * scale + bias (onnx's operator text).

usage: check_layernorm_stats.py CNNC WORKDIR CC"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

import onnxtest as T

OUTPUTS = ("Y", "Mean", "InvStdDev")
EPS = 1e-3


def model(axis, output, scale, bias):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 5])
    y = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
    node = helper.make_node("LayerNormalization", ["x", "s", "b"], list(OUTPUTS), axis=axis,
                            epsilon=EPS)
    inits = [helper.make_tensor(n, TensorProto.FLOAT, a.shape, a.ravel())
             for n, a in (("s", scale), ("b", bias))]
    graph = helper.make_graph([node], "layernorm_stats", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def reference(x, axis, scale, bias):
    axes = tuple(range(axis % x.ndim, x.ndim))
    xd = x.astype(np.float64)
    mean = xd.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(((xd - mean) ** 2).mean(axis=axes, keepdims=True) + EPS)
    return {"Y": (xd - mean) * inv * scale + bias, "Mean": mean, "InvStdDev": inv}


def main():
    cnnc, work, cc = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(17)
    x = (rng.standard_normal((2, 3, 4, 5)) * 3 + 1).astype(np.float32)
    failed = checks = 0
    for axis in (1, 2, 3, -1, -3):
        shape = x.shape[axis % x.ndim:]
        scale = rng.standard_normal(shape).astype(np.float32)
        bias = rng.standard_normal(shape).astype(np.float32)
        ref = reference(x, axis, scale, bias)
        for output in OUTPUTS:
            stem = os.path.join(work, "ln_axis%d_%s" % (axis, output))
            onnx.save(model(axis, output, scale, bias), stem + ".onnx")
            got, err = T.run_cnnc(cnnc, stem + ".onnx", x)
            prog = T.run_program(stem, x, T.build_program(cnnc, cc, stem + ".onnx", stem))
            for route, y in (("run", got), ("program", prog)):
                checks += 1
                r = ref[output]
                if y is None or y.shape != r.shape:
                    print("FAIL axis %d %s %s: %s" % (axis, output, route,
                                                     err or "shape %s, want %s" %
                                                     (None if y is None else y.shape, r.shape)))
                    failed += 1
                    continue
                e = np.abs(y - r).max() / np.abs(r).max()
                ok = e <= 1e-5
                failed += not ok
                print("%s axis %2d %-9s %-7s %.2g" % ("ok  " if ok else "FAIL", axis, output,
                                                      route, e))
    print("%d of %d checks pass" % (checks - failed, checks))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
