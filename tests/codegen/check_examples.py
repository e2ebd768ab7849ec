#!/usr/bin/python3
"""Generated vs interpreted, on every example model (tests/codegen).

For each MODEL.cnn: `cnnc MODEL -o M.c --main --batch 2`, compiled with CC
and strict C99 flags (-Werror), then `./M infer` on random inputs of batch 1
and batch 5 (more than --batch: the program runs in chunks) must agree with
`cnnc run` (the interpreter, the oracle): max|a - b| <= 1e-4 * max|ref|,
no NaN (contract, section 6). With --int8 both quantize the model with
`--int8 --calib` (8 seeded samples) and must agree bit for bit (contract,
section 7).

usage: check_examples.py CNNC OUTDIR CC [--sanitize] [--int8] [--need-cpu FLAG] [--cnnc=OPT...]
       [-FLAG...] MODEL.cnn...
(--cnnc=OPT goes to cnnc: --cnnc=--target=cortex-m4 tests the microcontroller
profiles' scalar kernels; -DCNNC_NO_VECTOR_EXT the plain C path of the others; -march=native
with --need-cpu avx512f the 16-float one, skipped with exit code 77 where
/proc/cpuinfo lacks the flag; other -options go to CC as they are)
"""
import os
import re
import subprocess
import sys
import zlib

import numpy as np

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
# UBSan stops the program at its first report: by -fno-sanitize-recover=all
# with gcc (which compiles faster with it: lenet's --train build 23 s
# against 39), by halt_on_error at run time with clang, which given that
# flag spends minutes in ScalarEvolution on a Winograd layer's 16 GEMMs.
os.environ["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"


def model_rng(model):
    """A random generator seeded by the model's file name, so that a test
    draws the same inputs wherever the checkout lies (a seed from the path's
    length gave a clone elsewhere other inputs)."""
    return np.random.default_rng(zlib.crc32(os.path.basename(model).encode()))

def sanitize_flags(cc):
    return SANITIZE + ([] if "clang" in os.path.basename(cc) else ["-fno-sanitize-recover=all"])


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


def input_shape(header):
    """The per-sample input shape, from the generated header's P_INPUT_SHAPE."""
    m = re.search(r"^#define \w+_INPUT_SHAPE \{([0-9, ]*)\}", open(header).read(), re.M)
    if not m:
        raise RuntimeError("no _INPUT_SHAPE in %s" % header)
    return tuple(int(v) for v in m.group(1).split(","))


def agree(got, ref, exact=False):
    if got.shape != ref.shape:
        return "shape %s, expected %s" % (got.shape, ref.shape)
    if np.isnan(got).any() or np.isnan(ref).any():
        return "NaN in output"
    if exact:
        diff = int((got != ref).sum())
        return "%d of %d values differ (int8: bit for bit)" % (diff, got.size) if diff else None
    err, scale = np.abs(got - ref).max(), np.abs(ref).max()
    if err > 1e-4 * scale:
        return "max|a-b| = %g > 1e-4 * %g" % (err, scale)
    return None


def int8_options(cnnc, model, stem):
    """--int8 --calib CALIB for model: 8 seeded N(0, 1) samples of its input."""
    run([cnnc, model, "-o", stem + "_shape.c"])
    calib = stem + "_calib.npy"
    rng = np.random.default_rng(1000 + len(model))
    np.save(calib, rng.standard_normal((8,) + input_shape(stem + "_shape.h")).astype(np.float32))
    return ["--int8", "--calib", calib]


def check(cnnc, outdir, cc, sanitize, int8, defines, model, cnnc_flags=()):
    stem = os.path.join(outdir, os.path.splitext(os.path.basename(model))[0])
    quant = int8_options(cnnc, model, stem) if int8 else []
    run([cnnc, model, "-o", stem + ".c", "--main", "--batch", "2"] + list(cnnc_flags) + quant)
    flags = STRICT + defines + (sanitize_flags(cc) if sanitize else ["-O2"])
    run([cc] + flags + [stem + ".c", "-o", stem, "-lm"])
    shape = input_shape(stem + ".h")
    rng = model_rng(model)
    failures = []
    for n in (1, 5):
        x = rng.standard_normal((n,) + shape).astype(np.float32)
        np.save(stem + "_in.npy", x)
        run([cnnc, "run", model, "--input", stem + "_in.npy", "--output", stem + "_ref.npy"]
            + quant)
        run([stem, "infer", stem + "_in.npy", stem + "_out.npy"])
        why = agree(np.load(stem + "_out.npy"), np.load(stem + "_ref.npy"), int8)
        if why:
            failures.append("%s (batch %d): %s" % (model, n, why))
    return failures


def cpu_has(flag):
    """Whether this machine's CPU reports `flag` (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and flag in line.split() for line in f)
    except OSError:
        return False


def skip_unless_cpu(args):
    """Takes `--need-cpu FLAG` out of args; exits 77 (ctest: skipped) when
    this CPU lacks FLAG."""
    if "--need-cpu" not in args:
        return
    i = args.index("--need-cpu")
    need = args[i + 1]
    del args[i:i + 2]
    if not cpu_has(need):
        print("SKIP: /proc/cpuinfo has no %s flag" % need)
        sys.exit(77)


def main():
    cnnc, outdir, cc = sys.argv[1:4]
    sanitize = "--sanitize" in sys.argv[4:]
    int8 = "--int8" in sys.argv[4:]
    rest = [a for a in sys.argv[4:] if a not in ("--sanitize", "--int8")]
    skip_unless_cpu(rest)
    cnnc_flags = [a[len("--cnnc="):] for a in rest if a.startswith("--cnnc=")]
    # C compiler flags, e.g. -DCNNC_NO_VECTOR_EXT or -march=native
    defines = [a for a in rest if a.startswith("-") and not a.startswith("--cnnc=")]
    models = [m for m in rest if not m.startswith("-")]
    os.makedirs(outdir, exist_ok=True)
    failures = []
    for model in models:
        try:
            failures += check(cnnc, outdir, cc, sanitize, int8, defines, model, cnnc_flags)
        except RuntimeError as e:
            failures.append("%s: %s" % (model, e))
        print("%s: %s" % (model, "FAIL" if failures and failures[-1].startswith(model) else "ok"))
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures or not models else 0)


if __name__ == "__main__":
    main()
