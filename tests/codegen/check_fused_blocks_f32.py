#!/usr/bin/python3
"""Float fused inverted-residual blocks on the host (ops/conv/conv_irb_f32.c)
against `cnnc run`.

For a matrix of blocks (1x1 expand -> depthwise KxK -> 1x1 project): stride
1 and 2, 3x3 and 5x5, with and without the block's input added back, odd
heights and widths, channel counts that are no multiple of 8, 12 or 16,
one-sided padding, relu6, relu, hardswish and no activation, two blocks in
a row, each expanded tensor of 4 MiB or more: the host build with
--fuse-blocks must fuse every block (--dump-ir=plan shows the expanded and
depthwise tensors inside a fused block), the build without it none; where
a row is narrower than the kernel takes (16 pixels) or the expanded
tensor is smaller, no block is fused. Every build, compiled with
gcc and clang (-std=c99 -Wall -Wextra -pedantic -Werror -O2 -march=native,
clang -mavx2 -mfma for the 8-float paths, gcc -DCNNC_NO_VECTOR_EXT for the
plain C path), must give `cnnc
run`'s outputs (the interpreter runs the three layers one by one) within
the float tolerance, max|a - b| <= 1e-4 * max|ref|, on 3 samples, and the
generated C must be byte-identical when compiled twice.

usage: check_fused_blocks_f32.py CNNC WORKDIR
"""
import os
import re
import subprocess
import sys

import numpy as np

failures = []


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("%s failed:\n%s%s" % (" ".join(cmd), r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def expect(ok, what, detail=""):
    print("%s %s %s" % ("ok  " if ok else "FAIL", what, detail if not ok else ""))
    if not ok:
        failures.append(what)


def block(i, src, ce, cout, k, stride, pad, acts, residual):
    """One block's DSL lines: expand, depthwise, project (+ the add)."""
    ea, da = ("" if not a else ", activation=%s" % a for a in acts)
    lines = ["  e%d: conv(%d, kernel=1%s)" % (i, ce, ea),
             "  d%d: conv(%d, kernel=%d, stride=%d, padding=%s, groups=depthwise%s)"
             % (i, ce, k, stride, pad, da),
             "  p%d: conv(%d, kernel=1)" % (i, cout)]
    if residual:
        lines.append("  r%d: add(%s, p%d)" % (i, src, i))
    return lines, "r%d" % i if residual else "p%d" % i


def model(name, shape, blocks):
    lines = ["model %s {" % name, "  input %dx%dx%d" % shape, "  init he seed=5"]
    src = "input"
    for i, b in enumerate(blocks):
        body, src = block(i, src, *b)
        lines += body
    lines.append("}")
    return "\n".join(lines) + "\n"


R6 = ("relu6", "relu6")
# name: (input C x H x W, blocks (Ce, Cout, K, stride, padding, (acts), residual)),
# each expanded tensor 4 MiB or more (Ce x H x W >= 2^20 floats)
MODELS = {
    "s1_res": ((8, 101, 107), [(100, 8, 3, 1, "1", R6, True)]),
    "s1_odd": ((6, 97, 111), [(100, 10, 3, 1, "1", ("relu", "hardswish"), False)]),
    "s2": ((8, 113, 99), [(100, 12, 3, 2, "1", R6, False)]),
    "k5_s2": ((4, 105, 103), [(100, 6, 5, 2, "2", ("hardswish", None), False)]),
    "k5_res": ((6, 99, 107), [(100, 6, 5, 1, "2", R6, True)]),
    "one_sided": ((5, 101, 105), [(100, 7, 3, 2, "(0,1,1,0)", R6, False)]),
    "two_blocks": ((8, 150, 146), [(48, 16, 3, 2, "1", R6, False),
                                   (200, 16, 3, 1, "1", R6, True)]),
}
# Rows of under 16 pixels (the input's, or the output's after stride 2), and
# an expanded tensor under 4 MiB (the three layers are faster).
UNFUSED = {
    "narrow": ((8, 17, 15), [(48, 8, 3, 1, "1", R6, True)]),
    "narrow_out": ((8, 17, 30), [(48, 8, 3, 2, "1", R6, False)]),
    "small": ((24, 20, 40), [(144, 24, 3, 1, "1", R6, True)]),
}

FUSED = re.compile(r"^(\w+): \S+ inside a fused block", re.M)
# -march=native: 16-float vectors on an AVX-512 machine; -mavx2 -mfma: the
# 8-float paths; -DCNNC_NO_VECTOR_EXT: plain C99.
BUILDS = (("gcc", ["-march=native"]), ("clang", ["-march=native"]),
          ("clang", ["-mavx2", "-mfma"]), ("gcc", ["-DCNNC_NO_VECTOR_EXT"]))


def check_build(name, c, x, ref):
    for cc, flags in BUILDS:
        exe = "%s_%s_%s" % (c[:-2], cc, flags[0].strip("-").replace("=", "_"))
        run([cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2"] + flags +
            [c, "-o", exe, "-lm"])
        y = exe + ".npy"
        run([exe, "infer", x, y])
        got = np.load(y)
        err = np.abs(got - ref).max() if got.shape == ref.shape else float("inf")
        expect(err <= 1e-4 * np.abs(ref).max(),
               "%s: %s (%s %s) = cnnc run" % (name, os.path.basename(c), cc, " ".join(flags)),
               "(max |diff| %s, max |ref| %s)" % (err, np.abs(ref).max()))


def check_model(cnnc, work, name, shape, blocks, fuses=True):
    path = os.path.join(work, name + ".cnn")
    with open(path, "w") as f:
        f.write(model(name, shape, blocks))
    x, ref_path = os.path.join(work, name + "_x.npy"), os.path.join(work, name + "_ref.npy")
    np.save(x, np.random.default_rng(11).standard_normal((3,) + shape).astype(np.float32))
    run([cnnc, "run", path, "--input", x, "--output", ref_path])
    ref = np.load(ref_path)
    for build, extra in (("fused", ["--fuse-blocks"]), ("plain", [])):
        c = os.path.join(work, "%s_%s.c" % (name, build))
        run([cnnc, path, "--main", "-o", c] + extra)
        plan = run([cnnc, path, "--dump-ir=plan", "-o", c[:-2] + "_plan.c"] + extra)
        want = {"%s%d" % (t, i) for i in range(len(blocks)) for t in "ed"}
        want = want if fuses and build == "fused" else set()
        got = set(FUSED.findall(plan))
        expect(got == want, "%s: %s build fuses %s" % (name, build, sorted(want) or "nothing"),
               "(%s)" % sorted(got))
        check_build(name, c, x, ref)
    again = os.path.join(work, "again")
    os.makedirs(again, exist_ok=True)
    run([cnnc, path, "--fuse-blocks", "--main", "-o", os.path.join(again, name + "_fused.c")])
    same = open(os.path.join(work, name + "_fused.c")).read() == \
        open(os.path.join(again, name + "_fused.c")).read()
    expect(same, "%s: the fused C is byte-identical when compiled again" % name)


def main():
    cnnc, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    try:
        for name, (shape, blocks) in MODELS.items():
            check_model(cnnc, work, name, shape, blocks)
        for name, (shape, blocks) in UNFUSED.items():
            check_model(cnnc, work, name, shape, blocks, fuses=False)
    except RuntimeError as e:
        failures.append(str(e)[:3000])
        print(str(e)[:3000])
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
