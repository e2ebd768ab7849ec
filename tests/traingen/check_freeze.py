#!/usr/bin/python3
"""Generated training code with --freeze-until and --train-bias-only
(tests/traingen, contract section 8).

For each MODEL and OPTIONS (a cut T, bias-only): `cnnc MODEL -o M.c --train
--main --batch 4 OPTIONS` builds with CC and the strict C99 flags (-Werror),
and `./M grad` must agree with `cnnc grad OPTIONS` (check_grad.py's
rule; the folders must hold the same files: no frozen parameter's). Then:
- the state's tensor table (P_tensors in M.c) names no frozen parameter;
- compiled to an object (-O1), every symbol holding a frozen parameter
  (the inference code's weights, P_frozen_*) sits in a read-only section
  (.rodata, or .data.rel.ro for a pointer into the inference code's array),
  and there is at least one per frozen weight (it is in flash, once);
- the graph after fusion still has the cut as a layer's output, read by
  the layer after it (cut.cnn at c1: its relu stays a layer of its own,
  where fuse-act would otherwise take it into c1).

usage: check_freeze.py CNNC OUTDIR CC SOURCE_DIR
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_grad import check, report_cases, run  # noqa: E402

# (model under SOURCE_DIR, options, its frozen weights (those with data in
# flash), the layer reading the cut in the fused graph, as --dump-ir prints it)
CASES = [
    ("examples/lenet.cnn", ["--freeze-until", "fc4"],
     ["conv1.weight", "conv2.weight", "fc3.weight", "fc4.weight"], r"fc5 = dense\(fc4\)"),
    ("tests/traingen/cut.cnn", ["--freeze-until", "c1"], ["c1.weight", "c1.bias"],
     r"r1 = relu\(c1\)"),
    ("tests/traingen/cut.cnn", ["--freeze-until", "bn1"], ["c1.weight", "bn1.weight", "bn1.bias"],
     r"c2 = conv\(bn1\)"),
    ("tests/traingen/cut.cnn", ["--train-bias-only"],
     ["c1.weight", "bn1.weight", "c2.weight", "p.weight", "fc.weight"], None),
]


def table_names(source):
    """The names in the state's tensor table of a generated file."""
    m = re.search(r"_tensors\[\d+\] = \{\n(.*?)\n\};", source, re.S)
    return re.findall(r'^\s*\{"([^"]+)"', m.group(1), re.M) if m else []


def symbol_sections(obj):
    """{symbol: section} of an object file (objdump -t)."""
    out = subprocess.run(["objdump", "-t", obj], capture_output=True, text=True, check=True).stdout
    sections = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and re.match(r"^[0-9a-f]{8,}$", parts[0]):
            sections[parts[-1]] = parts[-3]
    return sections


def check_flash(cc, stem, frozen):
    errors = []
    source = open(stem + ".c").read()
    for name in sorted(set(table_names(source)) & set(frozen)):
        errors.append("%s: frozen, but in the state's table" % name)
    run([cc, "-std=c99", "-O1", "-c", stem + ".c", "-o", stem + ".o"])
    sections = symbol_sections(stem + ".o")
    for name in frozen:
        ident = name.replace(".", "_")
        # its symbols, and the inference code's array a P_frozen_ pointer reads
        aliased = re.findall(r"_frozen_%s = (\w+)" % ident, source)
        held = {s: sec for s, sec in sections.items() if s.endswith("_" + ident) or s in aliased}
        if not held:
            errors.append("%s: no symbol holds it" % name)
        for sym, sec in held.items():
            if not sec.startswith((".rodata", ".data.rel.ro")):
                errors.append("%s: %s is in %s, not read-only" % (name, sym, sec))
    return errors


def check_cut_survives(cnnc, stem, model, cut, reader):
    """The graph after fusion: the cut is a layer's output, read as such."""
    if reader is None:
        return []
    out = run([cnnc, model, "-o", stem + "_dump.c", "--train", "--freeze-until", cut,
               "--dump-ir=fuse-residual"]).stdout
    if not re.search(r"^%s = " % re.escape(cut), out, re.M) or not re.search("^" + reader, out,
                                                                               re.M):
        return ["the cut %s is gone after fusion:\n%s" % (cut, out)]
    return []


def main(argv):
    cnnc, outdir, cc, src = argv[1:5]
    os.makedirs(outdir, exist_ok=True)

    def check_case(case):
        model, options, frozen, reader = case
        path = os.path.join(src, model)
        stem = os.path.join(outdir, os.path.basename(model).rsplit(".", 1)[0])
        return (check(cnnc, outdir, cc, False, path, extra=options) +
                check_flash(cc, stem, frozen) +
                check_cut_survives(cnnc, stem, path, options[-1], reader))
    return report_cases(CASES, lambda case: "%s %s" % (case[0], " ".join(case[1])), check_case)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
