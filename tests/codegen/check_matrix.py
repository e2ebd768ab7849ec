#!/usr/bin/python3
"""Generated vs interpreted on the single-layer matrix (tests/codegen).

gen_matrix.py (tests/torch) writes every case as NAME.cnn, NAME.weights/
and NAME.input.npy (2 samples). Each case is compiled with
`cnnc NAME.cnn --weights NAME.weights -o c_NAME.c --name c<i> --batch B`
(B = 1 for odd cases, so 2 samples run in chunks; 2 for even ones); the
cases are linked, GROUP at a time, into one program with a generated
driver, so that the C compiler runs a few times, not hundreds (and many
prefixes in one program show that generated files link together). The
driver runs each case on its input batch (2 samples) and on its first
sample alone; both must agree with `cnnc run` (the oracle) within
max|a - b| <= 1e-4 * max|ref| (contract, section 6). With --int8 every
case is quantized (`--int8 --calib NAME.input.npy`). Where every layer of
the quantized program computes in integers (`cnnc info --int8` lists none
as "float"), both must agree bit for bit (contract, section 7). A layer
without an int8 form stays float, and its generated code may differ from
the interpreter in the last float bits (summation order, vector lanes);
a following quantize can turn that into a neighbouring integer. So where
`cnnc info --int8` lists a layer computing in float, the output may differ
by one quantization step of the scale it is dequantized from (the last
layer's input scale), on top of the float tolerance above; where the last
layer itself computes in float, by the float tolerance alone. The rule
reads the compiler's own table, so rows added to the matrix later follow it.

usage: check_matrix.py CNNC SOURCE_DIR WORKDIR CC [--int8] [--need-cpu FLAG] [--cnnc=OPT...]
       [-FLAG...] [REGEX]
(--cnnc=OPT goes to cnnc, e.g. --cnnc=--target=cortex-m4 for the scalar kernels of
the microcontroller profiles; other -options go to the C compiler: -DCNNC_NO_VECTOR_EXT tests the plain C path,
-march=native with --need-cpu avx512f the 16-float one, skipped with exit
code 77 where /proc/cpuinfo lacks the flag)
"""
import os
import re
import subprocess
import sys

import numpy as np

from check_examples import skip_unless_cpu  # same folder

GROUP = 60
STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1"]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


DRIVER_HEAD = r"""#include <stdio.h>
#include <stdlib.h>
%(includes)s
typedef void (*Forward)(void *, const float *, float *, int);
static const struct {
    const char *name;
    Forward forward;
    size_t in, out, arena;
    int batch_max;
} cases[] = {
%(rows)s};

static float *slurp(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    long size;
    float *p;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)size + 4);
    *count = fread(p, 1, (size_t)size, f) / sizeof(float);
    fclose(f);
    return p;
}

static int save(const char *path, const float *p, size_t count)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, sizeof *p, count, f) == count;
    if (f)
        fclose(f);
    return ok ? 0 : 1;
}

/* Runs n samples in chunks of at most batch_max, as a caller must. */
static void run(int c, void *arena, const float *in, float *out, size_t n)
{
    size_t i;
    for (i = 0; i < n; i += (size_t)cases[c].batch_max) {
        size_t k = n - i < (size_t)cases[c].batch_max ? n - i : (size_t)cases[c].batch_max;
        cases[c].forward(arena, in + i * cases[c].in, out + i * cases[c].out, (int)k);
    }
}

int main(int argc, char **argv)
{
    size_t c;
    int rc = 0;
    char path[4096];
    (void)argc;
    for (c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t count, n;
        float *in, *out;
        void *arena;
        snprintf(path, sizeof path, "%%s/%%s.in.raw", argv[1], cases[c].name);
        in = slurp(path, &count);
        if (!in)
            return 1;
        n = count / cases[c].in;
        out = malloc(n * cases[c].out * sizeof *out + 4);
        arena = malloc(cases[c].arena + 64);
        run((int)c, arena, in, out, n);
        snprintf(path, sizeof path, "%%s/%%s.out.raw", argv[1], cases[c].name);
        rc |= save(path, out, n * cases[c].out);
        run((int)c, arena, in, out, 1);
        snprintf(path, sizeof path, "%%s/%%s.out1.raw", argv[1], cases[c].name);
        rc |= save(path, out, cases[c].out);
        free(arena);
        free(out);
        free(in);
    }
    return rc;
}
"""


def quant_options(int8, case_dir, name):
    return ["--int8", "--calib", os.path.join(case_dir, name + ".input.npy")] if int8 else []


