"""gen_matrix.py: the single-layer matrix, as .cnn files and PyTorch modules.

    /usr/bin/python3 gen_matrix.py OUTDIR [REGEX]

Reads matrix_cases.txt (one parameter dict per case) and turns each dict,
by two independent routes, into a small .cnn model (to_cnn) and the PyTorch
module that computes the same thing (to_torch). For each case NAME (those
matching REGEX, if given) it writes into OUTDIR:

    NAME.cnn           the model: the input, then one layer (or a join)
    NAME.input.npy     a seeded random batch of 2 samples, N(0, 1) * xs + xo
    NAME.weights/      every parameter and buffer, <layer>.<suffix>.npy
                       (contract section 5): torch's seeded initialisation,
                       BatchNorm with random statistics and affine terms
    NAME.expected.npy  torch's eval-mode output, computed in float64

and OUTDIR/cases.txt, one line per case: NAME and its table row. Compiling
NAME.cnn with `--weights NAME.weights` and running it on NAME.input.npy
must give NAME.expected.npy (contract section 6); check_matrix.py does so
with `cnnc run`, and the code-generator tests reuse the same folder.
"""
import ast
import itertools
import math
import os
import re
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import write_params  # noqa: E402

# torch notes that an even 'same' kernel makes it copy the input: not news.
warnings.filterwarnings('ignore', message="Using padding='same'")

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'matrix_cases.txt')
BATCH = 2


class Pair(tuple):
    """An AxB value: one number per spatial axis (H, W); AxBxC: (D, H, W)
    for a volume, else dims."""


class Sides(tuple):
    """A (a, b, ...) value: one number per side."""


# ---- the table ----

def parse_value(s):
    if re.fullmatch(r'\d+(x\d+)+', s):
        return Pair(int(v) for v in s.split('x'))
    if s.startswith('('):
        return Sides(ast.literal_eval(s if ',' in s else s[:-1] + ',)'))
    if s in ('true', 'false'):
        return s == 'true'
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s  # an identifier or an activation call, e.g. leaky_relu(0.2)


def parse_shape(s):
    return tuple(int(v) for v in s.split('x'))


def expand_row(line):
    """One table row -> its list of case dicts (alternatives crossed)."""
    op, inputs, *fields = line.split()
    keys = ['in'] + [f.split('=', 1)[0] for f in fields]
    alts = [inputs.split('|')] + [f.split('=', 1)[1].split('|') for f in fields]
    cases = []
    for combo in itertools.product(*alts):
        case = {'op': op, 'in': parse_shape(combo[0])}
        for k, v in zip(keys[1:], combo[1:]):
            case[k] = parse_value(v)
        cases.append(case)
    return cases


def load_cases(pattern=None):
    """[(name, case dict, table row)] in table order."""
    cases = []
    with open(TABLE) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            for case in expand_row(line):
                name = '%03d_%s' % (len(cases) + 1, case['op'])
                cases.append((name, case, describe(case)))
    if pattern:
        cases = [c for c in cases if re.search(pattern, c[0] + ' ' + c[2])]
    return cases


def describe(case):
    return ' '.join([case['op'], 'x'.join(map(str, case['in']))] +
                    ['%s=%s' % (k, fmt(v)) for k, v in case.items() if k not in ('op', 'in')])


# ---- route 1: the .cnn model ----

def fmt(v):
    if isinstance(v, Pair):
        return 'x'.join(map(str, v))
    if isinstance(v, Sides):
        return '(' + ', '.join(str(x) for x in v) + ')'
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, str):
        # activation calls: leaky_relu(0.2) -> as written; clip(-1,1) -> clip(-1, 1)
        return v.replace(',', ', ')
    return repr(v)


def call(kind, positional, case, keys):
    """KIND(positional, key=value...) with the keys present in case."""
    args = [fmt(v) for v in positional]
    args += ['%s=%s' % (dsl, fmt(case[k])) for k, dsl in keys if k in case]
    return kind + ('(' + ', '.join(args) + ')' if args else '')


CONV_KEYS = [('k', 'kernel'), ('s', 'stride'), ('p', 'padding'), ('pm', 'padding_mode'),
             ('d', 'dilation'), ('g', 'groups'), ('bias', 'bias'), ('act', 'activation')]
