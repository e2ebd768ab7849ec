#!/usr/bin/python3
"""Golden IR dumps: the fusion decisions, pinned.

For every example model (examples/*.cnn) and hand-made fusion case
(tests/fusion/*.cnn), runs `cnnc MODEL -o TMP.c --dump-ir=PASS` after the
last non-optimising pass ("init") and after each fusion pass, plus the final
IR of a `--train` build (which keeps BatchNorm and Dropout), and diffs the
concatenation against tests/ir/<model>.ir. The dump is printed before code
generation, so these pin the IR whatever the code generator does.

With --onnx, the ONNX ResNets instead (tests/onnx/onnxtest.py's small
ResNet and torchvision's resnet18, exported here with PyTorch, opset 13,
BatchNorm folded by the exporter): the IR before and after fuse-residual
and of a --train build, against tests/ir/onnx_<model>.ir. The names in
them are the exporter's (torch 1.13).

With --autodiff, the backward pass (passes/autodiff.c) of a --train build
of examples/lenet.cnn (a chain ending in a softmax the loss absorbs) and
examples/resnet_small.cnn (residual joins: gradients that two backward
nodes add to), against tests/ir/autodiff_<model>.ir: the loss node, each
backward node with what it reads and writes, first writes and
accumulations, the parameters' steps; and of examples/transfer/transfer.cnn
(an imported block, frozen: its parameters listed as frozen, no backward
node for it).

usage: run_ir.py CNNC SOURCE_DIR [--onnx | --autodiff] [--update]
(--update rewrites the goldens)"""
import difflib
import glob
import os
import subprocess
import sys
import tempfile

PASSES = ["init", "fuse-views", "fuse-bn", "fuse-bias", "fuse-act", "fuse-pad",
          "fuse-residual"]
VARIANTS = [([], p) for p in PASSES] + [(["--train"], "fuse-residual")]
ONNX_VARIANTS = [([], "fuse-pad"), ([], "fuse-residual"), (["--train"], "fuse-residual")]
AUTODIFF_MODELS = ["lenet", "resnet_small", "transfer/transfer"]


def dump(cnnc, model, flags, pass_name, tmp):
    r = subprocess.run([cnnc, model, "-o", os.path.join(tmp, "out.c"), "--dump-ir=" + pass_name]
                       + flags, capture_output=True, text=True)
    if not r.stdout:
        raise RuntimeError("%s: no dump after %s:\n%s" % (model, pass_name, r.stderr))
    return r.stdout


def export_onnx(src, tmp):
    """The ONNX ResNets, as files in tmp."""
    sys.path.insert(0, os.path.join(src, "tests", "onnx"))
    import torch
    import onnxtest as T

    models = [("onnx_" + n, m, s) for n, m, s in T.nets() if n == "resnet_small"]
    models.append(("onnx_resnet18", T.big("resnet18"), (3, 224, 224)))
    paths = []
    for name, model, shape in models:
        path = os.path.join(tmp, name + ".onnx")
        why = T.export(model, torch.randn(1, *shape), path, 13)
        if isinstance(why, str):
            raise RuntimeError("exporting %s: %s" % (name, why))
        paths.append(path)
    return paths


def main():
    cnnc, src = sys.argv[1], sys.argv[2]
    update = "--update" in sys.argv[3:]
    onnx = "--onnx" in sys.argv[3:]
    autodiff = "--autodiff" in sys.argv[3:]
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        if onnx:
            models, variants = export_onnx(src, tmp), ONNX_VARIANTS
        elif autodiff:
            models = [os.path.join(src, "examples", m + ".cnn") for m in AUTODIFF_MODELS]
            variants = [(["--train"], "autodiff")]
        else:
            models = sorted(glob.glob(os.path.join(src, "examples", "*.cnn")))
            models += sorted(glob.glob(os.path.join(src, "tests", "fusion", "*.cnn")))
            variants = VARIANTS
        for model in models:
            text = ""
            for flags, p in variants:
                text += "## --dump-ir=%s %s\n" % (p, " ".join(flags))
                text += dump(cnnc, model, flags, p, tmp)
            stem = ("autodiff_" if autodiff else "") + os.path.splitext(os.path.basename(model))[0]
            golden = os.path.join(src, "tests", "ir", stem + ".ir")
            if update:
                with open(golden, "w") as f:
                    f.write(text)
                print("updated %s" % golden)
                continue
            want = open(golden).read() if os.path.exists(golden) else ""
            if want != text:
                failed.append(stem)
                sys.stdout.writelines(difflib.unified_diff(
                    want.splitlines(True), text.splitlines(True), golden, "cnnc output"))
            else:
                print("ok %s" % stem)
    if failed:
        print("FAILED: %s (if intended, rerun with --update and review the diff)"
              % ", ".join(failed))
        sys.exit(1)


main()
