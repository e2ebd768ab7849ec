#!/usr/bin/python3
"""Fusion never changes results: for every example model, every hand-made
fusion case (tests/fusion/*.cnn), a few ONNX models exported here with
PyTorch (conv + BatchNorm + relu, explicit pads, a conv followed by a
constant Add, dropout, flatten, residual joins) and every ONNX test model
(tests/onnx/onnxtest.py's nets and single-operator models, opset 13),
`cnnc run` (fused) and `cnnc run -O0` (the interpreter on the unfused
graph) agree within 1e-4 * max|ref|; so do, but for the single operators,
the generated programs of both builds (`--main`, gcc -O2 -std=c99; for
the models with a fused residual join also with -DCNNC_NO_VECTOR_EXT, and
with -march=native where the CPU has AVX-512) against the same -O0
interpreter output.

BatchNorm statistics are randomised through --weights (the defaults, mean 0
and var 1, would make a wrong fold look right), and the inputs are signed
so that a zero pad wrongly folded into a maxpool shows. Also checks that
`cnnc weights` still writes the original BatchNorm parameters, and that
fusion did fold something in the models where it must (so that the
comparison is not of two unfused runs).

Residual joins (fuse-residual): the number of convs that took an add
("+add" in the last dump) is checked where it is known: all of the joins in
the ResNets and tests/fusion/residual*.cnn, res_1d.cnn, none in the refusal
cases (res_*.cnn) and in an ONNX Sum of a conv, the input and a broadcast
constant.

usage: check_fusion.py CNNC SOURCE_DIR [--big]
(--big: torchvision's resnet18 and mobilenet_v2 instead of the rest)"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

CNNC, SRC = sys.argv[1], sys.argv[2]
BIG = "--big" in sys.argv[3:]
failures = []
NOTHING_TO_FOLD = {"lenet.cnn", "cifar_keras.cnn", "res_late.cnn", "res_output.cnn",
                   "res_shared.cnn", "res_three.cnn"}
LAST_PASS = "fuse-residual"
# Convs that must take a residual add (fuse-residual); models not listed
# are not counted.
RESIDUAL = {"resnet_small.cnn": 3, "residual.cnn": 4, "res_1d.cnn": 2,
            "res_act_before_join.cnn": 0, "res_shared.cnn": 0, "res_output.cnn": 0,
            "res_three.cnn": 0, "res_late.cnn": 0, "act_before_join.cnn": 0,
            "bn_shared.cnn": 0, "onnx_resnet_small.onnx": 2, "sum_broadcast.onnx": 0,
            "fusion_residual.onnx": 1, "resnet18.onnx": 8, "mobilenet_v2.onnx": 10}
STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2"]
# The kernels' 16-float path is compiled where the CPU runs it.
AVX512 = " avx512f" in open("/proc/cpuinfo").read()


def cnnc(*args, check=True):
    r = subprocess.run([CNNC] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("cnnc %s failed:\n%s" % (" ".join(args), r.stderr))
    return r


def input_shape(model):
    for line in cnnc(model, "-o", os.devnull + ".c", "--dump-ir=parse",
                     check=False).stdout.splitlines():
        if line.startswith("input "):
            return [int(d) for d in line.split(": ")[1].split("x")]
    raise RuntimeError("%s: no input line in the dump" % model)


def randomise_bn(wdir, rng):
    """Random gamma, beta, running mean and var for every BatchNorm."""
    for path in glob.glob(os.path.join(wdir, "*.running_var.npy")):
        base = path[: -len(".running_var.npy")]
        c = np.load(path).shape[0]
        np.save(path, rng.uniform(0.3, 2.0, c).astype(np.float32))
        np.save(base + ".running_mean.npy", rng.normal(0, 0.5, c).astype(np.float32))
        np.save(base + ".weight.npy", rng.uniform(0.5, 1.5, c).astype(np.float32))
        np.save(base + ".bias.npy", rng.normal(0, 0.3, c).astype(np.float32))


def agree(what, a, b):
    err, scale = float(np.max(np.abs(a - b))), float(np.max(np.abs(b)))
    ok = a.shape == b.shape and err <= 1e-4 * scale and scale > 0
    print("%-34s max|got-ref| = %.3g, max|ref| = %.3g %s" % (what, err, scale,
                                                           "ok" if ok else "FAIL"))
    if not ok:
        failures.append(what)


def generated(model, tmp, wdir, xin, flags, defines):
    """The output of the generated program (`cnnc MODEL flags --main`, the
    weights of wdir compiled in) on xin."""
    stem = os.path.join(tmp, "prog")
    cnnc(model, "-o", stem + ".c", "--main", "--weights", wdir, *flags)
    r = subprocess.run(["gcc"] + STRICT + defines + [stem + ".c", "-o", stem, "-lm"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("gcc %s failed:\n%s" % (model, r.stderr[-2000:]))
    out = stem + ".out.npy"
    subprocess.run([stem, "infer", xin, out], check=True, capture_output=True)
    return np.load(out)


def check(model, tmp, must_fold, codegen=True, variants=True):
    name = os.path.basename(model)
    rng = np.random.default_rng(7)
    wdir = os.path.join(tmp, name + ".w")
    cnnc("weights", model, "--outdir", wdir)
    randomise_bn(wdir, rng)
    x = rng.normal(0, 1, [3] + input_shape(model)).astype(np.float32)
    xin, ya, yb = (os.path.join(tmp, name + s) for s in (".x.npy", ".fused.npy", ".ref.npy"))
    np.save(xin, x)
    cnnc("run", model, "--weights", wdir, "--input", xin, "--output", ya)
    cnnc("run", model, "-O0", "--weights", wdir, "--input", xin, "--output", yb)
    ref = np.load(yb)
    agree(name + " run", np.load(ya), ref)
    fused = cnnc(model, "-o", os.path.join(tmp, "x.c"), "--dump-ir=" + LAST_PASS,
                 check=False).stdout
    plain = cnnc(model, "-o", os.path.join(tmp, "x.c"), "-O0", "--dump-ir=" + LAST_PASS,
                 check=False).stdout
    joins = fused.count(" +add")
    if codegen:
        agree(name + " C", generated(model, tmp, wdir, xin, [], []), ref)
    if codegen and variants:
        agree(name + " C -O0", generated(model, tmp, wdir, xin, ["-O0"], []), ref)
        if joins:
            agree(name + " C plain", generated(model, tmp, wdir, xin, [],
                                               ["-DCNNC_NO_VECTOR_EXT"]), ref)
            if AVX512:
                agree(name + " C avx512", generated(model, tmp, wdir, xin, [],
                                                    ["-march=native"]), ref)
    if must_fold and fused.count("\n") >= plain.count("\n"):
        print("  FAIL: fusion removed no layer from %s" % name)
        failures.append(name + " (nothing fused)")
    if name in RESIDUAL and joins != RESIDUAL[name]:
        print("  FAIL: %d residual joins fused in %s, expected %d" % (joins, name,
                                                                    RESIDUAL[name]))
        failures.append(name + " (residual joins)")


def export_onnx(tmp):
    """ONNX models with what the fusion passes match; BatchNorm kept as a
    node (PRESERVE) rather than folded by the exporter."""
    import warnings

    import torch
    import torch.nn as nn

    warnings.filterwarnings("ignore")

    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 3, bias=False)
            self.b = nn.Parameter(torch.randn(6, 1, 1))
            self.pad = nn.ReflectionPad2d(1)
            self.conv2 = nn.Conv2d(6, 4, 3)
            self.bn = nn.BatchNorm2d(4)
            self.zpad = nn.ZeroPad2d((1, 0, 1, 0))
            self.pool = nn.MaxPool2d(2)
            self.drop = nn.Dropout(0.3)
            self.fc = nn.Linear(4 * 4 * 4, 5)

        def forward(self, x):
            y = torch.relu(self.conv(x) + self.b)
            y = torch.relu(self.bn(self.conv2(self.pad(y))))
            y = self.pool(self.zpad(y))
            return self.fc(self.drop(torch.flatten(y, 1)))

    torch.manual_seed(0)
    m = Biased().eval()
    with torch.no_grad():
        m.bn.running_mean.normal_(0, 0.5)
        m.bn.running_var.uniform_(0.5, 2)
    path = os.path.join(tmp, "fusion_mix.onnx")
    torch.onnx.export(m, torch.randn(1, 3, 9, 9), path, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, input_names=["x"])

    class Residual(nn.Module):
        """relu(bn(conv(x)) + x): the join after BatchNorm, as in ResNets."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(6, 6, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(6)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)) + x)

    res = os.path.join(tmp, "fusion_residual.onnx")
    torch.onnx.export(Residual().eval(), torch.randn(1, 6, 5, 5), res, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False, input_names=["x"])
    return [path, res, sum_broadcast(tmp)]


