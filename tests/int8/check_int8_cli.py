#!/usr/bin/python3
"""int8 builds: the command line, the generated API and the errors
(contract section 7, docs/int8.md).

- P_forward_i8 on the input quantized by numpy with the header's
  P_INPUT_SCALE and P_INPUT_ZERO_POINT, its output dequantized by numpy
  with P_OUTPUT_SCALE and P_OUTPUT_ZERO_POINT: bit for bit `cnnc run
  --int8` (the oracle), as P_forward is;
- two int8 models in one translation unit (the integer helpers defined
  once), --split-weights and --weights-blob builds: the same outputs; the
  generated files byte-identical on two runs;
- weights one byte each: digits' int8 weights_bytes <= 0.30x its float
  build's (`cnnc info`), every layer but the two conversions int8;
- --int8-skip keeps the named layer float, the program agreeing with `cnnc
  run --int8` within one output step (float layers agree to 1e-4, which a
  rounding may turn into a step);
- the entry quantize rounds x / scale half to even (cnnc_q8: without libm,
  or SSE4.1's ROUNDSS where the build targets it): on a model that only
  passes its input through (maxpool(1)), calibrated so that the scale is
  2^-4 (x / scale exact) and the zero point -32, inputs on every half step,
  one float either side of it, beyond the range, infinite, NaN and -0 come
  out as numpy's rint, clipped (NaN: -128), and `cnnc run --int8` give
  them, built without and (on an x86 with it) with -msse4.1;
- errors: a calibration set of the wrong shape, empty, holding NaN or an
  infinity: `CALIB: error:`, exit 1, no OUT.c; --int8 with --train on a
  model with nothing frozen: `MODEL: error:`, exit 1, no OUT.c; --int8
  without --calib, --calib without --int8, a bad --calib-method: usage
  errors (exit 2); --int8-skip of a layer the model lacks: an error; a tensor constant
  over the calibration set: a note naming it, and a build that works.

usage: check_int8_cli.py CNNC SOURCE_DIR WORKDIR CC
"""
import os
import platform
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int8lib import expect, failures, finish, run  # noqa: E402

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1"]


def header_value(header, name):
    m = re.search(r"^#define \w+_%s (\S+)" % name, open(header).read(), re.M)
    v = m.group(1)
    return float.fromhex(v[:-1]) if v.endswith("f") else int(v)


I8_DRIVER = r"""#include <stdio.h>
#include "m.h"
static int8_t x[8 * m_INPUT_SIZE], y[8 * m_OUTPUT_SIZE];
static float arena[m_ARENA_BYTES / 4 + 1];
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    size_t n = f ? fread(x, m_INPUT_SIZE, 8, f) : 0;
    (void)argc;
    if (!n)
        return 1;
    fclose(f);
    m_forward_i8(arena, x, y, (int)n);
    f = fopen(argv[2], "wb");
    fwrite(y, m_OUTPUT_SIZE, n, f);
    fclose(f);
    return 0;
}
"""


def test_forward_i8(cnnc, cc, model, work, calib, x_path, ref):
    """P_forward_i8 against numpy's quantization of the input and of cnnc run's output."""
    run([cnnc, model, "-o", os.path.join(work, "m.c"), "--int8", "--calib", calib])
    with open(os.path.join(work, "drv.c"), "w") as f:
        f.write(I8_DRIVER)
    exe = os.path.join(work, "drv")
    run([cc] + STRICT + [os.path.join(work, "drv.c"), os.path.join(work, "m.c"), "-o", exe, "-lm"])
    h = os.path.join(work, "m.h")
    s_in, z_in = np.float32(header_value(h, "INPUT_SCALE")), header_value(h, "INPUT_ZERO_POINT")
    s_out, z_out = np.float32(header_value(h, "OUTPUT_SCALE")), header_value(h, "OUTPUT_ZERO_POINT")
    x = np.load(x_path)
    q = np.clip(np.rint(x / s_in) + z_in, -128, 127).astype(np.int8)
    q.tofile(os.path.join(work, "q.raw"))
    run([exe, os.path.join(work, "q.raw"), os.path.join(work, "y.raw")])
    y = np.fromfile(os.path.join(work, "y.raw"), dtype=np.int8).reshape(ref.shape)
    got = (y.astype(np.int32) - z_out).astype(np.float32) * s_out
    expect(np.array_equal(got, ref), "P_forward_i8 on numpy-quantized input = cnnc run --int8",
           "(%d differ)" % int((got != ref).sum()))


