#!/usr/bin/python3
"""test_weights_object.py: --weights-object on the host and on a Cortex-M4.

Takes: CNNC SOURCE_DIR WORK_DIR. On the host: LeNet compiled with
--weights-object --main gives OUT_weights.bin (the header's
<P>_WEIGHTS_BYTES bytes, the blob --weights-blob writes, byte for byte) and
OUT_weights.S, which cc assembles from another folder with -I (.incbin);
the program linked from the two objects infers what `cnnc run` does (rtol
1e-4); the symbol is read-only data of that size, 64-byte aligned. The
option excludes --split-weights, --weights-blob and --train (usage errors,
exit 2); a failed compile leaves no file behind, the earlier outputs
untouched. On the target: scripts/target-bench --weights-object on
cortex-m4 (QEMU), where the outputs must match `cnnc run` and the sizes
`cnnc info --target cortex-m4 --weights-object`. Exit status 0 or 1."""
import os
import re
import subprocess
import sys

import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


CNNC, SRC, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
lenet = os.path.join(SRC, "examples", "lenet.cnn")
out = os.path.join(WORK, "gen", "lenet.c")
os.makedirs(os.path.dirname(out), exist_ok=True)
for f in os.listdir(os.path.dirname(out)):
    os.remove(os.path.join(os.path.dirname(out), f))

p = sh([CNNC, lenet, "-o", out, "--weights-object", "--main"])
check(p.returncode == 0, "compile: %s" % p.stderr)
gen = os.path.dirname(out)
check(sorted(os.listdir(gen)) == ["lenet.c", "lenet.h", "lenet_weights.S", "lenet_weights.bin"],
      "files written: %s" % sorted(os.listdir(gen)))
header = open(out[:-2] + ".h").read()
nbytes = int(re.search(r"#define lenet_WEIGHTS_BYTES (\d+)", header).group(1))
blob = open(os.path.join(gen, "lenet_weights.bin"), "rb").read()
check(len(blob) == nbytes, "bin %d bytes, header %d" % (len(blob), nbytes))
p = sh([CNNC, lenet, "-o", os.path.join(WORK, "blob.c"), "--weights-blob",
        os.path.join(WORK, "blob.bin")])
check(p.returncode == 0 and open(os.path.join(WORK, "blob.bin"), "rb").read() == blob,
      "the object's bin is not --weights-blob's blob")

# Assembled from WORK, not from the generated folder: -I finds the .bin.
objs = [os.path.join(WORK, "lenet.o"), os.path.join(WORK, "weights.o")]
p = sh(["cc", "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror", "-c", out,
        "-o", objs[0]], cwd=WORK)
check(p.returncode == 0, "cc lenet.c: %s" % p.stderr)
p = sh(["cc", "-c", "-I", gen, os.path.join(gen, "lenet_weights.S"), "-o", objs[1]], cwd=WORK)
check(p.returncode == 0, "cc lenet_weights.S: %s" % p.stderr)
sym = re.search(r"\s(\S+) OBJECT\s+GLOBAL\s+DEFAULT\s+\d+ lenet_weights$",
                sh(["readelf", "-sW", objs[1]]).stdout, re.M)
check(sym and int(sym.group(1), 0) == nbytes, "symbol lenet_weights of %d bytes: %s"
      % (nbytes, sym and sym.group(0)))
sec = sh(["readelf", "-SW", objs[1]]).stdout
check(re.search(r"\.rodata\.lenet_weights\s+PROGBITS(\s+\S+){4}\s+A\s+\d+\s+\d+\s+64$", sec, re.M),
      "section read-only, 64-byte aligned: %s" % sec)
prog = os.path.join(WORK, "lenet")
p = sh(["cc"] + objs + ["-lm", "-o", prog])
check(p.returncode == 0, "link: %s" % p.stderr)
x = np.random.default_rng(7).standard_normal((3, 3, 32, 32)).astype(np.float32)
np.save(os.path.join(WORK, "x.npy"), x)
p = sh([prog, "infer", os.path.join(WORK, "x.npy"), os.path.join(WORK, "y.npy")])
q = sh([CNNC, "run", lenet, "--input", os.path.join(WORK, "x.npy"), "--output",
        os.path.join(WORK, "ref.npy")])
if p.returncode == 0 and q.returncode == 0:
    y, ref = np.load(os.path.join(WORK, "y.npy")), np.load(os.path.join(WORK, "ref.npy"))
    check(np.max(np.abs(y - ref)) <= 1e-4 * np.max(np.abs(ref)), "host outputs differ")
else:
    check(False, "infer: %s %s" % (p.stderr, q.stderr))

# Usage errors, and nothing left behind by a failed compile.
for other in (["--split-weights"], ["--weights-blob", "b.bin"], ["--train"]):
    p = sh([CNNC, lenet, "-o", os.path.join(WORK, "u.c"), "--weights-object"] + other)
    check(p.returncode == 2 and "exclude each other" in p.stderr,
          "--weights-object %s: exit %d %s" % (other[0], p.returncode, p.stderr))
before = {f: open(os.path.join(gen, f), "rb").read() for f in os.listdir(gen)}
bad = os.path.join(WORK, "bad.cnn")
with open(bad, "w") as f:
    f.write("model bad {\n  input 3x8x8\n  c: conv(4, kernel=9)\n}\n")
p = sh([CNNC, bad, "-o", out, "--weights-object"])
check(p.returncode == 1, "a bad model compiles: %s" % p.stderr)
after = {f: open(os.path.join(gen, f), "rb").read() for f in os.listdir(gen)}
check(after == before, "a failed compile changed or left files: %s" % sorted(after))

# The target: QEMU's Cortex-M4.
env = dict(os.environ, CNNC=CNNC)
p = sh([sys.executable, os.path.join(SRC, "scripts", "target-bench"), lenet, "--target",
        "cortex-m4", "--weights-object", "--samples", "2"], env=env)
check(p.returncode == 0 and "instructions:" in p.stdout,
      "target-bench --weights-object: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
print(p.stdout, end="")
print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
