#!/usr/bin/python3
"""Generated gradients vs the interpreter's (tests/traingen).

For each MODEL.cnn: `cnnc MODEL -o M.c --train --main --batch 4`, built
with CC and strict C99 flags (-Werror), then `./M grad IN LABELS DIR` on
random inputs and labels must agree with `cnnc grad` (the oracle): every
gradient max|a - b| <= 1e-3 * max|ref|, the loss within 1e-4 (relative),
no NaN (contract, section 6). Also checks that more samples than
P_BATCH_MAX is an error naming both numbers.

With --native the programs are built with -march=native and must take
the 16-float (AVX-512) path of the products (CNNC_V16_DEFINED); without
avx512f in /proc/cpuinfo it exits 77 (skipped) saying so.

Any other argument starting with -D goes to the compiler (-DCNNC_NO_VECTOR_EXT:
the plain C99 path).

usage: check_grad.py CNNC OUTDIR CC [--sanitize] [--native] [-DNAME...] MODEL.cnn...
"""
import os
import re
import subprocess
import sys

import numpy as np

# As the code-generator tests have them: the strict C99 flags, the
# sanitizer flags per compiler, the test of a CPU flag.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "codegen"))
from check_examples import STRICT, cpu_has, model_rng, sanitize_flags  # noqa: E402

BATCH = 4


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


def header_define(header, name):
    m = re.search(r"^#define \w+_%s \{?([0-9, ]*)\}?" % name, open(header).read(), re.M)
    return tuple(int(v) for v in m.group(1).split(","))


def compare(got_dir, ref_dir, input_scale=1.0):
    """The contract's rule per tensor; a tensor whose true gradient is zero
    (a bias before BatchNorm) is compared at 1e-3 of the model's largest
    gradient instead of its own rounding noise. input_scale (> 1: the
    inputs were multiplied by it) scales that floor: a weight gradient is
    dL/dz times its input, so float rounding in dL/dz (a saturated
    softmax's y * (dy - sum y dy) cancels to a few ulps of dy) reaches it
    multiplied by the input's size."""
    errors = []
    names = sorted(os.listdir(ref_dir))
    top = max(float(np.abs(np.load(os.path.join(ref_dir, f))).max()) for f in names
              if f != "loss.npy")
    if sorted(os.listdir(got_dir)) != names:
        return ["files differ: %s vs %s" % (sorted(os.listdir(got_dir)), names)]
    for f in names:
        ref, got = np.load(os.path.join(ref_dir, f)), np.load(os.path.join(got_dir, f))
        if got.shape != ref.shape:
            errors.append("%s: shape %s, expected %s" % (f, got.shape, ref.shape))
            continue
        if np.isnan(got).any():
            errors.append("%s: NaN" % f)
            continue
        err, scale = float(np.abs(got - ref).max()), float(np.abs(ref).max())
        floor = 1e-3 * top * max(input_scale, 1.0)
        tol = 1e-4 * max(scale, 1.0) if f == "loss.npy" else 1e-3 * max(scale, floor)
        if err > tol:
            errors.append("%s: max|a-b| = %g > %g (max|ref| %g)" % (f, err, tol, scale))
    return errors


NATIVE = ["-march=native", "-DCNNC_EXPECT_V16"]


def check(cnnc, outdir, cc, sanitize, model, extra=(), native=False, defines=(), build=()):
    """extra: options of both cnnc commands; build: of the compile alone."""
    stem = os.path.join(outdir, os.path.basename(model).rsplit(".", 1)[0])
    run([cnnc, model, "-o", stem + ".c", "--train", "--main", "--batch", str(BATCH)] + list(extra) +
        list(build))
    flags = STRICT + (sanitize_flags(cc) if sanitize else ["-O2"]) + (NATIVE if native else []) + list(defines)
    if native:  # the 16-float path, or a compile error
        with open(stem + ".c", "a") as f:
            f.write("\n#if defined(CNNC_EXPECT_V16) && !defined(CNNC_V16_DEFINED)\n"
                    "#error \"-march=native did not give the 16-float path\"\n#endif\n")
    run([cc] + flags + [stem + ".c", "-o", stem, "-lm"])
    shape = header_define(stem + ".h", "INPUT_SHAPE")
    classes = header_define(stem + ".h", "OUTPUT_SHAPE")[0]
    rng = model_rng(model)
    x = rng.standard_normal((BATCH,) + shape).astype(np.float32)
    y = rng.integers(0, classes, BATCH).astype(np.int64)
    np.save(stem + "_x.npy", x)
    np.save(stem + "_y.npy", y)
    ref, got = stem + "_ref", stem + "_got"
    for d in (ref, got):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    run([cnnc, "grad", model, "--input", stem + "_x.npy", "--labels", stem + "_y.npy",
         "--outdir", ref] + list(extra))
    run([stem, "grad", stem + "_x.npy", stem + "_y.npy", got])
    errors = compare(got, ref)
    # More samples than the plan holds: an error naming both numbers.
    big = np.concatenate([x, x[:1]])
    np.save(stem + "_big.npy", big)
    np.save(stem + "_bigy.npy", np.concatenate([y, y[:1]]))
    r = run([stem, "grad", stem + "_big.npy", stem + "_bigy.npy", got], ok=False)
    if r.returncode == 0 or str(BATCH + 1) not in r.stderr or str(BATCH) not in r.stderr:
        errors.append("N > P_BATCH_MAX: rc %d, stderr %r" % (r.returncode, r.stderr))
    return errors


def report_cases(cases, label, check, failures=(RuntimeError,)):
    """Runs check(case) -> [error] on every case, prints `LABEL: ok` or
    `LABEL: FAIL` and the errors under it; 1 if any failed, else 0. An
    exception of the types in failures counts as the case's error."""
    failed = 0
    for case in cases:
        try:
            errors = check(case)
        except failures as e:
            errors = [str(e)]
        print("%s: %s" % (label(case), "ok" if not errors else "FAIL"))
        for e in errors:
            print("    " + e)
        failed += bool(errors)
    return 1 if failed else 0


def main(argv):
    cnnc, outdir, cc = argv[1:4]
    rest = argv[4:]
    sanitize = "--sanitize" in rest
    native = "--native" in rest
    defines = [m for m in rest if m.startswith("-D")]
    models = [m for m in rest if m not in ("--sanitize", "--native") and not m.startswith("-D")]
    if native and not cpu_has("avx512f"):
        print("skipped: no avx512f in /proc/cpuinfo (the 16-float path needs AVX-512)")
        return 77
    os.makedirs(outdir, exist_ok=True)
    return report_cases(models, os.path.basename,
                        lambda m: check(cnnc, outdir, cc, sanitize, m, native=native,
                                        defines=defines))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
