#!/usr/bin/python3
"""Fused inverted-residual blocks (ops/conv/conv_irb.c) against `cnnc run --int8`.

For a matrix of blocks (1x1 expand -> depthwise KxK -> 1x1 project): stride
1 and 2, 3x3 and 5x5, with and without the block's input added back, odd
heights and widths, one-sided padding, relu6 and plain outputs, two blocks
in a row, and a block right at the input: the --target cortex-m4 build must
fuse every block (--dump-ir=plan shows the expanded and depthwise tensors
inside a fused block) with --fuse-blocks and plan a smaller arena than the
build without it, which fuses none; where the peak is elsewhere, or the ring of KH expanded rows is
no smaller than the expanded tensor, no block is fused and the arena is
the unfused build's. Both builds, compiled for the host with gcc and clang (-std=c99
-Wall -Wextra -pedantic -Werror) as their --main programs, must give `cnnc
run --int8`'s outputs bit for bit on 3 samples (the interpreter runs the
three layers one by one: the oracle knows nothing of the fusion), and the
generated C must be byte-identical when compiled twice.

With --qemu instead: two_blocks and s2 on the Cortex-M4 in QEMU by
scripts/target-bench, with --fuse-blocks and without, each bit for bit
`cnnc run --int8` (max_rel_error 0) on 3 samples; the fused build's
ram_bytes must be below the other's. Prints both builds' ram_bytes and
instructions (the RAM the fusion saves and the instructions it costs).

usage: check_fused_blocks.py CNNC SOURCE_DIR WORKDIR [--qemu]
"""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int8lib import expect, failures, finish, run  # noqa: E402


def block(i, src, cin, ce, cout, k, stride, pad, act, residual):
    """One block's DSL lines: expand, depthwise, project (+ the add)."""
    act_arg = ", activation=%s" % act if act else ""
    lines = ["  e%d: conv(%d, kernel=1, activation=relu6)" % (i, ce),
             "  d%d: conv(%d, kernel=%d, stride=%d, padding=%s, groups=depthwise%s)"
             % (i, ce, k, stride, pad, act_arg),
             "  p%d: conv(%d, kernel=1)" % (i, cout)]
    if residual:
        assert stride == 1 and cin == cout
        lines.append("  r%d: add(%s, p%d)" % (i, src, i))
    return lines, "r%d" % i if residual else "p%d" % i


def model(name, shape, blocks):
    """A model of the given blocks (tuples of block()'s arguments after
    i, src, cin) on input C x H x W, after a stem conv unless the first
    block reads the input (stem=False as the last tuple item)."""
    c, h, w = shape
    lines = ["model %s {" % name, "  input %dx%dx%d" % shape, "  init he seed=5"]
    src, cin = "input", c
    for i, b in enumerate(blocks):
        ce, cout, k, stride, pad, act, residual = b
        body, src = block(i, src, cin, ce, cout, k, stride, pad, act, residual)
        lines += body
        cin = cout
    lines.append("}")
    return "\n".join(lines) + "\n"


# name: (input C x H x W, blocks (Ce, Cout, K, stride, padding, act, residual))
MODELS = {
    "s1_res": ((8, 9, 7), [(48, 8, 3, 1, "1", "relu6", True)]),
    "s1_nores": ((6, 11, 13), [(60, 10, 3, 1, "1", "relu6", False)]),
    "s2": ((8, 13, 11), [(32, 12, 3, 2, "1", "relu6", False)]),
    "k5_s2": ((4, 15, 9), [(20, 6, 5, 2, "2", None, False)]),
    "k5_res": ((6, 17, 10), [(36, 6, 5, 1, "2", "relu6", True)]),
    "one_sided": ((5, 10, 9), [(15, 7, 3, 2, "(0,1,1,0)", "relu6", False)]),
    "two_blocks": ((8, 12, 12), [(48, 16, 3, 2, "1", "relu6", False),
                                 (96, 16, 3, 1, "1", "relu6", True)]),
}
# Blocks that must stay three layers: the peak is elsewhere (the float
# output after a narrow block: fusing would save no RAM), or the 5-row ring
# is not smaller than the 7-row expanded tensor.
UNFUSED = {
    "peak_elsewhere": ((6, 11, 13), [(12, 16, 3, 1, "1", "relu6", False)]),
    "short": ((6, 7, 10), [(18, 6, 5, 1, "2", "relu6", True)]),
}

FUSED = re.compile(r"^(\w+): \S+ inside a fused block", re.M)


def build(cnnc, path, calib, out, extra):
    run([cnnc, path, "--int8", "--calib", calib, "--target", "cortex-m4", "--main", "-o",
         out + ".c"] + extra)
    plan = run([cnnc, path, "--int8", "--calib", calib, "--target", "cortex-m4",
                "--dump-ir=plan", "-o", out + "_plan.c"] + extra).stdout
    arena = int(re.search(r"^plan \S+: arena (\d+) bytes", plan, re.M).group(1))
    return set(FUSED.findall(plan)), arena