POOL_KEYS = [('s', 'stride'), ('p', 'padding'), ('ceil', 'ceil_mode'),
             ('cip', 'count_include_pad')]


ACT_KEYS = ['alpha', 'beta', 'min', 'max', 'threshold', 'exponent']


def cnn_layers(case):
    """The model's layer lines: the layer under test, then the standalone
    activation of `then=` if any (which the fusion pass may fold in)."""
    lines = layer_lines(case)
    if 'then' in case:
        lines.append('t: ' + fmt(case['then']))
    return lines


def layer_lines(case):
    op, c = case['op'], case['in'][0]
    if op == 'conv':
        return ['a: ' + call(case.get('alias', 'conv'), [case['f']], case, CONV_KEYS)]
    if op in ('maxpool', 'avgpool'):
        return ['a: ' + call(case.get('alias', op), [case['k']], case, POOL_KEYS)]
    if op == 'dense':
        return ['a: ' + call('dense', [case['u']], case, [('bias', 'bias'), ('act', 'activation')])]
    if op == 'batchnorm':
        return ['a: ' + call('batchnorm', [], case, [('eps', 'eps'), ('act', 'activation')])]
    if op in ('maxout', 'dropout'):
        key = 'k' if op == 'maxout' else 'rate'
        return ['a: ' + call(op, [case[key]] if key in case else [], case, [])]
    if op in ('leaky_relu', 'elu', 'clip', 'hardsigmoid', 'softplus', 'pow'):
        return ['a: ' + call(op, [], case, [(k, k) for k in ACT_KEYS])]
    if op == 'pad':
        keys = [('p', 'padding'), ('mode', 'mode'), ('value', 'value')]
        return ['a: ' + call('pad', [], case, keys)]
    if op == 'reshape':
        return ['a: ' + call('reshape', [case['shape']], case, [])]
    if op.startswith('reduce_'):
        return ['a: ' + call(op, [], case, [('axes', 'axes'), ('keepdims', 'keepdims')])]
    if op == 'prelu':
        return ['a: ' + call(op, [], case, [('slope', 'slope'), ('shared', 'shared')])]
    if 'b' in case:
        return broadcast_lines(case)
    if op in ('add', 'concat'):
        return join_lines(case, c)
    if op in UPSAMPLING:
        return upsampling_lines(case)
    if op in LAYOUT_NORM:
        return layout_norm_lines(case)
    if op == 'irb':
        return irb_lines(case, c)
    return ['a: ' + op]  # relu, sigmoid, tanh, relu6, softmax, flatten, global pools


# ---- an inverted-residual block (issue 11's fused blocks) ----

def irb_lines(case, c):
    """1x1 expand to e channels (relu6), depthwise k (stride s, padding p,
    relu6), 1x1 project to f; res=1 adds the input back."""
    lines = ['e: conv(%d, kernel=1, activation=relu6)' % case['e'],
             'd: conv(%d, kernel=%d, stride=%d, padding=%d, groups=depthwise, activation=relu6)'
             % (case['e'], case['k'], case.get('s', 1), case.get('p', 0)),
             'a: conv(%d, kernel=1)' % case['f']]
    if case.get('res'):
        lines.append('j: add(input, a)')
    return lines


def torch_irb(case):
    cin, e, k, s, p = case['in'][0], case['e'], case['k'], case.get('s', 1), case.get('p', 0)
    layers = {'e': nn.Conv2d(cin, e, 1), 'd': nn.Conv2d(e, e, k, s, p, groups=e),
              'a': nn.Conv2d(e, case['f'], 1)}

    def forward(L, x):
        y = L['a'](F.relu6(L['d'](F.relu6(L['e'](x)))))
        return x + y if case.get('res') else y
    return layers, forward


# ---- layout and normalisation (issue 13): transpose, slice, matmul, norms ----

LAYOUT_NORM = ('transpose', 'shuffle', 'slice', 'split', 'matmul', 'layernorm', 'groupnorm',
               'instancenorm')
