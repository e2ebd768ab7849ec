#!/usr/bin/python3
"""ONNX's Pow with an exponent of more than one value (cnnc's power node:
a per-channel exponent, a per-channel base, two activations), against
PyTorch: `cnnc run` against the module's forward, the generated program's
`infer` against `cnnc run`, `cnnc grad` against autograd in float64 (the
exponent's and base's gradients included), and the generated training
program's `grad` against `cnnc grad`.

usage: check_power.py CNNC WORKDIR CC"""
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnxtest as T

BATCH = 3
C, H, W, CLASSES = 3, 4, 5, 4


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(C * H * W, CLASSES)

    def head(self, y):
        return self.fc(y.flatten(1))


class Exponent(Head):
    """(|x| + 0.5) ^ e, e one exponent per channel (Pow(x, initializer))."""
    def __init__(self):
        super().__init__()
        self.e = nn.Parameter(torch.tensor([0.5, 1.5, 2.5]).reshape(C, 1, 1))

    def forward(self, x):
        return self.head((x.abs() + 0.5) ** self.e)


class Base(Head):
    """b ^ tanh(x), b one base per channel (Pow(initializer, x))."""
    def __init__(self):
        super().__init__()
        self.b = nn.Parameter(torch.tensor([1.5, 2.0, 0.7]).reshape(C, 1, 1))

    def forward(self, x):
        return self.head(torch.pow(self.b, torch.tanh(x)))


class Both(Head):
    """(|x| + 0.5) ^ tanh(x): both operands activations."""
    def forward(self, x):
        return self.head((x.abs() + 0.5) ** torch.tanh(x))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()[-600:]))


def relative(got, ref):
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))


def check(cnnc, cc, work, name, module, opset):
    stem = os.path.join(work, "%s_op%d" % (name, opset))
    torch.manual_seed(0)
    x = torch.randn(BATCH, C, H, W)
    T.export(module, x[:1], stem + ".onnx", opset)
    errors = []
    got, err = T.run_cnnc(cnnc, stem + ".onnx", x.numpy())
    if got is None:
        return [err]
    with torch.no_grad():
        ref = module.double()(x.double()).numpy()
    module.float()
    if relative(got, ref) > 1e-5:
        errors.append("run: %.3g of max|ref|" % relative(got, ref))
    prog = T.run_program(stem, x.numpy(), T.build_program(cnnc, cc, stem + ".onnx", stem))
    if relative(prog, got) > 1e-5:
        errors.append("program: %.3g of max|run|" % relative(prog, got))
    labels = np.array([1, 3, 0], np.int64)
    np.save(stem + "_x.npy", x.numpy())
    np.save(stem + "_y.npy", labels)
    ref_dir, got_dir = stem + "_grad", stem + "_program_grad"
    run([cnnc, "grad", stem + ".onnx", "--input", stem + "_x.npy", "--labels", stem + "_y.npy",
         "--outdir", ref_dir])
    params = {n: p for n, p in module.double().named_parameters()}
    loss = F.cross_entropy(module(x.double()), torch.tensor(labels))
    module.zero_grad()
    loss.backward()
    module.float()
    floor = 0.01 * max(p.grad.abs().max().item() for p in params.values())
    names = {f[:-4] for f in os.listdir(ref_dir) if f.endswith(".npy") and f != "loss.npy"}
    for pname, p in params.items():
        match = [n for n in names if n.endswith(pname)]
        if len(match) != 1:
            errors.append("grad: no single file for %s among %s" % (pname, sorted(names)))
            continue
        g = np.load(os.path.join(ref_dir, match[0] + ".npy")).reshape(p.shape)
        e = np.abs(g - p.grad.numpy()).max() / max(p.grad.abs().max().item(), floor)
        if not e <= 1e-3:
            errors.append("grad %s: %.3g of max|ref|" % (pname, e))
    run([cnnc, stem + ".onnx", "-o", stem + "_train.c", "--train", "--main", "--batch",
         str(BATCH)])
    run([cc] + T.STRICT[1:] + ["-O2", stem + "_train.c", "-o", stem + "_train", "-lm"])
    os.makedirs(got_dir, exist_ok=True)
    run([stem + "_train", "grad", stem + "_x.npy", stem + "_y.npy", got_dir])
    for n in sorted(names):
        a = np.load(os.path.join(got_dir, n + ".npy"))
        b = np.load(os.path.join(ref_dir, n + ".npy"))
        if relative(a, b) > 1e-4:
            errors.append("program grad %s: %.3g of max|cnnc grad|" % (n, relative(a, b)))
    return errors


def main():
    cnnc, work, cc = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    failed = 0
    for name, make in (("exponent", Exponent), ("base", Base), ("both", Both)):
        for opset in (9, 13, 17):
            try:
                errors = check(cnnc, cc, work, name, make(), opset)
            except RuntimeError as e:
                errors = [str(e)]
            failed += bool(errors)
            print("%s %s opset %d" % ("FAIL" if errors else "ok  ", name, opset))
            for e in errors:
                print("     " + e)
    print("%d of 9 pass" % (9 - failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
