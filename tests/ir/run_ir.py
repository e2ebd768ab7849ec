#!/usr/bin/python3
"""Golden IR dumps: the fusion decisions, pinned.

For every example model (examples/*.cnn) and hand-made fusion case
(tests/fusion/*.cnn), runs `cnnc MODEL -o TMP.c --dump-ir=PASS` after the
last non-optimising pass ("init") and after each fusion pass, plus the final
IR of a `--train` build (which keeps BatchNorm and Dropout), and diffs the
concatenation against tests/ir/<model>.ir. The dump is printed before code
generation, so these pin the IR whatever the code generator does.

usage: run_ir.py CNNC SOURCE_DIR [--update]   (--update rewrites the goldens)"""
import difflib
import glob
import os
import subprocess
import sys
import tempfile

PASSES = ["init", "fuse-views", "fuse-bn", "fuse-bias", "fuse-act", "fuse-pad"]
VARIANTS = [([], p) for p in PASSES] + [(["--train"], "fuse-pad")]


def dump(cnnc, model, flags, pass_name, tmp):
    r = subprocess.run([cnnc, model, "-o", os.path.join(tmp, "out.c"), "--dump-ir=" + pass_name]
                       + flags, capture_output=True, text=True)
    if not r.stdout:
        raise RuntimeError("%s: no dump after %s:\n%s" % (model, pass_name, r.stderr))
    return r.stdout


def main():
    cnnc, src = sys.argv[1], sys.argv[2]
    update = "--update" in sys.argv[3:]
    models = sorted(glob.glob(os.path.join(src, "examples", "*.cnn")))
    models += sorted(glob.glob(os.path.join(src, "tests", "fusion", "*.cnn")))
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            text = ""
            for flags, p in VARIANTS:
                text += "## --dump-ir=%s %s\n" % (p, " ".join(flags))
                text += dump(cnnc, model, flags, p, tmp)
            stem = os.path.splitext(os.path.basename(model))[0]
            golden = os.path.join(src, "tests", "ir", stem + ".ir")
            if update:
                with open(golden, "w") as f:
                    f.write(text)
                print("updated %s" % golden)
                continue
            want = open(golden).read() if os.path.exists(golden) else ""
            if want != text:
                failed.append(stem)
                sys.stdout.writelines(difflib.unified_diff(
                    want.splitlines(True), text.splitlines(True), golden, "cnnc output"))
            else:
                print("ok %s" % stem)
    if failed:
        print("FAILED: %s (if intended, rerun with --update and review the diff)"
              % ", ".join(failed))
        sys.exit(1)


main()