def sum_broadcast(tmp):
    """Sum(conv(x), x, B) with B of shape [4, 1, 1]: an add of two
    activations and a broadcast constant, which no conv may absorb."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (4, 4, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 1, (4, 1, 1)).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Sum", ["c", "x", "b"], ["y"])]
    graph = helper.make_graph(
        nodes, "sum_broadcast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 5, 5])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = os.path.join(tmp, "sum_broadcast.onnx")
    onnx.save(model, path)
    return path


def onnx_test_models(tmp, big):
    """tests/onnx's models (opset 13) as ONNX files: the nets and the
    single-operator models, or torchvision's resnet18 and mobilenet_v2."""
    sys.path.insert(0, os.path.join(SRC, "tests", "onnx"))
    import torch
    import onnxtest as T

    if big:
        models = [(n, T.big(n), (3, 224, 224)) for n in ("resnet18", "mobilenet_v2")]
    else:
        models = [("onnx_" + n, m, s) for n, m, s in T.nets()] + T.ops()
    paths = []
    for name, model, shape in models:
        path = os.path.join(tmp, name + ".onnx")
        static = name in T.STATIC_BATCH  # constants of a batch of 3
        x = torch.randn(3 if static else 2, *shape)
        if not isinstance(T.export(model, x, path, 13, dynamic=not static), str):
            paths.append(path)
    return paths