TWO = r"""#include <stdio.h>
#include "a.c"
#include "b.c"
static float x[a_INPUT_SIZE], ya[a_OUTPUT_SIZE], yb[b_OUTPUT_SIZE];
static float arena_a[a_ARENA_BYTES / 4 + 1], arena_b[b_ARENA_BYTES / 4 + 1];
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    (void)argc;
    if (!f || fread(x, 4, a_INPUT_SIZE, f) != a_INPUT_SIZE)
        return 1;
    fclose(f);
    a_forward(arena_a, x, ya, 1);
    b_forward(arena_b, x, yb, 1);
    f = fopen(argv[2], "wb");
    fwrite(ya, 4, a_OUTPUT_SIZE, f);
    fwrite(yb, 4, b_OUTPUT_SIZE, f);
    fclose(f);
    return 0;
}
"""


def test_builds(cnnc, cc, model, work, quant, x, ref):
    """Two prefixes in one translation unit; split and blob weights; determinism."""
    d = os.path.join(work, "two")
    os.makedirs(d, exist_ok=True)
    for p in ("a", "b"):
        run([cnnc, model, "-o", os.path.join(d, p + ".c"), "--name", p] + quant)
    with open(os.path.join(d, "two.c"), "w") as f:
        f.write(TWO)
    run([cc] + STRICT + [os.path.join(d, "two.c"), "-o", os.path.join(d, "two"), "-lm"])
    x[:1].tofile(os.path.join(d, "x.raw"))
    run([os.path.join(d, "two"), os.path.join(d, "x.raw"), os.path.join(d, "y.raw")])
    y = np.fromfile(os.path.join(d, "y.raw"), dtype=np.float32)
    expect(np.array_equal(y, np.concatenate([ref[0].ravel()] * 2)),
           "two int8 models in one translation unit = cnnc run --int8")
    outs = {}
    for tag, extra in (("split", ["--split-weights"]),
                       ("blob", ["--weights-blob", os.path.join(work, "w.bin")])):
        c = os.path.join(work, tag + ".c")
        run([cnnc, model, "-o", c, "--main"] + extra + quant)
        srcs = [c] + ([os.path.join(work, tag + "_weights.c")] if tag == "split" else [])
        run([cc] + STRICT + srcs + ["-o", os.path.join(work, tag), "-lm"])
        r = run([os.path.join(work, tag), "infer", os.path.join(work, "x.npy"),
                 os.path.join(work, tag + "_y.npy")], ok=False)
        outs[tag] = np.load(os.path.join(work, tag + "_y.npy")) if r.returncode == 0 else None
    for tag, what in (("split", "--split-weights"), ("blob", "--weights-blob")):
        expect(outs[tag] is not None and np.array_equal(outs[tag], ref),
               "%s int8 build = cnnc run --int8" % what)
    first = open(os.path.join(work, "split.c")).read()
    run([cnnc, model, "-o", os.path.join(work, "split.c"), "--main", "--split-weights"] + quant)
    expect(open(os.path.join(work, "split.c")).read() == first, "int8 output byte-identical")


def test_sizes(cnnc, digits, quant):
    out = run([cnnc, "info", digits] + quant).stdout
    w8 = int(re.search(r"^weights_bytes: (\d+)$", out, re.M).group(1))
    wf = int(re.search(r"^weights_bytes: (\d+)$", run([cnnc, "info", digits]).stdout,
                       re.M).group(1))
    expect(w8 <= 0.30 * wf, "digits: int8 weights %d bytes <= 0.30x float's %d" % (w8, wf))
    m = re.search(r"^int8_layers: (\d+) of (\d+)$", out, re.M)
    expect(m and int(m.group(1)) == int(m.group(2)) - 2,
           "digits: every layer int8 but the entry quantize and exit dequantize", m and m.group(0))


