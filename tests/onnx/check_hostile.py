#!/usr/bin/python3
"""Feeds cnnc malformed and hostile ONNX files, made here with onnx.helper
and raw bytes. Each must give a `FILE: error:` line that says what is wrong
and a non-zero exit status, never a crash (a signal, an ASan report) or a
hang.

usage: check_hostile.py CNNC WORKDIR"""
import os
import random
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CNNC, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
F = TensorProto.FLOAT


def model(nodes, inits=(), inp=None, outs=None, opset=13, ir=8, check=False):
    inp = inp or [helper.make_tensor_value_info("x", F, ["N", 3, 8, 8])]
    outs = outs or [helper.make_tensor_value_info("y", F, None)]
    g = helper.make_graph(nodes, "g", inp, outs, list(inits))
    m = helper.make_model(g, opset_imports=[] if opset is None else [helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m.SerializeToString()


def conv_model(**kw):
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    return model([helper.make_node("Conv", ["x", "w"], ["y"], name="Conv_3", **kw)], [w])


def tensor(name, dims, dtype=F, raw=b"", **fields):
    t = TensorProto(name=name, dims=dims, data_type=dtype)
    if raw:
        t.raw_data = raw
    for k, v in fields.items():
        getattr(t, k).extend(v)
    return t


def conv_external(location):
    """A Conv whose 4x3x3x3 weight lives in the external file `location`."""
    w = tensor("w", [4, 3, 3, 3])
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    return model([helper.make_node("Conv", ["x", "w"], ["y"])], [w])


def relu_model():
    return model([helper.make_node("Relu", ["x"], ["y"], name="r")])


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def deep_nesting(depth):
    """graph.node.attribute.g.node.attribute.g... `depth` levels deep: the
    headers are built inside out, then joined once (no quadratic copying)."""
    headers, inner = [], 0
    for _ in range(depth):
        for num in (6, 5, 1):  # AttributeProto.g, NodeProto.attribute, GraphProto.node
            h = bytes([num << 3 | 2]) + varint(inner)
            headers.append(h)
            inner += len(h)
    h = bytes([7 << 3 | 2]) + varint(inner)  # ModelProto.graph
    headers.append(h)
    return b"\x08\x08" + b"".join(reversed(headers))


def ones(name, shape, dtype=np.float32):
    return numpy_helper.from_array(np.ones(shape, dtype), name)


def broadcast_and_reduce_cases():
    """Shapes that do not broadcast, axes that do not exist or mix samples."""
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    yield "mul_no_broadcast", model([helper.make_node("Mul", ["x", "c"], ["y"], name="m")],
                                    [ones("c", (4, 1, 1))]), "its dimension 0 is 4"
    yield "add_acts_no_broadcast", model(
        [helper.make_node("Conv", ["x", "w"], ["c"]),
         helper.make_node("Add", ["x", "c"], ["y"], name="a")], [w]), "does not broadcast"
    yield "mul_ranks_differ", model(
        [helper.make_node("Flatten", ["x"], ["f"]),
         helper.make_node("Mul", ["x", "f"], ["y"], name="m")]), "have ranks 3 and 1"
    yield "sub_const_batch", model([helper.make_node("Sub", ["c", "x"], ["y"], name="s")],
                                   [ones("c", (2, 3, 8, 8))]), "batch dimension of 1 only"
    yield "reduce_axis_out_of_range", model(
        [helper.make_node("ReduceMean", ["x"], ["y"], name="r", axes=[4])]), \
        "axis 4 is out of range for rank 4"
    yield "reduce_batch_axis", model(
        [helper.make_node("ReduceSum", ["x", "a"], ["y"], name="r")],
        [numpy_helper.from_array(np.array([0, 2], np.int64), "a")]), "axis 0, the batch"
    yield "reduce_no_axes", model([helper.make_node("ReduceMax", ["x"], ["y"], name="r")]), \
        "no axes"
    yield "reduce_axis_twice", model(
        [helper.make_node("ReduceL2", ["x"], ["y"], name="r", axes=[1, -3])]), \
        "axis 1 is given twice"
    yield "reduce_to_scalar", model(
        [helper.make_node("ReduceMean", ["x"], ["y"], name="r", axes=[1, 2, 3], keepdims=0)]), \
        "scalar per sample"
    yield "prelu_slope_mismatch", model(
        [helper.make_node("PRelu", ["x", "s"], ["y"], name="p")], [ones("s", (5,))]), \
        "does not broadcast"
    yield "pow_no_exponent", model([helper.make_node("Pow", ["x"], ["y"], name="p")]), \
        "input 1 (exponent) is missing"


def cases():
    good = relu_model()
    rng = random.Random(1)
    w4 = np.ones((4, 3, 3, 3), np.float32)
    yield "zero_length", b"", "empty"
    yield "random_bytes", bytes(rng.randrange(256) for _ in range(4096)), "not an ONNX model"
    yield "truncated", good[: len(good) // 2], "not an ONNX model"
    yield "truncated_one_byte", good[:-1], "not an ONNX model"
    yield "text_file", b"model lenet {\n input 3x32x32\n}\n", "not an ONNX model"
    yield "nested_garbage", deep_nesting(200000), "nested deeper"
    yield "huge_length_prefix", b"\x3a\xff\xff\xff\xff\x0f" + b"\x00" * 16, "not an ONNX model"
    yield "no_graph", b"\x08\x08", "opset"
    yield "ir_version_too_new", model([helper.make_node("Relu", ["x"], ["y"])], ir=99), "IR version"
    yield "opset_zero", model([helper.make_node("Relu", ["x"], ["y"])], opset=0), \
        "an unsupported opset of the default ONNX domain; opsets 1 to 17 are supported"
    yield "opset_too_new", model([helper.make_node("Relu", ["x"], ["y"])], opset=18), \
        "an unsupported opset of the default ONNX domain; opsets 1 to 17 are supported"
    yield "opset_missing", model([helper.make_node("Relu", ["x"], ["y"])], opset=None), \
        "no opset of the default ONNX domain"
    yield "unknown_op", model([helper.make_node("FooBar", ["x"], ["y"], name="f1")]), \
        "node 'f1' (FooBar): unsupported operator"
    yield "name_with_escapes", model([helper.make_node("FooBar", ["x"], ["y"], name="r\x1b[2J\x9b")]), \
        "node 'r\\x1B[2J\\xC2\\x9B' (FooBar): unsupported operator"
    yield "unknown_attribute", conv_model(foo=1), "node 'Conv_3' (Conv): unsupported attribute 'foo'"
    yield "attribute_wrong_type", conv_model(group=[1, 2]), "attribute 'group' has the wrong type"
    yield "missing_input", model([helper.make_node("Relu", ["nope"], ["y"], name="r")]), \
        "input 'nope' is not defined"
    yield "cycle", model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
                          helper.make_node("Relu", ["a"], ["b"], name="n2"),
                          helper.make_node("Relu", ["b"], ["y"], name="n3")]), "cycle"
    yield "huge_dims", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                             [tensor("w", [1 << 40, 1 << 40, 3, 3], raw=b"\0" * 16)]), \
        "too many elements"
    yield "dims_overflow", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                                 [tensor("w", [1 << 62, 8, 3, 3], raw=b"\0" * 16)]), \
        "too many elements"
    yield "negative_dim", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                                [tensor("w", [4, -3, 3, 3], raw=b"\0" * 16)]), "negative dimension"
    yield "raw_data_short", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                                  [tensor("w", [4, 3, 3, 3], raw=w4.tobytes()[:-4])]), \
        "raw_data holds 428 bytes, its shape needs 432"
    yield "float_data_short", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                                    [tensor("w", [4, 3, 3, 3], float_data=[1.0] * 5)]), \
        "holds 5 values, its shape needs 108"
    yield "wrong_dtype", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                               [tensor("w", [4, 3, 3, 3], TensorProto.DOUBLE,
                                       raw=np.ones(108).tobytes())]), "float64 is not supported"
    yield "string_tensor", model([helper.make_node("Conv", ["x", "w"], ["y"])],
                                 [tensor("w", [1], TensorProto.STRING, string_data=[b"hi"])]), \
        "string is not supported"
    yield "input_huge_dims", model([helper.make_node("Relu", ["x"], ["y"])],
                                   inp=[helper.make_tensor_value_info("x", F, ["N", 1 << 30, 1 << 30, 1 << 30])]), \
        "too many elements"
    yield "input_symbolic_height", model([helper.make_node("Relu", ["x"], ["y"])],
                                         inp=[helper.make_tensor_value_info("x", F, ["N", 3, "H", 8])]), \
        "only the batch dimension may be symbolic"
    yield "input_int", model([helper.make_node("Relu", ["x"], ["y"])],
                             inp=[helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 3])]), \
        "must be a float32 tensor"
    yield "no_output", model([helper.make_node("Relu", ["x"], ["z"])]), "output 'y' is not computed"
    yield "two_outputs", model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["z"])],
                               outs=[helper.make_tensor_value_info("y", F, None),
                                     helper.make_tensor_value_info("z", F, None)]), "exactly one"
    yield "defined_twice", model([helper.make_node("Relu", ["x"], ["y"], name="a"),
                                  helper.make_node("Relu", ["x"], ["y"], name="b")]), \
        "output 'y' is already defined"
    yield "conv_weight_mismatch", model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                                        [numpy_helper.from_array(np.ones((4, 5, 3, 3), np.float32), "w")]), \
        "does not fit input"
    yield "kernel_larger_than_input", model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[9, 9])]), \
        "larger than the padded input"
    yield "reshape_bad_count", model([helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")],
                                     [numpy_helper.from_array(np.array([0, 7], np.int64), "s")]), \
        "cannot reshape"
    yield "constant_of_shape_huge", model(
        [helper.make_node("ConstantOfShape", ["s"], ["c"], name="cos"),
         helper.make_node("Add", ["x", "c"], ["y"])],
        [numpy_helper.from_array(np.array([1 << 20, 1 << 20, 1 << 20], np.int64), "s")]), \
        "too many elements"
    # 122 bytes asking for 2 GB (cnnc took 5 s and 2 GB before refusing the Add)
    yield "constant_of_shape_amplified", model(
        [helper.make_node("ConstantOfShape", ["s"], ["c"], name="cos"),
         helper.make_node("Add", ["x", "c"], ["y"])],
        [numpy_helper.from_array(np.array([1 << 14, 1 << 15], np.int64), "s")]), \
        "node 'cos' (ConstantOfShape): the constant result would have 536870912 elements"
    yield "broadcast_amplified", model(
        [helper.make_node("ConstantOfShape", ["s1"], ["a"]),
         helper.make_node("ConstantOfShape", ["s2"], ["b"]),
         helper.make_node("Mul", ["a", "b"], ["c"], name="mul"),
         helper.make_node("Add", ["x", "c"], ["y"])],
        [numpy_helper.from_array(np.array([1 << 13, 1], np.int64), "s1"),
         numpy_helper.from_array(np.array([1, 1 << 13], np.int64), "s2")]), \
        "node 'mul' (Mul): the constant result would have 67108864 elements, from 16384"
    yield "gather_amplified", model(
        [helper.make_node("ConstantOfShape", ["s"], ["a"]),
         helper.make_node("Gather", ["a", "i"], ["c"], name="ga", axis=0),
         helper.make_node("Add", ["x", "c"], ["y"])],
        [numpy_helper.from_array(np.array([4, 1 << 22], np.int64), "s"),
         numpy_helper.from_array(np.zeros(64, np.int64), "i")]), \
        "node 'ga' (Gather): the constant result would have 268435456 elements"
    # found by fuzz_onnx: a failed fold freed an uninitialised Const (a double free)
    yield "constant_without_value", model(
        [helper.make_node("Constant", [], ["c"], name="k"),
         helper.make_node("Add", ["x", "c"], ["y"])]), \
        "node 'k' (Constant): needs exactly one value attribute"
    # found by fuzz_onnx: an empty string attribute's bytes are NULL (memcpy UB)
    yield "empty_string_attribute", model(
        [helper.make_node("Pad", ["x", "p"], ["y"], name="pad", mode="")],
        [numpy_helper.from_array(np.zeros(8, np.int64), "p")]), \
        "node 'pad' (Pad): mode '' is not supported"
    # found by fuzz_onnx: the layer-norm pattern followed a node without outputs
    yield "pattern_node_without_output", model(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
         helper.make_node("Sub", ["x", "m"], ["d"]),
         helper.make_node("Pow", ["d", "two"], [], name="sq"),
         helper.make_node("Relu", ["d"], ["y"])],
        [numpy_helper.from_array(np.array(2, np.float32), "two")]), \
        "node 'sq' (Pow) has no output"
    yield "gather_out_of_range", model(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "i"], ["g"], name="ga"),
         helper.make_node("Reshape", ["x", "g"], ["y"])],
        [numpy_helper.from_array(np.array([7], np.int64), "i")]), "out of range"
    yield "several_unsupported", model(
        [helper.make_node("FooBar", ["x"], ["a"], name="first"),
         helper.make_node("Relu", ["a"], ["b"], name="r"),
         helper.make_node("Conv", ["b"], ["y"], name="second", bar=1)]), \
        ["node 'first' (FooBar): unsupported operator", "node 'second' (Conv): unsupported attribute 'bar'"]
    yield from broadcast_and_reduce_cases()
    yield from layout_cases()
    yield "external_escape", conv_external("../../etc/passwd"), "leaves the model's folder"
    yield "external_absolute", conv_external("/etc/passwd"), "leaves the model's folder"
    os.makedirs(os.path.join(WORK, "sub"), exist_ok=True)
    link = os.path.join(WORK, "link.bin")
    if not os.path.lexists(link):
        os.symlink("/etc/hostname", link)
    yield "external_symlink_out", conv_external("link.bin"), "resolves outside"
    with open(os.path.join(WORK, "short.bin"), "wb") as f:
        f.write(b"\0" * 100)
    yield "external_short_file", conv_external("short.bin"), "do not fit in the file"
    yield "external_missing", conv_external("missing.bin"), "cannot open external data"
    yield from upsampling_cases()


