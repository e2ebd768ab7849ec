#!/usr/bin/python3
"""Whole pre-quantized ONNX models (tests/int8): cnnc against ONNX Runtime,
PyTorch, and its own generated code.

- QDQ models as ONNX Runtime's quantize_static writes them (qdq.py): a small
  CNN with every integer kernel (conv per channel and per tensor, depthwise,
  pointwise, max and average pools, a residual add of two scales, concat,
  global average pool, flatten, dense, softmax), in uint8 and in int8
  activations; and the QOperator form (QLinearConv, MaxPool on uint8,
  QLinearMatMul). Their scales come from a float run on a calibration batch.
  Oracle: ONNX Runtime (npm's onnxruntime-node) computing them as ONNX
  defines QDQ, in float between the quantizations (its QLinearConv, which
  the QOperator form needs, in its integers): >= 99 % of output elements
  within one step of the output scale, none more than 3.
- A model quantized by PyTorch (eager mode, qnnpack) and exported by
  torch.onnx, Casts and all: within one step of PyTorch's quantized module.
- Every model lowers to integer layers only, and the generated program
  agrees with `cnnc run` bit for bit.
- Bad models are errors naming the node: a scale of 0, a negative scale, a
  zero point out of its type's range, per-channel scales of the wrong count.

usage: check_qdq_models.py CNNC WORKDIR CC
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ort"))
import ortlib  # noqa: E402
from int8lib import expect, failures, finish, run  # noqa: E402
from qdq import Builder  # noqa: E402

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2"]


class Net:
    """The float network, its ranges on a calibration batch, and a QDQ model
    of it with those ranges' scales."""

    def __init__(self, rng):
        r = lambda *s: torch.from_numpy((rng.standard_normal(s) * 0.3).astype(np.float32))
        self.w = {'c1': r(8, 3, 3, 3), 'b1': r(8), 'c2': r(8, 8, 3, 3), 'b2': r(8),
                  'c3': r(8, 8, 1, 1), 'b3': r(8), 'dw': r(16, 1, 3, 3), 'bdw': r(16),
                  'fc': r(10, 16), 'bfc': r(10)}

    def forward(self, x):
        w, t = self.w, {}
        t['x'] = x
        t['c1'] = F.relu(F.conv2d(x, w['c1'], w['b1'], padding=1))
        t['mp'] = F.max_pool2d(t['c1'], 2)
        t['c2'] = F.conv2d(t['mp'], w['c2'], w['b2'], padding=1)
        t['c3'] = F.conv2d(t['mp'], w['c3'], w['b3'])
        t['add'] = F.relu(t['c2'] + t['c3'])
        t['cat'] = torch.cat([t['add'], t['mp']], 1)
        t['ap'] = F.avg_pool2d(t['cat'], 2)
        t['dw'] = F.relu6(F.conv2d(t['ap'], w['dw'], w['bdw'], padding=1, groups=16))
        t['gap'] = F.adaptive_avg_pool2d(t['dw'], 1).flatten(1)
        t['fc'] = F.linear(t['gap'], w['fc'], w['bfc'])
        t['sm'] = torch.softmax(t['fc'], 1)
        return t


def scale_of(v, dtype):
    lo, hi = min(float(v.min()), 0.0), max(float(v.max()), 0.0)
    s = np.float32((hi - lo) / 255)
    zp = int(np.clip(round(-lo / s), 0, 255))
    return s, (zp if dtype == np.uint8 else zp - 128)


def qweight(w, per_channel, bits=127):
    w = w.numpy()
    axes = tuple(range(1, w.ndim))
    s = (np.abs(w).max(axis=axes) if per_channel else np.abs(w).max()) / bits
    s = np.asarray(s, np.float32)
    q = np.clip(np.rint(w / (s.reshape(-1, *[1] * (w.ndim - 1)) if per_channel else s)), -bits, bits)
    return q.astype(np.int8), s