def test_skip(cnnc, cc, model, work, quant, x_path):
    dump = run([cnnc, "run", model, "--input", x_path, "--output", os.path.join(work, "s.npy"),
                "--int8-skip", "conv1", "--dump-ir=quantize"] + quant).stdout
    conv1 = [l for l in dump.splitlines() if l.startswith("conv1 =")]
    expect(conv1 and " i8 " not in conv1[0] and "conv1_dequantize" not in dump,
           "--int8-skip conv1: conv1 computes in float", conv1)
    ref = np.load(os.path.join(work, "s.npy"))
    run([cnnc, model, "-o", os.path.join(work, "skip.c"), "--main", "--int8-skip", "conv1"] + quant)
    run([cc] + STRICT + [os.path.join(work, "skip.c"), "-o", os.path.join(work, "skip"), "-lm"])
    run([os.path.join(work, "skip"), "infer", x_path, os.path.join(work, "skip_y.npy")])
    step = float(re.search(r"^fc2 = .* i8 scale=(\S+)", dump, re.M).group(1))
    err = np.abs(np.load(os.path.join(work, "skip_y.npy")) - ref).max()
    expect(err <= step * 1.001, "--int8-skip build within one output step of cnnc run (%g)" % err)


def test_errors(cnnc, model, work, shape):
    out_c = os.path.join(work, "err.c")
    bad = {
        "shape": np.zeros((4,) + shape[:-1] + (shape[-1] + 1,), np.float32),
        "empty": np.zeros((0,) + shape, np.float32),
        "nan": np.where(np.arange(np.prod((2,) + shape)).reshape((2,) + shape) == 5, np.nan,
                        0).astype(np.float32),
        "inf": np.full((2,) + shape, np.inf, np.float32),
    }
    needles = {"shape": "has shape", "empty": "empty", "nan": "NaN", "inf": "infinity"}
    for tag, data in bad.items():
        path = os.path.join(work, "calib_%s.npy" % tag)
        np.save(path, data)
        if os.path.exists(out_c):
            os.remove(out_c)
        r = run([cnnc, model, "-o", out_c, "--int8", "--calib", path], ok=False)
        first = r.stderr.splitlines()[0] if r.stderr else ""
        expect(r.returncode == 1 and first.startswith(path + ": error: ") and needles[tag] in first
               and not os.path.exists(out_c), "calibration set %s: a located error, no output"
               % tag, repr(r.stderr[:300]))
    good = os.path.join(work, "calib_good.npy")
    np.save(good, np.zeros((2,) + shape, np.float32))
    if os.path.exists(out_c):
        os.remove(out_c)
    r = run([cnnc, model, "-o", out_c, "--int8", "--calib", good, "--train"], ok=False)
    first = r.stderr.splitlines()[0] if r.stderr else ""
    expect(r.returncode == 1 and first.startswith(model + ": error: --int8 with --train")
           and "nothing is frozen" in first and not os.path.exists(out_c),
           "--int8 --train with nothing frozen: a located error, no output", repr(r.stderr[:300]))
    usage = [(["--int8"], "--calib"),
             (["--calib", good], "--int8"),
             (["--int8", "--calib", good, "--calib-method", "kl"], "--calib-method")]
    for extra, needle in usage:
        r = run([cnnc, model, "-o", out_c] + extra, ok=False)
        expect(r.returncode == 2 and r.stderr.startswith("cnnc: error: ") and needle in r.stderr,
               "usage error for %s" % " ".join(extra[-2:]), repr(r.stderr[:200]))
    r = run([cnnc, model, "-o", out_c, "--int8", "--calib", good, "--int8-skip", "nosuch"], ok=False)
    expect(r.returncode == 1 and "no layer 'nosuch'" in r.stderr, "--int8-skip of a missing layer",
           repr(r.stderr[:200]))
    r = run([cnnc, model, "-o", out_c, "--int8", "--calib", good], ok=False)
    expect(r.returncode == 0 and re.search(r"note: tensor '\w+' is 0 for every calibration sample",
                                           r.stderr) is not None,
           "a calibration set of zeros: a note, a build", repr(r.stderr[:300]))


IDENTITY = """model ident {
  input 1x1x1207
  p: maxpool(1)
}
"""


def entry_inputs(s):
    """Every half step of scale s from -150 to 150 and one float either side
    of it, quarter steps, and saturation, infinities, NaN, -0 and the
    smallest subnormal."""
    k = np.arange(-150, 150, dtype=np.float32)
    halves = (k + np.float32(0.5)) * s
    return np.concatenate([halves, np.nextafter(halves, np.float32(np.inf)),
                           np.nextafter(halves, np.float32(-np.inf)), k * s * np.float32(1.25),
                           np.float32([1e30, -1e30, np.inf, -np.inf, np.nan, -0.0, 1e-45])])