def check_dot():
    """info --dot: the fused graph (BN folded, relu an epilogue), shapes on
    the edges; under -O0 the graph as written."""
    model = os.path.join(SRC, "examples", "signal1d.cnn")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "g.dot")
        cnnc("info", model, "--dot", out)
        fused = open(out).read()
        cnnc("info", model, "-O0", "--dot", out)
        plain = open(out).read()
    want_fused = ['label="c4\\nconv+relu\\nc4+bn.weight', 'n3 -> n4 [label="16x25"]',
                  'n7 -> output [label="4"]']
    want_plain = ['batchnorm', 'relu_1\\nrelu', 'input -> n0 [label="1x100"]']
    for text, wants, what in ((fused, want_fused, "fused"), (plain, want_plain, "-O0")):
        for w in wants:
            if not text.startswith("digraph") or w not in text:
                failures.append("dot (%s): %s missing" % (what, w))
    # A fused residual join: the conv's label and its second input's edge.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "g.dot")
        cnnc("info", os.path.join(SRC, "examples", "resnet_small.cnn"), "--dot", out)
        text = open(out).read()
    for w in ['b1_conv2\\nconv+add+relu', 'n0 -> n2 [label="16x32x32"]']:
        if w not in text:
            failures.append("dot (residual): %s missing" % w)
    print("info --dot ok" if not any(f.startswith("dot") for f in failures) else "dot FAIL")


def main_big():
    with tempfile.TemporaryDirectory() as tmp:
        models = onnx_test_models(tmp, True)
        for m in models:
            # One build each (fused, against the -O0 interpreter): these
            # take minutes to compile; the variants are the small models'.
            check(m, tmp, must_fold=True, variants=False)
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all %d models agree" % len(models))


def main():
    if BIG:
        return main_big()
    models = sorted(glob.glob(os.path.join(SRC, "examples", "*.cnn")))
    models += sorted(glob.glob(os.path.join(SRC, "tests", "fusion", "*.cnn")))
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            # Nothing to fold there: activations already fused in the DSL,
            # cifar_keras's batchnorm follows a pool, the refused residual
            # joins (pinned by the goldens).
            check(m, tmp, must_fold=os.path.basename(m) not in NOTHING_TO_FOLD)
        handmade = export_onnx(tmp)
        for m in handmade:
            check(m, tmp, must_fold=os.path.basename(m) != "sum_broadcast.onnx")
        tested = onnx_test_models(tmp, False)
        for m in tested:
            # Single operators: often nothing to fuse; agreement is the
            # point. Their generated code is onnx_codegen_ops's (fused);
            # here only the nets' (fused and not).
            net = os.path.basename(m).startswith("onnx_")
            check(m, tmp, must_fold=False, codegen=net)
        models += handmade + tested
        # `cnnc weights` dumps the model's original parameters.
        wdir = os.path.join(tmp, "resnet.w")
        cnnc("weights", os.path.join(SRC, "examples", "resnet_small.cnn"), "--outdir", wdir)
        for f in ("stem_bn.running_var.npy", "stem.weight.npy"):
            if not os.path.exists(os.path.join(wdir, f)):
                failures.append("weights: %s missing" % f)
        if glob.glob(os.path.join(wdir, "*+*")):
            failures.append("weights: folded constants written")
    check_dot()
    if failures:
        print("FAILED: " + ", ".join(failures))
        sys.exit(1)
    print("all %d models agree" % len(models))


main()