def qdq_model(net, calib, dtype, per_channel):
    t = net.forward(torch.from_numpy(calib))
    sc = {k: scale_of(v, dtype) for k, v in t.items()}
    sc['mp'] = sc['c1']  # pools keep the scale, as quantize_static makes them
    B = Builder(['N', 3, 16, 16])
    qdq = lambda x, k: B.qdq(x, sc[k][0], sc[k][1], dtype)

    def conv(x, k, b, xs, **attrs):
        wq, ws = qweight(net.w[k], per_channel)
        bias = B.bias(np.rint(net.w[b].numpy() / (sc[xs][0] * ws)), sc[xs][0] * ws)
        return B.node('Conv', [x, B.weight(wq, ws), bias], **attrs)

    x = qdq('x', 'x')
    c1 = qdq(B.node('Relu', [conv(x, 'c1', 'b1', 'x', pads=[1] * 4)]), 'c1')
    mp = qdq(B.node('MaxPool', [c1], kernel_shape=[2, 2], strides=[2, 2]), 'mp')
    c2 = qdq(conv(mp, 'c2', 'b2', 'mp', pads=[1] * 4), 'c2')
    c3 = qdq(conv(mp, 'c3', 'b3', 'mp'), 'c3')
    add = qdq(B.node('Relu', [B.node('Add', [c2, c3])]), 'add')
    cat = qdq(B.node('Concat', [add, mp], axis=1), 'cat')
    ap = qdq(B.node('AveragePool', [cat], kernel_shape=[2, 2], strides=[2, 2]), 'ap')
    dw = conv(ap, 'dw', 'bdw', 'ap', pads=[1] * 4, group=16)
    dw = qdq(B.node('Clip', [dw, B.const(np.float32(0)), B.const(np.float32(6))]), 'dw')
    gap = qdq(B.node('Flatten', [qdq(B.node('GlobalAveragePool', [dw]), 'gap')]), 'gap')
    wq, ws = qweight(net.w['fc'], per_channel)
    fc = B.node('Gemm', [gap, B.weight(wq, ws), B.bias(np.rint(net.w['bfc'].numpy()
                                                                  / (sc['gap'][0] * ws)),
                                                         sc['gap'][0] * ws)], transB=1)
    out = B.qdq(B.node('Softmax', [qdq(fc, 'fc')], axis=1), 1 / 256,
                0 if dtype == np.uint8 else -128, dtype)
    return B.model(out, ['N', 10]), np.float32(1 / 256)


def qoperator_model(net, calib):
    """ONNX Runtime's QOperator form: QLinearConv, MaxPool on uint8, QLinearMatMul.
    ONNX Runtime runs QLinearConv in integers only, which on x86 without VNNI
    saturates u8 x s8 pairs (vpmaddubsw): the weights are 7-bit, as its
    quantize_static's reduce_range makes them for such machines."""
    w = net.w
    wfc = torch.from_numpy(np.random.default_rng(5).standard_normal((10, 512)).astype(np.float32)
                           * 0.05)
    t = {'x': torch.from_numpy(calib)}
    t['c1'] = F.conv2d(t['x'], w['c1'], w['b1'], padding=1)
    t['c2'] = F.conv2d(t['c1'], w['c2'], w['b2'], padding=1)
    t['out'] = F.max_pool2d(t['c2'], 2).flatten(1) @ wfc.T
    sc = {k: scale_of(v, np.uint8) for k, v in t.items()}
    B = Builder(['N', 3, 16, 16])
    s, z = B.const, lambda v: B.const(np.uint8(v))

    def qconv(x, xs, k, b, ys):
        wq, ws = qweight(net.w[k], True, 63)
        bias = B.const(np.rint(net.w[b].numpy() / (sc[xs][0] * ws)).astype(np.int32))
        return B.node('QLinearConv', [x, s(sc[xs][0]), z(sc[xs][1]), B.const(wq), s(ws),
                                      B.const(np.zeros(len(ws), np.int8)), s(sc[ys][0]),
                                      z(sc[ys][1]), bias], pads=[1] * 4)

    x = B.q('x', sc['x'][0], sc['x'][1])
    c1 = qconv(x, 'x', 'c1', 'b1', 'c1')
    c2 = qconv(c1, 'c1', 'c2', 'b2', 'c2')
    flat = B.node('Flatten', [B.node('MaxPool', [c2], kernel_shape=[2, 2], strides=[2, 2])])
    wq, ws = qweight(wfc.T.contiguous(), False, 63)
    y = B.node('QLinearMatMul', [flat, s(sc['c2'][0]), z(sc['c2'][1]), B.const(wq), s(ws),
                                 B.const(np.int8(0)), s(sc['out'][0]), z(sc['out'][1])])
    return B.model(B.dq(y, sc['out'][0], sc['out'][1]), ['N', 10]), sc['out'][0]


def torch_model(work, rng):
    """PyTorch's own: eager-mode post-training quantization, torch.onnx export."""
    import torch.nn as nn
    torch.backends.quantized.engine = 'qnnpack'

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.dq = torch.ao.quantization.QuantStub(), torch.ao.quantization.DeQuantStub()
            self.c = nn.Conv2d(3, 8, 3, padding=1)
            self.r = nn.ReLU()
            self.c2 = nn.Conv2d(8, 8, 3, stride=2)
            self.f = nn.Linear(8 * 7 * 7, 10)

        def forward(self, x):
            x = self.c2(self.r(self.c(self.q(x))))
            return self.dq(self.f(torch.flatten(x, 1)))

    m = M().eval()
    m.qconfig = torch.ao.quantization.get_default_qconfig('qnnpack')
    m = torch.ao.quantization.fuse_modules(m, [['c', 'r']])
    torch.ao.quantization.prepare(m, inplace=True)
    m(torch.from_numpy(rng.standard_normal((32, 3, 16, 16)).astype(np.float32)))
    torch.ao.quantization.convert(m, inplace=True)
    path = os.path.join(work, 'torch_quantized.onnx')
    torch.onnx.export(m, torch.zeros(1, 3, 16, 16), path, opset_version=13)
    return m, path, np.float32(m.f.scale)


