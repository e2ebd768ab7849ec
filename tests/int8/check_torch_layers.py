#!/usr/bin/python3
"""Per layer, cnnc's integer kernels against PyTorch's quantized modules
(torch.ao.nn.quantized and the fused torch.nn.intrinsic.quantized ones),
with the same scales and zero points: every output element within one
step of the output scale (issue 14's oracle).

Each case is one PyTorch quantized layer on a quint8 input (the engines
this torch has: qnnpack and onednn; fbgemm when it is built in) and the
QDQ ONNX model of the same layer with the same integers (tests/int8/qdq.py):
the input's scale and zero point, the int8 weights per channel or per
tensor, the int32 bias at input scale * weight scale, the output's scale
and zero point. `cnnc run` (the integer interpreter, which the generated
code matches bit for bit) runs the model on the dequantized input; its
output must be within one output step of torch's, element by element.

usage: check_torch_layers.py CNNC WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.ao.nn.quantized as nnq
import torch.nn.functional as F
import torch.nn.intrinsic.quantized as nniq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qdq import Builder  # noqa: E402

failures = []


def out_params(y):
    """A uint8 scale and zero point covering float tensor y (and 0)."""
    lo, hi = min(float(y.min()), 0.0), max(float(y.max()), 0.0)
    scale = (hi - lo) / 255 if hi > lo else 1.0
    return np.float32(scale), int(np.clip(round(-lo / scale), 0, 255))


def qin(rng, shape, scale=0.03):
    """A quint8 input and the reals it holds (what cnnc is given)."""
    zp = 128 + int(rng.integers(-30, 30))
    xq = torch.quantize_per_tensor(torch.from_numpy(rng.standard_normal(shape).astype(np.float32)),
                                   scale, zp, torch.quint8)
    return xq, xq.dequantize().numpy(), scale, zp


def qweight(rng, shape, per_channel):
    """int8 weights; 7-bit ones (PyTorch's reduce_range) for the x86 engines,
    whose u8 x s8 products go through vpmaddubsw's saturating int16 pair
    sums where the CPU has no VNNI: full-range weights make them wrong by
    dozens of steps (measured on an AVX2 machine: 46), not cnnc."""
    bits = 127 if torch.backends.quantized.engine == 'qnnpack' else 63
    w = torch.from_numpy((rng.standard_normal(shape) * 0.2).astype(np.float32))
    if per_channel:
        s = w.reshape(shape[0], -1).abs().max(1).values.double() / bits
        wq = torch.quantize_per_channel(w, s, torch.zeros(shape[0], dtype=torch.long), 0, torch.qint8)
        return wq, s.float().numpy()
    s = float(w.abs().max()) / bits
    return torch.quantize_per_tensor(w, s, 0, torch.qint8), np.float32(s)


def conv(rng, cin, cout, k, s=1, p=0, d=1, groups=1, bias=True, relu=False, per_channel=True,
         size=(9, 10)):
    one_d = len(size) == 1
    xq, x, sx, zx = qin(rng, (2, cin) + size)
    wq, sw = qweight(rng, (cout, cin // groups) + (k,) * len(size), per_channel)
    b = torch.from_numpy((rng.standard_normal(cout) * 0.3).astype(np.float32)) if bias else None
    fn = F.conv1d if one_d else F.conv2d
    yf = fn(torch.from_numpy(x), wq.dequantize(), b, s, p, d, groups)
    sy, zy = out_params(F.relu(yf) if relu else yf)
    cls = (nniq.ConvReLU1d if relu else nnq.Conv1d) if one_d else (nniq.ConvReLU2d if relu else nnq.Conv2d)
    mod = cls(cin, cout, k, s, p, d, groups, bias=bias)
    mod.set_weight_bias(wq, b)
    mod.scale, mod.zero_point = float(sy), zy
    ref = mod(xq).dequantize().numpy()
    B = Builder(x.shape)
    ins = [B.qdq('x', sx, zx), B.weight(wq.int_repr().numpy(), sw)]
    if bias:
        ins.append(B.bias(np.rint(b.numpy() / (np.float32(sx) * sw)), np.float32(sx) * sw))
    n = len(size)
    y = B.node('Conv', ins, kernel_shape=[k] * n, strides=[s] * n, pads=[p] * 2 * n,
               dilations=[d] * n, group=groups)
    if relu:
        y = B.node('Relu', [y])
    return x, ref, sy, B.model(B.qdq(y, sy, zy), list(ref.shape))


def linear(rng, fin, fout, relu=False, per_channel=True):
    xq, x, sx, zx = qin(rng, (3, fin))
    wq, sw = qweight(rng, (fout, fin), per_channel)
    b = torch.from_numpy((rng.standard_normal(fout) * 0.3).astype(np.float32))
    yf = F.linear(torch.from_numpy(x), wq.dequantize(), b)
    sy, zy = out_params(F.relu(yf) if relu else yf)
    mod = (nniq.LinearReLU if relu else nnq.Linear)(fin, fout)
    mod.set_weight_bias(wq, b)
    mod.scale, mod.zero_point = float(sy), zy
    ref = mod(xq).dequantize().numpy()
    B = Builder(x.shape)
    ins = [B.qdq('x', sx, zx), B.weight(wq.int_repr().numpy(), sw),
           B.bias(np.rint(b.numpy() / (np.float32(sx) * sw)), np.float32(sx) * sw)]
    y = B.node('Gemm', ins, transB=1)
    if relu:
        y = B.node('Relu', [y])
    return x, ref, sy, B.model(B.qdq(y, sy, zy), list(ref.shape))


def binary(rng, op, relu=False):
    """add, mul or cat of two quantizations of one input, at different scales."""
    xq, x, sx, zx = qin(rng, (2, 4, 5, 6))
    s2, z2 = 0.047, 100
    x2q = torch.quantize_per_tensor(torch.from_numpy(x), s2, z2, torch.quint8)
    t = torch.from_numpy(x)
    yf = {'add': t + x2q.dequantize(), 'mul': t * x2q.dequantize(),
          'cat': torch.cat([t, x2q.dequantize()], 1)}[op]
    sy, zy = out_params(F.relu(yf) if relu else yf)
    f = nnq.QFunctional()
    f.scale, f.zero_point = float(sy), zy
    ref = {'add': f.add_relu if relu else f.add, 'mul': f.mul,
           'cat': lambda a, b: f.cat([a, b], 1)}[op](xq, x2q).dequantize().numpy()
    B = Builder(x.shape)
    a, b = B.qdq('x', sx, zx), B.qdq('x', s2, z2)
    y = B.node({'add': 'Add', 'mul': 'Mul', 'cat': 'Concat'}[op], [a, b],
               **({'axis': 1} if op == 'cat' else {}))
    if relu:
        y = B.node('Relu', [y])
    return x, ref, sy, B.model(B.qdq(y, sy, zy), list(ref.shape))


def pool(rng, kind, k=2, s=2, p=0, cip=True):
    """Pools keep their input's scale in PyTorch."""
    if not cip and torch.backends.quantized.engine == 'qnnpack':
        raise RuntimeError('qnnpack averages padded cells whatever count_include_pad says')
    xq, x, sx, zx = qin(rng, (2, 3, 9, 11))
    if kind == 'max':
        yq = F.max_pool2d(xq, k, s, p)
    elif kind == 'avg':
        yq = F.avg_pool2d(xq, k, s, p, count_include_pad=cip)
    else:
        yq = F.adaptive_avg_pool2d(xq, 1)
    B = Builder(x.shape)
    xi = B.qdq('x', sx, zx)
    if kind == 'global':
        y = B.node('GlobalAveragePool', [xi])
    else:
        attrs = {'kernel_shape': [k, k], 'strides': [s, s], 'pads': [p] * 4}
        if kind == 'avg':
            attrs['count_include_pad'] = int(cip)
        y = B.node('MaxPool' if kind == 'max' else 'AveragePool', [xi], **attrs)
    ref = yq.dequantize().numpy()
    return x, ref, np.float32(sx), B.model(B.qdq(y, sx, zx), list(ref.shape))


def activation(rng, kind):
    """Table-driven activations, and softmax, at torch's output scales."""
    xq, x, sx, zx = qin(rng, (2, 6, 5, 4), 0.05)
    t = torch.from_numpy(x)
    yf = {'sigmoid': torch.sigmoid(t), 'tanh': torch.tanh(t), 'leaky_relu': F.leaky_relu(t, 0.1),
          'elu': F.elu(t, 0.7), 'relu6': F.relu6(t), 'softmax': torch.softmax(t, 1)}[kind]
    sy, zy = out_params(yf)
    if kind == 'sigmoid':  # the scale torch's engines require
        sy, zy = np.float32(1 / 256), 0
    mods = {'sigmoid': lambda: nnq.Sigmoid(float(sy), zy),
            'leaky_relu': lambda: nnq.LeakyReLU(float(sy), zy, 0.1),
            'elu': lambda: nnq.ELU(float(sy), zy, 0.7),
            'softmax': lambda: nnq.Softmax(1, float(sy), zy)}
    if kind in mods:
        yq = mods[kind]()(xq)
    else:  # tanh and relu6 choose their own output scale
        yq = torch.tanh(xq) if kind == 'tanh' else nnq.ReLU6()(xq)
        sy, zy = np.float32(yq.q_scale()), yq.q_zero_point()
    B = Builder(x.shape)
    xi = B.qdq('x', sx, zx)
    if kind == 'relu6':
        y = B.node('Clip', [xi, B.const(np.float32(0)), B.const(np.float32(6))])
    else:
        attrs = {'leaky_relu': {'alpha': 0.1}, 'elu': {'alpha': 0.7}, 'softmax': {'axis': 1}}
        y = B.node({'sigmoid': 'Sigmoid', 'tanh': 'Tanh', 'leaky_relu': 'LeakyRelu', 'elu': 'Elu',
                    'softmax': 'Softmax'}[kind], [xi], **attrs.get(kind, {}))
    ref = yq.dequantize().numpy()
    return x, ref, sy, B.model(B.qdq(y, sy, zy), list(ref.shape))


def batchnorm(rng):
    xq, x, sx, zx = qin(rng, (2, 5, 4, 6))
    c = 5
    w, b = rng.uniform(0.5, 1.5, c), rng.standard_normal(c) * 0.2
    mean, var = rng.standard_normal(c) * 0.1, rng.uniform(0.5, 2, c)
    mod = nnq.BatchNorm2d(c)
    for name, v in (('weight', w), ('bias', b), ('running_mean', mean), ('running_var', var)):
        getattr(mod, name).data = torch.from_numpy(v.astype(np.float32))
    yf = F.batch_norm(torch.from_numpy(x), mod.running_mean, mod.running_var, mod.weight, mod.bias)
    sy, zy = out_params(yf)
    mod.scale, mod.zero_point = torch.tensor(float(sy)), torch.tensor(zy)
    ref = mod(xq).dequantize().numpy()
    B = Builder(x.shape)
    ins = [B.qdq('x', sx, zx)] + [B.const(v.astype(np.float32)) for v in (w, b, mean, var)]
    y = B.node('BatchNormalization', ins)
    return x, ref, sy, B.model(B.qdq(y, sy, zy), list(ref.shape))


CASES = [
    ('conv3x3_relu', lambda r: conv(r, 3, 8, 3, p=1, relu=True)),
    ('conv5x5_s2_nobias', lambda r: conv(r, 4, 6, 5, s=2, p=2, bias=False)),
    ('conv3x3_dilated', lambda r: conv(r, 3, 5, 3, d=2, p=2)),
    ('conv_grouped', lambda r: conv(r, 4, 6, 3, p=1, groups=2)),
    ('conv_depthwise', lambda r: conv(r, 8, 8, 3, p=1, groups=8, relu=True)),
    ('conv_depthwise_s2', lambda r: conv(r, 6, 6, 3, s=2, p=1, groups=6)),
    ('conv_pointwise_per_tensor', lambda r: conv(r, 16, 12, 1, per_channel=False)),
    ('conv_wide', lambda r: conv(r, 32, 40, 3, p=1, size=(6, 7))),
    ('conv1d', lambda r: conv(r, 3, 4, 3, p=1, size=(17,))),
    ('conv1d_relu_s2', lambda r: conv(r, 2, 5, 5, s=2, p=2, relu=True, size=(20,))),
    ('linear', lambda r: linear(r, 40, 10)),
    ('linear_relu_per_tensor', lambda r: linear(r, 25, 7, relu=True, per_channel=False)),
    ('add', lambda r: binary(r, 'add')),
    ('add_relu', lambda r: binary(r, 'add', relu=True)),
    ('mul', lambda r: binary(r, 'mul')),
    ('cat', lambda r: binary(r, 'cat')),
    ('maxpool', lambda r: pool(r, 'max')),
    ('maxpool_k3_p1', lambda r: pool(r, 'max', 3, 2, 1)),
    ('avgpool', lambda r: pool(r, 'avg')),
    ('avgpool_k3_p1_nopad', lambda r: pool(r, 'avg', 3, 1, 1, cip=False)),
    ('global_avgpool', lambda r: pool(r, 'global')),
    ('sigmoid', lambda r: activation(r, 'sigmoid')),
    ('tanh', lambda r: activation(r, 'tanh')),
    ('leaky_relu', lambda r: activation(r, 'leaky_relu')),
    ('elu', lambda r: activation(r, 'elu')),
    ('relu6', lambda r: activation(r, 'relu6')),
    ('softmax', lambda r: activation(r, 'softmax')),
    ('batchnorm', batchnorm),
]


def check(cnnc, work, engine, name, case):
    rng = np.random.default_rng(abs(hash(name)) % (1 << 32))
    try:
        x, ref, step, model = case(rng)
    except RuntimeError as e:  # an op this engine lacks
        print('skip: %s/%s (%s)' % (engine, name, str(e).splitlines()[0][:80]))
        return
    stem = os.path.join(work, '%s_%s' % (engine, name))
    onnx.save(model, stem + '.onnx')
    np.save(stem + '_x.npy', x)
    r = subprocess.run([cnnc, 'run', stem + '.onnx', '--input', stem + '_x.npy', '--output',
                        stem + '_y.npy', '--dump-ir=quantize'], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append('%s/%s: cnnc run failed: %s' % (engine, name, r.stderr[:500]))
        return
    floats = [l for l in r.stdout.splitlines() if ' = ' in l and ' i8 ' not in l
              and 'dequantize(' not in l]
    got = np.load(stem + '_y.npy')
    steps = np.abs(got - ref) / step
    worst = float(steps.max())
    ok = worst <= 1.0 + 1e-3 and not floats
    print('%s: %s/%s: max %.3f steps, %.1f %% exact%s' % (
        'ok' if ok else 'FAIL', engine, name, worst, 100 * float((steps < 1e-3).mean()),
        ', float layers: %s' % floats if floats else ''))
    if not ok:
        failures.append('%s/%s' % (engine, name))


def main():
    cnnc, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    engines = [e for e in ('qnnpack', 'fbgemm', 'onednn')
               if e in torch.backends.quantized.supported_engines]
    for engine in engines:
        torch.backends.quantized.engine = engine
        for name, case in CASES:
            check(cnnc, work, engine, name, case)
    print('engines: %s; %d failures' % (', '.join(engines), len(failures)))
    sys.exit(1 if failures or not engines else 0)


if __name__ == '__main__':
    main()
