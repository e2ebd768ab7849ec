#!/usr/bin/python3
"""Generated C vs interpreted, on ONNX models exported from PyTorch.

For each model: `cnnc MODEL.onnx -o M.c --main` (torchvision nets with
--weights-blob, so that the C compiles in seconds), CC -O2 -std=c99 -Wall
-Wextra -pedantic -Werror, then `./M infer` must agree with `cnnc run` (the
oracle): max|a - b| <= rtol * max|ref|, no NaN (1e-4; 1e-3 for 224x224).
Small models run a batch of 1 and one of 5, more than their batch maximum
(the program runs in chunks).

usage: check_codegen.py CNNC WORKDIR CC GROUP [REGEX]
GROUP: nets (the test nets at opsets 9 to 17, and LeNet with a static batch
of 2), ops (the single-operator models, opset 13; those with constants of a
static batch, onnxtest.STATIC_BATCH, at that batch), or a torchvision name
(resnet18, mobilenet_v2, squeezenet1_1), built with --fuse-blocks where the
name ends in +fuse-blocks (the float fused blocks: the plan must show some).
REGEX: only the models it matches."""
import os
import re
import subprocess
import sys
import warnings

import torch

import onnxtest as T

warnings.filterwarnings("ignore")
CNNC, WORK, CC, GROUP = sys.argv[1:5]
PICK = re.compile(sys.argv[5] if len(sys.argv) > 5 else "")
os.makedirs(WORK, exist_ok=True)


def check(name, model, shape, opset, rtol, batches, dynamic=True, blob=False, flags=()):
    """Failures of the generated program against `cnnc run`."""
    stem = os.path.join(WORK, "%s_op%d" % (name, opset))
    x = torch.randn(max(batches), *shape)
    if isinstance(T.export(model, x, stem + ".onnx", opset, dynamic), str):
        return []  # the exporter refuses: check_torch.py says so
    try:
        T.build_program(CNNC, CC, stem + ".onnx", stem, blob, flags=flags)
    except RuntimeError as e:
        return [str(e)]
    failures = []
    if flags:
        plan = subprocess.run([CNNC, stem + ".onnx", "--dump-ir=plan", "-o", stem + "_plan.c",
                               "--weights-blob", stem + "_plan.bin"] + list(flags),
                              capture_output=True, text=True).stdout
        fused = len(re.findall(r"inside a fused block", plan)) // 2
        print("%s: %d blocks fused" % (name, fused))
        if not fused:
            failures.append("no block fused")
    for n in batches:
        ref, err = T.run_cnnc(CNNC, stem + ".onnx", x.numpy()[:n])
        if err:
            failures.append("cnnc run: " + err)
            continue
        try:
            got = T.run_program(stem, x.numpy()[:n])
        except RuntimeError as e:
            failures.append(str(e))
            continue
        why = T.compare(got, ref, rtol)
        if why:
            failures.append("batch %d: %s" % (n, why))
    return failures


def main():
    torch.manual_seed(0)
    ok = True
    if GROUP == "nets":
        nets = T.nets()
        for name, model, shape in nets:
            for opset in T.OPSETS:
                ok &= not T.report("%s opset %d" % (name, opset),
                                   check(name, model, shape, opset, 1e-4, (1, 5)))
        ok &= not T.report("lenet_static_batch (batch max 2)",
                           check("lenet_static_batch", nets[0][1], (3, 32, 32), 13, 1e-4,
                                 (2, 5), dynamic=False))
    elif GROUP == "ops":
        for name, model, shape in T.ops():
            if not PICK.search(name):
                continue
            static = name in T.STATIC_BATCH
            ok &= not T.report(name, check(name, model, shape, 13, 1e-4, (3,) if static else (1, 5),
                                           dynamic=not static))
    else:
        net, _, fuse = GROUP.partition("+")
        ok &= not T.report(GROUP, check(net, T.big(net), (3, 224, 224), 13, 1e-3, (1,),
                                        blob=True, flags=["--" + fuse] if fuse else []))
    print("all agree" if ok else "DISAGREEMENT")
    sys.exit(0 if ok else 1)


main()