NORM_KEYS = [('eps', 'eps'), ('affine', 'affine')]


def dims(shape):
    return 'x'.join(map(str, shape))


def matmul_lines(case):
    """Operands from the input: rhs=t x @ x^T (last two axes), rhs=bt x @
    (x[0:1])^T (the right one broadcast), rhs=lb (x[0:1]) @ x^T (the left)."""
    shape, rhs = case['in'], case['rhs']
    swap = '(1, 0)' if len(shape) == 2 else '(0, 2, 1)'
    if rhs == 't':
        return ['l: reshape(%s)' % dims(shape), 'r: transpose(%s) from input' % swap,
                'a: matmul(l, r)']
    first = 's: slice(axis=0, end=1) from input'
    if rhs == 'bt':
        return ['l: reshape(%s)' % dims(shape), first, 'r: transpose(%s) from s' % swap,
                'a: matmul(l, r)']
    return [first, 'r: transpose(%s) from input' % swap, 'a: matmul(s, r)']


def layout_norm_lines(case):
    op, shape = case['op'], case['in']
    if op == 'transpose':
        return ['a: transpose(%s)' % fmt(case['perm'])]
    if op == 'shuffle':  # ShuffleNetV2's channel shuffle: reshape, transpose, reshape
        g = case['g']
        perm = '(1, 0, 2, 3)' if len(shape) == 3 else '(1, 0, 2)'
        return ['r: reshape(%s)' % dims((g, shape[0] // g) + tuple(shape[1:])),
                't: transpose(%s)' % perm, 'a: reshape(%s)' % dims(shape)]
    if op == 'slice':
        return ['a: ' + call('slice', [], case, [(k, k) for k in ('axis', 'start', 'end', 'step')])]
    if op == 'split':  # n parts, concatenated in reverse order (every part's place shows)
        names = 'abcd'[:case['n']]
        return ['%s: split(axis=%d)' % (', '.join(names), case['axis']),
                'j: concat(%s)' % ', '.join(reversed(names))]
    if op == 'matmul':
        return matmul_lines(case)
    if op == 'layernorm':
        return ['a: ' + call('layernorm', [], case, [('axes', 'axes')] + NORM_KEYS)]
    if op == 'groupnorm':
        return ['a: ' + call('groupnorm', [case['g']], case, NORM_KEYS)]
    return ['a: ' + call('instancenorm', [], case, NORM_KEYS)]



# ---- up-sampling (issue 13): conv_transpose, upsample ----

UPSAMPLING = ('conv_transpose', 'upsample')
CONVT_KEYS = [('k', 'kernel'), ('s', 'stride'), ('p', 'padding'), ('opad', 'output_padding'),
              ('d', 'dilation'), ('g', 'groups'), ('bias', 'bias'), ('act', 'activation')]
UPSAMPLE_KEYS = [('mode', 'mode'), ('ac', 'align_corners')]


def upsampling_lines(case):
    if case['op'] == 'conv_transpose':
        return ['a: ' + call(case.get('alias', 'conv_transpose'), [case['f']], case, CONVT_KEYS)]
    return ['a: ' + call('upsample', [case['scale']], case, UPSAMPLE_KEYS)]


def join_lines(case, c):
    """n branches from the input joined by add or concat; concat's branches
    differ in width (channels, or features for a flat input)."""
    flat = len(case['in']) == 1
    if case['op'] == 'add':
        widths = [c] * case['n']
    else:
        widths = [2, 3, 0][:case['n']]  # 0: a pooling branch keeps c
    lines = []
    for i, w in enumerate(widths):
        src = '' if i == 0 else ' from input'
        if flat:
            body = 'dense(%d)' % w
        elif w == 0:
            body = 'maxpool(3, stride=1, padding=1)'
        elif i == 0:
            body = 'conv(%d, kernel=1)' % w
        else:
            body = 'conv(%d, kernel=3, padding=1, bias=false)' % w
        lines.append('%s: %s%s' % ('abc'[i], body, src))
    act = ', activation=' + fmt(case['act']) if 'act' in case else ''
    lines.append('j: %s(%s%s)' % (case['op'], ', '.join('abc'[:len(widths)]), act))
    return lines


def branch_shapes(case):
    """The two operands' shapes of a broadcast case: a= (default: the
    input's) and b=, as tuples."""
    shape = lambda v: tuple(v) if isinstance(v, tuple) else (v,)  # noqa: E731
    return shape(case.get('a', case['in'])), shape(case['b'])


def pooled_from(shape, full):
    """The avgpool window that takes full's spatial dims to shape's (each
    1 or kept), or None when they are the same."""
    k = tuple(f if s == 1 else 1 for s, f in zip(shape[1:], full[1:]))
    return k if any(v > 1 for v in k) else None


def broadcast_lines(case):
    """op(a, b) (op(b, a) with swap=true) of two branches from the input of
    shapes a= and b=: a 1x1 conv (dense when flat) to the channels, sigmoid
    on the right operand (a divisor well away from 0), then an average pool
    down to the spatial 1s."""
    full = case['in']
    lines, ends = [], []
    right = 'a' if case.get('swap') else 'b'
    for name, shape in zip('ab', branch_shapes(case)):
        act = ', activation=sigmoid' if name == right else ''
        layer = 'dense(%d%s)' if len(full) == 1 else 'conv(%d, kernel=1%s)'
        lines.append('%s: %s from input' % (name, layer % (shape[0], act)))
        k = pooled_from(shape, full)
        if k:
            lines.append('%s_pool: avgpool(%s)' % (name, 'x'.join(map(str, k))))
        ends.append(name + '_pool' if k else name)
    if case.get('swap'):
        ends.reverse()
    act = ', activation=' + fmt(case['act']) if 'act' in case else ''
    lines.append('j: %s(%s%s)' % (case['op'], ', '.join(ends), act))
    return lines


def to_cnn(name, case, row):
    body = ['  input ' + 'x'.join(map(str, case['in']))]
    body += ['  ' + line for line in cnn_layers(case)]
    return '# matrix case: %s\nmodel m%s {\n%s\n}\n' % (row, name.split('_')[0], '\n'.join(body))


# ---- route 2: the PyTorch module ----

def per_axis(v, dims):
    """An int or a Pair -> one value per spatial axis."""
    if isinstance(v, Pair):
        return tuple(v) if len(v) == dims else (v[-1],)
    return (v,) * dims


def side_pads(p, dims, size, k, s, d):
    """Padding as [(before, after)] per spatial axis."""
    if p == 'valid':
        return [(0, 0)] * dims
    if p == 'same':  # ONNX SAME_UPPER: the odd cell goes at the end
        pads = []
        for i, k_i, s_i, d_i in zip(size, k, s, d):
            total = max((math.ceil(i / s_i) - 1) * s_i + (k_i - 1) * d_i + 1 - i, 0)
            pads.append((total // 2, total - total // 2))
        return pads
    if isinstance(p, Sides):  # (front, back,) (top, bottom,) left, right: pairs per axis
        return [(p[2 * i], p[2 * i + 1]) for i in range(len(p) // 2)]
    return [(v, v) for v in per_axis(p, dims)]


def fpad(pads):
    """[(before, after)] per axis -> F.pad's list, last axis first."""
    return [v for b, a in reversed(pads) for v in (b, a)]


def hardsigmoid(x, alpha=None, beta=0.5):
    """PyTorch's hardsigmoid, relu6(x + 3) / 6, or ONNX's with alpha, beta."""
    if alpha is None:
        return F.hardsigmoid(x)
    return torch.clamp(alpha * x + beta, 0, 1)


# The activations without parameters beyond PyTorch's own.
UNARY = {
    'silu': F.silu, 'gelu': F.gelu, 'gelu_tanh': lambda x: F.gelu(x, approximate='tanh'),
    'erf': torch.erf, 'mish': F.mish, 'neg': torch.neg, 'abs': torch.abs, 'sqrt': torch.sqrt,
    'exp': torch.exp, 'log': torch.log, 'reciprocal': torch.reciprocal,
}


def activation(spec):
    if spec is None:
        return lambda x: x
    m = re.fullmatch(r'(\w+)(?:\((.*)\))?', spec)
    kind, args = m.group(1), [float(v) for v in (m.group(2) or '').split(',') if v]
    table = {
        'relu': F.relu, 'sigmoid': torch.sigmoid, 'tanh': torch.tanh, 'relu6': F.relu6,
        'hardswish': F.hardswish,
        'hardsigmoid': lambda x: hardsigmoid(x, *args),
        'softplus': lambda x: F.softplus(x, *args),
        'pow': lambda x: torch.pow(x, *args),
        **UNARY,
        'leaky_relu': lambda x: F.leaky_relu(x, *args),
        'elu': lambda x: F.elu(x, *args),
        'clip': lambda x: torch.clamp(x, *args),
        'softmax': lambda x: F.softmax(x, dim=1),
    }
    return table[kind]


PAD_MODE = {'zeros': 'constant', 'reflect': 'reflect', 'replicate': 'replicate'}
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def torch_conv(case):
    shape = case['in']
    dims, cin = len(shape) - 1, shape[0]
    k = per_axis(case['k'], dims)
    s = per_axis(case.get('s', 1), dims)
    d = per_axis(case.get('d', 1), dims)
    g = cin if case.get('g') == 'depthwise' else case.get('g', 1)
    p, pm = case.get('p', 'valid'), case.get('pm', 'zeros')
    pads = side_pads(p, dims, shape[1:], k, s, d)
    act = activation(case.get('act'))
    if p == 'same' and s == (1,) * dims:
        torch_pad = 'same'  # torch's own rule, not side_pads
    elif all(b == a for b, a in pads):
        torch_pad = tuple(b for b, _ in pads)
    else:
        torch_pad = None  # per side: F.pad, then an unpadded conv
    conv = CONV[dims](cin, case['f'], k, s, torch_pad or 0, d, g, case.get('bias', True),
                      padding_mode=pm)
    if torch_pad is not None:
        return {'a': conv}, lambda L, x: act(L['a'](x))
    return {'a': conv}, lambda L, x: act(L['a'](F.pad(x, fpad(pads), PAD_MODE[pm])))


def torch_pool(case):
    shape = case['in']
    dims = len(shape) - 1
    k = per_axis(case['k'], dims)
    s = per_axis(case.get('s', case['k']), dims)
    p, ceil, cip = case.get('p', 0), case.get('ceil', False), case.get('cip', True)
    is_max = case['op'] == 'maxpool'
    maxpool = [F.max_pool1d, F.max_pool2d, F.max_pool3d][dims - 1]
    avgpool = [F.avg_pool1d, F.avg_pool2d, F.avg_pool3d][dims - 1]
    if not isinstance(p, Sides):
        pp = per_axis(p, dims)
        if is_max:
            return {}, lambda L, x: maxpool(x, k, s, pp, ceil_mode=ceil)
        return {}, lambda L, x: avgpool(x, k, s, pp, ceil_mode=ceil, count_include_pad=cip)
    # Per-side padding (torch pools pad symmetrically): pad by hand.
    fp = fpad(side_pads(p, dims, None, None, None, None))
    if is_max:
        return {}, lambda L, x: maxpool(F.pad(x, fp, value=-math.inf), k, s, ceil_mode=ceil)
    if cip:
        return {}, lambda L, x: avgpool(F.pad(x, fp), k, s, ceil_mode=ceil)

    def mean_of_real_cells(L, x):
        total = avgpool(F.pad(x, fp), k, s, ceil_mode=ceil)
        count = avgpool(F.pad(torch.ones_like(x), fp), k, s, ceil_mode=ceil)
        return total / count
    return {}, mean_of_real_cells


def torch_join(case):
    shape = case['in']
    c, flat = shape[0], len(shape) == 1
    conv = CONV.get(len(shape) - 1)
    widths = [c] * case['n'] if case['op'] == 'add' else [2, 3, 0][:case['n']]
    layers, branches = {}, []
    for i, w in enumerate(widths):
        name = 'abc'[i]
        if flat:
            layers[name] = nn.Linear(c, w)
        elif w == 0:
            pool = [nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d][len(shape) - 2](3, 1, 1)
            branches.append(pool)
            continue
        elif i == 0:
            layers[name] = conv(c, w, 1)
        else:
            layers[name] = conv(c, w, 3, padding=1, bias=False)
        branches.append(name)

    act = activation(case.get('act'))

    def forward(L, x):
        outs = [L[b](x) if isinstance(b, str) else b(x) for b in branches]
        if case['op'] == 'add':
            return act(sum(outs[1:], outs[0]))
        return torch.cat(outs, dim=1)
    return layers, forward


def torch_broadcast(case):
    """broadcast_lines' model."""
    full = case['in']
    dims = len(full) - 1
    layers, pools = {}, {}
    for name, shape in zip('ab', branch_shapes(case)):
        layers[name] = nn.Linear(full[0], shape[0]) if dims == 0 else CONV[dims](full[0], shape[0], 1)
        pools[name] = pooled_from(shape, full)
    act = activation(case.get('act'))
    op = {'add': torch.add, 'sub': torch.sub, 'mul': torch.mul, 'div': torch.div}[case['op']]
    avgpool = F.avg_pool1d if dims == 1 else F.avg_pool2d

    right = 'a' if case.get('swap') else 'b'

    def forward(L, x):
        outs = []
        for name in 'ab':
            v = L[name](x)
            v = torch.sigmoid(v) if name == right else v
            outs.append(avgpool(v, pools[name]) if pools[name] else v)
        if case.get('swap'):
            outs.reverse()
        return act(op(*outs))
    return layers, forward


def torch_reduce(case):
    """The reduction over the axes of the sample (batch first in torch)."""
    axes = case.get('axes', tuple(range(len(case['in']))))
    axes = tuple(axes) if isinstance(axes, tuple) else (axes,)
    dims = tuple(a + 1 if a >= 0 else a for a in axes)
    keep = case.get('keepdims', False)
    f = {'reduce_mean': torch.mean, 'reduce_max': torch.amax, 'reduce_sum': torch.sum,
         'reduce_l2': lambda x, d, keepdim: torch.linalg.vector_norm(x, 2, d, keepdim)}
    return {}, lambda L, x: f[case['op']](x, dims, keepdim=keep)


def torch_maxout(case):
    k = case['k']

    def forward(L, x):
        n, c = x.shape[:2]
        return x.reshape(n, c // k, k, *x.shape[2:]).amax(dim=2)
    return {}, forward


CONVT = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def torch_conv_transpose(case):
    """PyTorch pads symmetrically: per-side padding crops the unpadded output."""
    shape = case['in']
    dims, cin = len(shape) - 1, shape[0]
    k = per_axis(case['k'], dims)
    s = per_axis(case.get('s', 1), dims)
    d = per_axis(case.get('d', 1), dims)
    op = per_axis(case.get('opad', 0), dims)
    pads = side_pads(case.get('p', 0), dims, None, None, None, None)
    act = activation(case.get('act'))
    conv = CONVT[dims](cin, case['f'], k, s, 0, op, case.get('g', 1), case.get('bias', True), d)

    def forward(L, x):
        y = L['a'](x)
        crop = tuple(slice(b, y.shape[2 + i] - a) for i, (b, a) in enumerate(pads))
        return act(y[(slice(None), slice(None)) + crop])
    return {'a': conv}, forward


def torch_upsample(case):
    shape = case['in']
    dims = len(shape) - 1
    scale = case['scale']
    scale = tuple(float(v) for v in scale) if isinstance(scale, tuple) else float(scale)
    mode = case.get('mode', 'nearest')
    if mode == 'linear':
        mode = ['linear', 'bilinear', 'trilinear'][dims - 1]
        ac = case.get('ac', False)
        return {}, lambda L, x: F.interpolate(x, scale_factor=scale, mode=mode, align_corners=ac)
    return {}, lambda L, x: F.interpolate(x, scale_factor=scale, mode=mode)


def torch_layernorm(case):
    shape = case['in']
    axes = case.get('axes', -1)
    axes = [a % len(shape) for a in (axes if isinstance(axes, tuple) else (axes,))]
    ln = nn.LayerNorm([shape[a] for a in axes], case.get('eps', 1e-5),
                      elementwise_affine=case.get('affine', True))
    if axes[-1] == len(shape) - 1:
        return {'a': ln}, lambda L, x: L['a'](x)
    # normalised axes not trailing: move them last, normalise, move them back
    rest = [d + 1 for d in range(len(shape)) if d not in axes]
    perm = [0] + rest + [a + 1 for a in axes]
    back = [perm.index(d) for d in range(len(perm))]
    return {'a': ln}, lambda L, x: L['a'](x.permute(*perm)).permute(*back)


def torch_layout_norm(case):
    op, shape = case['op'], case['in']
    if op == 'transpose':
        perm = [0] + [p + 1 for p in case['perm']]
        return {}, lambda L, x: x.permute(*perm)
    if op == 'shuffle':
        g = case['g']
        return {}, lambda L, x: x.reshape(x.shape[0], g, -1, *x.shape[2:]).transpose(1, 2) \
            .reshape(x.shape)
    if op == 'slice':
        axis = case.get('axis', 0) % len(shape) + 1
        sl = slice(case.get('start'), case.get('end'), case.get('step'))
        return {}, lambda L, x: x[(slice(None),) * axis + (sl,)]
    if op == 'split':
        axis = case['axis'] % len(shape) + 1
        return {}, lambda L, x: torch.cat(torch.tensor_split(x, case['n'], axis)[::-1], 1)
    if op == 'matmul':
        rhs = case['rhs']
        if rhs == 't':
            return {}, lambda L, x: torch.matmul(x, x.transpose(-1, -2))
        if rhs == 'bt':
            return {}, lambda L, x: torch.matmul(x, x[:, 0:1].transpose(-1, -2))
        return {}, lambda L, x: torch.matmul(x[:, 0:1], x.transpose(-1, -2))
    if op == 'layernorm':
        return torch_layernorm(case)
    eps, affine = case.get('eps', 1e-5), case.get('affine', op == 'groupnorm')
    if op == 'groupnorm':
        norm = nn.GroupNorm(case['g'], shape[0], eps, affine=affine)
    else:
        norm = (nn.InstanceNorm1d if len(shape) == 2 else nn.InstanceNorm2d)(shape[0], eps,
                                                                            affine=affine)
    return {'a': norm}, lambda L, x: L['a'](x)


def to_torch(case):
    """(named layers holding the parameters, forward(layers, x))."""
    layers, forward = layer_torch(case)
    if 'then' not in case:
        return layers, forward
    then = activation(case['then'])
    return layers, lambda L, x: then(forward(L, x))


def layer_torch(case):
    op, shape = case['op'], case['in']
    dims = len(shape) - 1
    if op == 'conv':
        return torch_conv(case)
    if op in ('maxpool', 'avgpool'):
        return torch_pool(case)
    if op.startswith('reduce_'):
        return torch_reduce(case)
    if op == 'prelu':
        prelu = nn.PReLU(1 if case.get('shared') else shape[0], case.get('slope', 0.25))
        return {'a': prelu}, lambda L, x: L['a'](x)
    if 'b' in case:
        return torch_broadcast(case)
    if op in ('add', 'concat'):
        return torch_join(case)
    if op == 'maxout':
        return torch_maxout(case)
    if op == 'conv_transpose':
        return torch_conv_transpose(case)
    if op == 'irb':
        return torch_irb(case)
    if op == 'upsample':
        return torch_upsample(case)
    if op in LAYOUT_NORM:
        return torch_layout_norm(case)
    if op == 'dense':
        lin = nn.Linear(shape[0], case['u'], case.get('bias', True))
        act = activation(case.get('act'))
        return {'a': lin}, lambda L, x: act(L['a'](x))
    if op == 'batchnorm':
        bn = [nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d][max(dims, 1) - 1](shape[0],
                                                                      case.get('eps', 1e-5))
        act = activation(case.get('act'))
        return {'a': bn}, lambda L, x: act(L['a'](x))
    if op == 'reshape':
        target = case['shape']
        target = tuple(target) if isinstance(target, tuple) else (target,)
        return {}, lambda L, x: x.reshape(x.shape[0], *target)
    if op == 'pad':
        fp = fpad(side_pads(case['p'], dims, None, None, None, None))
        if case.get('mode', 'zeros') == 'zeros':
            return {}, lambda L, x: F.pad(x, fp, 'constant', case.get('value', 0))
        return {}, lambda L, x: F.pad(x, fp, PAD_MODE[case['mode']])
    if op == 'global_avgpool':
        return {}, lambda L, x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
    if op == 'global_maxpool':
        return {}, lambda L, x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True)
    simple = {
        'relu': F.relu, 'sigmoid': torch.sigmoid, 'tanh': torch.tanh, 'relu6': F.relu6,
        'hardswish': F.hardswish,
        'hardsigmoid': lambda x: hardsigmoid(x, *[case[k] for k in ('alpha', 'beta') if k in case]),
        'softplus': lambda x: F.softplus(x, case.get('beta', 1), case.get('threshold', 20)),
        'pow': lambda x: torch.pow(x, case['exponent']),
        **UNARY,
        'leaky_relu': lambda x: F.leaky_relu(x, case.get('alpha', 0.01)),
        'elu': lambda x: F.elu(x, case.get('alpha', 1.0)),
        'clip': lambda x: torch.clamp(x, case['min'], case['max']),
        'softmax': lambda x: F.softmax(x, dim=1),
        'flatten': lambda x: torch.flatten(x, 1),
        'dropout': nn.Dropout(case.get('rate', 0.5)).eval(),
    }
    f = simple[op]
    return {}, lambda L, x: f(x)


# ---- writing a case ----

def case_params(layers, rng):
    """{cnnc name: array}; BatchNorm state and PReLU slopes made non-trivial."""
    params = {}
    for lname, mod in layers.items():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            c = mod.num_features
            mod.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.5, c)))
            mod.running_var.copy_(torch.from_numpy(rng.uniform(0.3, 2.0, c)))
            mod.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c)))
            mod.bias.data.copy_(torch.from_numpy(rng.normal(0, 0.3, c)))
        if isinstance(mod, nn.PReLU):  # slopes of both signs, not all 0.25
            mod.weight.data.copy_(torch.from_numpy(rng.uniform(-0.5, 0.8, mod.weight.shape)))
        if isinstance(mod, (nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)) \
                and mod.weight is not None:  # a non-trivial affine
            mod.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, mod.weight.shape)))
            mod.bias.data.copy_(torch.from_numpy(rng.normal(0, 0.3, mod.bias.shape)))
        for key, v in mod.state_dict().items():
            if not key.endswith('num_batches_tracked'):
                params['%s.%s' % (lname, key)] = v.detach().float().numpy()
    return params


