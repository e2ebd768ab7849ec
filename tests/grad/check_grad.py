"""check_grad.py: `cnnc grad` against PyTorch autograd.

    /usr/bin/python3 check_grad.py CNNC_BINARY SOURCE_DIR [examples|matrix|optim] [REGEX]

examples: every examples/*.cnn with its hand-written twin of
    tests/torch/models.py (the modules and the weight loading of the torch
    oracle, reused): cnnc's seeded parameters (BatchNorm's affine terms
    randomised, written back through --weights) load into the module; a
    seeded batch of 3 with random labels goes through `cnnc grad` and
    through torch in training mode (BatchNorm on batch statistics) with
    Dropout made the identity, in float64.
matrix: every single-layer case of tests/torch/matrix_cases.txt, turned
    into a model and a module by gen_matrix.py's two routes, framed as
        pre (a trainable 1x1 conv, or dense for a flat input) -> the layer
        -> flatten -> head: dense(4)
    so that the layer's dL/dinput reaches pre's parameters even when the
    layer has none.
optim: CNNC_BINARY is tests/grad's optim_driver (interp/optim.c on
    files): three steps of SGD (plain; momentum and weight decay) and Adam
    (with and without weight decay) against torch.optim on the same
    gradients: after every step, the parameters' change from the start
    agrees within rtol 1e-3 (float32 rounding of p itself is ~1e-4 of a
    1e-3 step).

Loss: mean cross-entropy of the output as logits, or, when the model ends
in softmax (its output rows are non-negative and sum to 1), the mean of
-log p[label]. Agreement (contract section 6): loss within 1e-4 relative;
every gradient max|a-b| <= 1e-3 * max|ref| (max|ref| at least 1% of the
model's largest gradient, for gradients that vanish exactly), and DIR holds
exactly loss.npy and one file per trainable parameter. Exits non-zero on any
failure.
"""
import os
import re
import sys
import tempfile
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'torch'))
import gen_matrix  # noqa: E402
import models  # noqa: E402
from oracle import (check_examples, cnnc, compare, escape_name, example_names,  # noqa: E402
                    load_into, read_params, report, usage, write_params)

GRAD_RTOL = 1e-3
LOSS_RTOL = 1e-4
BATCH = 3

_dropout = F.dropout


def identity_dropout(x, p=0.5, training=True, inplace=False):
    return x


def torch_loss(out, labels, probs=None):
    """Cross-entropy of logits, or NLL of probabilities when the model ends
    in softmax (probs; None: when the outputs look like probabilities)."""
    out = out.reshape(out.shape[0], -1)
    if probs is None:
        probs = bool((out >= 0).all()) and bool(torch.allclose(
            out.sum(1), torch.ones(out.shape[0], dtype=out.dtype), atol=1e-9))
    if probs:
        return F.nll_loss(torch.log(out), labels)
    return F.cross_entropy(out, labels)


def torch_grads(module, named, forward, x, labels, probs=None):
    """(loss, {cnnc name: gradient}) in float64, training mode, Dropout
    the identity. named: cnnc name -> torch Parameter; probs: torch_loss's."""
    module.double().train()
    for p in module.parameters():
        p.grad = None
    F.dropout = identity_dropout
    try:
        out = forward(torch.from_numpy(x).double())
        loss = torch_loss(out, torch.from_numpy(labels).long(), probs)
        loss.backward()
    finally:
        F.dropout = _dropout
    return float(loss), {n: (p.grad.numpy() if p.grad is not None else np.zeros(tuple(p.shape)))
                         for n, p in named.items()}


def summand_sizes(module, named, forward, x, labels, probs=None):
    """{cnnc name: max over the parameter of sum over samples of |sample i's
    share of the gradient|}, or None when samples meet inside the model
    (BatchNorm's batch statistics). The batch's gradient is a sum of those
    shares; when they cancel (balanced labels on near-equal logits), two
    correct float32 sums differ by the rounding of the shares, not of the
    sum, so this is the scale a tolerance must be relative to."""
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        return None
    n = x.shape[0]
    sizes = {name: 0.0 for name in named}
    try:
        shares = [torch_grads(module, named, forward, x[i:i + 1], labels[i:i + 1], probs)[1]
                  for i in range(n)]
    except (ValueError, RuntimeError):
        return None  # torch refuses a sample alone (a GroupNorm group of one value)
    for name in named:
        total = sum(np.abs(g[name]) for g in shares) / n
        sizes[name] = float(np.max(total)) if np.size(total) else 0.0
    return sizes


def run_grad(binary, model, work, x, labels, wdir):
    inp, lab, out = (os.path.join(work, f) for f in ('in.npy', 'labels.npy', 'grads'))
    np.save(inp, x)
    np.save(lab, labels)
    ok, msg = cnnc(binary, 'grad', model, '--input', inp, '--labels', lab, '--outdir', out,
                   '--weights', wdir, timeout=300)
    if not ok:
        return None, 'cnnc grad failed: ' + msg
    return out, ''