def upsampling_cases():
    """Issue 13: ConvTranspose and Resize asking for what no model computes."""
    w = numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32), "w")

    def convt(**kw):
        return model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct", **kw)], [w])

    def resize(inits, *inputs, **kw):
        return model([helper.make_node("Resize", ["x", *inputs], ["y"], name="rs", **kw)],
                     [numpy_helper.from_array(np.array(v, np.float32 if isinstance(v[0], float)
                                                       else np.int64), k)
                      for k, v in inits.items()])
    yield "convt_output_shape_unreachable", convt(strides=[2, 2], output_shape=[40, 17]), \
        "output_shape 40 on spatial axis 0: no padding gives it (the full output is 17 cells"
    yield "convt_output_shape_zero", convt(output_shape=[10, 0]), \
        "output_shape 0 on spatial axis 1: no padding gives it"
    yield "convt_output_padding_past_stride", convt(strides=[2, 2], output_padding=[0, 2]), \
        "output padding 2 of the width must be smaller than its stride (2) or its dilation (1)"
    yield "convt_weight_mismatch", model(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="ct")],
        [numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "w")]), "does not fit input"
    yield "convt_auto_pad_unknown", convt(auto_pad="SOMETIMES"), "auto_pad 'SOMETIMES'"
    scales = {"s": [1.0, 1.0, 2.0, 2.0]}
    yield "resize_cubic", resize(scales, "", "s", mode="cubic"), \
        "node 'rs' (Resize): mode 'cubic' is not supported (nearest and linear are)"
    yield "resize_crop_and_resize", resize(scales, "", "s",
                                           coordinate_transformation_mode="tf_crop_and_resize"), \
        "coordinate_transformation_mode 'tf_crop_and_resize' is not supported"
    yield "resize_nearest_mode_unknown", resize(scales, "", "s", nearest_mode="nearby"), \
        "nearest_mode 'nearby' is not supported"
    yield "resize_channels", resize({"s": [1.0, 2.0, 2.0, 2.0]}, "", "s"), \
        "scales the channel axis by 2; only the spatial axes can be resized"
    yield "resize_scales_and_sizes", resize({"s": [1.0, 1.0, 2.0, 2.0], "z": [1, 3, 9, 9]},
                                            "", "s", "z"), "needs exactly one of scales and sizes"
    yield "resize_scales_of_input", resize({}, "", "x"), "must be a constant"
    yield "resize_zero_scale", resize({"s": [1.0, 1.0, 0.0, 2.0]}, "", "s"), \
        "resize 'rs': scale 0 of spatial axis 0 must be positive"
    yield "resize_huge_scale", resize({"s": [1.0, 1.0, 1e9, 1e9]}, "", "s"), \
        "1 to 2^31 are supported"
    yield "resize_sizes_channels", resize({"z": [1, 4, 9, 9]}, "", "", "z"), \
        "sizes resizes the channel axis (3 to 4)"
    yield "upsample_scales_count", model(
        [helper.make_node("Upsample", ["x", "s"], ["y"], name="up")],
        [numpy_helper.from_array(np.array([2.0, 2.0, 2.0], np.float32), "s")], opset=9), \
        "scales 's' must be 4 float32 values"


