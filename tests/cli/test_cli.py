#!/usr/bin/python3
"""test_cli.py: the cnnc command line against the contract (sections 1, 2, 4, 5).

Usage: test_cli.py CNNC TESTDIR   (TESTDIR holds lenet.cnn and bn.cnn)

Checks --help/--version, that every usage error exits 2 with `cnnc: error:`
and a hint, `cnnc info` against the course's hand-counted LeNet table,
`run` against PyTorch (an independent forward pass on the weights cnnc
exports), that bad inputs give `FILE: error:`, a non-zero exit and no
output file, and the weights folder round trip. Every failure is listed;
the exit status is 1 if there was any.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

CNNC, TESTDIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
LENET = os.path.join(TESTDIR, "lenet.cnn")
BN = os.path.join(TESTDIR, "bn.cnn")
failures = []


def cnnc(*args, cwd=None):
    p = subprocess.run([CNNC, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    return p.returncode, p.stdout, p.stderr


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())


def expect_usage_error(args, needle):
    rc, out, err = cnnc(*args)
    first = err.splitlines()[0] if err else ""
    check(rc == 2 and first.startswith("cnnc: error: ") and needle in first
          and "cnnc --help" in err,
          f"usage error for {args}", f"rc={rc} stderr={err!r}")


def expect_file_error(args, path, needle, cwd):
    """An error whose first line is `PATH: error: ...` and a non-zero exit."""
    rc, out, err = cnnc(*args, cwd=cwd)
    first = err.splitlines()[0] if err else ""
    check(rc == 1 and first.startswith(f"{path}: error: ") and needle in first,
          f"file error for {args}", f"rc={rc} stderr={err!r}")


def test_help_version():
    rc, out, err = cnnc("--version")
    check(rc == 0 and out == "cnnc 0.1.0\n" and err == "", "--version", repr(out))
    for args in (["--help"], ["help"], ["run", "--help"], [LENET, "-h"]):
        rc, out, err = cnnc(*args)
        check(rc == 0 and out.startswith("usage: cnnc MODEL -o OUT.c")
              and "cnnc run MODEL --input IN.npy" in out and "--dump-ir=PASS" in out,
              f"help via {args}", out[:200])


def test_usage_errors():
    expect_usage_error([], "no model given")
    expect_usage_error([LENET], "missing -o OUT.c")
    expect_usage_error([LENET, "-o"], "option '-o' needs a value")
    expect_usage_error([LENET, "-o", "x.c", "--frobnicate"], "unknown option '--frobnicate'")
    expect_usage_error([LENET, "-o", "x.c", "-x"], "unknown option '-x'")
    for bad in ("0", "abc", "-3", "4x", "", "99999999999999999999", "1000001"):
        expect_usage_error([LENET, "-o", "x.c", "--batch", bad], "--batch needs a whole number")
    expect_usage_error([LENET, "-o", "x.c", "--batch=0"], "--batch needs a whole number")
    expect_usage_error([LENET, "-o", "x.txt"], "must be a .c file")
    expect_usage_error([LENET, "-o", "x.c", "--name", "9lives"], "not a C identifier")
    expect_usage_error([LENET, "-o", "x.c", "--name", "a-b"], "not a C identifier")
    expect_usage_error([LENET, "-o", "x.c", "--main=yes"], "takes no value")
    expect_usage_error([LENET, "-o", "x.c", "--dump-ir=nosuch"], "unknown pass 'nosuch'")
    expect_usage_error([LENET, "-o", "x.c", "--split-weights", "--weights-blob", "b"],
                       "exclude each other")
    expect_usage_error([LENET, LENET, "-o", "x.c"], "more than one model")
    expect_usage_error([LENET, "-o", "x.c", "--fuse-blocks", "--target", "cortex-m4"],
                       "--fuse-blocks needs --int8 and a Cortex-M --target, or a float build for the host")
    expect_usage_error([LENET, "-o", "x.c", "--fuse-blocks", "--int8", "--calib", "c.npy",
                        "--target", "host"], "--fuse-blocks needs --int8 and a Cortex-M")
    expect_usage_error([LENET, "-o", "x.c", "--fuse-blocks", "--train"],
                       "--fuse-blocks needs --int8 and a Cortex-M")
    for bad in ("1", "0", "x", "1025"):
        expect_usage_error([LENET, "-o", "x.c", "--patch", bad], "--patch needs a whole number")
    expect_usage_error([LENET, "-o", "x.c", "--patch", "2", "--train"], "--patch and --train exclude")
    expect_usage_error(["info", LENET, "--main"], "does not apply to 'cnnc info'")
    expect_usage_error(["run", LENET, "--output", "y.npy"], "needs --input")
    expect_usage_error(["run", LENET, "--input", "x.npy"], "needs --output")
    expect_usage_error(["grad", LENET, "--input", "x.npy", "--outdir", "d"], "needs --labels")
    expect_usage_error(["weights", LENET], "needs --outdir")
    expect_usage_error(["info"], "no model given")


# The course's LeNet table (course-examples.md), by hand: shape, size,
# parameters, and MACs per sample = output elements * (C_in*k*k or inputs).
LENET_ROWS = {
    "input": ("3x32x32", 3072, 0, 0),
    "conv1": ("8x28x28", 6272, 608, 6272 * 75),
    "pool1": ("8x14x14", 1568, 0, None),
    "conv2": ("16x10x10", 1600, 3216, 1600 * 200),
    "pool2": ("16x5x5", 400, 0, None),
    "fc3": ("120", 120, 48120, 48000),
    "fc4": ("84", 84, 10164, 10080),
    "fc5": ("10", 10, 850, 840),
}


def test_info():
    rc, out, err = cnnc("info", LENET)
    check(rc == 0 and err == "", "info lenet exit", err)
    lines = out.splitlines()
    check("parameters: 62958" in lines, "info: parameters: 62958", out)
    check("macs: 849320" in lines, "info: macs: 849320 (470400 + 320000 + 48000 + 10080 + 840)",
          out)
    # The static plan: conv1's 8x28x28 and pool1's 8x14x14 are live together
    # (25088 + 6272 bytes), the largest set live at once.
    check("arena_bytes: 31360" in lines and "arena_lower_bound_bytes: 31360" in lines,
          "info: arena 31360 bytes = conv1 25088 + pool1 6272, at the lower bound", out)
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    for name, (shape, size, params, macs) in LENET_ROWS.items():
        row = rows.get(name, [])
        ok = len(row) == 6 and row[2] == shape and int(row[3]) == size and int(row[4]) == params
        ok = ok and (macs is None or int(row[5]) == macs)
        check(ok, f"info row {name}", repr(row))
    # an aligned table: every row as wide as the heading line
    start = next((i for i, line in enumerate(lines) if line.startswith("layer ")), len(lines))
    table = lines[start:lines.index("", start) if "" in lines[start:] else len(lines)]
    check(len(table) == 12, "info: heading, input and 10 layers", "\n".join(table))
    check(len({len(line) for line in table}) == 1, "info table is aligned", "\n".join(table))
    # BatchNorm counts gamma and beta (PyTorch's parameters()), not its
    # running statistics: conv 4*3*3*3 = 108 (no bias), bn 8, dense 144*2+2.
    rc, out, err = cnnc("info", BN)
    check(rc == 0 and "parameters: 406" in out.splitlines(), "info bn: parameters: 406", out + err)


def test_dump_ir():
    rc, out, err = cnnc("info", LENET, "--dump-ir=parse")
    check(rc == 0 and out.startswith("model lenet\n") and "\nconv1 = conv(" in out,
          "--dump-ir=parse prints the graph first", out[:300])
    rc, out, err = cnnc("info", LENET, "--dump-ir", "shape")
    check(rc == 0 and re.search(r"^conv1 = conv\(.*-> 8x28x28$", out, re.M),
          "--dump-ir shape shows inferred shapes", out[:400])


def test_dump_every_step(tmp):
    """Every step --help lists dumps in a compile; the plan's arena is the
    header's, and two activations whose lifetimes overlap never share bytes
    (LeNet: conv1's output is pool1's input)."""
    rc, out, err = cnnc("--help")
    steps = re.search(r"the steps:((?: [a-z-]+)+)", out).group(1).split()
    check(steps[0] == "parse" and "plan" in steps and steps[-1] == "emit", "pipeline steps", steps)
    for step in steps:
        rc, out, err = cnnc(LENET, "-o", os.path.join(tmp, "d.c"), f"--dump-ir={step}")
        check(rc == 0 and out.strip(), f"--dump-ir={step}", f"rc={rc} {err[:300]}")
        if step == "plan":
            arena = int(re.search(r"^plan lenet: arena (\d+) bytes", out, re.M).group(1))
            at = {m[0]: (int(m[2]), int(np.prod([int(d) for d in m[1].split("x")]))) for m in
                  re.findall(r"^(\w+): ([0-9x]+) at (\d+)$", out, re.M)}
            header = open(os.path.join(tmp, "d.h")).read()
            check(f"#define d_ARENA_BYTES {arena} " in header, "plan dump's arena is the header's",
                  arena)
            (c1, c1n), (p1, p1n) = at["conv1"], at["pool1"]
            check(p1 >= c1 + c1n or c1 >= p1 + p1n, "conv1 and pool1 apart", at)
        if step == "emit":
            check("void d_forward(void *arena" in out, "--dump-ir=emit prints OUT.h", out[:300])


def test_limits(tmp):
    """--max-layers / --max-params refuse a model over them, writing nothing;
    lenet.cnn has 10 layers (nodes) and 62958 parameters (its docstring)."""
    for opt in ("--max-layers", "--max-params"):
        for bad in ("0", "-1", "x", ""):
            expect_usage_error([LENET, "-o", "x.c", opt, bad], f"{opt} needs a whole number")
    out = os.path.join(tmp, "limited.c")
    expect_file_error([LENET, "-o", out, "--max-params", "62957"], LENET,
                      "has 62958 parameters, more than --max-params 62957", tmp)
    check(not os.path.exists(out), "nothing written over --max-params")
    rc, _, err = cnnc("info", LENET, "--max-params", "62958")
    check(rc == 0, "a model at --max-params passes", err)
    rc, text, _ = cnnc("info", LENET, "--dump-ir=parse")
    check(rc == 0 and "conv1 = conv(input)" in text, "dump after parse", text[:200])
    layers = sum(1 for line in text.splitlines() if re.match(r"\S+ = ", line))
    expect_file_error(["run", LENET, "--input", "x.npy", "--output", "y.npy", "--max-layers",
                       str(layers - 1)], LENET,
                      f"has {layers} layers, more than --max-layers {layers - 1}", tmp)
    rc, _, err = cnnc("info", LENET, "--max-layers", str(layers))
    check(rc == 0, "a model at --max-layers passes", err)


def test_model_errors(tmp):
    expect_file_error(["info", "nosuch.cnn"], "nosuch.cnn", "", tmp)
    with open(os.path.join(tmp, "model.txt"), "w") as f:
        f.write("model m { input 3 }\n")
    expect_file_error(["info", "model.txt"], "model.txt", "unknown model format", tmp)


def lenet_torch(wdir, x, logits=False, w=None):
    """LeNet forward in PyTorch with the weights cnnc exported."""
    import torch
    import torch.nn.functional as F
    if w is None:
        w = {n[:-4]: torch.from_numpy(np.load(os.path.join(wdir, n)))
             for n in os.listdir(wdir) if n.endswith(".npy")}
    h = torch.from_numpy(x)
    h = F.max_pool2d(F.conv2d(h, w["conv1.weight"], w["conv1.bias"]), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w["conv2.weight"], w["conv2.bias"])), 2, 2)
    h = h.flatten(1)
    h = F.relu(F.linear(h, w["fc3.weight"], w["fc3.bias"]))
    h = F.relu(F.linear(h, w["fc4.weight"], w["fc4.bias"]))
    z = F.linear(h, w["fc5.weight"], w["fc5.bias"])
    return z if logits else F.softmax(z, dim=1).numpy()


def agree(a, ref, rtol=1e-4):
    return a.shape == ref.shape and not np.isnan(a).any() and \
        np.abs(a - ref).max() <= rtol * np.abs(ref).max()


def test_run_and_weights(tmp):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 32, 32)).astype("<f4")
    np.save(os.path.join(tmp, "x.npy"), x)
    rc, out, err = cnnc("weights", LENET, "--outdir", "w/deep", cwd=tmp)
    wdir = os.path.join(tmp, "w", "deep")
    names = sorted(os.listdir(wdir)) if os.path.isdir(wdir) else []
    want = sorted(f"{l}.{p}.npy" for l in ("conv1", "conv2", "fc3", "fc4", "fc5")
                  for p in ("weight", "bias"))
    check(rc == 0 and names == want, "weights writes every parameter (mkdir -p)", f"{err} {names}")
    if names != want:
        return
    check(np.load(os.path.join(wdir, "conv1.weight.npy")).shape == (8, 3, 5, 5)
          and np.load(os.path.join(wdir, "fc3.weight.npy")).shape == (120, 400),
          "weights in PyTorch's shapes")

    rc, out, err = cnnc("run", LENET, "--input", "x.npy", "--output", "y.npy", cwd=tmp)
    check(rc == 0 and err == "", "run lenet", err)
    y = np.load(os.path.join(tmp, "y.npy"))
    check(agree(y, lenet_torch(wdir, x)), "run agrees with PyTorch on the exported weights",
          f"shape {y.shape}")
    check(not os.path.exists(os.path.join(tmp, "y.npy.tmp")), "run leaves no temporary file")

    # The round trip: the same weights give the same bytes; changed ones are used.
    rc, out, err = cnnc("run", LENET, "--input", "x.npy", "--output", "y2.npy",
                        "--weights", "w/deep", cwd=tmp)
    same = open(os.path.join(tmp, "y.npy"), "rb").read() == \
        open(os.path.join(tmp, "y2.npy"), "rb").read()
    check(rc == 0 and same, "run --weights of exported weights gives identical output", err)
    fc5 = os.path.join(wdir, "fc5.weight.npy")
    np.save(fc5, np.load(fc5) * 3)
    rc, out, err = cnnc("run", LENET, "--input", "x.npy", "--output", "y3.npy",
                        "--weights", "w/deep", cwd=tmp)
    y3 = np.load(os.path.join(tmp, "y3.npy"))
    check(rc == 0 and agree(y3, lenet_torch(wdir, x)) and not np.allclose(y3, y),
          "run --weights uses the files' values")
    rc, out, err = cnnc("weights", LENET, "--weights", "w/deep", "--outdir", "w2", cwd=tmp)
    check(rc == 0 and open(fc5, "rb").read() ==
          open(os.path.join(tmp, "w2", "fc5.weight.npy"), "rb").read(),
          "weights --weights copies the folder exactly")

    # Broken weights folders: errors naming the file; an extra file only warns.
    np.save(os.path.join(wdir, "notes.npy"), np.zeros(3, "<f4"))
    rc, out, err = cnnc("info", LENET, "--weights", "w/deep", cwd=tmp)
    check(rc == 0 and err.startswith("w/deep/notes.npy: warning: "), "extra weights file warns",
          err)
    os.remove(os.path.join(wdir, "fc4.bias.npy"))
    np.save(os.path.join(wdir, "conv1.weight.npy"), np.zeros((8, 3, 5, 4), "<f4"))
    rc, out, err = cnnc("run", LENET, "--input", "x.npy", "--output", "y4.npy",
                        "--weights", "w/deep", cwd=tmp)
    check(rc == 1 and re.search(r"^w/deep/conv1\.weight\.npy: error: shape \(8, 3, 5, 4\) "
                                r"does not match parameter 'conv1.weight' of shape \(8, 3, 5, 5\)",
                                err, re.M)
          and re.search(r"^w/deep/fc4\.bias\.npy: error: .*'fc4.bias'", err, re.M)
          and not os.path.exists(os.path.join(tmp, "y4.npy")),
          "misshaped and missing weights files are errors naming them", err)
    expect_file_error(["run", LENET, "--input", "x.npy", "--output", "y4.npy",
                       "--weights", "nowhere"], "nowhere", "", tmp)


def test_grad(tmp):
    """cnnc grad against PyTorch autograd: LeNet ends in softmax, so the loss
    is the cross-entropy of fc5's output as logits (contract, section 2)."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 32, 32)).astype("<f4")
    y = np.array([0, 9, 3, 3, 7, 1], "<i8")
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), y)
    np.save(os.path.join(tmp, "y4.npy"), y.astype("<i4"))
    rc, out, err = cnnc("weights", LENET, "--outdir", "w", cwd=tmp)
    rc, out, err = cnnc("grad", LENET, "--input", "x.npy", "--labels", "y.npy",
                        "--outdir", "g/1", "--weights", "w", cwd=tmp)
    check(rc == 0 and err == "", "grad lenet", err)
    if rc != 0:
        return
    w = {n[:-4]: torch.from_numpy(np.load(os.path.join(tmp, "w", n))).requires_grad_()
         for n in os.listdir(os.path.join(tmp, "w"))}
    loss = F.cross_entropy(lenet_torch(None, x, logits=True, w=w), torch.from_numpy(y))
    loss.backward()
    got = np.load(os.path.join(tmp, "g", "1", "loss.npy"))
    check(got.shape == () and got.dtype == np.float32 and abs(got - loss.item()) <= 1e-4 * loss.item(),
          "grad: loss.npy is 0-d and matches PyTorch", f"{got!r} vs {loss.item()}")
    names = sorted(os.listdir(os.path.join(tmp, "g", "1")))
    check(names == sorted(["loss.npy"] + [n + ".npy" for n in w]), "grad: one file per parameter",
          str(names))
    for n, t in w.items():
        g = np.load(os.path.join(tmp, "g", "1", n + ".npy"))
        check(agree(g, t.grad.numpy(), 1e-3), f"grad: d loss / d {n} matches PyTorch")
    rc, out, err = cnnc("grad", LENET, "--input", "x.npy", "--labels", "y4.npy",
                        "--outdir", "g/2", "--weights", "w", cwd=tmp)
    check(rc == 0 and open(os.path.join(tmp, "g", "1", "fc3.weight.npy"), "rb").read() ==
          open(os.path.join(tmp, "g", "2", "fc3.weight.npy"), "rb").read(),
          "grad: int32 labels give the same result as int64", err)
    np.save(os.path.join(tmp, "short.npy"), y[:5])
    np.save(os.path.join(tmp, "big.npy"), np.array([0, 1, 2, 3, 4, 10], "<i8"))
    np.save(os.path.join(tmp, "float.npy"), y.astype("<f4"))
    for name, needle in (("short.npy", "5 labels for 6 input samples"),
                         ("big.npy", "label 10 at index 5 is outside [0, 10)"),
                         ("float.npy", "labels must be integers")):
        expect_file_error(["grad", LENET, "--input", "x.npy", "--labels", name, "--outdir", "g/3"],
                          name, needle, tmp)
    check(not os.path.exists(os.path.join(tmp, "g", "3")), "failed grad creates no folder")


