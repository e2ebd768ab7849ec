#!/usr/bin/python3
"""ONNX models at opsets 1 to 8 (issue 13, item 8): each legacy form of an
operator cnnc supports (opset 1's consumed_inputs, Add/Sub/Mul/Div/Pow's
broadcast and axis before 7, Gemm's broadcast, Sum before 8, Reshape-1's
shape attribute, Concat-1's default axis, Pad-1's paddings and Pad-2's
value, Split-1's split input and Split-2's attribute, Upsample-1 and 7,
Dropout's and BatchNormalization's is_test, Cast-1's type name,
AveragePool before count_include_pad, Slice-1, Squeeze/Unsqueeze-1,
Clip-1/6, Softmax-1, Flatten-1, PRelu-6), built with onnx.helper and
checked against NumPy computing what that version's text says (and the
first forms of opsets 5 and 8, Reshape's shape input and Sum's broadcast): `cnnc run`
for each, the generated program (gcc, strict flags) for some. Then the
versions whose meaning cnnc does not compute: each must be refused with
exit 1 and a located error naming the version, `node 'n' (Add-6): ...`.

usage: check_old_opsets.py CNNC WORKDIR"""
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnxtest  # noqa: E402

CNNC, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
F = TensorProto.FLOAT
RNG = np.random.default_rng(13)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def model(opset, nodes, in_shape, inits=()):
    """nodes read "x" and write "y" (the model's output)."""
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, list(in_shape))],
                          [helper.make_tensor_value_info("y", F, None)],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 3
    return m


def node(op, ins, outs=("y",), **attrs):
    return helper.make_node(op, list(ins), list(outs), name="n", **attrs)


def softmax_2d(x, axis):
    """Softmax before opset 13: over the dimensions from axis on, as one."""
    flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
    e = np.exp(flat - flat.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).reshape(x.shape)


def avg_pool_exclude_pads(x, k, pad):
    """3x3 average pooling, stride 1, padding not counted (AveragePool-1)."""
    n, c, h, w = x.shape
    p = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ones = np.pad(np.ones((h, w), np.float32), pad)
    out = np.zeros((n, c, h + 2 * pad - k + 1, w + 2 * pad - k + 1), np.float32)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = p[:, :, i:i + k, j:j + k].sum(axis=(2, 3)) / \
                ones[i:i + k, j:j + k].sum()
    return out


def batchnorm(x, g, b, m, v, eps):
    sh = (1, -1) + (1,) * (x.ndim - 2)
    return (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + eps) * g.reshape(sh) + b.reshape(sh)


B3, B45, B34, W, C8 = rand(3), rand(4, 5), rand(3, 4), rand(6, 8), rand(8)
BN = [rand(3), rand(3), rand(3), np.abs(rand(3)) + 0.5]
SLOPE = rand(3, 4, 5)


