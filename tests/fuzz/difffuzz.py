#!/usr/bin/python3
"""difffuzz.py: the differential fuzzer (Csmith and YARPGen's idea for cnnc).

    /usr/bin/python3 difffuzz.py CNNC WORKDIR [--seed S] [--models N]
                                 [--seconds T] [--cc CC] [--keep]

Generates random *valid* networks in the DSL: layer stacks over 2-D, 1-D
and flat inputs of random shapes; convs with random kernels, strides,
padding (valid, same, N, per axis, per side; zeros, reflect, replicate),
dilation, groups, depthwise, bias and fused activations; max and average
pools with ceil_mode and count_include_pad; global pools, dense, flatten,
reshape, batchnorm, dropout, every activation, softmax, maxout, pad,
transpose, slice, layernorm, groupnorm, instancenorm; transposed convs
(stride, dilation, padding per side, output padding, groups) and upsample
(nearest, linear, align_corners); branches
that read earlier layers (`from`) and add/concat joins; aliases (conv2d,
maxpool1d, ...) and unnamed layers. Each layer is a case dict of the
operator matrix (tests/torch/gen_matrix.py), so that the matrix's two
independent routes turn it into DSL text and into a PyTorch module, and a
failure found here can be written as a matrix row.

Every network, with random weights given through --weights (BatchNorm's
statistics random too), is checked four ways, each an independent oracle:
  forward   `cnnc run` against PyTorch (float64, eval mode);
  codegen   the `--main` program built with CC (-O0 or -O2, a batch limit
            below the sample count so that infer runs in chunks) against
            `cnnc run`;
  grad      for classifiers (every network gets a head most of the time)
            `cnnc grad` against torch autograd in training mode;
  traingen  for one network in four, a `--train --main` program's `grad`
            command against `cnnc grad`.
Tolerances are contract section 6's (1e-4; 1e-3 for gradients, measured
against 1% of the largest gradient as check_grad.py does).

A failing network is kept in WORKDIR/failures/NNNNN/ (model, weights,
input, what failed, how to rerun it), then cut down: each layer alone, on
its own input shape, goes through the check that failed; the first that
fails alone is printed as a matrix_cases.txt row. Prints a line per
failure and a summary (models generated, checked, discarded as invalid by
PyTorch, failures per check); exits 1 if anything failed. With --seconds
it stops starting new models after T seconds; the seed defaults to a random
one (printed, so that a run can be repeated).
"""
import argparse
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'torch'))
sys.path.insert(0, os.path.join(HERE, '..', 'grad'))
import gen_matrix as gm  # noqa: E402
from check_grad import compare_dir, summand_sizes, torch_grads  # noqa: E402
from oracle import compare, escape_name, write_params  # noqa: E402

Pair, Sides = gm.Pair, gm.Sides
MAX_NUMEL = 8192  # per tensor and sample: keeps a model to milliseconds
MAX_PARAMS = 20000  # per layer: weights are C text, and cc's time grows with them
# The smallest max|ref| a forward output is measured against. A network
# whose exact output is 0 (layernorm over an axis of one value) gives torch
# float64 rounding noise instead, values of 1e-16 amplified by a norm's
# 1/sqrt(eps) (up to 316 here) to about 1e-14 (seed 10010, model 25: 2.5e-14
# against cnnc's exact 0). Random weights and inputs of order 1 give no real
# output that small but through such a cancellation.
FORWARD_FLOOR = 1e-9
ACTS = ['relu', 'leaky_relu', 'leaky_relu(0.2)', 'sigmoid', 'tanh', 'elu', 'elu(0.7)', 'relu6',
        'clip(-0.5,0.5)', 'clip(0,2)', 'softmax']
SIMPLE = ['relu', 'sigmoid', 'tanh', 'relu6', 'softmax', 'dropout', 'leaky_relu', 'elu', 'clip']
# How the programs are built: unoptimised (fast to build), optimised, for
# this CPU's vectors, the kernels' plain C99 path (no GNU vectors), and
# under ASan and UBSan (a kernel can read out of bounds and still be right).
CC_FLAGS = ['-O0', '-O0', '-O0', '-O2', '-O2 -march=native', '-O1 -DCNNC_NO_VECTOR_EXT',
            '-O1 -fsanitize=address,undefined -fno-sanitize-recover=all']
KINDS = {'conv1d': 'conv', 'conv2d': 'conv', 'maxpool1d': 'maxpool', 'maxpool2d': 'maxpool',
         'avgpool1d': 'avgpool', 'avgpool2d': 'avgpool'}