def header_define(path, name):
    m = re.search(rf"^#define {name} (\S+)", open(path).read(), re.M) if os.path.exists(path) else None
    return m.group(1) if m else None


def test_compile(tmp):
    """The prefix and batch defaults of contract section 1, read off OUT.h."""
    rc, out, err = cnnc(LENET, "-o", "3d-net.c", cwd=tmp)
    h = os.path.join(tmp, "3d-net.h")
    check(rc == 0 and header_define(h, "_3d_net_BATCH_MAX") == "1",
          "compile: prefix '_3d_net' from '3d-net.c', batch 1 by default", err)
    rc, out, err = cnnc(LENET, "-o", "sub.c", "--train", cwd=tmp)
    check(rc == 0 and header_define(os.path.join(tmp, "sub.h"), "sub_BATCH_MAX") == "32",
          "compile: batch 32 under --train without a train section", err)
    os.mkdir(os.path.join(tmp, "d"))
    rc, out, err = cnnc(LENET, "-o", "d/x.y.c", "--batch", "7", "--name", "Net_2", cwd=tmp)
    check(rc == 0 and header_define(os.path.join(tmp, "d", "x.y.h"), "Net_2_BATCH_MAX") == "7",
          "compile: --name and --batch", err)
    rc, out, err = cnnc(LENET, "-o", "d/x.y.c", "--dump-ir=init", cwd=tmp)
    check(rc == 0 and header_define(os.path.join(tmp, "d", "x.y.h"), "x_y_BATCH_MAX") == "1"
          and re.search(r"^fc5 = dense\(.*-> 10$", out, re.M),
          "compile: prefix 'x_y', --dump-ir=init prints the IR", out + err)


