#!/usr/bin/python3
"""Golden dumps of the backward pass (passes/autodiff.c), pinned.

For examples/lenet.cnn (a chain ending in softmax, which the loss absorbs)
and examples/resnet_small.cnn (residual joins: gradients that two backward
nodes add to), runs `cnnc MODEL -o TMP.c --train --dump-ir=autodiff` and
diffs the dump (the fused forward graph, then its backward: the loss node,
each backward node with what it reads and writes, first writes and
accumulations, the parameters' steps) against tests/ir/autodiff_<model>.ir.
The dump is printed before code generation, so these pin the IR whatever
the code generator does with it.

usage: run_autodiff.py CNNC SOURCE_DIR [--update]
(--update rewrites the goldens)"""
import difflib
import os
import subprocess
import sys
import tempfile

MODELS = ["lenet", "resnet_small"]


def dump(cnnc, model, tmp):
    r = subprocess.run([cnnc, model, "-o", os.path.join(tmp, "out.c"), "--train",
                        "--dump-ir=autodiff"], capture_output=True, text=True)
    if r.returncode != 0 or "\nbackward\n" not in r.stdout:
        raise RuntimeError("%s: no backward in the dump (exit %d):\n%s"
                           % (model, r.returncode, r.stderr))
    return r.stdout


def main():
    cnnc, src = sys.argv[1], sys.argv[2]
    update = "--update" in sys.argv[3:]
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for stem in MODELS:
            text = dump(cnnc, os.path.join(src, "examples", stem + ".cnn"), tmp)
            golden = os.path.join(src, "tests", "ir", "autodiff_%s.ir" % stem)
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
