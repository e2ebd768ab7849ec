#!/usr/bin/python3
"""Fusion never changes results: for every example model, every hand-made
fusion case (tests/fusion/*.cnn) and a few ONNX models exported here with
PyTorch (conv + BatchNorm + relu, explicit pads, a conv followed by a
constant Add, dropout, flatten), `cnnc run` (fused) and `cnnc run -O0`
(the interpreter on the unfused graph) agree within 1e-4 * max|ref|.

BatchNorm statistics are randomised through --weights (the defaults, mean 0
and var 1, would make a wrong fold look right), and the inputs are signed
so that a zero pad wrongly folded into a maxpool shows. Also checks that
`cnnc weights` still writes the original BatchNorm parameters, and that
fusion did fold something in the models where it must (so that the
comparison is not of two unfused runs).

usage: check_fusion.py CNNC SOURCE_DIR"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

CNNC, SRC = sys.argv[1], sys.argv[2]
failures = []
NOTHING_TO_FOLD = {"lenet.cnn", "cifar_keras.cnn"}


def cnnc(*args, check=True):
    r = subprocess.run([CNNC] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("cnnc %s failed:\n%s" % (" ".join(args), r.stderr))
    return r


def input_shape(model):
    for line in cnnc(model, "-o", os.devnull + ".c", "--dump-ir=parse",
                     check=False).stdout.splitlines():
        if line.startswith("input "):
            return [int(d) for d in line.split(": ")[1].split("x")]
    raise RuntimeError("%s: no input line in the dump" % model)


def randomise_bn(wdir, rng):
    """Random gamma, beta, running mean and var for every BatchNorm."""
    for path in glob.glob(os.path.join(wdir, "*.running_var.npy")):
        base = path[: -len(".running_var.npy")]
        c = np.load(path).shape[0]
        np.save(path, rng.uniform(0.3, 2.0, c).astype(np.float32))
        np.save(base + ".running_mean.npy", rng.normal(0, 0.5, c).astype(np.float32))
        np.save(base + ".weight.npy", rng.uniform(0.5, 1.5, c).astype(np.float32))
        np.save(base + ".bias.npy", rng.normal(0, 0.3, c).astype(np.float32))


def check(model, tmp, must_fold):
    name = os.path.basename(model)
    rng = np.random.default_rng(7)
    wdir = os.path.join(tmp, name + ".w")
    cnnc("weights", model, "--outdir", wdir)
    randomise_bn(wdir, rng)
    x = rng.normal(0, 1, [3] + input_shape(model)).astype(np.float32)
    xin, ya, yb = (os.path.join(tmp, name + s) for s in (".x.npy", ".fused.npy", ".ref.npy"))
    np.save(xin, x)
    cnnc("run", model, "--weights", wdir, "--input", xin, "--output", ya)
    cnnc("run", model, "-O0", "--weights", wdir, "--input", xin, "--output", yb)
    a, b = np.load(ya), np.load(yb)
    err, scale = float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))
    ok = a.shape == b.shape and err <= 1e-4 * scale and scale > 0
    print("%-28s max|fused-ref| = %.3g, max|ref| = %.3g %s" % (name, err, scale,
                                                             "ok" if ok else "FAIL"))
    if not ok:
        failures.append(name)
    fused = cnnc(model, "-o", os.path.join(tmp, "x.c"), "--dump-ir=fuse-pad",
                 check=False).stdout
    plain = cnnc(model, "-o", os.path.join(tmp, "x.c"), "-O0", "--dump-ir=fuse-pad",
                 check=False).stdout
    if must_fold and fused.count("\n") >= plain.count("\n"):
        print("  FAIL: fusion removed no layer from %s" % name)
        failures.append(name + " (nothing fused)")


def export_onnx(tmp):
    """ONNX models with what the fusion passes match; BatchNorm kept as a
    node (PRESERVE) rather than folded by the exporter."""
    import warnings

    import torch
    import torch.nn as nn

    warnings.filterwarnings("ignore")

    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, bias=False)
            self.b = nn.Parameter(torch.randn(6, 1, 1))
            self.pad = nn.ReflectionPad2d(1)
            self.conv2 = nn.Conv2d(6, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.zpad = nn.ZeroPad2d((1, 0, 1, 0))
            self.pool = nn.MaxPool2d(2)
            self.drop = nn.Dropout(0.3)
            self.fc = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            y = torch.relu(self.conv(x) + self.b)
            y = torch.relu(self.bn(self.conv2(self.pad(y))))
            y = self.pool(self.zpad(y))
            return self.fc(self.drop(torch.flatten(y, 1)))

    torch.manual_seed(0)
    m = Biased().eval()
    with torch.no_grad():
        m.bn.running_mean.normal_(0, 0.5)
        m.bn.running_var.uniform_(0.5, 2)
    path = os.path.join(tmp, "fusion_mix.onnx")
    torch.onnx.export(m, torch.randn(1, 3, 9, 9), path, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, input_names=["x"])
    return [path]


def check_dot():
    """info --dot: the fused graph (BN folded, relu an epilogue), shapes on
    the edges; under -O0 the graph as written."""
    model = os.path.join(SRC, "examples", "signal1d.cnn")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "g.dot")
        cnnc("info", model, "--dot", out)
        fused = open(out).read()
        cnnc("info", model, "-O0", "--dot", out)
        plain = open(out).read()
    want_fused = ['label="c4\\nconv+relu\\nc4+bn.weight', 'n3 -> n4 [label="16x25"]',
                  'n7 -> output [label="4"]']
    want_plain = ['batchnorm', 'relu_1\\nrelu', 'input -> n0 [label="1x100"]']
    for text, wants, what in ((fused, want_fused, "fused"), (plain, want_plain, "-O0")):
        for w in wants:
            if not text.startswith("digraph") or w not in text:
                failures.append("dot (%s): %s missing" % (what, w))
    print("info --dot ok" if not any(f.startswith("dot") for f in failures) else "dot FAIL")


def main():
    models = sorted(glob.glob(os.path.join(SRC, "examples", "*.cnn")))
    models += sorted(glob.glob(os.path.join(SRC, "tests", "fusion", "*.cnn")))
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            # Nothing to fold there: activations already fused in the DSL,
            # cifar_keras's batchnorm follows a pool (pinned by the goldens).
            check(m, tmp, must_fold=os.path.basename(m) not in NOTHING_TO_FOLD)
        for m in export_onnx(tmp):
            check(m, tmp, must_fold=True)
        # `cnnc weights` dumps the model's original parameters.
        wdir = os.path.join(tmp, "resnet.w")
        cnnc("weights", os.path.join(SRC, "examples", "resnet_small.cnn"), "--outdir", wdir)
        for f in ("stem_bn.running_var.npy", "stem.weight.npy"):
            if not os.path.exists(os.path.join(wdir, f)):
                failures.append("weights: %s missing" % f)
        if glob.glob(os.path.join(wdir, "*+*")):
            failures.append("weights: folded constants written")
    check_dot()
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all %d models agree" % (len(models) + 1))


main()
