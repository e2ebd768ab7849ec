#!/usr/bin/python3
"""int8 on the Cortex-M55 in QEMU (mps3-an547): the Helium (MVE) kernels.

Each model runs through scripts/target-bench --target cortex-m55 --int8
--calib CALIB (8 seeded N(0, 1) samples), 3 samples, twice: as the profile
builds it (gcc's -mcpu=cortex-m55 defines __ARM_FEATURE_MVE: the MVE
paths) and with --cflags -mcpu=cortex-m55+nomve (the same generated C on
the DSP paths). Both must give `cnnc run --int8`'s outputs bit for bit
(max_rel_error 0), so the MVE and DSP paths equal the interpreter and each
other. The MVE build's object must hold the vector instruction of each
kernel the model has (VMLADAVA, which objdump spells vmlava: the dot
products of general, pointwise and dense layers; VMLA.S32: the depthwise
kernel), the +nomve build's none of them, so each build took the path it
claims.

The models: every example (MobileNetV3-Small's two builds take about two
minutes), digits,
check_target.py's padding models and tests/codegen/models/inplace_dw.cnn
(depthwise strides 1 to 3, dilation, 5x5, reflect padding, in place), and
TAILS below: channel counts, filter counts and K = C * KH * KW that are not
multiples of 16 (the dot products' predicated last pass), a K below 16,
dense layers of 1, 7 and 12 inputs, depthwise rows whose width is not a
multiple of 4 (the kernel's predicated last step) at strides 1, 2 and 3.

usage: check_target_m55.py CNNC SOURCE_DIR WORKDIR [REGEX]
(REGEX: only the models whose name it matches)
"""
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_target import VPAD_1D, VPAD_2D, target_bench  # noqa: E402
from int8lib import expect, failures, finish, run  # noqa: E402

TARGET = "cortex-m55"
# objdump's spelling of the kernels' MVE instructions, and the disassembly's
# architecture (objdump does not take it from the object's attributes).
DOT, DEPTHWISE = r"vmlava\.s16", r"vmla\.s32"
MVE_ANY = r"v(mlava|mla|ctp|ldr[bhw]t?)\.[su]?(8|16|32)"

# Layers from the int8 matrix's rows (tests/torch/matrix_cases.txt) stacked:
# K = 17 * 9 = 153 (38 passes of four groups and a last of one), 20 and 9
# filters, a 1x1 over 9 channels (K 9: the last pass alone), 7 channels at
# stride 2, groups of 12 channels, then dense layers.
TAILS_CONV = """model tails_conv {
  input 17x9x7
  a: conv(20, kernel=3, padding=1, activation=relu)
  b: conv(9, kernel=3, padding=(1,0,2,1))
  c: conv(17, kernel=1)
  d: conv(7, kernel=1, stride=2, activation=leaky_relu(0.1))
  e: conv(24, kernel=1)
  f: conv(40, kernel=1, groups=2)
  flatten
  g: dense(12)
  h: dense(7, activation=relu)
  i: dense(1)
  j: dense(4)
}
"""
# Depthwise rows 17, 15, 7, 5, 3 and 1 wide: widths 4n + 1, 3, 2 and 1 at
# strides 1, 2 and 3, 3x3 (the three-wide weights) and 5x5, 1x3, 3x2 (the
# others), dilation.
TAILS_DW = """model tails_dw {
  input 16x15x17
  a: conv(16, kernel=3, padding=1, groups=depthwise, activation=relu6)
  b: conv(16, kernel=3, stride=2, padding=same, groups=depthwise)
  c: conv(16, kernel=3, stride=1, dilation=2, padding=2, groups=depthwise)
  d: conv(16, kernel=5, stride=2, padding=2, groups=depthwise)
  e: conv(16, kernel=1x3, groups=depthwise, padding=(1,0,1,2))
  f: conv(16, kernel=3x2, stride=3, groups=depthwise)
}
"""


def disassembly(work):
    return run(["arm-none-eabi-objdump", "-d", "-m", "armv8.1-m.main",
                os.path.join(work, "model.o")]).stdout


def has(dis, mnemonic):
    return re.search(r"\t%s\t" % mnemonic, dis) is not None


def input_shape(cnnc, model, work, name):
    h = os.path.join(work, name + "_shape")
    run([cnnc, model, "-o", h + ".c"])
    m = re.search(r"_INPUT_SHAPE \{([0-9, ]*)\}", open(h + ".h").read())
    return tuple(int(v) for v in m.group(1).split(","))


def check_model(cnnc, src, work, name, model, kernels):
    """Both builds of one model, bit for bit; kernels: the mnemonics its MVE
    object must hold (None: at least one of them). Prints both builds'
    instructions."""
    calib = os.path.join(work, name + "_calib.npy")
    shape = input_shape(cnnc, model, work, name)
    offset = 1.5 if name.startswith("vpad") else 0
    x = np.random.default_rng(7).standard_normal((8,) + shape) + offset
    np.save(calib, x.astype(np.float32))
    figures = {}
    for label, extra in (("mve", []), ("nomve", ["--cflags", "-mcpu=cortex-m55+nomve"])):
        d = os.path.join(work, "%s_%s" % (name, label))
        q = target_bench(src, model, d, ["--int8", "--calib", calib] + extra, TARGET)
        expect(q.get("max_rel_error") == 0.0,
               "%s: %s %s int8 = cnnc run --int8, bit for bit" % (name, TARGET, label),
               "(max_rel_error %s)" % q.get("max_rel_error"))
        dis = disassembly(d)
        if label == "mve" and kernels:
            for k in kernels:
                expect(has(dis, k), "%s: the MVE build holds %s" % (name, k))
        elif label == "mve":  # an example: the kernels it has
            expect(has(dis, DOT) or has(dis, DEPTHWISE),
                   "%s: the MVE build holds %s or %s" % (name, DOT, DEPTHWISE))
        else:
            expect(not re.search(r"\t%s\t" % MVE_ANY, dis),
                   "%s: the +nomve build holds no MVE instruction" % name)
        figures[label] = q.get("instructions")
    print("%s: %s instructions with MVE, %s without" % (name, figures["mve"], figures["nomve"]))


def main():
    cnnc, src, work = sys.argv[1:4]
    only = re.compile(sys.argv[4] if len(sys.argv) > 4 else "")
    os.makedirs(work, exist_ok=True)
    os.environ["CNNC"] = cnnc
    models = {}
    for text, kernels in ((VPAD_2D, [DOT]), (VPAD_1D, [DOT]), (TAILS_CONV, [DOT]),
                          (TAILS_DW, [DEPTHWISE])):
        name = text.split()[1]
        with open(os.path.join(work, name + ".cnn"), "w") as f:
            f.write(text)
        models[name] = (os.path.join(work, name + ".cnn"), kernels)
    models["inplace_dw"] = (os.path.join(src, "tests", "codegen", "models", "inplace_dw.cnn"),
                            [DOT, DEPTHWISE])
    models["digits"] = (os.path.join(src, "examples", "digits", "digits.cnn"), [DOT])
    examples = os.path.join(src, "examples")
    for f in sorted(os.listdir(examples)):
        if f.endswith(".cnn"):
            models[f[:-4]] = (os.path.join(examples, f), None)
    try:
        for name, (model, kernels) in models.items():
            if not only.search(name):
                continue
            check_model(cnnc, src, work, name, model, kernels)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        failures.append(str(e)[:3000])
    finish()


if __name__ == "__main__":
    main()