def compare_dir(out, loss, grads, sizes=None):
    """Failures of one grad folder against torch's loss and gradients;
    sizes: summand_sizes', whose 1% raises each gradient's floor (as the
    model's largest gradient's 1% does)."""
    failures = []
    want = {escape_name(n) + '.npy' for n in grads} | {'loss.npy'}
    have = set(os.listdir(out))
    for f in sorted(have - want):
        failures.append('unexpected file %s' % f)
    for f in sorted(want - have):
        failures.append('missing %s' % f)
    if 'loss.npy' in have:
        got = np.load(os.path.join(out, 'loss.npy'))
        if got.shape != () or not abs(float(got) - loss) <= LOSS_RTOL * abs(loss):
            failures.append('loss %s, torch %.7g' % (got, loss))
    floor = 1e-2 * max((float(np.max(np.abs(g))) for g in grads.values() if g.size), default=0)
    # A flat loss (an output no input moves: a group norm of one-element
    # groups) has every gradient 0, which torch's float64 gives as rounding
    # (1e-17 .. 1e-15) and cnnc as 0: below 1e-10 of the loss, a float32
    # program's loss cannot tell a gradient from none.
    floor = max(floor, 1e-10 * max(abs(loss), 1.0))
    for name, ref in grads.items():
        path = os.path.join(out, escape_name(name) + '.npy')
        if os.path.exists(path):
            share_floor = 1e-2 * (sizes or {}).get(name, 0)
            err = compare(np.load(path), ref, GRAD_RTOL, max(floor, share_floor))
            if err:
                failures.append('%s: %s' % (name, err))
    return failures


def named_params(module, params, layer_map):
    """cnnc trainable name -> the torch Parameter it loaded into."""
    torch_params = dict(module.named_parameters())
    named = {}
    for name in params:
        layer, _, suffix = name.rpartition('.')
        if suffix in ('running_mean', 'running_var'):
            continue
        named[name] = torch_params[layer_map[layer] + '.' + suffix]
    return named


# ---- examples ----

def example_setup(binary, path, work):
    """The torch twin of example `path` holding cnnc's weights (also
    written to a folder for --weights), a seeded batch and its labels:
    (module, params, layer_map, weights dir, x, labels). Raises
    RuntimeError."""
    name = os.path.basename(path)[:-4]
    factory, shape, layer_map = models.EXAMPLES[name]
    torch.manual_seed(0)
    module = factory()
    wdir = os.path.join(work, 'weights')
    ok, msg = cnnc(binary, 'weights', path, '--outdir', wdir)
    if not ok:
        raise RuntimeError('cnnc weights failed: ' + msg)
    params = read_params(wdir)
    rng = np.random.default_rng(7)
    for p in params:  # BatchNorm affine terms away from 1 and 0
        if p.endswith('.running_mean'):
            layer = p[:-len('.running_mean')]
            c = params[p].shape
            params[layer + '.weight'] = rng.uniform(0.5, 1.5, c).astype('<f4')
            params[layer + '.bias'] = rng.normal(0, 0.3, c).astype('<f4')
    write_params(wdir, params)
    errors = load_into(module, params, layer_map)
    if errors:
        raise RuntimeError('; '.join(errors))
    x = rng.standard_normal((BATCH, *shape)).astype('<f4')
    with torch.no_grad():
        k = module.double().eval()(torch.from_numpy(x[:1]).double()).numel()
    labels = rng.integers(0, k, BATCH).astype('<i8')
    return module, params, layer_map, wdir, x, labels


def check_example(binary, path, work):
    try:
        module, params, layer_map, wdir, x, labels = example_setup(binary, path, work)
    except RuntimeError as e:
        return [str(e)]
    out, err = run_grad(binary, path, work, x, labels, wdir)
    if err:
        return [err]
    loss, grads = torch_grads(module, named_params(module, params, layer_map), module, x, labels)
    return compare_dir(out, loss, grads)


def examples(binary, src, pattern):
    exdir = os.path.join(src, 'examples')
    names = [n for n in example_names(exdir) if not pattern or re.search(pattern, n)]
    return check_examples(binary, exdir, names, models.EXAMPLES, check_example, 'cnnc-grad-')


# ---- the single-layer matrix ----

class Framed(nn.Module):
    """pre -> the case's layer(s) -> flatten -> head, as the .cnn frames it."""

    def __init__(self, case):
        super().__init__()
        shape = case['in']
        layers, self.body = gen_matrix.to_torch(case)
        self.layers = nn.ModuleDict(layers)
        if len(shape) == 1:
            self.pre = nn.Linear(shape[0], shape[0])
        else:
            self.pre = gen_matrix.CONV[len(shape) - 1](shape[0], shape[0], 1)
        with torch.no_grad():
            k = self.body(self.layers, self.pre(torch.zeros(2, *shape))).numel() // 2
        self.head = nn.Linear(k, 4)

    def forward(self, x):
        return self.head(torch.flatten(self.body(self.layers, self.pre(x)), 1))


