#!/usr/bin/python3
"""Generated gradients on the single-layer matrix (tests/traingen).

Every case of tests/torch/matrix_cases.txt, framed as tests/grad's matrix
frames it (a trainable 1x1 conv, or dense, before the layer so that its
input gradient is exercised; flatten and a dense(4) head after), with the
weights gen_matrix.case_params gives (BatchNorm statistics randomised), is
compiled with `cnnc m.cnn --weights W -o tg<i>.c --name tg<i> --train
--main --batch 3`. Each file is built with strict C99 flags and -Dmain=
tg<i>_main, and GROUP of them are linked into one program behind a driver
that dispatches on the case (`./prog CASE grad IN LABELS DIR` runs the
case's own generated `grad` command), so that many prefixes link together
and the linker runs a few times, not hundreds. Each case's `grad` output
must agree with `cnnc grad` (the oracle) by traingen/check_grad.compare:
every gradient max|a - b| <= 1e-3 * max|ref| (a gradient that is exactly
zero against 1e-3 of the model's largest, times the case's input scale
xs), the loss within 1e-4, no NaN. Cases of a constant input (xs=0) are
left out and named: every gradient they reach is zero up to rounding.

usage: check_matrix.py CNNC WORKDIR CC [REGEX]
"""
import concurrent.futures
import importlib.util
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "torch"))
import check_grad as traingen  # noqa: E402  (tests/traingen: run, compare)
import gen_matrix  # noqa: E402
from oracle import write_params  # noqa: E402

# tests/grad/check_grad.py (Framed, framed_cnn), under another name than ours
_spec = importlib.util.spec_from_file_location(
    "grad_matrix", os.path.join(HERE, "..", "grad", "check_grad.py"))
grad_matrix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(grad_matrix)

GROUP = 60
BATCH = 3
FLAGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1"]

DRIVER = r"""#include <stdio.h>
#include <string.h>
%(decls)s
static const struct {
    const char *name;
    int (*main)(int, char **);
} cases[] = {
%(rows)s};

/* prog CASE COMMAND ARGS...: the case's own generated main. */
int main(int argc, char **argv)
{
    size_t i;
    for (i = 0; argc > 1 && i < sizeof cases / sizeof *cases; i++)
        if (strcmp(argv[1], cases[i].name) == 0)
            return cases[i].main(argc - 1, argv + 1);
    fprintf(stderr, "usage: %%s CASE COMMAND ARGS...\n", argv[0]);
    return 2;
}
"""


def prepare(work, index, name, case, row):
    """Writes the case's model, weights, inputs and labels into work/name."""
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(index)
    rng = np.random.default_rng(index)
    module = grad_matrix.Framed(case)
    with torch.no_grad():
        params = gen_matrix.case_params(dict(module.layers), rng)
    for part in ("pre", "head"):
        params.update({part + "." + k: v.detach().numpy()
                       for k, v in getattr(module, part).state_dict().items()})
    write_params(os.path.join(d, "weights"), params)
    with open(os.path.join(d, "m.cnn"), "w") as f:
        f.write(grad_matrix.framed_cnn(case, row))
    x = rng.standard_normal((BATCH, *case["in"])) * case.get("xs", 1) + case.get("xo", 0)
    np.save(os.path.join(d, "x.npy"), x.astype("<f4"))
    np.save(os.path.join(d, "y.npy"), rng.integers(0, 4, BATCH).astype("<i8"))
    return d


def compile_case(cnnc, cc, d, prefix):
    """cnnc then cc -c: the object file of one case."""
    src = os.path.join(d, prefix + ".c")
    traingen.run([cnnc, os.path.join(d, "m.cnn"), "--weights", os.path.join(d, "weights"),
                  "-o", src, "--name", prefix, "--train", "--main", "--batch", str(BATCH)])
    obj = os.path.join(d, prefix + ".o")
    traingen.run([cc] + FLAGS + ["-Dmain=%s_main" % prefix, "-c", src, "-o", obj])
    return obj


def oracle(cnnc, d):
    ref = os.path.join(d, "ref")
    os.makedirs(ref, exist_ok=True)
    traingen.run([cnnc, "grad", os.path.join(d, "m.cnn"), "--weights", os.path.join(d, "weights"),
                  "--input", os.path.join(d, "x.npy"), "--labels", os.path.join(d, "y.npy"),
                  "--outdir", ref])
    return ref


def build_group(cnnc, cc, work, group, first):
    """Compiles a group (two at a time) and links it; {name: error} for
    the cases that failed to compile, and the program (None if none built)."""
    failed, objs = {}, {}

    def one(k):
        name, d = group[k]
        try:
            objs[name] = compile_case(cnnc, cc, d, "tg%d" % (first + k))
        except RuntimeError as e:
            failed[name] = str(e)[:3000]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(one, range(len(group))))
    built = [(name, "tg%d" % (first + k)) for k, (name, _) in enumerate(group) if name in objs]
    if not built:
        return failed, None
    driver = os.path.join(work, "driver%d.c" % first)
    with open(driver, "w") as f:
        f.write(DRIVER % {
            "decls": "".join("int %s_main(int argc, char **argv);\n" % p for _, p in built),
            "rows": "".join('    {"%s", %s_main},\n' % (name, p) for name, p in built)})
    exe = os.path.join(work, "prog%d" % first)
    traingen.run([cc] + FLAGS + [driver] + [objs[name] for name, _ in built] + ["-o", exe, "-lm"])
    return failed, exe


def check_case(cnnc, exe, name, d, input_scale):
    ref = oracle(cnnc, d)
    got = os.path.join(d, "got")
    os.makedirs(got, exist_ok=True)
    traingen.run([exe, name, "grad", os.path.join(d, "x.npy"), os.path.join(d, "y.npy"), got])
    return traingen.compare(got, ref, input_scale)


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit(__doc__)
    cnnc, work, cc = argv[1:4]
    warnings.simplefilter("ignore")
    cases = gen_matrix.load_cases(argv[4] if len(argv) > 4 else None)
    constant = [name for name, case, _ in cases if case.get("xs", 1) == 0]
    if constant:  # the frame's conv of a constant input is a constant plane:
        # its gradients vanish in exact arithmetic, leaving rounding to compare
        print("left out, a constant input (xs=0): " + " ".join(constant))
    cases = [c for c in cases if c[0] not in constant]
    os.makedirs(work, exist_ok=True)
    prepared = [(name, prepare(work, int(name.split("_")[0]), name, case, row))
                for name, case, row in cases]
    rows = {name: row for name, _, row in cases}
    input_scales = {name: case.get("xs", 1) for name, case, _ in cases}
    bad = 0
    for first in range(0, len(prepared), GROUP):
        group = prepared[first:first + GROUP]
        try:
            failed, exe = build_group(cnnc, cc, work, group, first)
        except RuntimeError as e:
            failed, exe = {name: "link: " + str(e)[:3000] for name, _ in group}, None
        for name, d in group:
            errors = [failed[name]] if name in failed else []
            if not errors:
                try:
                    errors = check_case(cnnc, exe, name, d, input_scales[name])
                except RuntimeError as e:
                    errors = [str(e)[:3000]]
            if errors:
                bad += 1
                print("FAIL %s: %s" % (name, rows[name]))
                for e in errors:
                    print("    " + e)
    print("%d of %d matrix cases failed" % (bad, len(prepared)))
    return 1 if bad or not prepared else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