def check_outputs(name, out, x, ref):
    for cc in ("gcc", "clang"):
        exe = "%s_%s" % (out, cc)
        run([cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2", out + ".c",
             "-o", exe, "-lm"])
        y = exe + ".npy"
        run([exe, "infer", x, y])
        got = np.load(y)
        expect(got.shape == ref.shape and np.array_equal(got, ref),
               "%s: %s build (%s) = cnnc run --int8, bit for bit" % (name, os.path.basename(out),
                                                                     cc),
               "(max |diff| %s)" % (np.abs(got - ref).max() if got.shape == ref.shape
                                    else got.shape))


def check_model(cnnc, work, name, shape, blocks, fuses=True):
    path = os.path.join(work, name + ".cnn")
    with open(path, "w") as f:
        f.write(model(name, shape, blocks))
    rng = np.random.default_rng(11)
    calib, x = os.path.join(work, name + "_calib.npy"), os.path.join(work, name + "_x.npy")
    np.save(calib, rng.standard_normal((8,) + shape).astype(np.float32))
    np.save(x, rng.standard_normal((3,) + shape).astype(np.float32))
    ref_path = os.path.join(work, name + "_ref.npy")
    run([cnnc, "run", path, "--int8", "--calib", calib, "--input", x, "--output", ref_path])
    ref = np.load(ref_path)
    base = os.path.join(work, name)
    fused, arena = build(cnnc, path, calib, base + "_fused", ["--fuse-blocks"])
    want = {"%s%d" % (t, i) for i in range(len(blocks)) for t in "ed"} if fuses else set()
    expect(fused == want, "%s: %s" % (name, "every block fused" if fuses else "no block fused"),
           "(%s)" % sorted(fused))
    plain, plain_arena = build(cnnc, path, calib, base + "_plain", [])
    expect(not plain, "%s: without --fuse-blocks none is fused" % name)
    expect(arena < plain_arena if fuses else arena == plain_arena,
           "%s: the arena is %s" % (name, "smaller fused" if fuses else "the same"),
           "(%d bytes against %d)" % (arena, plain_arena))
    for out in (base + "_fused", base + "_plain"):
        check_outputs(name, out, x, ref)
    again = os.path.join(work, "again")
    os.makedirs(again, exist_ok=True)
    run([cnnc, path, "--int8", "--calib", calib, "--target", "cortex-m4", "--fuse-blocks", "--main",
         "-o", os.path.join(again, name + "_fused.c")])
    expect(open(base + "_fused.c").read() == open(os.path.join(again, name + "_fused.c")).read(),
           "%s: the generated C is byte-identical when compiled again" % name)


def target_bench(src, model, calib, work, extra):
    """target-bench's numeric figures on the M4 (it runs $CNNC)."""
    out = run([os.path.join(src, "scripts", "target-bench"), model, "--target", "cortex-m4",
               "--int8", "--calib", calib, "--samples", "3", "--workdir", work] + extra).stdout
    return {k: float(v) for k, v in re.findall(r"^(\w+): (\S+)$", out, re.M)
            if re.match(r"^[0-9.e+-]+$", v)}


def check_qemu(cnnc, src, work):
    os.environ["CNNC"] = cnnc
    for name in ("two_blocks", "s2"):
        shape, blocks = MODELS[name]
        path, calib = os.path.join(work, name + ".cnn"), os.path.join(work, name + "_calib.npy")
        with open(path, "w") as f:
            f.write(model(name, shape, blocks))
        np.save(calib, np.random.default_rng(11).standard_normal((8,) + shape).astype(np.float32))
        fig = {}
        for build_name, extra in (("fused", ["--fuse-blocks"]), ("plain", [])):
            q = target_bench(src, path, calib, os.path.join(work, name + "_m4_" + build_name),
                             extra)
            expect(q.get("max_rel_error") == 0.0,
                   "%s: the %s M4 build = cnnc run --int8, bit for bit" % (name, build_name),
                   "(max_rel_error %s)" % q.get("max_rel_error"))
            fig[build_name] = q
        f, p = fig["fused"], fig["plain"]
        expect(f.get("ram_bytes", 1e30) < p.get("ram_bytes", 0),
               "%s: fused blocks take less RAM on the M4" % name,
               "(ram_bytes %s fused, %s not; instructions %s fused, %s not)"
               % (f.get("ram_bytes"), p.get("ram_bytes"), f.get("instructions"),
                  p.get("instructions")))


def main():
    cnnc, src, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    if sys.argv[4:] == ["--qemu"]:
        try:
            check_qemu(cnnc, src, work)
        except RuntimeError as e:
            failures.append(str(e)[:3000])
        finish()
    try:
        for name, (shape, blocks) in MODELS.items():
            check_model(cnnc, work, name, shape, blocks)
        for name, (shape, blocks) in UNFUSED.items():
            check_model(cnnc, work, name, shape, blocks, fuses=False)
    except RuntimeError as e:
        failures.append(str(e)[:3000])
    finish()


if __name__ == "__main__":
    main()
