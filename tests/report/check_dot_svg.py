#!/usr/bin/python3
"""check_dot_svg.py: `cnnc info MODEL --dot FILE --dot-format svg`.

Usage: check_dot_svg.py CNNC SRCDIR WORKDIR

The oracle is cnnc's own DOT text (`--dot -`, tested by the fusion goldens)
and Python's XML parser: the SVG must be well-formed and hold one node per
DOT node and one edge per DOT edge (Graphviz titles them with the DOT ids).
Without Graphviz on PATH the command must fail with an error naming it and
leave no file; usage errors exit 2. Every failure is listed."""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

CNNC, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
SVG = "{http://www.w3.org/2000/svg}"
failures = []


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())
    return ok


def cnnc(*args, env=None):
    return subprocess.run([CNNC, *args], capture_output=True, text=True, timeout=120, env=env)


def svg_titles(text):
    root = ET.fromstring(text)
    return {g.get("class"): sorted(t.find(SVG + "title").text for t in root.iter(SVG + "g")
                                   if t.get("class") == g.get("class"))
            for g in root.iter(SVG + "g") if g.get("class") in ("node", "edge")}


def dot_ids(text):
    nodes = sorted(set(re.findall(r"^\s*(\w+) \[", text, re.M)) - {"graph", "node", "edge"})
    edges = sorted(f"{a}->{b}" for a, b in re.findall(r"^\s*(\w+) -> (\w+)", text, re.M))
    return nodes, edges


def main():
    os.makedirs(WORK, exist_ok=True)
    model = os.path.join(SRC, "examples/inception_mini.cnn")
    p = cnnc("info", model, "--dot", "-")
    nodes, edges = dot_ids(p.stdout[p.stdout.index("digraph"):])
    out = os.path.join(WORK, "g.svg")
    p = cnnc("info", model, "--dot", out, "--dot-format", "svg")
    if check(p.returncode == 0 and os.path.exists(out), "--dot-format svg", p.stderr):
        try:
            t = svg_titles(open(out).read())
            check(t.get("node") == nodes and t.get("edge") == edges and len(edges) > 5,
                  "the SVG's nodes and edges are the DOT text's", f"{t} vs {nodes} {edges}")
        except ET.ParseError as e:
            check(False, "the SVG is well-formed XML", str(e))
    p = cnnc("info", model, "--dot", "-", "--dot-format", "svg")
    check(p.returncode == 0 and "parameters:" in p.stdout
          and p.stdout.index("parameters:") < p.stdout.index("<svg"),
          "--dot - --dot-format svg: the table, then the SVG", p.stderr)
    check(cnnc("info", model, "--dot", out, "--dot-format", "dot").stdout.count("digraph") == 0
          and open(out).read().startswith("digraph"), "--dot-format dot writes DOT text")
    empty = os.path.join(WORK, "empty_path")
    os.makedirs(empty, exist_ok=True)
    nodot = os.path.join(WORK, "nodot.svg")
    p = cnnc("info", model, "--dot", nodot, "--dot-format", "svg", env={"PATH": empty})
    check(p.returncode == 1 and re.search(r"^cnnc: error: .*'dot'.*install graphviz", p.stderr, re.M)
          and not os.path.exists(nodot) and not os.path.exists(nodot + ".tmp-cnnc"),
          "no Graphviz: a clear error, no file", p.stderr)
    bad = os.path.join(WORK, "no_such_dir", "g.svg")
    p = cnnc("info", model, "--dot", bad, "--dot-format", "svg")
    check(p.returncode == 1 and p.stderr.startswith(f"{bad}: error: cannot write"),
          "unwritable FILE", p.stderr)
    for args in (["--dot", out, "--dot-format", "png"], ["--dot-format", "svg"]):
        p = cnnc("info", model, *args)
        check(p.returncode == 2 and p.stderr.startswith("cnnc: error: --dot-format"),
              f"usage error for {args}", p.stderr)
    for f in failures:
        print("FAIL:", f)
    print(f"check_dot_svg: {len(failures)} failure(s)")
    return 1 if failures else 0


sys.exit(main())
