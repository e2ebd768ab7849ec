#!/usr/bin/python3
"""scale.py: how cnnc's compile time grows with the number of layers.

Takes: --cnnc BINARY [--sizes 1000,10000,100000,1000000] [--work DIR]
[--layer relu|dense] [--train].
Gives: a table of the layers, then the wall and CPU seconds (user + system,
of cnnc alone: the machine may be shared) and peak RSS of `cnnc MODEL -o
OUT.c` and of `cnnc info MODEL` on a chain of relu layers (issue 17's
model: every layer aliases one buffer, so the planner, toposort, naming
and emission are what is timed), and the CPU time per layer: flat when
the passes are linear. `--layer dense` chains dense(8) layers instead:
each has its own output buffer and weights, so the packer places one
buffer per layer and every weight is initialised and emitted. `--train`
compiles the dense(8) chain, with a softmax head, as `cnnc MODEL --train`:
every activation then lives until backward reads it, so the packer places
buffers that all overlap each other.
"""
import argparse
import os
import resource
import subprocess
import time


def write_chain(path, layers, layer, head):
    with open(path, "w") as f:
        f.write("model chain {\n  input 8\n")
        for i in range(layers):
            f.write(f"  l{i}: {layer}\n")
        if head:
            f.write("  logits: dense(4)\n  softmax\n")
        f.write("}\n")


def timed(argv):
    """(wall s, cpu s, peak RSS MiB) of one run of argv."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--work", default="/tmp/cnnc_scale")
    ap.add_argument("--layer", choices=("relu", "dense"), default="relu")
    ap.add_argument("--train", action="store_true", help="a dense(8) chain compiled with --train")
    a = ap.parse_args()
    layer = "dense(8)" if a.train or a.layer == "dense" else "relu"
    train = ["--train"] if a.train else []
    os.makedirs(a.work, exist_ok=True)
    print(f"{'layers':>8} {'compile wall':>12} {'cpu':>7} {'cpu/layer us':>12} "
          f"{'info cpu':>8} {'peak MiB':>8}")
    for n in (int(s) for s in a.sizes.split(",")):
        model = os.path.join(a.work, f"chain{n}.cnn")
        write_chain(model, n, layer, a.train)
        wall, cpu, _ = timed([a.cnnc, model, *train, "-o", os.path.join(a.work, "out.c")])
        _, icpu, rss = timed([a.cnnc, "info", model])
        print(f"{n:>8} {wall:>12.2f} {cpu:>7.2f} {cpu / n * 1e6:>12.1f} {icpu:>8.2f} {rss:>8.0f}",
              flush=True)


if __name__ == "__main__":
    main()