def framed_cnn(case, row):
    c = case['in']
    lines = ['pre: ' + ('dense(%d)' % c[0] if len(c) == 1 else 'conv(%d, kernel=1)' % c[0])]
    # the case's references to its input (`from input`, `add(input, a)`) read pre's output
    lines += [re.sub(r'\binput\b', 'pre', ln) for ln in gen_matrix.cnn_layers(case)]
    lines += ['flatten', 'head: dense(4)']
    return '# grad matrix case: %s\nmodel m {\n  input %s\n%s\n}\n' % (
        row, 'x'.join(map(str, c)), '\n'.join('  ' + ln for ln in lines))


def check_matrix_case(binary, work, index, case, row):
    torch.manual_seed(index)
    rng = np.random.default_rng(index)
    module = Framed(case)
    with torch.no_grad():
        params = gen_matrix.case_params(dict(module.layers), rng)
    params.update({'pre.' + k: v.detach().numpy() for k, v in module.pre.state_dict().items()})
    params.update({'head.' + k: v.detach().numpy() for k, v in module.head.state_dict().items()})
    wdir = os.path.join(work, 'weights')
    write_params(wdir, params)
    model = os.path.join(work, 'm.cnn')
    with open(model, 'w') as f:
        f.write(framed_cnn(case, row))
    x = rng.standard_normal((BATCH, *case['in'])).astype('<f4')
    labels = rng.integers(0, 4, BATCH).astype('<i8')
    out, err = run_grad(binary, model, work, x, labels, wdir)
    if err:
        return [err]
    torch_params = dict(module.named_parameters())
    named = {}
    for name in params:
        layer, _, suffix = name.rpartition('.')
        if suffix not in ('running_mean', 'running_var'):
            key = name if layer in ('pre', 'head') else 'layers.' + name
            named[name] = torch_params[key]
    loss, grads = torch_grads(module, named, module, x, labels)
    return compare_dir(out, loss, grads)


def matrix(binary, pattern):
    warnings.simplefilter('ignore')
    cases = gen_matrix.load_cases(pattern)
    bad = 0
    for name, case, row in cases:
        with tempfile.TemporaryDirectory(prefix='cnnc-gradm-') as work:
            failures = check_matrix_case(binary, work, int(name.split('_')[0]), case, row)
        if failures:
            bad += 1
            print('FAIL %s: %s' % (name, row))
            for f in failures:
                print('     ' + f)
    print('%d of %d matrix cases failed' % (bad, len(cases)))
    return bad if cases else 1


# ---- one optimizer step: interp/optim.c against torch.optim ----

OPTIM_CASES = [  # (kind, lr, momentum, weight_decay, beta1, beta2, eps)
    ('sgd', 0.1, 0.0, 0.0, 0, 0, 0),
    ('sgd', 0.05, 0.9, 5e-4, 0, 0, 0),
    ('sgd', 0.01, 0.5, 0.1, 0, 0, 0),
    ('adam', 1e-3, 0, 0.0, 0.9, 0.999, 1e-8),
    ('adam', 0.01, 0, 1e-2, 0.8, 0.99, 1e-6),
]


def optim(driver):
    """Three steps on the same random gradients, compared after each."""
    bad = 0
    rng = np.random.default_rng(5)
    for kind, lr, mom, wd, b1, b2, eps in OPTIM_CASES:
        p0 = rng.standard_normal(50).astype('<f4')
        grads = [rng.standard_normal(50).astype('<f4') for _ in range(3)]
        param = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        if kind == 'sgd':
            opt = torch.optim.SGD([param], lr=lr, momentum=mom, weight_decay=wd)
        else:
            opt = torch.optim.Adam([param], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
        with tempfile.TemporaryDirectory(prefix='cnnc-optim-') as work:
            np.save(os.path.join(work, 'p.npy'), p0)
            failures = []
            for step, g in enumerate(grads):
                np.save(os.path.join(work, 'g%d.npy' % step), g)
                param.grad = torch.from_numpy(g.copy())
                opt.step()
                ok, msg = cnnc(driver, work, kind, *map(str, (lr, mom, wd, b1, b2, eps)),
                               str(step + 1))
                if not ok:
                    failures.append('optim_driver failed: ' + msg)
                    break
                # the update itself, not the parameter, so that a small
                # step cannot hide in the parameter's scale
                ref = param.detach().numpy().astype(np.float64) - p0
                got = np.load(os.path.join(work, 'out.npy')) - p0
                err = compare(got, ref, 1e-3)
                if err:
                    failures.append('step %d: %s' % (step + 1, err))
        bad += report('%s lr=%g momentum=%g wd=%g betas=(%g, %g) eps=%g'
                      % (kind, lr, mom, wd, b1, b2, eps), failures)
    print('%d of %d optimizer cases failed' % (bad, len(OPTIM_CASES)))
    return bad


def main(argv):
    binary, src = usage(argv, 'examples|matrix [REGEX]')
    what = argv[3] if len(argv) > 3 else 'examples'
    pattern = argv[4] if len(argv) > 4 else None
    if what == 'examples':
        return 1 if examples(binary, src, pattern) else 0
    if what == 'matrix':
        return 1 if matrix(binary, pattern) else 0
    if what == 'optim':  # CNNC_BINARY is then tests' optim_driver
        return 1 if optim(binary) else 0
    sys.exit('unknown selection %r: examples, matrix or optim' % what)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