# ---- generating a network ----

class Layer:
    """One layer: a matrix case dict (op, in, options) reading the tensors
    named in src (one, or a join's several), giving `shape`."""

    def __init__(self, case, src, in_shape, shape, name):
        self.case, self.src, self.shape, self.name = case, src, shape, name
        self.case['in'] = tuple(in_shape)
        self.named = True


class Gen:
    """Random layers whose shapes PyTorch itself computes: a candidate that
    torch refuses or that grows too large is drawn again."""

    def __init__(self, rng):
        self.r = rng
        self.wide = False  # this network's channels: 8 to 32 (the vector kernels' paths)

    def channels(self):
        return self.r.randint(8, 32) if self.wide else self.r.randint(1, 8)

    def maybe(self, p):
        return self.r.random() < p

    def spatial(self, dims, lo, hi):
        """K (any rank) or KHxKW (2-D, sometimes)."""
        if dims == 2 and self.maybe(0.3):
            return Pair((self.r.randint(lo, hi), self.r.randint(lo, hi)))
        return self.r.randint(lo, hi)

    def padding(self, dims, hi, same=True):
        choice = self.r.random()
        if same and choice < 0.2:
            return 'same'
        if choice < 0.35:
            return 'valid' if same else 0
        if choice < 0.6 and dims == 2:
            return Pair((self.r.randint(0, hi), self.r.randint(0, hi)))
        if choice < 0.8:
            return Sides(self.r.randint(0, hi) for _ in range(2 * dims))
        return self.r.randint(0, hi)

    def conv(self, shape):
        dims, c = len(shape) - 1, shape[0]
        case = {'op': 'conv', 'f': self.channels(), 'k': self.spatial(dims, 1, 5)}
        if self.maybe(0.3):
            case['s'] = self.spatial(dims, 1, 4)
        if self.maybe(0.2):
            case['d'] = self.spatial(dims, 1, 3)
        if self.maybe(0.6):
            case['p'] = self.padding(dims, 3)
        if self.maybe(0.3):
            case['pm'] = self.r.choice(['zeros', 'reflect', 'replicate'])
        if self.maybe(0.15):
            case['g'] = 'depthwise'
            case['f'] = c * self.r.randint(1, 2)
        elif self.maybe(0.2):
            g = self.r.choice([d for d in range(1, c + 1) if c % d == 0])
            case['g'] = g
            case['f'] = g * self.r.randint(1, 3)
        if self.maybe(0.2):
            case['bias'] = False
        if self.maybe(0.3):
            case['act'] = self.r.choice(ACTS)
        if self.maybe(0.1):
            case['alias'] = 'conv%dd' % dims
        return case

    def pool(self, shape):
        dims = len(shape) - 1
        op = self.r.choice(['maxpool', 'avgpool'])
        k = self.spatial(dims, 1, 5)
        case = {'op': op, 'k': k}
        if self.maybe(0.4):
            case['s'] = self.spatial(dims, 1, 4)
        kmin = min(k) if isinstance(k, tuple) else k
        if self.maybe(0.4) and kmin >= 2:
            case['p'] = self.padding(dims, kmin // 2, same=False)
        if self.maybe(0.3) and not isinstance(case.get('p'), Sides):
            case['ceil'] = True  # per-side pads with ceil_mode have no torch twin
        if op == 'avgpool' and self.maybe(0.4):
            case['cip'] = False
        if self.maybe(0.1):
            case['alias'] = '%s%dd' % (op, dims)
        return case

    def up(self, shape):
        """Up-sampling: conv_transpose or upsample."""
        dims = len(shape) - 1
        if self.maybe(0.5):
            case = {'op': 'upsample', 'scale': self.r.choice([2, 3, 1.5, 0.5]),
                    'mode': self.r.choice(['nearest', 'linear'])}
            if case['mode'] == 'linear' and self.maybe(0.3):
                case['ac'] = True
            return case
        case = {'op': 'conv_transpose', 'f': self.channels(), 'k': self.spatial(dims, 1, 4)}
        if self.maybe(0.6):
            case['s'] = self.spatial(dims, 1, 3)
        if self.maybe(0.2):
            case['d'] = self.spatial(dims, 1, 2)
        if self.maybe(0.4):
            case['p'] = self.padding(dims, 2, same=False)
        if self.maybe(0.3):
            case['opad'] = 1  # torch refuses it where the stride and dilation are 1
        if self.maybe(0.2):
            c = shape[0]
            g = self.r.choice([d for d in range(1, c + 1) if c % d == 0])
            case['g'], case['f'] = g, g * self.r.randint(1, 3)
        if self.maybe(0.2):
            case['bias'] = False
        if self.maybe(0.3):
            case['act'] = self.r.choice(ACTS)
        return case

    def reshape(self, shape):
        n = int(np.prod(shape))
        divisors = [d for d in range(1, n + 1) if n % d == 0]
        a = self.r.choice(divisors)
        if self.maybe(0.3):
            return {'op': 'reshape', 'shape': n}
        rest = n // a
        if self.maybe(0.5):
            b = self.r.choice([d for d in divisors if rest % d == 0])
            return {'op': 'reshape', 'shape': Pair((a, b, rest // b))}
        return {'op': 'reshape', 'shape': Pair((a, rest))}

    def elementwise(self, shape):
        op = self.r.choice(SIMPLE + ['batchnorm', 'maxout'])
        case = {'op': op}
        if op == 'batchnorm':
            if self.maybe(0.3):
                case['eps'] = self.r.choice([1e-3, 0.1])
            if self.maybe(0.3):
                case['act'] = self.r.choice(ACTS)
        elif op == 'maxout':
            case['k'] = self.r.choice([d for d in range(1, shape[0] + 1) if shape[0] % d == 0])
        elif op == 'dropout' and self.maybe(0.5):
            case['rate'] = round(self.r.uniform(0, 0.9), 2)
        elif op in ('leaky_relu', 'elu') and self.maybe(0.5):
            case['alpha'] = round(self.r.uniform(-1, 2), 2)
        elif op == 'clip':
            lo = round(self.r.uniform(-2, 1), 2)
            case['min'], case['max'] = lo, lo if self.maybe(0.1) else round(lo + self.r.uniform(0, 3), 2)
        return case

    def layout(self, shape):
        """transpose, slice or a normalisation (issue 13's one-line kinds)."""
        r = len(shape)
        op = self.r.choice(['transpose', 'slice', 'layernorm', 'groupnorm', 'instancenorm']
                           if r > 1 else ['slice', 'layernorm'])
        if op == 'transpose':
            perm = list(range(r))
            self.r.shuffle(perm)
            return {'op': op, 'perm': Sides(perm)}
        if op == 'slice':
            axis = self.r.randint(-r, r - 1)
            d = shape[axis]
            case = {'op': op, 'axis': axis, 'start': self.r.randint(-d, d - 1)}
            if self.maybe(0.6):
                case['end'] = self.r.randint(-d, d + 2)
            if self.maybe(0.5):
                case['step'] = self.r.randint(1, 3)
            return case
        case = {'op': op}
        if op == 'layernorm':
            first = self.r.randint(0, r - 1)
            last = self.r.randint(first, r - 1)
            case['axes'] = -1 if first == last == r - 1 else \
                Sides(range(first, last + 1)) if last > first else first
        elif op == 'groupnorm':
            case['g'] = self.r.choice([d for d in range(1, shape[0] + 1) if shape[0] % d == 0])
        if self.maybe(0.3):
            case['eps'] = self.r.choice([1e-3, 0.1])
        if self.maybe(0.5):
            case['affine'] = self.maybe(0.5)
        return case

    def layer_case(self, shape):
        """A single-input layer for an input of `shape`."""
        spatial = len(shape) > 1
        choices = ['elementwise'] * 4 + ['reshape', 'layout']
        choices += ['conv'] * 5 + ['pool'] * 2 + ['up', 'pad', 'global', 'flatten'] if spatial else \
            ['dense'] * 4
        what = self.r.choice(choices)
        if what in ('conv', 'pool', 'up', 'reshape', 'elementwise', 'layout'):
            return getattr(self, what)(shape)
        if what == 'dense':
            case = {'op': 'dense', 'u': self.r.randint(1, 12)}
            if self.maybe(0.2):
                case['bias'] = False
            if self.maybe(0.3):
                case['act'] = self.r.choice(ACTS)
            return case
        if what == 'pad':
            return {'op': 'pad', 'p': self.padding(len(shape) - 1, 3, same=False),
                    'mode': self.r.choice(['zeros', 'reflect', 'replicate'])}
        if what == 'global':
            return {'op': self.r.choice(['global_avgpool', 'global_maxpool'])}
        return {'op': 'flatten'}


def torch_shape(case, shape):
    """The output shape torch gives the case on one sample, or None (also
    when the layer would be too large)."""
    case = dict(case, **{'in': tuple(shape)})
    try:
        layers, forward = gm.layer_torch(case)
        with torch.no_grad():
            y = forward(layers, torch.zeros(2, *shape))
    except (RuntimeError, ValueError, IndexError, ZeroDivisionError):
        return None
    if sum(p.numel() for m in layers.values() for p in m.parameters()) > MAX_PARAMS:
        return None
    out = tuple(y.shape[1:])
    if not out or min(out) < 1 or int(np.prod(out)) > MAX_NUMEL:
        return None
    return out


def input_shape(gen):
    r = gen.r
    kind = r.random()
    c = gen.channels() if gen.maybe(0.5) else r.randint(1, 6)
    if kind < 0.55:
        return (c, r.randint(1, 14), r.randint(1, 20))
    if kind < 0.8:
        return (c, r.randint(1, 40))
    return (r.randint(1, 40),)


def pick_layer(gen, shape):
    for _ in range(50):
        case = gen.layer_case(shape)
        out = torch_shape(case, shape)
        if out:
            return case, out
    return {'op': 'relu'}, shape


def join_case(gen, src, tensors):
    """add (same shapes) or concat (same trailing dims) of src, or None."""
    shapes = [tensors[n] for n in src]
    if all(sh == shapes[0] for sh in shapes) and gen.maybe(0.6):
        case = {'op': 'add', 'n': len(src)}
        if gen.maybe(0.3):
            case['act'] = gen.r.choice(ACTS)
        return case, shapes[0]
    width = sum(sh[0] for sh in shapes)
    if any(sh[1:] != shapes[0][1:] for sh in shapes) or \
            width * int(np.prod(shapes[0][1:])) > MAX_NUMEL:
        return None
    return {'op': 'concat', 'n': len(src)}, (width,) + shapes[0][1:]


def branch(gen, b, name, fits):
    """A layer from an earlier tensor whose output fits(shape), added to b
    under `name`; False when none is found in a few tries."""
    earlier = [n for n in b.tensors if n != b.last()]
    for _ in range(20 if earlier else 0):
        src = gen.r.choice(earlier)
        shape = b.tensors[src]
        case = gen.conv(shape) if len(shape) > 1 else {'op': 'dense', 'u': gen.r.randint(1, 12)}
        want = b.tensors[b.last()]
        if case['op'] != 'dense' or len(want) == 1:
            if gen.maybe(0.5) and case.get('g') in (None, 1):
                case['f' if case['op'] == 'conv' else 'u'] = want[0]
            out = torch_shape(case, shape)
            if out and fits(out):
                b.add(case, [src], out, name)
                return True
    return False


def join(gen, b, i):
    """Joins the last tensor with earlier ones (made to fit by a branch if
    none does); False when it cannot."""
    last = b.last()
    want = b.tensors[last]
    fit = [n for n, sh in b.tensors.items() if n != last and sh[1:] == want[1:]]
    if not fit or gen.maybe(0.5):
        if not branch(gen, b, 'l%db' % i, lambda out: out[1:] == want[1:]):
            return False
        fit = [b.last()]
    src = [last] + gen.r.sample(fit, min(len(fit), gen.r.randint(1, 2)))
    made = join_case(gen, src, b.tensors)
    if made:
        b.add(made[0], src, made[1], 'l%d' % i)
    return made is not None


class Builder:
    """The network as it grows: its layers and every tensor's shape."""

    def __init__(self, shape):
        self.tensors = {'input': shape}
        self.net = []

    def last(self):
        return self.net[-1].name if self.net else 'input'

    def add(self, case, src, shape, name):
        self.net.append(Layer(case, src, self.tensors[src[0]], shape, name))
        self.tensors[name] = shape
        return shape


def head(gen, b):
    """Layers that make the output K classes ([K] or [K, 1, ...])."""
    shape = b.tensors[b.last()]
    if len(shape) > 1 and max(shape[1:]) > 1:
        case = {'op': gen.r.choice(['flatten', 'flatten', 'global_avgpool', 'global_maxpool'])}
        shape = b.add(case, [b.last()], torch_shape(case, shape), 'h1')
    if len(shape) > 1 or gen.maybe(0.5):
        if len(shape) > 1:
            shape = b.add({'op': 'flatten'}, [b.last()], (int(np.prod(shape)),), 'h2')
        case = {'op': 'dense', 'u': gen.r.randint(2, 6)}
        if gen.maybe(0.2):
            case['act'] = 'softmax'
        shape = b.add(case, [b.last()], (case['u'],), 'h3')
    if gen.maybe(0.15) and b.net[-1].case.get('act') != 'softmax':
        b.add({'op': 'softmax'}, [b.last()], shape, 'h4')


def generate(gen):
    """(input shape, [Layer]) of a random valid network."""
    gen.wide = gen.maybe(0.25)
    b = Builder(input_shape(gen))
    for i in range(gen.r.randint(1, 8)):
        if gen.maybe(0.25) and join(gen, b, i + 1):
            continue
        src = gen.r.choice(list(b.tensors)) if gen.maybe(0.1) else b.last()
        case, out = pick_layer(gen, b.tensors[src])
        b.add(case, [src], out, 'l%d' % (i + 1))
    if gen.maybe(0.8):
        head(gen, b)
    name_layers(gen, b.net)
    return b.tensors['input'], b.net


def name_layers(gen, net):
    """Leaves some layers unnamed where no layer needs the name (its only
    reader is the next layer, by the implicit chain): cnnc names them
    <kind>_<n>, n counting every layer of that kind in source order."""
    counts = {}
    for i, layer in enumerate(net):
        kind = KINDS.get(layer.case.get('alias'), layer.case['op'])
        counts[kind] = counts.get(kind, 0) + 1
        readers = [r for r in net if layer.name in r.src]
        chained = all(r is net[i + 1] and len(r.src) == 1 for r in readers) if i + 1 < len(net) \
            else not readers
        if chained and layer is not net[-1] and gen.maybe(0.3):
            new = '%s_%d' % (kind, counts[kind])
            for r in readers:
                r.src = [new]
            layer.name, layer.named = new, False


# ---- the two routes: DSL text and a torch module ----

def layer_text(layer):
    case = layer.case
    if case['op'] in ('add', 'concat'):
        act = ', activation=' + gm.fmt(case['act']) if 'act' in case else ''
        body = '%s(%s%s)' % (case['op'], ', '.join(layer.src), act)
        src = ''
    else:
        body = gm.layer_lines(case)[0].split(': ', 1)[1]
        src = ' from ' + layer.src[0]
    return ('%s: ' % layer.name if layer.named else '') + body + src


def to_cnn(shape, net, title):
    lines = ['  input ' + 'x'.join(map(str, shape))]
    prev = 'input'
    for layer in net:
        text = layer_text(layer)
        if text.endswith(' from ' + prev):
            text = text[:-len(' from ' + prev)]
        lines.append('  ' + text)
        prev = layer.name
    return '# %s\nmodel fuzz {\n%s\n}\n' % (title, '\n'.join(lines))


class TorchNet(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.fwd = {}
        mods = {}
        for layer in net:
            if layer.case['op'] in ('add', 'concat'):
                continue
            layers, self.fwd[layer.name] = gm.layer_torch(layer.case)
            if 'a' in layers:
                mods[layer.name] = layers['a']
        self.mods = nn.ModuleDict(mods)

    def forward(self, x):
        vals = {'input': x}
        for layer in self.net:
            ins = [vals[s] for s in layer.src]
            op = layer.case['op']
            if op == 'add':
                y = gm.activation(layer.case.get('act'))(sum(ins[1:], ins[0]))
            elif op == 'concat':
                y = torch.cat(ins, 1)
            else:
                mods = {'a': self.mods[layer.name]} if layer.name in self.mods else {}
                y = self.fwd[layer.name](mods, ins[0])
            vals[layer.name] = y
        return vals[self.net[-1].name]


# ---- running and checking ----

def run(args, timeout=120):
    """(ok, output) of a command; a signal or a sanitizer report fails."""
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, 'timed out after %d s: %s' % (timeout, ' '.join(args))
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 or 'runtime error' in out or 'Sanitizer' in out:
        return False, 'exit %d: %s\n%s' % (p.returncode, ' '.join(args), out[-2000:])
    return True, out


class Case:
    """One network on disk in a folder: model, weights, input, labels."""

    def __init__(self, work, shape, net, seed, title):
        self.work, self.shape, self.net, self.seed = work, shape, net, seed
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.module = TorchNet(net)
        with torch.no_grad():
            self.params = gm.case_params(dict(self.module.mods), rng)
        self.model = os.path.join(work, 'm.cnn')
        self.wdir = os.path.join(work, 'weights')
        with open(self.model, 'w') as f:
            f.write(to_cnn(shape, net, title))
        write_params(self.wdir, self.params)
        n = int(rng.integers(2, 6))
        scale, offset = [(1, 0), (1, 0), (10, 0), (1, -3)][int(rng.integers(0, 4))]
        self.x = (rng.standard_normal((n, *shape)) * scale + offset).astype('<f4')
        self.input = os.path.join(work, 'x.npy')
        np.save(self.input, self.x)
        self.rng = rng

    def path(self, name):
        return os.path.join(self.work, name)


def check_forward(cnnc, case):
    """`cnnc run` against torch; returns (failure or '', cnnc's output)."""
    ok, msg = run([cnnc, 'run', case.model, '--input', case.input, '--output', case.path('ref.npy'),
                   '--weights', case.wdir])
    if not ok:
        return 'cnnc run failed: ' + msg, None
    got = np.load(case.path('ref.npy'))
    with torch.no_grad():
        ref = case.module.double().eval()(torch.from_numpy(case.x).double()).numpy()
    why = compare(got, ref, floor=FORWARD_FLOOR)
    return ('cnnc run vs torch: ' + why if why else ''), got


def check_codegen(cnnc, case, cc, interp):
    """The --main program's infer against `cnnc run`'s output."""
    n = case.x.shape[0]
    batch = int(case.rng.integers(1, n + 1))
    opt = CC_FLAGS[int(case.rng.integers(0, len(CC_FLAGS)))]
    prog = case.path('m')
    ok, msg = run([cnnc, case.model, '-o', prog + '.c', '--main', '--batch', str(batch),
                   '--weights', case.wdir])
    if not ok:
        return 'compile failed: ' + msg
    ok, msg = run([cc, *opt.split(), '-std=c99', prog + '.c', '-o', prog, '-lm'], timeout=300)
    if not ok:
        return 'cc %s failed: %s' % (opt, msg)
    ok, msg = run([prog, 'infer', case.input, case.path('gen.npy')])
    if not ok:
        return 'the program failed: ' + msg
    why = compare(np.load(case.path('gen.npy')), interp.astype(np.float64))
    return 'generated (%s, --batch %d) vs cnnc run: %s' % (opt, batch, why) if why else ''


def classes(case):
    """K when the output is K classes and something can be trained, else None."""
    out = case.net[-1].shape
    trainable = any(not n.endswith(('running_mean', 'running_var')) for n in case.params)
    return out[0] if trainable and all(d == 1 for d in out[1:]) else None


def ends_in_softmax(net):
    """Whether the loss takes the output as probabilities (contract section
    2): the last layer is a softmax, or has activation=softmax. A softmax
    followed by a dropout or a flatten does not count, by the contract's
    letter: `cnnc grad` then takes the probabilities as logits."""
    last = net[-1].case
    return last['op'] == 'softmax' or last.get('act') == 'softmax'


def check_grad(cnnc, case):
    """`cnnc grad` against torch autograd; the labels are case.labels."""
    k = classes(case)
    case.labels = case.rng.integers(0, k, case.x.shape[0]).astype('<i8')
    np.save(case.path('y.npy'), case.labels)
    ok, msg = run([cnnc, 'grad', case.model, '--input', case.input, '--labels', case.path('y.npy'),
                   '--outdir', case.path('grads'), '--weights', case.wdir])
    if not ok:
        return 'cnnc grad failed: ' + msg
    named = {}
    for name in case.params:
        layer, _, suffix = name.rpartition('.')
        if suffix not in ('running_mean', 'running_var'):
            named[name] = getattr(case.module.mods[layer], suffix)
    # x needs a gradient too: a dead branch can leave the loss without one
    forward = lambda x: case.module(x.requires_grad_())  # noqa: E731
    seen, hooks = watch_bilinear(case)
    try:
        loss, grads = torch_grads(case.module, named, forward, case.x, case.labels,
                                  ends_in_softmax(case.net))
    finally:
        for h in hooks:
            h.remove()
    shares = summand_sizes(case.module, named, forward, case.x, case.labels,
                           ends_in_softmax(case.net))
    terms = term_sizes(case, seen)
    case.sizes = {n: max((shares or {}).get(n, 0.0), terms.get(n, 0.0)) for n in named}
    failures = compare_dir(case.path('grads'), loss, grads, case.sizes)
    return 'cnnc grad vs torch: ' + '; '.join(failures) if failures else ''


def watch_bilinear(case):
    """Hooks on the conv, transposed conv and dense layers that keep, for
    term_sizes, each one's input and dL/d(output) as torch_grads runs: a
    {layer: [x, dy]} and the hooks to remove."""
    seen, hooks = {}, []

    def keep(name):
        def hook(mod, inputs, output):
            seen[name] = [inputs[0].detach(), None]
            output.register_hook(lambda g: seen[name].__setitem__(1, g.detach()))
        return hook

    for name, mod in case.module.mods.items():
        if isinstance(mod, (nn.modules.conv._ConvNd, nn.Linear)):
            hooks.append(mod.register_forward_hook(keep(name)))
    return seen, hooks


def term_sizes(case, seen):
    """{cnnc name: max over the parameter of the sum, over every sample and
    position, of |a term of its gradient|} for the layers watch_bilinear saw:
    each is bilinear in its input x and weights, so its backward on |x|
    with |dL/dy| gives those sums. A gradient that cancels inside a sample
    (a bias before a norm over a constant plane: the norm's dL/dx, up to
    1/sqrt(eps) times dL/dy, sums to 0 over the plane) differs between two
    correct float32 sums by the terms' rounding (seed 10010, model 80:
    1.9e-6 against torch's 2e-15, terms of 90), which summand_sizes, one
    sample at a time, does not see."""
    sizes = {}
    for name, (x, dy) in seen.items():
        if dy is None:
            continue
        mod = copy.deepcopy(case.module.mods[name])
        mod(x.abs()).backward(dy.abs())
        for suffix in ('weight', 'bias'):
            p = getattr(mod, suffix, None)
            if isinstance(p, torch.Tensor) and p.grad is not None:
                sizes[name + '.' + suffix] = float(p.grad.abs().max())
    return sizes


def no_gradient(case):
    """Whether every gradient `cnnc grad` wrote (torch agreed) is zero."""
    folder = case.path('grads')
    return all(not np.any(np.load(os.path.join(folder, f)))
               for f in os.listdir(folder) if f != 'loss.npy')


def check_traingen(cnnc, case, cc):
    """A --train --main program's grad command against `cnnc grad`."""
    prog = case.path('t')
    n = case.x.shape[0]
    ok, msg = run([cnnc, case.model, '-o', prog + '.c', '--main', '--train', '--batch', str(n),
                   '--weights', case.wdir])
    if not ok:
        if 'no trainable parameter reaches the output' in msg and no_gradient(case):
            return ''  # every parameter lies on a dead branch: rightly refused
        return 'compile --train failed: ' + msg
    ok, msg = run([cc, '-O0', '-std=c99', prog + '.c', '-o', prog, '-lm'], timeout=300)
    if not ok:
        return 'cc --train failed: ' + msg
    os.makedirs(case.path('tgrads'), exist_ok=True)
    ok, msg = run([prog, 'grad', case.input, case.path('y.npy'), case.path('tgrads')])
    if not ok:
        return 'the --train program failed: ' + msg
    refs = {f: np.load(os.path.join(case.path('grads'), f)).astype(np.float64)
            for f in os.listdir(case.path('grads'))}
    floor = 1e-2 * max((float(np.max(np.abs(g))) for g in refs.values() if g.size), default=0)
    sizes = {escape_name(n) + '.npy': 1e-2 * v for n, v in (case.sizes or {}).items()}
    failures = []
    for f, ref in sorted(refs.items()):
        got = os.path.join(case.path('tgrads'), f)
        why = (compare(np.load(got), ref, 1e-3, max(floor, sizes.get(f, 0)))
               if os.path.exists(got) else 'missing')
        if why:
            failures.append('%s: %s' % (f, why))
    return 'generated grad vs cnnc grad: ' + '; '.join(failures) if failures else ''


def check_case(cnnc, case, cc, traingen):
    """({check run}, {check: failure}) of one network."""
    ran, fails = ['forward'], {}
    why, interp = check_forward(cnnc, case)
    if why:
        fails['forward'] = why
    if interp is not None:
        ran.append('codegen')
        why = check_codegen(cnnc, case, cc, interp)
        if why:
            fails['codegen'] = why
    if classes(case):
        ran.append('grad')
        why = check_grad(cnnc, case)
        if why:
            fails['grad'] = why
        elif traingen:
            ran.append('traingen')
            why = check_traingen(cnnc, case, cc)
            if why:
                fails['traingen'] = why
    return ran, fails


# ---- a failure: kept, and cut down to a matrix row ----

def matrix_row(case):
    """The case as a line of matrix_cases.txt (no blanks inside a value)."""
    words = gm.describe(case).split(' ')
    row, depth = [], 0
    for w in words:
        if depth:
            row[-1] += w
        else:
            row.append(w)
        depth += w.count('(') - w.count(')')
    return ' '.join(row)


def single(layer):
    """The layer alone on an input of its input shape, with a head when its
    output is not K classes (so that the grad checks apply)."""
    b = Builder(layer.case['in'])
    b.add(dict(layer.case), ['input'], layer.shape, 'a')
    if len(layer.shape) > 1 and max(layer.shape[1:]) > 1 or len(layer.shape) > 1:
        b.add({'op': 'flatten'}, ['a'], (int(np.prod(layer.shape)),), 'f')
        b.add({'op': 'dense', 'u': 4}, ['f'], (4,), 'head')
    return b.tensors['input'], b.net


def minimize(cnnc, cc, net, seed, which):
    """The matrix row of the first layer that fails `which` alone, or None."""
    for layer in net:
        if layer.case['op'] in ('add', 'concat'):
            continue
        shape, one = single(layer)
        with tempfile.TemporaryDirectory(prefix='difffuzz-min-') as work:
            case = Case(work, shape, one, seed, 'alone')
            fails = check_case(cnnc, case, cc, which == 'traingen')[1]
        if which in fails:
            return matrix_row(layer.case)
    return None


def keep(case, fails, outdir):
    """Copies the failing case into outdir with what failed and how to rerun."""
    shutil.copytree(case.work, outdir)
    with open(os.path.join(outdir, 'failure.txt'), 'w') as f:
        for check, why in fails.items():
            f.write('%s: %s\n' % (check, why))
        f.write('\nrerun: cnnc run m.cnn --weights weights --input x.npy --output ref.npy\n'
                '       cnnc grad m.cnn --weights weights --input x.npy --labels y.npy '
                '--outdir grads\n')


# ---- the campaign ----

class Stats:
    def __init__(self):
        self.generated = self.discarded = 0
        self.checked = {'forward': 0, 'codegen': 0, 'grad': 0, 'traingen': 0}
        self.failed = {k: 0 for k in self.checked}

    def summary(self, seconds):
        checked = ', '.join('%s %d' % kv for kv in self.checked.items())
        failed = ', '.join('%s %d' % kv for kv in self.failed.items())
        return ('difffuzz: %d models in %.0f s (%d discarded: torch refused them); checked: %s; '
                'failed: %s' % (self.generated, seconds, self.discarded, checked, failed))


def one_model(args, gen, index, stats):
    """Generates, checks and reports model `index`; True if it failed."""
    shape, net = generate(gen)
    seed = (args.seed * 1000003 + index) % (1 << 31)
    title = 'difffuzz seed %d, model %d' % (args.seed, index)
    stats.generated += 1
    with tempfile.TemporaryDirectory(prefix='difffuzz-') as work:
        try:
            case = Case(work, shape, net, seed, title)
            with torch.no_grad():
                case.module.double().eval()(torch.from_numpy(case.x).double())
        except (RuntimeError, ValueError):
            stats.discarded += 1
            return False
        ran, fails = check_case(args.cnnc, case, args.cc, index % 4 == 0)
        for check in ran:
            stats.checked[check] += 1
        if args.keep_all:
            shutil.copytree(work, os.path.join(args.work, 'models', '%06d' % index))
        if not fails:
            return False
        outdir = os.path.join(args.work, 'failures', '%06d' % index)
        keep(case, fails, outdir)
    for check, why in fails.items():
        stats.failed[check] += 1
        row = minimize(args.cnnc, args.cc, net, seed, check)
        print('FAIL model %d (%s): %s\n     kept in %s\n     matrix row: %s'
              % (index, check, why[:600], outdir, row or '(no single layer fails alone)'))
    sys.stdout.flush()
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('cnnc')
    p.add_argument('work')
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--models', type=int, default=None)
    p.add_argument('--seconds', type=float, default=None)
    p.add_argument('--cc', default='gcc')
    p.add_argument('--keep-all', action='store_true', help='keep every model, not only failures')
    p.add_argument('--first', type=int, default=1,
                   help='check models from this index on (the earlier ones are generated, '
                   'unchecked, so that a failure of a long run reruns alone)')
    args = p.parse_args()
    args.cnnc = os.path.abspath(args.cnnc)
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    os.makedirs(args.work, exist_ok=True)
    warnings.simplefilter('ignore')
    torch.set_num_threads(1)
    print('difffuzz: seed %d' % args.seed)
    gen, stats, start, index, bad = Gen(random.Random(args.seed)), Stats(), time.time(), 0, 0
    while ((args.models is None or index < args.models) and
           (args.seconds is None or time.time() - start < args.seconds)):
        index += 1
        if index < args.first:
            generate(gen)
            continue
        bad += one_model(args, gen, index, stats)
        if index % 100 == 0:
            print(stats.summary(time.time() - start))
            sys.stdout.flush()
    if index % 100:
        print(stats.summary(time.time() - start))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