def write_case(outdir, index, name, case, row):
    torch.manual_seed(index)
    rng = np.random.default_rng(index)
    layers, forward = to_torch(case)
    with torch.no_grad():
        params = case_params(layers, rng)
    x = rng.standard_normal((BATCH, *case['in'])) * case.get('xs', 1) + case.get('xo', 0)
    x = x.astype('<f4')
    layers = {k: m.double().eval() for k, m in layers.items()}
    with torch.no_grad():
        ref = forward(layers, torch.from_numpy(x).double()).numpy()
    with open(os.path.join(outdir, name + '.cnn'), 'w') as f:
        f.write(to_cnn(name, case, row))
    np.save(os.path.join(outdir, name + '.input.npy'), x)
    np.save(os.path.join(outdir, name + '.expected.npy'), ref)
    write_params(os.path.join(outdir, name + '.weights'), params)


def generate(outdir, pattern=None):
    """Writes the matrix into outdir; returns [(name, row)]."""
    os.makedirs(outdir, exist_ok=True)
    cases = load_cases(pattern)
    for name, case, row in cases:
        write_case(outdir, int(name.split('_')[0]), name, case, row)
    with open(os.path.join(outdir, 'cases.txt'), 'w') as f:
        f.writelines('%s %s\n' % (name, row) for name, _, row in cases)
    return [(name, row) for name, _, row in cases]


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit('usage: gen_matrix.py OUTDIR [REGEX]')
    done = generate(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
    print('%d cases written to %s' % (len(done), sys.argv[1]))