def const(name, value, dtype=np.int64):
    return numpy_helper.from_array(np.array(value, dtype), name)


def one(op, inputs, inits=(), inp=None, **attrs):
    """A model of one node named n1 reading x (and the inits)."""
    return model([helper.make_node(op, inputs, ["y"], name="n1", **attrs)], inits, inp=inp)


def layout_cases():
    """The layout and normalisation operators' refusals (issue 13)."""
    f = np.float32
    flat = [helper.make_tensor_value_info("x", F, ["N", 6])]
    yield "transpose_batch", one("Transpose", ["x"], perm=[1, 0, 2, 3]), \
        "node 'n1' (Transpose): perm moves the batch axis"
    yield "transpose_not_perm", one("Transpose", ["x"], perm=[0, 1, 1, 2]), "not a permutation"
    step0 = [const("s", [0]), const("e", [4]), const("a", [2]), const("p", [0])]
    yield "slice_step_0", one("Slice", ["x", "s", "e", "a", "p"], step0), "the step on axis 2 is 0"
    yield "slice_empty", one("Slice", ["x", "s", "e", "a"],
                             [const("s", [5]), const("e", [2]), const("a", [3])]), "selects nothing"
    yield "slice_batch", one("Slice", ["x", "s", "e", "a"],
                             [const("s", [1]), const("e", [4]), const("a", [0])]), \
        "slices the batch axis"
    yield "slice_axis_twice", one("Slice", ["x", "s", "e", "a"],
                                  [const("s", [1, 1]), const("e", [4, 4]), const("a", [2, -2])]), \
        "axis 2 is sliced twice"
    split = helper.make_node("Split", ["x", "s"], ["y", "z"], name="n1", axis=1)
    yield "split_sizes", model([split], [const("s", [1, 1])]), "do not add up to 3"
    yield "split_batch", model([helper.make_node("Split", ["x"], ["y", "z"], name="n1")]), \
        "splits the batch axis"
    yield "unsqueeze_twice", one("Unsqueeze", ["x", "a"], [const("a", [1, -5])]), \
        "axis -5 is given twice"
    yield "unsqueeze_batch", one("Unsqueeze", ["x", "a"], [const("a", [0])]), "axis 0 is the batch"
    yield "squeeze_not_one", one("Squeeze", ["x", "a"], [const("a", [1])]), \
        "cannot squeeze axis 1 of size 3"
    varies = const("c", np.arange(256).reshape(2, 2, 8, 8), f)
    yield "concat_varies", one("Concat", ["x", "c"], [varies], axis=1), \
        "differs from sample to sample"
    w64 = const("w", np.ones((6, 4)), f)
    yield "gemm_bias_rows", one("Gemm", ["x", "w", "c"],
                                [w64, const("c", [[1, 2, 3, 4], [4, 3, 2, 1]], f)], inp=flat), \
        "differs from row to row"
    yield "gemm_bias_shape", one("Gemm", ["x", "w", "c"], [w64, const("c", [1, 2, 3], f)],
                                 inp=flat), "does not broadcast to [N, 4]"
    yield "matmul_mismatch", one("MatMul", ["x", "w"], [const("w", np.ones((5, 4)), f)]), \
        "the columns of the first operand are not the rows of the second"
    yield "matmul_batch_mix", one("MatMul", ["x", "w"],
                                  [const("w", np.ones((2, 1, 3, 8, 5)), f)]), "mix the samples"
    yield "matmul_flat_right", one("MatMul", ["w", "x"], [const("w", np.ones((4, 5)), f)],
                                   inp=flat), "mix the samples"
    yield "pad_batch", one("Pad", ["x", "p"], [const("p", [1, 0, 0, 0, 0, 0, 0, 0])]), \
        "pads the batch axis"
    yield "layernorm_batch", one("LayerNormalization", ["x", "g"],
                                 [const("g", np.ones((3, 8, 8)), f)], axis=0), \
        "normalises over the batch"
    yield "layernorm_scale", one("LayerNormalization", ["x", "g"], [const("g", np.ones(7), f)]), \
        "has shape 7, expected 8"
    yield "expand_activation", one("Expand", ["x", "s"], [const("s", [1, 3, 8, 8])]), \
        "(Expand): supported only on constants"
    yield "gather_act_out_of_range", one("Gather", ["x", "i"], [const("i", [0, 8])], axis=2), \
        "index 8 is out of range for dimension 8"
    yield "gather_batch", one("Gather", ["x", "i"], [const("i", [0])]), \
        "gathers along the batch axis"
    yield "gather_act_indices", one("Gather", ["x", "x"]), "the indices must be constant"
    ones6 = [const("g", np.ones(6), f), const("b", np.ones(6), f)]
    yield "instancenorm_flat", one("InstanceNormalization", ["x", "g", "b"], ones6, inp=flat), \
        "needs an input [N, C, D1, ...]"


