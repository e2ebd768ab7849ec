#!/usr/bin/python3
"""Patch-based inference (passes/patch.c, --patch N) against `cnnc run`.

usage: check_patch.py CNNC OUTDIR CC MODEL.cnn...

For each model and each band count N (2, 3, 5): `--dump-ir=patch` must show
N band_store layers (the pass ran), the planned arena must be smaller than
without --patch (the full-resolution tensors are gone) and the weights'
bytes the same (the bands' clones share their layer's arrays); then
check_examples.py runs the build against the interpreter, which never sees
a patched graph: float (1e-4 of the output's range) and int8 (bit for bit),
on the host's kernels and on the Cortex-M profile's (compiled here, natively).
Exit status 0 or 1."""
import os
import re
import subprocess
import sys

BANDS = [2, 3, 5]
PROFILES = [[], ["--target=cortex-m4"]]


def arena(cnnc, model, out, opts):
    """The planned arena's and weights' bytes, and the band_store layers of
    the patched graph."""
    plan = subprocess.run([cnnc, model, "-o", out, "--dump-ir=plan"] + opts, capture_output=True,
                          text=True, check=True).stdout
    graph = subprocess.run([cnnc, model, "-o", out, "--dump-ir=patch"] + opts,
                           capture_output=True, text=True, check=True).stdout
    m = re.search(r"arena (\d+) bytes, bound \d+, weights (\d+)", plan)
    return int(m.group(1)), int(m.group(2)), graph.count("= band_store(")


def main():
    cnnc, outdir, cc = sys.argv[1:4]
    models = sys.argv[4:]
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(outdir, exist_ok=True)
    failures = 0
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        out = os.path.join(outdir, name + "_plan.c")
        for profile in PROFILES:
            whole, weights, _ = arena(cnnc, model, out, profile)
            for n in BANDS:
                opts = profile + ["--patch=%d" % n]
                banded, shared, stores = arena(cnnc, model, out, opts)
                ok = stores == n and banded < whole and shared == weights
                print("%s %s %s: %d band stores, arena %d -> %d bytes, weights %d -> %d"
                      % ("ok" if ok else "FAIL", name, " ".join(opts), stores, whole, banded,
                         weights, shared))
                failures += not ok
                for int8 in ([], ["--int8"]):
                    tag = "%s_%s%d%s" % (name, "mcu_" if profile else "", n, "_int8" if int8 else "")
                    r = subprocess.run([sys.executable, os.path.join(here, "check_examples.py"),
                                        cnnc, os.path.join(outdir, tag), cc] + int8 +
                                       ["--cnnc=" + o for o in opts] + [model],
                                       capture_output=True, text=True)
                    print("%s %s vs cnnc run%s" % ("ok" if r.returncode == 0 else "FAIL", tag,
                                                   " (bit for bit)" if int8 else ""))
                    if r.returncode != 0:
                        print(r.stdout[-2000:] + r.stderr[-2000:])
                    failures += r.returncode != 0
    sys.exit(1 if failures or not models else 0)


if __name__ == "__main__":
    main()
