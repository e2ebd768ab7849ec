#!/usr/bin/python3
"""A generated training step against the same build's gradients
(tests/traingen): for each MODEL, `cnnc MODEL -o m.c --train --name m
--batch 3 --optimizer adam`, built with step_check.c (-O1, strict flags but
C11's _Alignas in the driver, -Werror), which checks that P_train_step
(the optimizer fused into the backward pass, row block by row block, or
after the last layer sharing a parameter) leaves the parameters that
P_train_grad's gradients stepped afterwards give; see step_check.c.

usage: check_step.py CNNC OUTDIR CC MODEL...
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_grad import report_cases, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1"]


def check(cnnc, outdir, cc, model):
    stem = os.path.join(outdir, os.path.splitext(os.path.basename(model))[0])
    run([cnnc, model, "-o", stem + ".c", "--train", "--name", "m", "--batch", "3",
         "--optimizer", "adam"])
    run([cc] + FLAGS + ['-DMODEL_C="%s.c"' % stem, os.path.join(HERE, "step_check.c"),
                        "-o", stem, "-lm"])
    out = run([stem], ok=False)
    return [] if out.returncode == 0 else out.stdout.splitlines()[:-1] or [out.stderr]


def main(argv):
    cnnc, outdir, cc = argv[1:4]
    os.makedirs(outdir, exist_ok=True)
    return report_cases(argv[4:], os.path.basename, lambda m: check(cnnc, outdir, cc, m))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