def build_group(cnnc, cc, defines, int8, work, cases, first, cnnc_flags):
    includes, rows, sources = [], [], []
    for i, (name, case_dir) in enumerate(cases):
        p = "c%d" % (first + i)
        out_c = os.path.join(work, "%s.c" % p)
        batch = "1" if (first + i) % 2 else "2"
        run([cnnc, os.path.join(case_dir, name + ".cnn"), "--weights",
             os.path.join(case_dir, name + ".weights"), "-o", out_c, "--name", p,
             "--batch", batch] + cnnc_flags + quant_options(int8, case_dir, name))
        includes.append('#include "%s.h"' % p)
        rows.append('    {"%s", %s_forward, %s_INPUT_SIZE, %s_OUTPUT_SIZE, %s_ARENA_BYTES, '
                    '%s_BATCH_MAX},\n' % (name, p, p, p, p, p))
        sources.append(out_c)
    driver = os.path.join(work, "driver%d.c" % first)
    with open(driver, "w") as f:
        f.write(DRIVER_HEAD % {"includes": "\n".join(includes), "rows": "".join(rows)})
    exe = os.path.join(work, "driver%d" % first)
    run([cc] + STRICT + defines + [driver] + sources + ["-o", exe, "-lm"])
    run([exe, work])


def int8_step(cnnc, case_dir, name):
    """None if every layer of NAME's int8 program computes in integers (bit
    for bit); else the output's quantization step (0.0 when the output is
    computed in float), read from `cnnc info --int8`'s table."""
    r = run([cnnc, "info", os.path.join(case_dir, name + ".cnn"), "--weights",
             os.path.join(case_dir, name + ".weights")] + quant_options(True, case_dir, name))
    lines = r.stdout.split("\n")
    head = next((i for i, line in enumerate(lines)
                 if line.startswith("layer ") and "computes" in line), None)
    rows = []
    for line in lines[head + 1:] if head is not None else []:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) < 5:
            break
        rows.append(cells)
    if not rows:
        raise RuntimeError("cnnc info --int8 on %s: no layer table" % name)
    if all(cells[2] != "float" for cells in rows):
        return None
    last_in, last_out = rows[-1][3], rows[-1][4]
    if last_out == "float" and last_in != "float":
        return float(last_in.split()[0]) * 1.001  # printed to 4 digits
    return 0.0


def compare(cnnc, int8, work, name, case_dir):
    ref_path = os.path.join(work, name + ".ref.npy")
    run([cnnc, "run", os.path.join(case_dir, name + ".cnn"), "--weights",
         os.path.join(case_dir, name + ".weights"), "--input",
         os.path.join(case_dir, name + ".input.npy"), "--output", ref_path]
        + quant_options(int8, case_dir, name))
    ref = np.load(ref_path)
    step = int8_step(cnnc, case_dir, name) if int8 else None
    problems = []
    for suffix, want in ((".out.raw", ref), (".out1.raw", ref[:1])):
        got = np.fromfile(os.path.join(work, name + suffix), dtype="<f4")
        if got.size != want.size:
            problems.append("%s: %d values, expected %d" % (suffix, got.size, want.size))
            continue
        got = got.reshape(want.shape)
        err, scale = np.abs(got - want).max(), np.abs(want).max()
        if int8 and step is None and not np.array_equal(got, want):
            problems.append("batch %d: %d values differ (int8: bit for bit)"
                            % (len(want), int((got != want).sum())))
        elif np.isnan(got).any() or np.isnan(want).any() or err > 1e-4 * scale + (step or 0):
            problems.append("batch %d: max|a-b| = %g, max|ref| = %g, step %g"
                            % (len(want), err, scale, step or 0))
    return problems


def main():
    cnnc, src, work, cc = sys.argv[1:5]
    args = sys.argv[5:]
    int8 = "--int8" in args
    args = [a for a in args if a != "--int8"]
    skip_unless_cpu(args)
    cnnc_flags = [a[len("--cnnc="):] for a in args if a.startswith("--cnnc=")]
    defines = [a for a in args if a.startswith("-") and not a.startswith("--cnnc=")]
    rest = [a for a in args if not a.startswith("-")]
    regex = re.compile(rest[0]) if rest else None
    case_dir = os.path.join(work, "cases")
    os.makedirs(case_dir, exist_ok=True)
    gen = [sys.executable, os.path.join(src, "tests", "torch", "gen_matrix.py"), case_dir]
    run(gen + ([rest[0]] if regex else []))
    names = []
    with open(os.path.join(case_dir, "cases.txt")) as f:
        for line in f:
            name = line.split()[0]
            if not regex or regex.search(line):  # as gen_matrix: the name and the row
                names.append(name)
    for name in names:
        x = np.load(os.path.join(case_dir, name + ".input.npy"))
        x.astype("<f4").tofile(os.path.join(work, name + ".in.raw"))
    failures = []
    for first in range(0, len(names), GROUP):
        group = [(n, case_dir) for n in names[first:first + GROUP]]
        try:
            build_group(cnnc, cc, defines, int8, work, group, first, cnnc_flags)
        except RuntimeError as e:
            failures.append("group at %s: %s" % (names[first], str(e)[:3000]))
            continue
        for name, _ in group:
            for p in compare(cnnc, int8, work, name, case_dir):
                failures.append("%s: %s" % (name, p))
    for f in failures:
        print("FAIL:", f)
    print("%d cases, %d failures" % (len(names), len(failures)))
    sys.exit(1 if failures or not names else 0)


if __name__ == "__main__":
    main()
