#!/usr/bin/python3
"""The weights in the generated C are bit-exact (tests/codegen).

A dense layer (8 outputs, 256 inputs) is given, with `--weights DIR`, .npy
files made here with awkward float32 bit patterns: -0.0, +-inf, quiet and
signalling NaNs with payloads and either sign, the smallest and largest
subnormals, FLT_MIN/FLT_MAX, 1-ulp neighbours of 1, then floats whose bytes
are every value 0..255 in order and the sequences the string form must
escape (quote, backslash, "??=" trigraphs, an octal digit after a short
octal escape), then random bit patterns. The generated model (inline, and
--split-weights) is compiled by a harness that #includes it (split: its
weights file, linked with its m.c) and prints the bits of each array as
the model code reads it (the union's .f member). The oracle is numpy: the
weight repacked [OUT/OB][IN][OB] as the generated comment states
(docs/codegen.md; W.T when OB = OUT), the bias as it is, both zero-padded
to whole blocks. Each compiler builds both forms: the byte string (gcc and
clang on this little-endian machine) and, with -DCNNC_PORTABLE_WEIGHTS,
the uint32_t constants; the harness reports which one it got. cnnc's
output is also byte-identical on two runs.

usage: check_weight_bits.py CNNC WORKDIR CC [CC...]
"""
import os
import re
import subprocess
import sys

import numpy as np

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2"]
IN, OUT = 256, 8
MODEL = "model bits {\n  input %d\n  fc: dense(%d)\n}\n" % (IN, OUT)
failures = []


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r.stdout


