#!/usr/bin/python3
"""check_export.py: `cnnc export` against onnx's checker and ONNX Runtime
(contract section 9).

usage: check_export.py CNNC SOURCE_DIR WORK_DIR

For every example .cnn (and tests/cli/bn.cnn: BatchNorm; tests/export/ops.cnn:
the newer activations and sub, mul, div; a 1-D net, joins, branches and the
rest are among the examples; and the single-layer matrix's cases of the
layout and normalisation layers and pad, with their weights):
export it, run onnx.checker
with full shape inference, run the ONNX file in ONNX Runtime
(onnxruntime-node, tests/ort) on a seeded batch and compare with `cnnc run`
on the .cnn (rtol 1e-4 of the largest output, contract section 6), and load
the ONNX file back into cnnc: `cnnc run` on it must give bit-identical
outputs (the round trip DSL -> ONNX -> cnnc). LeNet is also exported with
trained-looking weights from --weights DIR (every parameter perturbed), and
those must be the ones ONNX Runtime computes with. Bad uses give usage
errors and write nothing."""
import glob
import os
import subprocess
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ort"))
import ortlib  # noqa: E402

CNNC, SRC, WORK = sys.argv[1:4]
failures = []


def cnnc(*args):
    p = subprocess.run([CNNC, *args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("cnnc %s: %s" % (" ".join(args), p.stderr[-600:]))
    return p


def check_one(name, model, weights=None):
    extra = ["--weights", weights] if weights else []
    out = os.path.join(WORK, name + ".onnx")
    cnnc("export", model, "-o", out, *extra)
    m = onnx.load(out)
    onnx.checker.check_model(m, full_check=True)
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]]
    x = np.random.default_rng(7).standard_normal([3] + dims).astype("<f4")
    xin = os.path.join(WORK, name + "_in.npy")
    np.save(xin, x)
    ref = os.path.join(WORK, name + "_ref.npy")
    cnnc("run", model, "--input", xin, "--output", ref, *extra)
    ref = np.load(ref)
    got = ortlib.run(out, x)
    err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)
    if got.shape != ref.shape or not err <= 1e-4:
        failures.append("%s: ONNX Runtime differs from cnnc run by %.3g (shapes %s, %s)"
                        % (name, err, got.shape, ref.shape))
    back = os.path.join(WORK, name + "_back.npy")
    cnnc("run", out, "--input", xin, "--output", back)
    if not np.array_equal(np.load(back), ref):
        failures.append("%s: cnnc run on the exported ONNX is not bit-identical" % name)
    return m


def perturbed_weights(model):
    """--weights DIR for model: every parameter and buffer moved away from
    its initial value (BatchNorm variances kept positive)."""
    wdir = os.path.join(WORK, "trained")
    cnnc("weights", model, "--outdir", wdir)
    rng = np.random.default_rng(3)
    for f in glob.glob(os.path.join(wdir, "*.npy")):
        w = np.load(f)
        w = np.abs(w) + 0.5 if "running_var" in f else w + 0.1 * rng.standard_normal(w.shape)
        np.save(f, w.astype("<f4"))
    return wdir


def refuse_softplus_beta():
    """ONNX's Softplus has no beta: a located error, nothing written."""
    src, out = os.path.join(WORK, "sp.cnn"), os.path.join(WORK, "sp.onnx")
    with open(src, "w") as f:
        f.write("model sp {\n  input 4\n  s: softplus(beta=2)\n}\n")
    p = subprocess.run([CNNC, "export", src, "-o", out], capture_output=True, text=True)
    if (p.returncode == 0 or "sp.cnn:3:3: error: softplus 's': cannot be written as ONNX"
            not in p.stderr or os.path.exists(out)):
        failures.append("export softplus(beta=2): rc %d, %s" % (p.returncode, p.stderr.strip()))


# The single-layer matrix's cases of the operators the examples lack.
MATRIX = (r"^\S+ (transpose|shuffle|slice|split|matmul|layernorm|groupnorm|instancenorm|pad|prelu"
          r"|reduce_mean|reduce_max|reduce_sum|reduce_l2) ")


def check_matrix_layers():
    """Those cases exported with their weights (gen_matrix.py writes them):
    the same checks as the examples. Returns the models checked."""
    sys.path.insert(0, os.path.join(SRC, "tests", "torch"))
    import gen_matrix
    d = os.path.join(WORK, "matrix")
    done = gen_matrix.generate(d, MATRIX)
    for name, row in done:
        try:
            check_one(name, os.path.join(d, name + ".cnn"), os.path.join(d, name + ".weights"))
        except Exception as e:  # noqa: BLE001
            failures.append("%s (%s): %s" % (name, row, e))
    print("ok %d matrix cases (%s)" % (len(done), ", ".join(sorted({r.split()[0] for _, r in done}))))
    return [name for name, _ in done]


def concat_constant_model():
    """An ONNX Concat of the input and a constant: exported, the constant is
    expanded to the batch (the DSL has no constants to test this with)."""
    from onnx import TensorProto, helper, numpy_helper
    c = numpy_helper.from_array(np.linspace(-1, 1, 32, dtype="<f4").reshape(1, 2, 4, 4), "c")
    node = helper.make_node("Concat", ["x", "c"], ["y"], name="cat", axis=1)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                       ["N", 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [c])
    path = os.path.join(WORK, "concat_constant_src.onnx")
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def main():
    ortlib.require()
    os.makedirs(WORK, exist_ok=True)
    models = sorted(glob.glob(os.path.join(SRC, "examples", "*.cnn")))
    models.append(os.path.join(SRC, "tests", "cli", "bn.cnn"))
    models.append(os.path.join(SRC, "tests", "export", "ops.cnn"))
    for model in models:
        name = os.path.splitext(os.path.basename(model))[0]
        try:
            m = check_one(name, model)
            print("ok %s (opset %d, %d nodes)" % (name, m.opset_import[0].version, len(m.graph.node)))
        except Exception as e:  # noqa: BLE001 - every failure is listed
            failures.append("%s: %s" % (name, e))
    models += check_matrix_layers()
    try:
        check_one("concat_constant", concat_constant_model())
        print("ok concat of a constant")
    except Exception as e:  # noqa: BLE001
        failures.append("concat_constant: %s" % e)
    lenet = os.path.join(SRC, "examples", "lenet.cnn")
    try:
        m = check_one("lenet_trained", lenet, perturbed_weights(lenet))
        names = {i.name for i in m.graph.initializer}
        for want in ("conv1.weight", "conv1.bias", "fc5.weight"):
            if want not in names:
                failures.append("lenet: initializer %s missing (names: %s)" % (want, sorted(names)))
        print("ok lenet with --weights")
    except Exception as e:  # noqa: BLE001
        failures.append("lenet --weights: %s" % e)
    bad = os.path.join(WORK, "bad.c")
    p = subprocess.run([CNNC, "export", lenet, "-o", bad], capture_output=True, text=True)
    if p.returncode != 2 or "must be an .onnx file" not in p.stderr or os.path.exists(bad):
        failures.append("export -o bad.c: rc %d, %s" % (p.returncode, p.stderr.strip()))
    refuse_softplus_beta()
    for f in failures:
        print("FAIL", f)
    print("%d models exported, %d failures" % (len(models) + 1, len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
