#!/usr/bin/python3
"""An int8 backbone with a float head (issue 16, item 4; contract section 8):
`cnnc MODEL -o M.c --train --int8 --calib CALIB.npy [--freeze-until T]`.

For each case (LeNet cut after its last frozen dense layer and after a
conv; the transfer example, frozen by the DSL's `freeze`):
- built with CC and the strict C99 flags (-Werror), `./M grad` agrees with
  `cnnc grad` given the same options (check_grad.py's rule): the
  interpreter runs the same integer backbone;
- the cut's features (M_train_features) are bit for bit what `cnnc run
  --int8` gives on the frozen part written as a model of its own (the same
  layers and weights, calibrated on the same set): the backbone is exactly
  an --int8 build's;
- PyTorch, given those features, computes the head's gradients (its
  layers written out below, the model's initial weights): `cnnc grad`'s
  files hold the same, within check_grad.py's rule;
- the frozen weights are in read-only sections and not in the state's
  table (check_freeze.py's check), as int8 arrays (int8_t, one byte each);
- two compiles give byte-identical files.

usage: check_int8_backbone.py CNNC OUTDIR CC SOURCE_DIR
"""
import filecmp
import os
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check_freeze import check_flash  # noqa: E402
from check_grad import BATCH, check, compare, report_cases, run  # noqa: E402

# The frozen part of each case as a model of its own, up to the features
# (the cut, extended over the layers without parameters that alone read
# it, as the feature cache takes it).
LENET_LAYERS = [  # examples/lenet.cnn's, up to fc4
    "conv1: conv(8, kernel=5, stride=1, activation=relu)",
    "pool1: maxpool(2, stride=2)",
    "conv2: conv(16, kernel=5, activation=relu)",
    "pool2: maxpool(2)",
    "flatten",
    "fc3: dense(120, activation=relu)",
    "fc4: dense(84, activation=relu)",
]


def lenet_part(last):
    """LeNet's layers up to and with `last` (a name, or flatten)."""
    names = [layer.split(":")[0] for layer in LENET_LAYERS]
    layers = LENET_LAYERS[:names.index(last) + 1]
    return "model part {\n  input 3x32x32\n%s}\n" % "".join("  %s\n" % x for x in layers)


LENET_TO_FC4 = lenet_part("fc4")
LENET_TO_POOL2 = lenet_part("flatten")
TRANSFER_TO_POOL = """model part {
  input 1x8x8
  conv1: conv(8, kernel=3, padding=same, activation=relu)
  conv2: conv(16, kernel=3, activation=relu)
  pool: maxpool(2)
  flatten
}
"""


def head_fc5(f, w):
    return F.linear(f, w["fc5.weight"], w["fc5.bias"])


def head_fc3_fc5(f, w):
    f = F.relu(F.linear(f, w["fc3.weight"], w["fc3.bias"]))
    f = F.relu(F.linear(f, w["fc4.weight"], w["fc4.bias"]))
    return head_fc5(f, w)


def head_transfer(f, w):
    f = F.relu(F.linear(f, w["fc1.weight"], w["fc1.bias"]))
    return F.linear(f, w["fc2.weight"], w["fc2.bias"])


# (name, model under SOURCE_DIR, input shape, options, the frozen part,
# the folder of its weights (None: `cnnc weights` of the model), the head,
# the frozen weights)
CASES = [
    ("lenet_fc4", "examples/lenet.cnn", (3, 32, 32), ["--freeze-until", "fc4"], LENET_TO_FC4,
     None, head_fc5, ["conv1.weight", "conv1.bias", "conv2.weight", "fc3.weight", "fc4.weight"]),
    ("lenet_conv2", "examples/lenet.cnn", (3, 32, 32), ["--freeze-until", "conv2"],
     LENET_TO_POOL2, None, head_fc3_fc5, ["conv1.weight", "conv2.weight", "conv2.bias"]),
    ("transfer", "examples/transfer/transfer.cnn", (1, 8, 8), [], TRANSFER_TO_POOL,
     "examples/transfer/backbone_weights", head_transfer,
     ["features.conv1.weight", "features.conv2.weight", "features.conv2.bias"]),
]

# Writes n samples' features (raw float32) computed by the build's
# P_train_features from raw float32 inputs.
FEATURES_C = r"""
#include "%(stem)s.h"
#include <stdio.h>
static _Alignas(64) unsigned char state[f_TRAIN_STATE_BYTES], arena[f_TRAIN_ARENA_BYTES];
static float x[f_BATCH_MAX * f_INPUT_SIZE], feats[f_BATCH_MAX * f_FEATURE_SIZE];
int main(int argc, char **argv)
{
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    size_t n = in ? fread(x, sizeof(float) * f_INPUT_SIZE, f_BATCH_MAX, in) : 0;
    (void)argc;
    if (!out || n == 0)
        return 1;
    f_train_init(state);
    f_train_features(state, arena, x, feats, (int)n);
    return fwrite(feats, sizeof(float) * f_FEATURE_SIZE, n, out) == n && fclose(out) == 0 ? 0 : 1;
}
"""