def cases():
    """(name, model, input, expected output, also build the program)."""
    x4 = rand(2, 3, 4, 5)
    yield "consumed_inputs_relu_1", model(1, [node("Relu", ["x"], consumed_inputs=[0])],
                                          x4.shape), x4, np.maximum(x4, 0), False
    yield "activations_1", model(1, [
        node("Elu", ["x"], ["a"], alpha=0.5, consumed_inputs=[0]),
        node("LeakyRelu", ["a"], ["b"], alpha=0.2, consumed_inputs=[0]),
        node("HardSigmoid", ["b"], ["c"], consumed_inputs=[0]),
        node("Neg", ["c"], ["d"], consumed_inputs=[0]),
        node("Abs", ["d"], ["e"], consumed_inputs=[0]),
        node("Sqrt", ["e"], ["f"], consumed_inputs=[0]),
        node("Exp", ["f"], ["g"], consumed_inputs=[0]),
        node("Log", ["g"], ["h"], consumed_inputs=[0]),
        node("Reciprocal", ["h"], ["i"], consumed_inputs=[0]),
        node("Tanh", ["i"], ["j"], consumed_inputs=[0]),
        node("Sigmoid", ["j"], ["y"], consumed_inputs=[0])], x4.shape), x4, \
        (lambda a: 1 / (1 + np.exp(-np.tanh(1 / np.log(np.exp(np.sqrt(np.abs(-np.clip(
            0.2 * a + 0.5, 0, 1))))))))) \
        (np.where(np.where(x4 > 0, x4, 0.5 * (np.exp(x4) - 1)) > 0,
                  np.where(x4 > 0, x4, 0.5 * (np.exp(x4) - 1)),
                  0.2 * np.where(x4 > 0, x4, 0.5 * (np.exp(x4) - 1)))), False
    # Before opset 7: B aligned with A at `axis`, or with A's last axes.
    yield "add_1_broadcast_axis", model(1, [node("Add", ["x", "b"], broadcast=1, axis=1,
                                                 consumed_inputs=[0])], x4.shape, [("b", B3)]), \
        x4, x4 + B3[:, None, None], True
    yield "add_6_broadcast_axis", model(6, [node("Add", ["x", "b"], broadcast=1, axis=1)],
                                        x4.shape, [("b", B3)]), x4, x4 + B3[:, None, None], False
    yield "sub_6_broadcast_axis_2d", model(6, [node("Sub", ["x", "b"], broadcast=1, axis=1)],
                                           x4.shape, [("b", B34)]), \
        x4, x4 - B34[:, :, None], True
    yield "mul_6_broadcast_suffix", model(6, [node("Mul", ["x", "b"], broadcast=1)], x4.shape,
                                          [("b", B45)]), x4, x4 * B45, False
    yield "div_6_broadcast_one_value", model(6, [node("Div", ["x", "b"], broadcast=1)],
                                             x4.shape, [("b", np.float32(4))]), x4, x4 / 4, False
    yield "sub_6_constant_first", model(6, [node("Sub", ["b", "x"], broadcast=1)],
                                        x4.shape, [("b", B3.reshape(1, 3, 1, 1) * np.ones(
                                            (1, 3, 4, 5), np.float32))]), \
        x4[:1], B3[:, None, None] - x4[:1], False
    yield "add_6_same_shape", model(6, [node("Add", ["x", "b"])], (1, 3, 4, 5),
                                    [("b", x4[1:])]), x4[:1], x4[:1] + x4[1:], False
    yield "pow_1_broadcast", model(1, [node("Pow", ["x", "e"], broadcast=1)], x4.shape,
                                   [("e", np.float32(2))]), x4, x4 ** 2, False
    yield "sum_6_same_shapes", model(6, [node("Relu", ["x"], ["r"]), node("Sum", ["x", "r"])],
                                     x4.shape), x4, x4 + np.maximum(x4, 0), False
    yield "sum_1_consumed_inputs", model(1, [node("Relu", ["x"], ["r"]),
                                             node("Sum", ["x", "r", "x"], consumed_inputs=[0])],
                                         x4.shape), x4, 2 * x4 + np.maximum(x4, 0), False
    x2 = rand(2, 6)
    yield "gemm_6_broadcast", model(6, [node("Gemm", ["x", "w", "c"], broadcast=1)], x2.shape,
                                    [("w", W), ("c", C8)]), x2, x2 @ W + C8, True
    yield "gemm_1_full_c", model(1, [node("Gemm", ["x", "w", "c"], beta=0.5)], x2.shape,
                                 [("w", W), ("c", np.tile(C8, (2, 1)))]), \
        x2, x2 @ W + 0.5 * C8, False
    yield "reshape_1_attribute", model(1, [node("Reshape", ["x"], shape=[0, -1, 5],
                                                consumed_inputs=[0])], x4.shape), \
        x4, x4.reshape(2, 12, 5), True
    yield "reshape_5_input", model(5, [node("Reshape", ["x", "s"])], x4.shape,
                                   [("s", np.array([0, 12, -1], np.int64))]), \
        x4, x4.reshape(2, 12, 5), False
    yield "relu_5_is_version_1", model(5, [node("Relu", ["x"], consumed_inputs=[0])],
                                       x4.shape), x4, np.maximum(x4, 0), False
    yield "sum_8_broadcast", model(8, [node("Sum", ["x", "b"])], x4.shape, [("b", B45)]), \
        x4, x4 + B45, False
    yield "add_8_numpy", model(8, [node("Mul", ["x", "b"])], x4.shape,
                               [("b", B3.reshape(3, 1, 1))]), x4, x4 * B3[:, None, None], False
    yield "concat_1_default_axis", model(1, [node("Relu", ["x"], ["r"]),
                                             node("Concat", ["x", "r"])], x4.shape), \
        x4, np.concatenate([x4, np.maximum(x4, 0)], axis=1), False
    yield "pad_1_paddings", model(1, [node("Pad", ["x"], paddings=[0, 0, 1, 2, 0, 0, 2, 1])],
                                  x4.shape), \
        x4, np.pad(x4, ((0, 0), (0, 0), (1, 2), (2, 1))), False
    yield "pad_2_value", model(2, [node("Pad", ["x"], pads=[0, 0, 1, 0, 0, 0, 0, 2],
                                        value=1.5)], x4.shape), \
        x4, np.pad(x4, ((0, 0), (0, 0), (1, 0), (0, 2)), constant_values=1.5), True
    yield "split_2_attribute", model(2, [node("Split", ["x"], ["a", "b"], axis=1, split=[1, 2]),
                                         node("Concat", ["b", "a"], axis=1)], x4.shape), \
        x4, np.concatenate([x4[:, 1:], x4[:, :1]], axis=1), False
    yield "split_1_input", model(1, [node("Split", ["x", "s"], ["a", "b"], axis=1),
                                     node("Concat", ["b", "a"], axis=1)], x4.shape,
                                 [("s", np.array([2, 1], np.int64))]), \
        x4, np.concatenate([x4[:, 2:], x4[:, :2]], axis=1), False
    yield "upsample_7_nearest", model(7, [node("Upsample", ["x"], scales=[1.0, 1.0, 2.0, 3.0])],
                                      x4.shape), \
        x4, x4.repeat(2, axis=2).repeat(3, axis=3), True
    yield "upsample_1_height_width", model(1, [node("Upsample", ["x"], height_scale=3.0,
                                                    width_scale=2.0)], x4.shape), \
        x4, x4.repeat(3, axis=2).repeat(2, axis=3), False
    # is_test=0 asks for training; a compiled model runs inference.
    yield "dropout_6_is_test_0", model(6, [node("Dropout", ["x"], is_test=0, ratio=0.5)],
                                       x4.shape), x4, x4, False
    yield "dropout_1_is_test_1", model(1, [node("Dropout", ["x"], is_test=1,
                                                consumed_inputs=[0])], x4.shape), x4, x4, False
    yield "batchnorm_6_is_test", model(6, [node("BatchNormalization", ["x", "g", "b", "m", "v"],
                                                is_test=1, epsilon=1e-3, spatial=1)], x4.shape,
                                       list(zip("gbmv", BN))), \
        x4, batchnorm(x4, *BN, 1e-3), True
    yield "batchnorm_1_consumed_inputs", model(1, [node("BatchNormalization",
                                                        ["x", "g", "b", "m", "v"], is_test=1,
                                                        consumed_inputs=[0, 0, 0, 1, 1])],
                                               x4.shape, list(zip("gbmv", BN))), \
        x4, batchnorm(x4, *BN, 1e-5), False
    yield "batchnorm_7_spatial_1", model(7, [node("BatchNormalization",
                                                  ["x", "g", "b", "m", "v"], spatial=1)],
                                         x4.shape, list(zip("gbmv", BN))), \
        x4, batchnorm(x4, *BN, 1e-5), False
    yield "instancenorm_1", model(1, [node("InstanceNormalization", ["x", "g", "b"],
                                           consumed_inputs=[0])], x4.shape,
                                  [("g", BN[0]), ("b", BN[1])]), \
        x4, batchnorm((x4 - x4.mean(axis=(2, 3), keepdims=True)) /
                      np.sqrt(x4.var(axis=(2, 3), keepdims=True) + 1e-5),
                      BN[0], BN[1], np.zeros(3), np.ones(3), 0), False
    yield "cast_1_type_name", model(1, [node("Cast", ["x"], to="FLOAT")], x4.shape), \
        x4, x4, False
    yield "cast_1_constant", model(1, [node("Cast", ["k"], ["kf"], to="FLOAT"),
                                       node("Add", ["x", "kf"], broadcast=1)], x4.shape,
                                   [("k", np.arange(5, dtype=np.int64))]), \
        x4, x4 + np.arange(5, dtype=np.float32), False
    yield "averagepool_1_pads", model(1, [node("AveragePool", ["x"], kernel_shape=[3, 3],
                                               pads=[1, 1, 1, 1])], x4.shape), \
        x4, avg_pool_exclude_pads(x4, 3, 1), True
    yield "maxpool_1", model(1, [node("MaxPool", ["x"], kernel_shape=[2, 2], strides=[2, 1])],
                             x4.shape), \
        x4, np.maximum.reduce([x4[:, :, i:i + 3:2, j:j + 4] for i in (0, 1) for j in (0, 1)]), \
        False
    yield "slice_1", model(1, [node("Slice", ["x"], starts=[1, 0], ends=[3, -1], axes=[2, 3])],
                           x4.shape), x4, x4[:, :, 1:3, 0:-1], False
    yield "unsqueeze_squeeze_1", model(1, [node("Unsqueeze", ["x"], ["u"], axes=[2]),
                                           node("Relu", ["u"], ["r"]),
                                           node("Squeeze", ["r"], axes=[2])], x4.shape), \
        x4, np.maximum(x4, 0), False
    yield "clip_1", model(1, [node("Clip", ["x"], min=-0.5, max=0.25, consumed_inputs=[0])],
                          x4.shape), x4, np.clip(x4, -0.5, 0.25), False
    yield "clip_6_min_only", model(6, [node("Clip", ["x"], min=-0.5)], x4.shape), \
        x4, np.maximum(x4, -0.5), False
    yield "softmax_1_default_axis", model(1, [node("Softmax", ["x"])], x4.shape), \
        x4, softmax_2d(x4, 1), False
    yield "flatten_1", model(1, [node("Flatten", ["x"], axis=1)], x4.shape), \
        x4, x4.reshape(2, 60), False
    yield "prelu_6_full_slope", model(6, [node("PRelu", ["x", "s"])], x4.shape,
                                      [("s", SLOPE)]), x4, np.where(x4 > 0, x4, SLOPE * x4), False
    yield "prelu_1_one_slope", model(1, [node("PRelu", ["x", "s"], consumed_inputs=[0])],
                                     x4.shape, [("s", np.array([0.25], np.float32))]), \
        x4, np.where(x4 > 0, x4, 0.25 * x4), False
    w = rand(4, 3, 3, 3)
    yield "conv_1_then_global_pool", model(1, [node("Conv", ["x", "w"], ["c"], pads=[1] * 4),
                                               node("GlobalAveragePool", ["c"])], x4.shape,
                                           [("w", w)]), \
        x4, np.stack([sum(np.pad(x4, ((0, 0), (0, 0), (1, 1), (1, 1)))[:, :, i:i + 4, j:j + 5]
                          * w[o, :, i, j][None, :, None, None]
                          for i in range(3) for j in range(3)).sum(axis=1)
                      for o in range(4)], axis=1).mean(axis=(2, 3), keepdims=True), False


