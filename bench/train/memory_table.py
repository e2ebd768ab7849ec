#!/usr/bin/python3
"""memory_table.py: the training memory of every example, before and after.

usage: /usr/bin/python3 bench/train/memory_table.py [--cnnc PATH]
           [--old-cnnc PATH | --old-commit REV] [--batch N] [--markdown]

For each examples/*.cnn and examples/digits/digits.cnn, compiles the model
with `--train --batch N` (default 1: a microcontroller's step) for plain
SGD (`--optimizer sgd --momentum 0`), SGD with momentum (`--momentum 0.9`)
and Adam (`--optimizer adam`), and reads the two blocks the caller
provides from the generated header: the state (<P>_TRAIN_STATE_BYTES) and
the train arena (<P>_TRAIN_ARENA_BYTES). The same with an older cnnc gives
the "before" columns: --old-cnnc PATH, or --old-commit REV, which builds
that commit's cnnc in a temporary git worktree (removed afterwards).
Prints one row per model and optimizer: state, arena and their total,
before and after, and after/before of the total (--markdown: a table for
docs/training.md). `cnnc info --target cortex-m4 --train` adds the stack
and the model's own data to these (ram_train_bytes)."""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OPTIMIZERS = [("sgd", ["--optimizer", "sgd", "--momentum", "0"]),
              ("momentum", ["--optimizer", "sgd", "--momentum", "0.9"]),
              ("adam", ["--optimizer", "adam"])]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                       r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def blocks(cnnc, model, flags, batch, work):
    """(state, arena) bytes of `model` compiled by `cnnc` with `flags`."""
    out = os.path.join(work, "m.c")
    run([cnnc, model, "-o", out, "--name", "m", "--train", "--batch", str(batch)] + flags)
    text = open(os.path.join(work, "m.h")).read()
    get = lambda name: int(re.search(r"^#define m_%s (\d+)" % name, text, re.M).group(1))
    return get("TRAIN_STATE_BYTES"), get("TRAIN_ARENA_BYTES")


def build_old(rev, tmp):
    """cnnc built from commit `rev` in a temporary worktree under tmp."""
    tree = os.path.join(tmp, "old")
    run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, rev])
    build = os.path.join(tree, "build")
    run(["cmake", "-S", tree, "-B", build, "-DCMAKE_BUILD_TYPE=Release"])
    run(["nice", "cmake", "--build", build, "-j2", "--target", "cnnc"])
    return tree, os.path.join(build, "cnnc")


def models():
    found = sorted(glob.glob(os.path.join(ROOT, "examples", "*.cnn")))
    return found + [os.path.join(ROOT, "examples", "digits", "digits.cnn")]


def table(new, old, batch, work):
    rows = []
    for model in models():
        name = os.path.splitext(os.path.basename(model))[0]
        for opt, flags in OPTIMIZERS:
            after = blocks(new, model, flags, batch, work)
            before = blocks(old, model, flags, batch, work) if old else None
            rows.append((name, opt, before, after))
    return rows


def kib(n):
    return "%.1f" % (n / 1024.0)


def print_rows(rows, batch, markdown):
    head = ["model", "optimizer", "state before", "arena before", "total before",
            "state after", "arena after", "total after", "after/before"]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print("KiB, --train --batch %d" % batch)
        print("%-22s %-9s" % tuple(head[:2]) + "".join("%14s" % h for h in head[2:]))
    for name, opt, before, after in rows:
        b = [kib(before[0]), kib(before[1]), kib(sum(before))] if before else ["-"] * 3
        a = [kib(after[0]), kib(after[1]), kib(sum(after))]
        ratio = "%.2f" % (sum(after) / sum(before)) if before else "-"
        cells = [name, opt] + b + a + [ratio]
        if markdown:
            print("| " + " | ".join(cells) + " |")
        else:
            print("%-22s %-9s" % tuple(cells[:2]) + "".join("%14s" % c for c in cells[2:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", default=os.path.join(ROOT, "build", "cnnc"))
    ap.add_argument("--old-cnnc")
    ap.add_argument("--old-commit")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree, old = None, args.old_cnnc
        try:
            if args.old_commit:
                tree, old = build_old(args.old_commit, tmp)
            rows = table(args.cnnc, old, args.batch, tmp)
        finally:
            if tree:
                run(["git", "-C", ROOT, "worktree", "remove", "--force", tree])
    print_rows(rows, args.batch, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
