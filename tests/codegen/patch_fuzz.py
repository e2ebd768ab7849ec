#!/usr/bin/python3
"""patch_fuzz.py: random leading chains under --patch N against `cnnc run`.

usage: patch_fuzz.py CNNC OUTDIR CC SEED MODELS

Each model (seeded) is an input of 1-4 channels and 9-40 x 5-30 pixels,
then 2-6 layers drawn from convs (kernel 1, 2, 3 or 5, stride 1-3, zero
padding up to half the kernel, dilation 1-2, a fused activation),
depthwise convs, max and average pools and standalone activations, then a
1x1 conv and a dense head; N is 2, 3, 4 or 7. check_examples.py runs the
build against the interpreter: every second model in int8 (bit for bit),
every third on the Cortex-M4 profile's kernels. At least a third of the
models must have been banded (`--dump-ir=patch` shows N band stores), so
that the run cannot pass by patching nothing. Exit status 0 or 1."""
import os
import random
import subprocess
import sys


def out_size(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def layer(rng, k, c, h, w):
    """One random layer after a c x h x w tensor: (DSL line, c, h, w), or None
    when it would leave fewer than 2 rows."""
    kind = rng.choice(["conv", "conv", "dw", "maxpool", "avgpool", "act"])
    if kind == "act":
        return "  %s" % rng.choice(["relu", "sigmoid", "tanh", "hardswish"]), c, h, w
    kk, s = rng.choice([1, 2, 3, 5]), rng.choice([1, 1, 2, 3])
    if kind.endswith("pool"):
        kk = max(kk, 2)
    p, d = rng.randint(0, kk // 2), rng.choice([1, 1, 2]) if kind == "conv" else 1
    oh, ow = out_size(h, kk, s, p, d), out_size(w, kk, s, p, d)
    if oh < 2 or ow < 1:
        return None
    if kind == "conv":
        c = rng.choice([2, 4, 8, 12])
        line = "  l%d: conv(%d, kernel=%d, stride=%d, padding=%d, dilation=%d, activation=%s)" % (
            k, c, kk, s, p, d, rng.choice(["relu", "relu6", "sigmoid"]))
    elif kind == "dw":
        line = "  l%d: conv(%d, kernel=%d, stride=%d, padding=%d, groups=depthwise)" % (
            k, c, kk, s, p)
    else:
        line = "  l%d: %s(%d, stride=%d, padding=%d)" % (k, kind, kk, s, p)
    return line, c, oh, ow


def model(rng, name):
    c, h, w = rng.choice([1, 2, 3, 4]), rng.randint(9, 40), rng.randint(5, 30)
    lines = ["model %s {" % name, "  input %dx%dx%d" % (c, h, w)]
    for k in range(rng.randint(2, 6)):
        got = layer(rng, k, c, h, w)
        if not got:
            break
        line, c, h, w = got
        lines.append(line)
    return "\n".join(lines + ["  tail: conv(3, kernel=1)", "  flatten", "  fc: dense(2)", "}"]) + "\n"


def main():
    cnnc, outdir, cc, seed, count = sys.argv[1:6]
    here = os.path.dirname(os.path.abspath(__file__))
    rng = random.Random(int(seed))
    os.makedirs(outdir, exist_ok=True)
    failures = banded = 0
    for i in range(int(count)):
        path = os.path.join(outdir, "fz%s_%d.cnn" % (seed, i))
        open(path, "w").write(model(rng, "fz%d" % i))
        n = rng.choice([2, 3, 4, 7])
        opts = ["--patch=%d" % n] + (["--target=cortex-m4"] if i % 3 == 0 else [])
        dump = subprocess.run([cnnc, path, "-o", os.path.join(outdir, "x.c"), "--dump-ir=patch"] +
                              opts, capture_output=True, text=True).stdout
        banded += dump.count("= band_store(") == n
        r = subprocess.run([sys.executable, os.path.join(here, "check_examples.py"), cnnc,
                            os.path.join(outdir, "out%d" % i), cc] +
                           (["--int8"] if i % 2 else []) + ["--cnnc=" + o for o in opts] + [path],
                           capture_output=True, text=True)
        print("%s %s %s%s" % ("ok" if r.returncode == 0 else "FAIL", path, " ".join(opts),
                              " --int8" if i % 2 else ""))
        if r.returncode != 0:
            print((r.stdout + r.stderr)[-1500:])
            failures += 1
    ok = banded * 3 >= int(count)
    print("%d of %s models banded%s; %d failures" % (banded, count, "" if ok else " (too few)",
                                                    failures))
    sys.exit(1 if failures or not ok else 0)


if __name__ == "__main__":
    main()
