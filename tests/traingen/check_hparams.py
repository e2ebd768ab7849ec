#!/usr/bin/python3
"""cnnc's optimizer flags reach P_train_hparams (tests/traingen).

`cnnc M -o m.c --train [--optimizer sgd|adam] [--lr X] [--momentum X]
[--weight-decay X] [--beta1 X] [--beta2 X] [--eps X]` on a DSL model
without a train section, one with a section (the flags override it field
by field, the rest stays the section's) and an ONNX model; a small driver
linked with m.c prints what P_train_init put in the state, which must be
the float32 of the expected values exactly. Bad values and the flags
without --train are usage errors (exit 2, the flag named, nothing written),
and so is --train with --weights-blob.

usage: check_hparams.py CNNC WORKDIR CC ONNX_MODEL
"""
import os
import subprocess
import sys

import numpy as np

DRIVER = r"""#include "m.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    void *raw = malloc((size_t)m_TRAIN_STATE_BYTES + m_ARENA_ALIGN);
    void *state = (void *)(((uintptr_t)raw + m_ARENA_ALIGN - 1) & ~(uintptr_t)(m_ARENA_ALIGN - 1));
    m_hparams *h;
    m_train_init(state);
    h = m_train_hparams(state);
    printf("%d %.9g %.9g %.9g %.9g %.9g %.9g\n", h->optimizer, h->lr, h->momentum,
           h->weight_decay, h->beta1, h->beta2, h->eps);
    free(raw);
    return 0;
}
"""

PLAIN = "model m {\n  input 4\n  fc: dense(3)\n}\n"
WITH_TRAIN = ("model m {\n  input 4\n  fc: dense(3)\n  train {\n    loss = cross_entropy\n"
              "    optimizer = adam(lr=0.002, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.01)\n"
              "  }\n}\n")
DEFAULTS = (0, 0.01, 0, 0, 0.9, 0.999, 1e-8)
SECTION = (1, 0.002, 0, 0.01, 0.8, 0.99, 1e-7)
ALL = ["--optimizer", "adam", "--lr", "0.003", "--momentum", "0.5", "--weight-decay", "1e-4",
       "--beta1", "0.7", "--beta2", "0.95", "--eps", "1e-6"]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def hparams(cnnc, cc, work, model, flags):
    """The P_hparams P_train_init gives, or an error string."""
    out = os.path.join(work, "m.c")
    r = run([cnnc, model, "-o", out, "--name", "m", "--train", "--batch", "2"] + flags)
    if r.returncode != 0:
        return "cnnc failed: " + r.stderr
    driver = os.path.join(work, "driver.c")
    with open(driver, "w") as f:
        f.write(DRIVER)
    exe = os.path.join(work, "driver")
    r = run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O0", "-I", work, driver, out,
             "-o", exe, "-lm"])
    if r.returncode != 0:
        return "cc failed: " + r.stderr
    r = run([exe])
    if r.returncode != 0:
        return "driver failed: " + r.stderr
    v = r.stdout.split()
    return (int(v[0]),) + tuple(float(x) for x in v[1:])


def same(got, want):
    return (not isinstance(got, str) and got[0] == want[0] and
            all(np.float32(g) == np.float32(w) for g, w in zip(got[1:], want[1:])))


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    cnnc, work, cc, onnx_model = argv[1:]
    os.makedirs(work, exist_ok=True)
    plain, section = os.path.join(work, "plain.cnn"), os.path.join(work, "section.cnn")
    with open(plain, "w") as f:
        f.write(PLAIN)
    with open(section, "w") as f:
        f.write(WITH_TRAIN)
    cases = [
        ("no section, no flags", plain, [], DEFAULTS),
        ("no section, every flag", plain, ALL, (1, 0.003, 0.5, 1e-4, 0.7, 0.95, 1e-6)),
        ("no section, sgd momentum", plain, ["--momentum", "0.9", "--weight-decay", "5e-4"],
         (0, 0.01, 0.9, 5e-4, 0.9, 0.999, 1e-8)),
        ("section, no flags", section, [], SECTION),
        ("section, --optimizer sgd --lr", section, ["--optimizer", "sgd", "--lr", "0.1"],
         (0, 0.1, 0, 0.01, 0.8, 0.99, 1e-7)),
        ("onnx, adam", onnx_model, ["--optimizer", "adam", "--lr", "1e-3"],
         (1, 1e-3, 0, 0, 0.9, 0.999, 1e-8)),
    ]
    bad = 0
    for what, model, flags, want in cases:
        got = hparams(cnnc, cc, work, model, flags)
        ok = same(got, want)
        print("%s: %s%s" % (what, "ok" if ok else "FAIL", "" if ok else
                            "\n    got %s, want %s" % (got, want)))
        bad += not ok
    errors = [
        (["--train", "--lr", "-0.1"], "--lr"),
        (["--train", "--lr", "0.1x"], "--lr"),
        (["--train", "--momentum", "inf"], "--momentum"),
        (["--train", "--weight-decay", ""], "--weight-decay"),
        (["--train", "--beta1", "1"], "--beta1"),
        (["--train", "--beta2", "-0.5"], "--beta2"),
        (["--train", "--eps", "nan"], "--eps"),
        (["--train", "--optimizer", "rmsprop"], "--optimizer"),
        (["--train", "--optimizer"], "--optimizer"),
        (["--lr", "0.1"], "--train"),
        (["--optimizer", "sgd"], "--train"),
        # the state's initial weights are arrays of OUT.c: no blob (docs/training.md)
        (["--train", "--weights-blob", os.path.join(work, "w.bin")], "--weights-blob"),
    ]
    out = os.path.join(work, "err.c")
    for flags, word in errors:
        if os.path.exists(out):
            os.remove(out)
        r = run([cnnc, plain, "-o", out] + flags)
        ok = (r.returncode == 2 and word in r.stderr and not os.path.exists(out) and
              not os.path.exists(os.path.join(work, "w.bin")))
        print("usage error %s: %s" % (" ".join(flags), "ok" if ok else "FAIL (rc %d) %r"
                                       % (r.returncode, r.stderr)))
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
