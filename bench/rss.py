#!/usr/bin/python3
"""rss.py: cnnc's own peak memory while it writes a model's weights.

    /usr/bin/python3 bench/rss.py [--cnnc build/cnnc] [--work DIR] [--models a,b]

A script, not a test. For torchvision's resnet18 (random weights, exported
to ONNX by examples/onnx/export_torchvision.py) and examples/lenet.cnn, runs
`cnnc MODEL -o OUT.c` with each way of writing the weights
(--weights-object, --weights-blob, --split-weights, inside OUT.c) and
`cnnc info MODEL`, and prints each run's peak resident set size (the
kernel's ru_maxrss of that process, from wait4), its wall time, and the
ratio to the weights' size: the model's parameters as float32 (`cnnc
info`'s parameters: line, times 4) and the bytes cnnc writes for them
(<P>_WEIGHTS_BYTES of the --weights-object build: repacked, Winograd's
layers 16/9 as large). The bound it checks: peak <= 3 x the parameters'
bytes + the RSS of `cnnc --version` + 16 MiB. The weights inside OUT.c are
the one form cnnc still holds whole (OUT.c is written after its weights),
so resnet18 skips that row: use the other forms for big models."""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SLACK = 16 << 20


def peak(cmd):
    """(peak RSS in bytes, seconds, exit status) of one run of cmd."""
    t = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    return usage.ru_maxrss * 1024, time.monotonic() - t, os.waitstatus_to_exitcode(status)


def model_facts(cnnc, model, work):
    """(parameter bytes, bytes cnnc writes for the weights)."""
    info = subprocess.run([cnnc, "info", model], capture_output=True, text=True).stdout
    params = int(re.search(r"^parameters: (\d+)$", info, re.M).group(1)) * 4
    out = os.path.join(work, "facts.c")
    subprocess.run([cnnc, model, "-o", out, "--weights-object"], capture_output=True, check=True)
    written = int(re.search(r"_WEIGHTS_BYTES (\d+)", open(out[:-2] + ".h").read()).group(1))
    return params, written


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", default=os.path.join(ROOT, "build", "cnnc"))
    ap.add_argument("--work", default="/tmp/cnnc-rss")
    ap.add_argument("--models", default="resnet18,lenet")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    base, _, _ = peak([a.cnnc, "--version"])
    print("cnnc --version: %.1f MB (the constant)" % (base / 1e6))
    print("%-10s %-18s %10s %8s %12s %12s %s" % ("model", "weights as", "peak MB", "seconds",
                                                "/ params", "/ written", "within bound"))
    ok = True
    for name in a.models.split(","):
        if name == "resnet18":
            model = os.path.join(a.work, "resnet18.onnx")
            if not os.path.exists(model):
                subprocess.run([sys.executable, os.path.join(ROOT, "examples", "onnx",
                                                             "export_torchvision.py"),
                                "resnet18", model], check=True, capture_output=True)
        else:
            model = os.path.join(ROOT, "examples", name + ".cnn")
        params, written = model_facts(a.cnnc, model, a.work)
        out = os.path.join(a.work, name + ".c")
        runs = [("object", [a.cnnc, model, "-o", out, "--weights-object"]),
                ("blob", [a.cnnc, model, "-o", out, "--weights-blob", out + ".bin"]),
                ("split C file", [a.cnnc, model, "-o", out, "--split-weights"]),
                ("info", [a.cnnc, "info", model])]
        if name != "resnet18":
            runs.insert(3, ("inside OUT.c", [a.cnnc, model, "-o", out]))
        for what, cmd in runs:
            rss, secs, status = peak(cmd)
            within = status == 0 and rss <= 3 * params + base + SLACK
            ok &= within
            print("%-10s %-18s %10.1f %8.2f %12.2f %12.2f %s" % (
                name, what, rss / 1e6, secs, rss / params, rss / written,
                "yes" if within else "NO (exit %d)" % status if status else "NO"))
        print("%-10s parameters %.1f MB, written %.1f MB" % (name, params / 1e6, written / 1e6))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