def whole_cases():
    """Old versions read as one whole sample (whole-tensor mode: a rank-1
    input, a constant that varies along axis 0, or --no-batch): B aligns
    with A's full shape, which has no batch axis. (name, model, input,
    expected output, cnnc run's flags)."""
    x4, b4, x1, b6 = rand(2, 3, 4, 5), rand(2, 3, 4, 5), rand(6), rand(6)
    yield "add_6_axis_1_whole", model(6, [node("Add", ["x", "b"], broadcast=1, axis=1)],
                                      x4.shape, [("b", B3)]), \
        x4, x4 + B3[:, None, None], ["--no-batch"]
    yield "mul_6_axis_0_rank_1", model(6, [node("Mul", ["x", "b"], broadcast=1, axis=0)],
                                       x1.shape, [("b", b6)]), x1, x1 * b6, []
    yield "sum_6_varies_along_axis_0", model(6, [node("Sum", ["x", "b"])], x4.shape,
                                             [("b", b4)]), x4, x4 + b4, []


def refusals():
    """(name, model, what the error must say after `error: `)."""
    x4 = (2, 3, 4, 5)
    yield "batchnorm_7_spatial_0", model(7, [node("BatchNormalization",
                                                  ["x", "g", "b", "m", "v"], spatial=0)], x4,
                                         list(zip("gbmv", BN))), \
        "node 'n' (BatchNormalization-7): spatial=0"
    yield "add_6_no_broadcast", model(6, [node("Add", ["x", "b"])], x4, [("b", B3)]), \
        "node 'n' (Add-6): 'x' of shape Nx3x4x5 and 'b' of 3: without broadcast=1 the shapes " \
        "must be equal"
    yield "mul_1_axis_mismatch", model(1, [node("Mul", ["x", "b"], broadcast=1, axis=2)], x4,
                                       [("b", B3)]), \
        "node 'n' (Mul-1): 'x' of shape Nx3x4x5 and 'b' of 3: B's dimensions do not match"
    yield "div_6_axis_out_of_range", model(6, [node("Div", ["x", "b"], broadcast=1, axis=3)],
                                           x4, [("b", B34)]), \
        "node 'n' (Div-6): 'x' of shape Nx3x4x5 and 'b' of 3x4: B's dimensions do not fit"
    yield "sum_6_shapes_differ", model(6, [node("Sum", ["x", "b"])], x4, [("b", B45)]), \
        "node 'n' (Sum-6): 'x' of shape Nx3x4x5 and 'b' of 4x5: Sum broadcasts from opset 8 on"
    yield "gemm_6_no_broadcast", model(6, [node("Gemm", ["x", "w", "c"])], (2, 6),
                                       [("w", W), ("c", C8)]), \
        "node 'n' (Gemm-6): without broadcast=1, C must have the output's shape [M, 8]"
    yield "gemm_1_no_c", model(1, [node("Gemm", ["x", "w"], broadcast=1)], (2, 6), [("w", W)]), \
        "node 'n' (Gemm-1): C (input 2) is required before opset 7"
    yield "prelu_6_channel_slope", model(6, [node("PRelu", ["x", "s"])], x4, [("s", B3)]), \
        "node 'n' (PRelu-6): slope 's' of shape 3 is neither one value nor the input's shape"
    yield "pow_1_no_broadcast", model(1, [node("Pow", ["x", "e"])], x4,
                                      [("e", np.float32(2))]), \
        "node 'n' (Pow-1): without broadcast=1 the exponent must have the base's shape"
    yield "reshape_1_no_shape", model(1, [node("Reshape", ["x"])], x4), \
        "node 'n' (Reshape-1): the target shape (attribute 'shape') is missing"
    # An attribute of old versions only is unknown to later ones.
    yield "consumed_inputs_at_6", model(6, [node("Relu", ["x"], consumed_inputs=[0])], x4), \
        "node 'n' (Relu): unsupported attribute 'consumed_inputs'"
    yield "broadcast_at_7", model(7, [node("Add", ["x", "b"], broadcast=1)], x4, [("b", B3)]), \
        "node 'n' (Add): unsupported attribute 'broadcast'"
    yield "reshape_5_attribute", model(5, [node("Reshape", ["x"], shape=[0, -1])], x4), \
        "node 'n' (Reshape): unsupported attribute 'shape'"
    yield "cast_6_type_name", model(6, [node("Cast", ["x"], to="FLOAT")], x4), \
        "node 'n' (Cast): attribute 'to' has the wrong type"


