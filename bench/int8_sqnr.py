#!/usr/bin/python3
"""int8_sqnr.py: how close int8 builds come to float, as output SQNR.

    bench/int8_sqnr.py CNNC WORKDIR [MODEL...] [--torchvision]

For each MODEL (.cnn or .onnx) and, with --torchvision, resnet18 and
mobilenet_v2 (torchvision's, weights=None with randomised BatchNorm
statistics as tests/onnx exports them, opset 13): `cnnc run` in float and
`cnnc run --int8 --calib CALIB.npy` (minmax, and mse) on seeded N(0, 1)
inputs, the calibration set and the evaluation set drawn apart. Prints,
per model, the SQNR of the int8 output against float's, 10 log10(sum ref^2
/ sum (ref - int8)^2) in dB, and the number of layers left float."""
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()[-500:]))
    return r


def input_shape(cnnc, model, d):
    stem = os.path.join(d, "shape")
    run([cnnc, model, "-o", stem + ".c"])
    m = re.search(r"^#define \w+_INPUT_SHAPE \{([0-9, ]*)\}", open(stem + ".h").read(), re.M)
    return tuple(int(v) for v in m.group(1).split(","))


def torchvision_models(d):
    sys.path.insert(0, os.path.join(ROOT, "tests", "onnx"))
    import torch
    import onnxtest
    for name in ("resnet18", "mobilenet_v2"):
        path = os.path.join(d, name + ".onnx")
        if not os.path.exists(path):
            onnxtest.export(onnxtest.big(name), torch.zeros(1, 3, 224, 224), path, 13)
        yield path


def sqnr(ref, got):
    err = float(np.sum((ref.astype(np.float64) - got) ** 2))
    return float("inf") if err == 0 else 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / err)


def measure(cnnc, model, d):
    shape = input_shape(cnnc, model, d)
    big = int(np.prod(shape)) > 100000
    ncal, nev = (8, 2) if big else (32, 16)
    calib, x = os.path.join(d, "calib.npy"), os.path.join(d, "x.npy")
    np.save(calib, np.random.default_rng(1).standard_normal((ncal,) + shape).astype(np.float32))
    np.save(x, np.random.default_rng(2).standard_normal((nev,) + shape).astype(np.float32))
    ref = os.path.join(d, "ref.npy")
    run([cnnc, "run", model, "--input", x, "--output", ref])
    row = []
    for method in ("minmax", "mse"):
        out = os.path.join(d, "int8_%s.npy" % method)
        r = run([cnnc, "run", model, "--int8", "--calib", calib, "--calib-method", method,
                 "--input", x, "--output", out])
        row.append(sqnr(np.load(ref), np.load(out)))
    notes = len(re.findall(r"stays float", r.stderr))
    return row, notes


def main():
    args = sys.argv[1:]
    tv = "--torchvision" in args
    args = [a for a in args if a != "--torchvision"]
    cnnc, work, models = args[0], args[1], args[2:]
    os.makedirs(work, exist_ok=True)
    if tv:
        models += list(torchvision_models(work))
    print("%-24s %12s %12s %12s" % ("model", "minmax_dB", "mse_dB", "float_layers"))
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        (mm, mse), notes = measure(cnnc, model, d)
        print("%-24s %12.1f %12.1f %12d" % (name, mm, mse, notes))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