def expect(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def awkward_bits(n):
    """n uint32 bit patterns: the special values, the byte sequences, then random."""
    special = [0x00000000, 0x80000000, 0x7f800000, 0xff800000,  # +-0, +-inf
               0x7fc00000, 0xffc00000, 0x7fc12345, 0xffd00001,  # quiet NaNs
               0x7f800001, 0xff800001, 0x7fbfffff, 0x7f8abcde,  # signalling NaNs
               0x00000001, 0x80000001, 0x007fffff, 0x807fffff,  # subnormals
               0x00800000, 0x7f7fffff, 0xff7fffff, 0x00400000,  # FLT_MIN, FLT_MAX
               0x3f800000, 0x3f7fffff, 0x3f800001, 0xbf800001,  # 1 and neighbours
               0x3eaaaaab, 0x3eaaaaaa, 0x33800000, 0x4b800000]  # 1/3 and neighbour, 2^-24, 2^24
    seqs = bytes(range(256))  # every byte value in order
    seqs += b'??=??/??\'??(??)??!??<??>??-"\\"\\\\?"'  # trigraphs, quotes, backslashes
    for short in (0, 1, 7, 8, 9, 0o37, 0o77):  # an escape of 1-2 digits, then digits
        seqs += bytes([short]) + b"01234567" + bytes([short]) + b"89"
    seqs += b"\x00" * (-len(seqs) % 4)
    bits = special + list(np.frombuffer(seqs, dtype="<u4"))
    rng = np.random.default_rng(6)
    bits += list(rng.integers(0, 2 ** 32, n - len(bits), dtype=np.uint64))
    return np.array(bits[:n], dtype=np.uint32)


def harness(c_file, names):
    """A program that #includes the model and prints every array's bits."""
    lines = ["#include %s" % '"%s"' % os.path.basename(c_file), "#include <stdio.h>",
             "#include <string.h>", "",
             "static void dump(const char *name, const float *f, size_t n)", "{",
             "    for (size_t i = 0; i < n; i++) {", "        uint32_t u;",
             "        memcpy(&u, &f[i], sizeof u);",
             '        printf("%s %08lx\\n", name, (unsigned long)u);', "    }", "}", "",
             "int main(void)", "{", '    printf("as_bytes %d\\n", m_WEIGHTS_AS_BYTES);']
    for name, count in names:
        lines.append('    dump("%s", %s.f, %s);' % (name, name, count))
    lines += ["    return 0;", "}", ""]
    return "\n".join(lines)


def repacked(w_bits, b_bits, nob, ob):
    """The dense layer's arrays as docs/codegen.md states them: the weight
    [OUT/OB][IN][OB], the bias [OUT/OB][OB], outputs past OUT zero."""
    w = np.zeros((nob * ob, IN), dtype=np.uint32)
    w[:OUT] = w_bits
    b = np.zeros(nob * ob, dtype=np.uint32)
    b[:OUT] = b_bits
    return {"weight": w.reshape(nob, ob, IN).transpose(0, 2, 1).ravel(), "bias": b}


def read_dump(text):
    got, as_bytes = {}, None
    for line in text.splitlines():
        key, value = line.split()
        if key == "as_bytes":
            as_bytes = int(value)
        else:
            got.setdefault(key, []).append(int(value, 16))
    return as_bytes, {k: np.array(v, dtype=np.uint32) for k, v in got.items()}


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: %s CNNC WORKDIR CC [CC...]" % sys.argv[0])
    cnnc, work, ccs = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "bits.cnn")
    with open(model, "w") as f:
        f.write(MODEL)
    wdir = os.path.join(work, "w")
    os.makedirs(wdir, exist_ok=True)
    bits = awkward_bits(OUT * IN + OUT)
    # The special values first in the order the model stores them (OUT <= 64: W.T).
    w_bits = np.ascontiguousarray(bits[:OUT * IN].reshape(IN, OUT).T)
    b_bits = bits[OUT * IN:]
    np.save(os.path.join(wdir, "fc.weight.npy"), w_bits.view(np.float32))
    np.save(os.path.join(wdir, "fc.bias.npy"), b_bits.view(np.float32))

    for split in (False, True):
        tag = "split" if split else "inline"
        d = os.path.join(work, tag)
        os.makedirs(d, exist_ok=True)
        c = os.path.join(d, "m.c")
        outs = []
        for again in (0, 1):
            run([cnnc, model, "--weights", wdir, "-o", c] + (["--split-weights"] if split else []))
            outs.append([open(os.path.join(d, f), "rb").read()
                         for f in ["m.c", "m.h"] + (["m_weights.c"] if split else [])])
        expect(outs[0] == outs[1], "%s: byte-identical output on two runs" % tag)
        text = open(c).read() + (open(os.path.join(d, "m_weights.c")).read() if split else "")
        layout = re.search(r"fc\.weight \[8,256\] as \[OUT/OB=(\d+)\]\[IN=256\]\[OB=(\d+)\]", text)
        expect(layout is not None, "%s: the weight's layout is stated" % tag)
        if layout is None:
            continue
        want = repacked(w_bits, b_bits, int(layout.group(1)), int(layout.group(2)))
        names = sorted(set(re.findall(r"union (m_w\d+_fc_(?:weight|bias)) \{ float f\[(\d+)\]",
                                      text)))
        expect([n for n, _ in names] == ["m_w0_fc_bias", "m_w0_fc_weight"],
               "%s: one array each for the weight and the bias" % tag)
        h = os.path.join(d, "harness.c")
        with open(h, "w") as f:  # split: the harness holds the weights' file, m.c links to it
            f.write(harness(os.path.join(d, "m_weights.c") if split else c, names))
        srcs = [h] + ([c] if split else [])
        for cc in ccs:
            for flags, as_bytes in (([], 1), (["-DCNNC_PORTABLE_WEIGHTS"], 0),
                                    (["-DCNNC_NO_VECTOR_EXT"], 1)):
                what = "%s %s %s" % (tag, cc, " ".join(flags) or "(default)")
                exe = os.path.join(d, "harness")
                run([cc] + STRICT + flags + ["-I", d] + srcs + ["-o", exe, "-lm"])
                form, got = read_dump(run([exe]))
                expect(form == as_bytes, "%s: weights as %s" % (
                    what, "one byte string" if as_bytes else "uint32_t constants"))
                for name, _ in names:
                    key = name.rsplit("_", 1)[1]
                    g, w = got.get(name, np.zeros(0, np.uint32)), want[key]
                    bad = np.flatnonzero(g != w) if g.shape == w.shape else [-1]
                    expect(len(bad) == 0, "%s: %s bit-exact (%d floats)%s" % (
                        what, key, len(w), "" if len(bad) == 0 else
                        ": first difference at %d" % bad[0]))
    if failures:
        sys.exit("%d failure(s)" % len(failures))


if __name__ == "__main__":
    main()