def main():
    failures, n = 0, 0
    for name, data, expect in cases():
        n += 1
        path = os.path.join(WORK, name + ".onnx")
        with open(path, "wb") as f:
            f.write(data)
        try:
            r = subprocess.run([CNNC, "info", path], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            print("FAIL %-26s hangs" % name)
            failures += 1
            continue
        err = r.stderr
        first = re.compile(r"^%s: error: " % re.escape(path))
        expects = expect if isinstance(expect, list) else [expect]
        problems = []
        if r.returncode <= 0 or r.returncode >= 128:
            problems.append("exit status %d" % r.returncode)
        if "Sanitizer" in err or "runtime error" in err or "internal error" in err:
            problems.append("crash report")
        if re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", err):
            problems.append("raw control characters in the diagnostics")
        if not err or not first.match(err.splitlines()[0]):
            problems.append("first line is not 'FILE: error: '")
        problems += ["no '%s'" % e for e in expects if e not in err]
        if problems:
            failures += 1
            print("FAIL %-26s %s\n     stderr: %s" % (name, "; ".join(problems), err.strip()[:400]))
        else:
            print("ok   %-26s %s" % (name, err.splitlines()[0][len(path) + 2:][:90]))
    print("%d hostile files, %d failures" % (n, failures))
    sys.exit(1 if failures else 0)


main()