def rounding_builds():
    """(tag, flags, whether ROUNDSS must appear): the portable form, and on an
    x86 that has it SSE4.1's rounding instruction."""
    builds = [("plain", [], False)]
    cpu = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    if platform.machine() in ("x86_64", "AMD64") and re.search(r"^flags.*\bsse4_1\b", cpu, re.M):
        builds.append(("sse41", ["-msse4.1"], True))
    return builds


def test_entry_rounding(cnnc, cc, work):
    """P_forward's quantize (cnnc_q8) on exact halves and one float either side,
    saturation and NaN: numpy's half-to-even rint (NaN to the bottom, as
    cnnc run) and cnnc run --int8, bit for bit, built without and with
    SSE4.1 (ROUNDSS there, the portable compares without)."""
    model, calib = os.path.join(work, "ident.cnn"), os.path.join(work, "ident_calib.npy")
    with open(model, "w") as f:
        f.write(IDENTITY)
    c = np.zeros((2, 1, 1, 1207), np.float32)
    c[0, 0, 0, :2] = (-6, 9.9375)  # scale 15.9375 / 255 = 2^-4, zero point -32
    np.save(calib, c)
    stem = os.path.join(work, "ident")
    run([cnnc, model, "-o", stem + ".c", "--main", "--int8", "--calib", calib])
    s, z = np.float32(header_value(stem + ".h", "INPUT_SCALE")), header_value(stem + ".h",
                                                                             "INPUT_ZERO_POINT")
    x = entry_inputs(s).reshape(1, 1, 1, 1207)
    np.save(stem + "_in.npy", x)
    run([cnnc, "run", model, "--input", stem + "_in.npy", "--output", stem + "_ref.npy",
         "--int8", "--calib", calib])
    ref = np.load(stem + "_ref.npy")
    with np.errstate(invalid="ignore"):
        q = np.clip(np.rint(x / s) + z, -128, 127)
    want = (np.where(np.isnan(x), -128, q) - z).astype(np.float32) * s
    expect(s == np.float32(0.0625) and z == -32, "ident: scale 2^-4, zero point -32",
           "(%r, %r)" % (s, z))
    for tag, flags, roundss in rounding_builds():
        exe = "%s_%s" % (stem, tag)
        run([cc] + STRICT + flags + [stem + ".c", "-o", exe, "-lm"])
        dis = run(["objdump", "-d", exe]).stdout
        expect(bool(re.search(r"\b(v?roundss|vrndscaless)\b", dis)) == roundss,
               "entry quantize (%s): %s ROUNDSS" % (tag, "takes" if roundss else "has no"))
        run([exe, "infer", stem + "_in.npy", exe + "_out.npy"])
        got = np.load(exe + "_out.npy")
        expect(np.array_equal(got.ravel(), want.ravel()),
               "entry quantize (%s): half to even, as numpy's rint" % tag,
               "(%d differ)" % int((got.ravel() != want.ravel()).sum()))
        expect(np.array_equal(got, ref), "entry quantize (%s): as cnnc run --int8" % tag)


def main():
    cnnc, src, work, cc = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    digits = os.path.join(src, "examples", "digits", "digits.cnn")
    shape = (1, 8, 8)
    rng = np.random.default_rng(7)
    calib, x_path = os.path.join(work, "calib.npy"), os.path.join(work, "x.npy")
    np.save(calib, rng.standard_normal((16,) + shape).astype(np.float32))
    x = rng.standard_normal((3,) + shape).astype(np.float32)
    np.save(x_path, x)
    quant = ["--int8", "--calib", calib]
    run([cnnc, "run", digits, "--input", x_path, "--output", os.path.join(work, "ref.npy")] + quant)
    ref = np.load(os.path.join(work, "ref.npy"))
    try:
        test_forward_i8(cnnc, cc, digits, work, calib, x_path, ref)
        test_builds(cnnc, cc, digits, work, quant, x, ref)
        test_sizes(cnnc, digits, quant)
        test_skip(cnnc, cc, digits, work, quant, x_path)
        test_errors(cnnc, digits, work, shape)
        test_entry_rounding(cnnc, cc, work)
    except RuntimeError as e:
        failures.append(str(e)[:2000])
    finish()


if __name__ == "__main__":
    main()