def escape(name):
    """Contract section 5, written independently of the C code."""
    ok = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
    return "".join(chr(b) if b in ok else "%%%02X" % b for b in name.encode())


def test_onnx_names(tmp):
    """ONNX initializer names such as onnx::Conv_16 (BatchNorm folded into the
    conv by the exporter) are escaped in file names, both ways."""
    import onnx
    import torch
    import torch.nn as nn
    from onnx import numpy_helper
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                      nn.Linear(32, 3)).eval()
    with torch.no_grad():
        m[1].running_mean.uniform_(-1, 1)
        m[1].running_var.uniform_(0.5, 2)
    path = os.path.join(tmp, "bn.onnx")
    torch.onnx.export(m, torch.randn(1, 1, 6, 6), path, opset_version=13)
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}
    check(any(":" in n for n in inits), "the exporter names an initializer onnx::...",
          str(list(inits)))
    rc, out, err = cnnc("weights", "bn.onnx", "--outdir", "w", cwd=tmp)
    files = sorted(os.listdir(os.path.join(tmp, "w"))) if rc == 0 else []
    check(files == sorted(escape(n) + ".npy" for n in inits), "onnx: escaped file names",
          f"{err} {files}")
    for n, v in inits.items():
        f = os.path.join(tmp, "w", escape(n) + ".npy")
        check(os.path.exists(f) and np.array_equal(np.load(f), v), f"onnx: {n} saved as is")
    x = np.random.default_rng(1).standard_normal((3, 1, 6, 6)).astype("<f4")
    np.save(os.path.join(tmp, "x.npy"), x)
    # Change the folded conv weight through its escaped file; PyTorch's
    # model changed the same way is the oracle.
    conv_w = next(n for n in inits if n.startswith("onnx::") and inits[n].ndim == 4)
    np.save(os.path.join(tmp, "w", escape(conv_w) + ".npy"), inits[conv_w] * -2)
    rc, out, err = cnnc("run", "bn.onnx", "--input", "x.npy", "--output", "y.npy",
                        "--weights", "w", cwd=tmp)
    with torch.no_grad():
        m[0].weight.mul_(-2)
        ref = m(torch.from_numpy(x)).numpy()
    y = np.load(os.path.join(tmp, "y.npy")) if rc == 0 else np.zeros(0)
    check(rc == 0 and agree(y, ref), "onnx: run --weights reads the escaped names", err)


