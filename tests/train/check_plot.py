#!/usr/bin/python3
"""check_plot.py: `train --plot FILE.svg` of a `--main --train` program on
tests/train/tiny.cnn (runtime/train_plot.c).

    check_plot.py CNNC WORKDIR

The oracle is the program's own per-epoch lines, which other tests check
against the interpreter and sklearn: the SVG must parse as XML (Python's
parser), be self-contained (no script, no reference outside the file),
hold one dot per epoch and per quantity (per fold with --kfold) whose
tooltip repeats the printed figure, and place the dots so that a higher
value is drawn higher, inside its panel. A plot that cannot be written is
an error, with no file left behind."""
import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainlib as tl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SVG = "{http://www.w3.org/2000/svg}"
EPOCH = re.compile(r"^(?:fold (\d+)/\d+, )?epoch (\d+)/\d+  loss ([0-9.]+)  train_acc ([0-9.]+)"
                   r"(?:  val_acc ([0-9.]+))?")


def printed_epochs(out):
    """[(fold, epoch, {quantity: text})] from the epoch lines, folds counted from 1."""
    rows, fold = [], 1
    for line in out.splitlines():
        m = re.match(r"^fold (\d+)/\d+: training", line)
        if m:
            fold = int(m.group(1))
        m = EPOCH.match(line)
        if m:
            q = {"loss": m.group(3), "train_acc": m.group(4)}
            if m.group(5):
                q["val_acc"] = m.group(5)
            rows.append((fold, int(m.group(2)), q))
    return rows


def plotted(path, f):
    """{(fold, quantity): [(epoch, text, cy)]}, or None if not well-formed."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        f.check(False, f"{path}: not well-formed XML: {e}")
        return None
    f.check(root.tag == SVG + "svg", f"{path}: root is {root.tag}")
    text = open(path).read()
    f.check("<script" not in text and "href" not in text and "url(" not in text,
            f"{path}: not self-contained")
    dots = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") not in ("loss", "train_acc", "val_acc"):
            continue
        fold = int(g.get("data-fold"))
        for c in g.iter(SVG + "circle"):
            m = re.match(r"^(?:fold \d+, )?epoch (\d+): (\w+) ([0-9.]+)$", c.find(SVG + "title").text)
            f.check(m and m.group(2) == g.get("class"), f"dot title {c.find(SVG + 'title').text}")
            dots.setdefault((fold, g.get("class")), []).append(
                (int(m.group(1)), m.group(3), float(c.get("cy"))))
    return dots


def check_run(prog, paths, f, name, *opts):
    svg = os.path.join(os.path.dirname(paths["x"]), name + ".svg")
    rc, out, err = tl.run(prog, "train", paths["x"], paths["y"], "--plot", svg, *opts)
    rows = printed_epochs(out)
    dots = plotted(svg, f)
    if dots is None:
        return
    want = {}
    for fold, epoch, q in rows:
        for k, v in q.items():
            want.setdefault((fold, k), []).append((epoch, v))
    got = {k: [(e, t) for e, t, _ in v] for k, v in dots.items()}
    f.check(got == want and len(rows) > 0, f"{name}: dots vs printed epochs\n  {got}\n  {want}")
    for key, v in dots.items():
        vals = np.array([float(t) for _, t, _ in v])
        ys = np.array([cy for _, _, cy in v])
        order_ok = all((vals[i] > vals[j]) == (ys[i] < ys[j]) for i in range(len(v))
                       for j in range(len(v)) if abs(vals[i] - vals[j]) > 2e-4)
        f.check(order_ok and (ys >= 50).all() and (ys <= 280).all(),
                f"{name}: {key} dots placed by value inside the panel: {list(zip(vals, ys))}")
    f.check(f"plotted {len(rows)} epochs to {svg}" in out, f"{name}: the plot is announced")


def main():
    cnnc, work = sys.argv[1], os.path.abspath(sys.argv[2])
    os.makedirs(work, exist_ok=True)
    f = tl.Failures()
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (60, 1, 4, 4)).astype(np.float32)
    y = (x[:, 0, 0, :].sum(1) > 0).astype(np.int64) + (x[:, 0, :, 0].sum(1) > 1)
    paths = {"x": os.path.join(work, "x.npy"), "y": os.path.join(work, "y.npy")}
    np.save(paths["x"], x)
    np.save(paths["y"], y)
    prog = tl.build(cnnc, os.path.join(HERE, "tiny.cnn"), work, "tiny", "--main", "--train")
    check_run(prog, paths, f, "holdout", "--epochs", "7")
    check_run(prog, paths, f, "no_val", "--epochs", "3", "--val-split", "0")
    check_run(prog, paths, f, "kfold", "--epochs", "2", "--kfold", "3")
    check_run(prog, paths, f, "one_epoch", "--epochs", "1")
    check_run(prog, paths, f, "many", "--epochs", "25", "--lr", "0.001")
    bad = os.path.join(work, "no_such_dir", "c.svg")
    rc, out, err = tl.run(prog, "train", paths["x"], paths["y"], "--plot", bad, "--epochs", "1",
                          ok=False)
    f.check(rc == 1 and err.startswith(bad + ": error: ") and not os.path.exists(bad),
            f"unwritable --plot: rc {rc} {err!r}")
    f.exit()


main()