def build_features(cnnc, cc, stem, model, options):
    run([cnnc, model, "-o", stem + "_f.c", "--train", "--name", "f", "--batch", str(BATCH)] +
        options)
    with open(stem + "_feat.c", "w") as f:
        f.write(FEATURES_C % {"stem": os.path.basename(stem) + "_f"})
    run([cc, "-std=c99", "-O2", "-I", os.path.dirname(stem), stem + "_feat.c", stem + "_f.c",
         "-o", stem + "_feat", "-lm"])


def features(cnnc, cc, stem, model, options, x):
    """The build's features of x, and `cnnc run --int8` on the frozen part."""
    build_features(cnnc, cc, stem, model, options)
    x.astype(np.float32).tofile(stem + "_x.raw")
    run([stem + "_feat", stem + "_x.raw", stem + "_feat.raw"])
    got = np.fromfile(stem + "_feat.raw", np.float32).reshape(len(x), -1)
    return got


def part_features(cnnc, stem, part, weights, calib, x_path):
    with open(stem + "_part.cnn", "w") as f:
        f.write(part)
    run([cnnc, "run", stem + "_part.cnn", "--weights", weights, "--int8", "--calib", calib,
         "--input", x_path, "--output", stem + "_part.npy"])
    return np.load(stem + "_part.npy").reshape(BATCH, -1)


def torch_grads(head, weights_dir, feats, labels, ref_dir, out_dir):
    """The head's gradients by torch autograd, as cnnc grad names them."""
    names = [f[:-4] for f in os.listdir(ref_dir) if f != "loss.npy"]
    w = {n: torch.tensor(np.load(os.path.join(weights_dir, n + ".npy")), requires_grad=True)
         for n in names}
    loss = F.cross_entropy(head(torch.tensor(feats), w), torch.tensor(labels))
    loss.backward()
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "loss.npy"), np.float32(loss.item()))
    for n, t in w.items():
        np.save(os.path.join(out_dir, n + ".npy"), t.grad.numpy())


def check_case(cnnc, outdir, cc, src, case):
    name, model, shape, options, part, part_weights, head, frozen = case
    model = os.path.join(src, model)
    work = os.path.join(outdir, name)
    os.makedirs(work, exist_ok=True)
    calib = os.path.join(work, "calib.npy")
    np.save(calib, np.random.default_rng(16).standard_normal((16,) + shape).astype(np.float32))
    options = options + ["--int8", "--calib", calib]
    errors = check(cnnc, work, cc, False, model, extra=options)
    stem = os.path.join(work, os.path.basename(model).rsplit(".", 1)[0])
    errors += check_flash(cc, stem, frozen)
    source = open(stem + ".c").read()
    for w in frozen:
        if not re.search(r"\{ int(8|32)_t [qi]\[\d+\];[^}]*\} \w+_%s = " % w.replace(".", "_"),
                         source):
            errors.append("%s: not an integer array" % w)
    again = os.path.join(work, "again", os.path.basename(stem))
    os.makedirs(os.path.dirname(again), exist_ok=True)
    run([cnnc, model, "-o", again + ".c", "--train", "--main", "--batch", str(BATCH)] + options)
    for ext in (".c", ".h"):
        if not filecmp.cmp(stem + ext, again + ext, shallow=False):
            errors.append("two compiles differ: %s" % (stem + ext))
    weights = os.path.join(work, "weights")
    run([cnnc, "weights", model, "--outdir", weights])
    x, labels = np.load(stem + "_x.npy"), np.load(stem + "_y.npy")
    got = features(cnnc, cc, stem, model, options, x)
    ref = part_features(cnnc, stem, part,
                        os.path.join(src, part_weights) if part_weights else weights, calib,
                        stem + "_x.npy")
    if got.shape != ref.shape or not np.array_equal(got, ref):
        errors.append("features: not bit for bit `cnnc run --int8` on the frozen part (max "
                      "diff %s)" % (np.abs(got - ref).max() if got.shape == ref.shape else
                                    "%s vs %s" % (got.shape, ref.shape)))
    torch_dir = stem + "_torch"
    torch_grads(head, weights, got, labels, stem + "_ref", torch_dir)
    errors += ["torch: " + e for e in compare(torch_dir, stem + "_ref")]
    return errors


def main(argv):
    cnnc, outdir, cc, src = argv[1:5]
    os.makedirs(outdir, exist_ok=True)
    return report_cases(CASES, lambda case: case[0],
                        lambda case: check_case(cnnc, outdir, cc, src, case),
                        (RuntimeError, subprocess.SubprocessError, OSError))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