def lsb_report(got, ref, step):
    d = np.abs(got - ref) / step
    return float((d <= 1 + 1e-3).mean()), float(d.max())


def check_program(cnnc, cc, model, x_path, ref_path, work, tag):
    """Every layer integer; the generated program = cnnc run, bit for bit."""
    r = run([cnnc, "run", model, "--input", x_path, "--output", ref_path, "--dump-ir=quantize"])
    floats = [l.split(" = ")[0] for l in r.stdout.splitlines()
              if " = " in l and " i8 " not in l and "dequantize(" not in l]
    expect(not floats, "%s: every layer integer" % tag, floats)
    c = os.path.join(work, tag + ".c")
    run([cnnc, model, "-o", c, "--main"])
    run([cc] + STRICT + [c, "-o", os.path.join(work, tag), "-lm"])
    run([os.path.join(work, tag), "infer", x_path, os.path.join(work, tag + "_gen.npy")])
    expect(np.array_equal(np.load(os.path.join(work, tag + "_gen.npy")), np.load(ref_path)),
           "%s: generated = cnnc run, bit for bit" % tag)
    return np.load(ref_path)


def check_against_ort(cnnc, cc, work, tag, model, step, x):
    path = os.path.join(work, tag + ".onnx")
    onnx.save(model, path)
    np.save(os.path.join(work, tag + "_x.npy"), x)
    got = check_program(cnnc, cc, path, os.path.join(work, tag + "_x.npy"),
                        os.path.join(work, tag + "_y.npy"), work, tag)
    ref = ortlib.run(path, x)
    within, worst = lsb_report(got, ref, step)
    expect(within >= 0.99 and worst <= 3 + 1e-3, "%s vs ONNX Runtime" % tag,
           "(%.2f %% within 1 step, worst %.2f steps)" % (100 * within, worst))


def bad_model(kind):
    """A one-layer QDQ model broken as `kind` says; the error's words."""
    B = Builder([1, 2, 4, 4])
    scale, zp, ws = 0.02, 128, np.full(3, 0.01, np.float32)
    if kind == "zero scale":
        scale = 0.0
    if kind == "negative scale":
        scale = -0.5
    if kind == "channels":
        ws = np.full(2, 0.01, np.float32)
    x = B.qdq('x', scale, zp)
    w = B.weight(np.ones((3, 2, 1, 1), np.int8), ws)
    m = B.model(B.qdq(B.node('Conv', [x, w]), 0.05, 128), [1, 3, 4, 4])
    if kind == "zero point":  # uint8 data 300, as int32_data allows
        z = [i for i in m.graph.initializer if i.data_type == onnx.TensorProto.UINT8][0]
        z.ClearField('raw_data')
        z.int32_data[:] = [300]
    return m, {"zero scale": "scale 0 is not a positive", "negative scale": "scale -0.5 is not",
               "zero point": "value 300 is out of range for uint8",
               "channels": "2 scales for the 3 channels"}[kind]


def check_errors(cnnc, work):
    for kind in ("zero scale", "negative scale", "zero point", "channels"):
        m, words = bad_model(kind)
        path = os.path.join(work, "bad_%s.onnx" % kind.replace(" ", "_"))
        onnx.save(m, path)
        out_c = os.path.join(work, "bad.c")
        if os.path.exists(out_c):
            os.remove(out_c)
        r = run([cnnc, path, "-o", out_c], ok=False)
        first = r.stderr.splitlines()[0] if r.stderr else ""
        expect(r.returncode == 1 and first.startswith(path + ": error: ") and words in first
               and not os.path.exists(out_c), "QDQ model with a %s: a located error" % kind,
               repr(first))


def main():
    cnnc, work, cc = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    ortlib.require()
    rng = np.random.default_rng(3)
    net = Net(rng)
    calib = rng.standard_normal((32, 3, 16, 16)).astype(np.float32)
    x = rng.standard_normal((40, 3, 16, 16)).astype(np.float32)
    try:
        for dtype, per_channel, tag in ((np.uint8, True, "qdq_u8"), (np.int8, True, "qdq_s8"),
                                        (np.uint8, False, "qdq_u8_per_tensor")):
            model, step = qdq_model(net, calib, dtype, per_channel)
            check_against_ort(cnnc, cc, work, tag, model, step, x)
        model, step = qoperator_model(net, calib)
        check_against_ort(cnnc, cc, work, "qoperator", model, step, x)
        m, path, step = torch_model(work, rng)
        np.save(os.path.join(work, "torch_x.npy"), x)
        got = check_program(cnnc, cc, path, os.path.join(work, "torch_x.npy"),
                            os.path.join(work, "torch_y.npy"), work, "torch_quantized")
        within, worst = lsb_report(got, m(torch.from_numpy(x)).numpy(), step)
        expect(worst <= 1 + 1e-3, "PyTorch-exported model vs PyTorch's quantized module",
               "(%.2f %% within 1 step, worst %.2f steps)" % (100 * within, worst))
        check_errors(cnnc, work)
    except RuntimeError as e:
        failures.append(str(e)[:3000])
    finish()


if __name__ == "__main__":
    main()