def write(tmp, name, data):
    with open(os.path.join(tmp, name), "wb") as f:
        f.write(data)


def test_run_bad_inputs(tmp):
    ok = np.zeros((2, 3, 32, 32), "<f4")
    np.save(os.path.join(tmp, "ok.npy"), ok)
    np.save(os.path.join(tmp, "nobatch.npy"), ok[0])
    np.save(os.path.join(tmp, "wrong.npy"), np.zeros((2, 3, 28, 28), "<f4"))
    np.save(os.path.join(tmp, "empty.npy"), np.zeros((0, 3, 32, 32), "<f4"))
    np.save(os.path.join(tmp, "f8.npy"), ok.astype("<f8"))
    np.save(os.path.join(tmp, "big.npy"), ok.astype(">f4"))
    write(tmp, "garbage.npy", b"this is not numpy at all")
    raw = open(os.path.join(tmp, "ok.npy"), "rb").read()
    write(tmp, "short.npy", raw[:-10])
    write(tmp, "hdr.npy", raw[:60])
    cases = [
        ("nobatch.npy", "the input has shape (3, 32, 32); the model 'lenet' takes (N, 3, 32, 32)"),
        ("wrong.npy", "the input has shape (2, 3, 28, 28)"),
        ("empty.npy", "the input has shape (0, 3, 32, 32)"),
        ("f8.npy", "unsupported dtype '<f8'"),
        ("big.npy", "big-endian dtype '>f4'"),
        ("garbage.npy", "not a .npy file"),
        ("short.npy", "needs 24576 bytes, the file holds 24566"),
        ("hdr.npy", "header length"),
        ("missing.npy", "cannot open"),
    ]
    write(tmp, "out.npy", b"earlier result")
    for name, needle in cases:
        expect_file_error(["run", LENET, "--input", name, "--output", "out.npy"], name, needle, tmp)
    check(open(os.path.join(tmp, "out.npy"), "rb").read() == b"earlier result",
          "failed runs leave the earlier output untouched")
    check(not [n for n in os.listdir(tmp) if n.endswith(".tmp")], "no temporary files left")
    expect_file_error(["run", LENET, "--input", "ok.npy", "--output", "no/such/dir/y.npy"],
                      "no/such/dir/y.npy", "cannot create", tmp)


def main():
    test_help_version()
    test_usage_errors()
    test_info()
    test_dump_ir()
    with tempfile.TemporaryDirectory() as tmp:
        test_model_errors(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_limits(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_run_and_weights(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_dump_every_step(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_run_bad_inputs(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_grad(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_compile(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        test_onnx_names(tmp)
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failure(s)" if failures else "all CLI checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
