#!/usr/bin/python3
"""int8 on the Cortex-M4 in QEMU (contract section 7, docs/int8.md).

For digits and depthwise_separable (its depthwise and pointwise kernels):
scripts/target-bench --target cortex-m4 --int8 --calib CALIB (8 seeded
N(0, 1) samples), 3 samples: the program on the emulated M4 must give
`cnnc run --int8`'s outputs bit for bit (max_rel_error 0), and the sizes
target-bench checks against `cnnc info --target` hold. For digits, the
weights in flash (flash_weights_bytes) must be at most 0.30x the float
build's (issue 14's figure): one byte per weight.

The blocked conv kernel's two paths: the M4 build must take the DSP one
(its object holds SMLAD: the __ARM_FEATURE_DSP guard was taken), and the
same models built for the Cortex-M3 (no DSP extension: the plain C path
over the same packed words) must match `cnnc run --int8` bit for bit too,
so both paths equal the interpreter and each other. The depthwise kernel's
likewise, on tests/codegen/models/inplace_dw.cnn (strides 1 to 3, odd
widths, one-sided, reflect and no padding, dilation, 5x5, layers writing
over their input): its M4 object must hold one of SMLABB, SMLABT, SMLATB,
SMLATT, which only the depthwise kernel's DSP path uses.

The blocked kernel reads zero padding virtually (a border pixel's gather
puts the input's zero point where its taps leave the input): two models
written here stack the padding cases (per-side pads, stride 2, dilation,
groups, a window wider than its input, 40 taps; and 1-D), calibrated on
inputs offset by 1.5 so that every zero point sits far from 0, and run on
both paths as above.

usage: check_target.py CNNC SOURCE_DIR WORKDIR
"""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int8lib import expect, failures, finish, run  # noqa: E402


def target_bench(src, model, work, extra, target="cortex-m4"):
    """target-bench's numeric figures (it runs the cnnc of $CNNC)."""
    out = run([os.path.join(src, "scripts", "target-bench"), model, "--target", target,
               "--samples", "3", "--workdir", work] + extra).stdout
    return {k: float(v) for k, v in re.findall(r"^(\w+): (\S+)$", out, re.M)
            if re.match(r"^[0-9.e+-]+$", v)}


def object_has(work, mnemonic):
    """Whether target-bench's model object in work holds an instruction
    matching the pattern mnemonic."""
    dis = run(["arm-none-eabi-objdump", "-d", os.path.join(work, "model.o")]).stdout
    return re.search(r"\t%s\t" % mnemonic, dis) is not None


def check_paths(src, name, model, work, calib, mnemonic):
    """M4 (DSP) and M3 (plain) builds, each bit for bit cnnc run --int8, the
    DSP path's mnemonic in the M4's object only; the M4's figures."""
    figures = {}
    for target, dsp in (("cortex-m4", True), ("cortex-m3", False)):
        d = os.path.join(work, "%s_int8_%s" % (name, target))
        q = target_bench(src, model, d, ["--int8", "--calib", calib], target)
        expect(q.get("max_rel_error") == 0.0,
               "%s: %s int8 = cnnc run --int8, bit for bit" % (name, target),
               "(max_rel_error %s)" % q.get("max_rel_error"))
        expect(object_has(d, mnemonic) == dsp, "%s: the %s build %s %s" % (
            name, target, "runs" if dsp else "has no", mnemonic))
        figures[target] = q
    return figures["cortex-m4"]


# Padded convolutions for the virtual padding, 2-D and 1-D.
VPAD_2D = """model vpad2d {
  input 3x9x11
  a: conv(8, kernel=3, padding=(1,0,2,1), activation=relu)
  b: conv(8, kernel=3, stride=2, dilation=2, padding=2, groups=2)
  c: conv(6, kernel=5, padding=2)
  d: conv(4, kernel=10x4, stride=2, padding=(4,5,1,2))
}
"""
VPAD_1D = """model vpad1d {
  input 2x17
  a: conv(6, kernel=3, padding=(1,3), dilation=2)
  b: conv(4, kernel=3, stride=2, padding=same)
}
"""


def main():
    cnnc, src, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    os.environ["CNNC"] = cnnc
    models = {"digits": (os.path.join(src, "examples", "digits", "digits.cnn"), (1, 8, 8),
                         "smlad"),
              "depthwise_separable": (os.path.join(src, "examples", "depthwise_separable.cnn"),
                                      None, "smlad"),
              "inplace_dw": (os.path.join(src, "tests", "codegen", "models", "inplace_dw.cnn"),
                             None, "smla[bt][bt]")}
    for text in (VPAD_2D, VPAD_1D):
        name = text.split()[1]
        with open(os.path.join(work, name + ".cnn"), "w") as f:
            f.write(text)
        models[name] = (os.path.join(work, name + ".cnn"), None, "smlad")
    try:
        for name, (model, shape, mnemonic) in models.items():
            if shape is None:
                h = os.path.join(work, name + "_shape")
                run([cnnc, model, "-o", h + ".c"])
                m = re.search(r"_INPUT_SHAPE \{([0-9, ]*)\}", open(h + ".h").read())
                shape = tuple(int(v) for v in m.group(1).split(","))
            calib = os.path.join(work, name + "_calib.npy")
            offset = 1.5 if name.startswith("vpad") else 0
            x = np.random.default_rng(7).standard_normal((8,) + shape) + offset
            np.save(calib, x.astype(np.float32))
            q = check_paths(src, name, model, work, calib, mnemonic)
            if name == "digits":
                f = target_bench(src, model, os.path.join(work, name + "_float"), [])
                ratio = q["flash_weights_bytes"] / f["flash_weights_bytes"]
                expect(ratio <= 0.30, "digits: int8 weights in flash <= 0.30x float's",
                       "(%d / %d = %.3f)" % (q["flash_weights_bytes"], f["flash_weights_bytes"],
                                             ratio))
    except RuntimeError as e:
        failures.append(str(e)[:3000])
    finish()


if __name__ == "__main__":
    main()