def check_runs(name, runs, want, failed):
    """Appends to failed each (what, output, stderr) of runs that is not want."""
    for what, y, e in runs:
        if y is None:
            failed.append((name, "%s failed: %s" % (what, e)))
        elif y.shape != want.shape:
            failed.append((name, "%s: shape %s, expected %s" % (what, y.shape, want.shape)))
        elif np.abs(y - want).max() > 1e-5 * max(1.0, float(np.abs(want).max())):
            failed.append((name, "%s: max |diff| %g" % (what, np.abs(y - want).max())))


def main():
    failed, n = [], 0
    for name, m, x, want, program in cases():
        n += 1
        path = os.path.join(WORK, name + ".onnx")
        open(path, "wb").write(m.SerializeToString())
        got, err = onnxtest.run_cnnc(CNNC, path, x)
        runs = [("cnnc run", got, err)]
        if program and got is not None:
            try:
                stem = os.path.join(WORK, name)
                onnxtest.build_program(CNNC, "gcc", path, stem)
                runs.append(("program", onnxtest.run_program(stem, x), None))
            except RuntimeError as e:
                runs.append(("program", None, str(e)[-300:]))
        check_runs(name, runs, want, failed)
    for name, m, x, want, flags in whole_cases():
        n += 1
        path = os.path.join(WORK, name + ".onnx")
        open(path, "wb").write(m.SerializeToString())
        got, err = onnxtest.run_cnnc(CNNC, path, x, flags=flags)
        check_runs(name, [("cnnc run", got, err)], want, failed)
    for name, m, expect in refusals():
        n += 1
        path = os.path.join(WORK, name + ".onnx")
        open(path, "wb").write(m.SerializeToString())
        xin = path + ".in.npy"
        np.save(xin, np.zeros([d for d in m.graph.input[0].type.tensor_type.shape.dim and
                               [x.dim_value for x in m.graph.input[0].type.tensor_type.shape.dim]],
                              np.float32))
        r = subprocess.run([CNNC, "run", path, "--input", xin, "--output", path + ".out.npy"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 1 or "%s: error: %s" % (path, expect) not in r.stderr:
            failed.append((name, "exit %d, stderr %r; expected %r" % (r.returncode,
                                                                       r.stderr.strip()[:300],
                                                                       expect)))
    for name, why in failed:
        print("FAIL %-32s %s" % (name, why))
    print("%d cases pass, %d fail" % (n - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
