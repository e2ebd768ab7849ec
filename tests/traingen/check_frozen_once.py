#!/usr/bin/python3
"""Bias-only training on a Cortex-M profile keeps every frozen weight once,
in the inference code's arrays (docs/training.md, "Training part of a
network"; issue 12's leftover: 250,880 bytes of weights twice in flash).

    check_frozen_once.py CNNC OUTDIR CC SOURCE_DIR

With `--target cortex-m4 --train-bias-only`:
- for examples/lenet.cnn, tests/traingen/cut.cnn and chunks.cnn (groups,
  chunked columns, filter and output counts that leave a narrower last
  block): `cnnc MODEL -o M.c --train --main --batch 4 --target cortex-m4
  --train-bias-only`, built for the host with CC and the strict C99 flags:
  `./M grad` agrees with `cnnc grad --train-bias-only` (check_grad.py's
  rule). The training code reads the frozen weights where the Cortex-M
  kernels keep them (blocked by output channel), so this checks that
  reading;
- lenet's generated file defines no `P_frozen_<x>` array of its own (a
  layer whose inference code computes its constants still has one:
  cut.cnn's bn1.weight, folded into a scale, or a Winograd layer's);
- `cnnc info --target cortex-m4 --train --batch 1 --optimizer sgd
  --momentum 0 --train-bias-only`: flash_weights_bytes is 4 x every
  parameter's count, computed here from the model's layer shapes; the
  constants beside the weights (flash_other_bytes) exceed the inference
  build's by less than the smallest frozen weight (no weight is there
  twice); the training state (ram_train_state_bytes) holds the biases
  and less than any weight.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_grad import check, report_cases  # noqa: E402

TARGET = ["--target", "cortex-m4"]
INFO = ["--batch", "1", "--optimizer", "sgd", "--momentum", "0"]

# examples/lenet.cnn's parameters, from its layers (input 3x32x32; conv 5x5
# without padding, 2x2 pools): name -> element count.
LENET = {
    "conv1.weight": 8 * 3 * 5 * 5, "conv1.bias": 8,
    "conv2.weight": 16 * 8 * 5 * 5, "conv2.bias": 16,
    "fc3.weight": 120 * 16 * 5 * 5, "fc3.bias": 120,
    "fc4.weight": 84 * 120, "fc4.bias": 84,
    "fc5.weight": 10 * 84, "fc5.bias": 10,
}


def info(cnnc, model, extra):
    r = subprocess.run([cnnc, "info", model] + TARGET + extra, capture_output=True, text=True,
                       timeout=600)
    if r.returncode != 0:
        raise RuntimeError("cnnc info %s failed:\n%s" % (" ".join(extra), r.stderr))
    return {k: int(v) for k, v in re.findall(r"^(\w+_bytes): (\d+)$", r.stdout, re.M)}


def check_flash(cnnc, model, params):
    weights = {k: v for k, v in params.items() if not k.endswith(".bias")}
    biases = sum(v for k, v in params.items() if k.endswith(".bias"))
    inference = info(cnnc, model, [])
    bias_only = info(cnnc, model, ["--train", "--train-bias-only"] + INFO)
    errors = []
    if bias_only["flash_weights_bytes"] != 4 * sum(params.values()):
        errors.append("flash_weights_bytes %d, expected 4 x %d parameters" %
                      (bias_only["flash_weights_bytes"], sum(params.values())))
    extra = bias_only["flash_other_bytes"] - inference["flash_other_bytes"]
    if extra >= 4 * min(weights.values()):
        errors.append("flash_other_bytes %d is %d over inference's %d: a frozen weight twice?" %
                      (bias_only["flash_other_bytes"], extra, inference["flash_other_bytes"]))
    state = bias_only["ram_train_state_bytes"]
    if not 4 * biases <= state < 4 * biases + 4 * min(weights.values()):
        errors.append("ram_train_state_bytes %d, expected the %d biases' bytes and no weight" %
                      (state, biases))
    print("flash_other_bytes: inference %d, bias-only %d; state %d (biases %d B)" %
          (inference["flash_other_bytes"], bias_only["flash_other_bytes"], state, 4 * biases))
    return errors


def check_no_copy(stem):
    own = re.findall(r"^static const float (\w+_frozen_\w+)\[", open(stem + ".c").read(), re.M)
    return ["%s: a copy of a frozen weight" % name for name in own]


def main(argv):
    cnnc, outdir, cc, src = argv[1:5]
    os.makedirs(outdir, exist_ok=True)
    lenet = os.path.join(src, "examples", "lenet.cnn")
    cases = [("grad", lenet), ("grad", os.path.join(src, "tests", "traingen", "cut.cnn")),
             ("grad", os.path.join(src, "tests", "traingen", "chunks.cnn")), ("flash", lenet)]

    def check_case(case):
        what, model = case
        if what == "flash":
            return check_flash(cnnc, model, LENET)
        errors = check(cnnc, outdir, cc, False, model, extra=["--train-bias-only"], build=TARGET)
        if model == lenet:
            errors += check_no_copy(os.path.join(outdir, "lenet"))
        return errors
    return report_cases(cases, lambda case: "%s bias-only cortex-m4 %s" %
                        (os.path.basename(case[1]), case[0]), check_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
