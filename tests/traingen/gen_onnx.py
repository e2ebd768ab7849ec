#!/usr/bin/python3
"""ONNX models whose elementwise operands are trainable (tests/traingen).

    /usr/bin/python3 gen_onnx.py OUTDIR

An ONNX Add(x, B) or Mul(x, S) whose B/S is an initializer becomes an
add/mul node with a trainable operand (T_PARAM); Sub and Div by an
initializer become add/mul by a constant (its negation or reciprocal).
Writes OUTDIR/operands.onnx, where each kind reads its operand along a
different broadcast (per channel, per pixel, one scalar, the full
tensor), between a Conv and a Gemm so that both the operand's and the
input's gradients are exercised:

    x -> Conv -> Relu -> Add(B[3,1,1]) -> Mul(S[6,6]) -> Sub(c[1])
      -> Div(d[3,6,6]) -> Mul(T[1,3,1,6]) -> Add(E[1]) -> PRelu(slope[3,1,1])
      -> PRelu(a Constant node's slope: not trained) -> Flatten -> Gemm

check_grad.py then compares `./prog grad` with `cnnc grad` on it.

Also OUTDIR/shared.onnx, whose parameters several nodes read (a
convolution's weight and bias used twice, an operand multiplied in
twice), so that their gradients accumulate over several backward nodes
and the step follows the last one:

    x -> Conv(W, b) -> Relu -> Conv(W, b) -> Mul(S) -> Mul(S) -> Flatten -> Gemm

And OUTDIR/layout.onnx, the trainable operands of the layout and
normalisation operators (build_layout).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make_model(nodes, name, x_shape, y_shape, inits, opset):
    """The checked model of nodes from input x to output y."""
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def build():
    rng = np.random.default_rng(3)
    f32 = np.float32
    inits = {
        "conv.w": rng.normal(0, 0.4, (3, 2, 3, 3)).astype(f32),
        "conv.b": rng.normal(0, 0.1, 3).astype(f32),
        "B": rng.normal(0, 0.5, (3, 1, 1)).astype(f32),
        "S": rng.uniform(0.5, 1.5, (6, 6)).astype(f32),
        "c": np.array([0.3], f32),
        "d": rng.uniform(0.5, 2.0, (3, 6, 6)).astype(f32),
        "T": rng.uniform(-1.5, 1.5, (1, 3, 1, 6)).astype(f32),
        "E": np.array([0.2], f32),
        "slope": rng.uniform(0.1, 0.4, (3, 1, 1)).astype(f32),
        "fc.w": rng.normal(0, 0.2, (5, 108)).astype(f32),
        "fc.b": rng.normal(0, 0.1, 5).astype(f32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c1"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Add", ["r1", "B"], ["a1"], name="add_channel"),
        helper.make_node("Mul", ["a1", "S"], ["m1"], name="mul_pixel"),
        helper.make_node("Sub", ["m1", "c"], ["s1"], name="sub_scalar"),
        helper.make_node("Div", ["s1", "d"], ["d1"], name="div_full"),
        helper.make_node("Mul", ["d1", "T"], ["m2"], name="mul_channel_column"),
        helper.make_node("Add", ["E", "m2"], ["a2"], name="add_scalar_first"),
        helper.make_node("PRelu", ["a2", "slope"], ["p1"], name="prelu_trained"),
        helper.make_node("Constant", [], ["k"], name="k", value=numpy_helper.from_array(
            rng.uniform(0.1, 0.4, (3, 1, 1)).astype(f32))),
        helper.make_node("PRelu", ["p1", "k"], ["p2"], name="prelu_constant"),
        helper.make_node("Flatten", ["p2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], transB=1, name="fc"),
    ]
    return make_model(nodes, "operands", [1, 2, 6, 6], [1, 5], inits, 13)


def build_shared():
    rng = np.random.default_rng(4)
    f32 = np.float32
    inits = {
        "W": rng.normal(0, 0.4, (2, 2, 3, 3)).astype(f32),
        "b": rng.normal(0, 0.1, 2).astype(f32),
        "S": rng.uniform(0.5, 1.5, (2, 1, 1)).astype(f32),
        "fc.w": rng.normal(0, 0.2, (4, 72)).astype(f32),
        "fc.b": rng.normal(0, 0.1, 4).astype(f32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "W", "b"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu"),
        helper.make_node("Conv", ["r1", "W", "b"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Mul", ["c2", "S"], ["m1"], name="scale1"),
        helper.make_node("Mul", ["m1", "S"], ["m2"], name="scale2"),
        helper.make_node("Flatten", ["m2"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], transB=1, name="fc"),
    ]
    return make_model(nodes, "shared", [1, 2, 6, 6], [1, 4], inits, 13)


def build_layout():
    """Trainable operands of the layout and normalisation operators: a
    Concat's constant, MatMuls by a constant on the right (with the bias
    Add) and on the left, LayerNormalization's and InstanceNormalization's
    affine terms, and a Transpose and a Slice between them."""
    rng = np.random.default_rng(5)
    f32 = np.float32
    inits = {
        "C": rng.normal(0, 0.5, (1, 1, 4, 4)).astype(f32),
        "M": rng.normal(0, 0.5, (4, 5)).astype(f32),
        "bias": rng.normal(0, 0.1, 5).astype(f32),
        "L": rng.normal(0, 0.5, (4, 4)).astype(f32),
        "gamma": rng.uniform(0.5, 1.5, 5).astype(f32),
        "beta": rng.normal(0, 0.3, 5).astype(f32),
        "scale": rng.uniform(0.5, 1.5, 3).astype(f32),
        "shift": rng.normal(0, 0.3, 3).astype(f32),
        "starts": np.array([1], np.int64),
        "ends": np.array([5], np.int64),
        "axes": np.array([2], np.int64),
        "fc.w": rng.normal(0, 0.2, (4, 48)).astype(f32),
        "fc.b": rng.normal(0, 0.1, 4).astype(f32),
    }
    nodes = [
        helper.make_node("Concat", ["x", "C"], ["c1"], axis=1, name="cat"),
        helper.make_node("MatMul", ["c1", "M"], ["m1"], name="right"),
        helper.make_node("Add", ["m1", "bias"], ["a1"], name="right_bias"),
        helper.make_node("MatMul", ["L", "a1"], ["m2"], name="left"),
        helper.make_node("LayerNormalization", ["m2", "gamma", "beta"], ["n1"], axis=-1,
                         name="ln"),
        helper.make_node("Transpose", ["n1"], ["t1"], perm=[0, 1, 3, 2], name="swap"),
        helper.make_node("InstanceNormalization", ["t1", "scale", "shift"], ["n2"], name="inorm"),
        helper.make_node("Slice", ["n2", "starts", "ends", "axes"], ["s1"], name="rows"),
        helper.make_node("Flatten", ["s1"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], transB=1, name="fc"),
    ]
    return make_model(nodes, "layout", [1, 2, 4, 4], [1, 4], inits, 17)


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    os.makedirs(argv[1], exist_ok=True)
    onnx.save(build(), os.path.join(argv[1], "operands.onnx"))
    onnx.save(build_shared(), os.path.join(argv[1], "shared.onnx"))
    onnx.save(build_layout(), os.path.join(argv[1], "layout.onnx"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
