#!/usr/bin/python3
"""check_torch.py: runtime/train.c against independent implementations.

    /usr/bin/python3 check_torch.py RT_TRAIN_DRIVER OPTIM_DRIVER

RT_TRAIN_DRIVER is tests/runtime/rt_train_driver.c; OPTIM_DRIVER is
tests/grad/optim_driver.c (the reference interpreter's optimizer).
  - softmax cross-entropy and its gradient vs torch.nn.functional.cross_entropy
  - SGD and Adam, several steps, vs torch.optim (PyTorch 1.13), and
    bit-identical to the interpreter's optimizer on the same gradients
  - StepLR and CosineAnnealingLR vs torch.optim.lr_scheduler
  - accuracy, per-class and macro precision/recall/F1 vs sklearn.metrics
  - shuffle, validation split and k-fold vs a Python copy of the generator
    (reproducible on every machine) and sklearn's KFold fold layout
Agreement is the contract's: max|a - b| <= rtol * max|ref|, no NaN.
Exit status 1 on any mismatch."""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from sklearn.model_selection import KFold

DRIVER, OPTIM_DRIVER = sys.argv[1], sys.argv[2]
failures = []


def close(name, got, want, rtol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        failures.append('%s: shape %s, want %s' % (name, got.shape, want.shape))
        return
    err = np.max(np.abs(got - want)) if got.size else 0.0
    scale = max(np.max(np.abs(want)) if want.size else 0.0, 1e-30)
    if np.isnan(got).any() or err > rtol * scale:
        failures.append('%s: max error %.3g > %.1g * %.3g' % (name, err, rtol, scale))


def run(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        failures.append('%s failed: %s' % (' '.join(map(str, args[:2])), r.stderr.strip()))
        return None
    return r.stdout


def check_xent(work):
    rng = np.random.default_rng(1)
    for n, k, scale in [(8, 10, 3.0), (5, 3, 50.0), (1, 2, 1.0), (16, 100, 10.0)]:
        z = (rng.standard_normal((n, k)) * scale).astype(np.float32)
        z[0, 0] = 80.0  # a row whose plain exp would lose everything else
        y = rng.integers(0, k, n)
        np.save(os.path.join(work, 'z.npy'), z)
        np.save(os.path.join(work, 'y.npy'), y.astype(np.int64))
        if run(DRIVER, 'xent', os.path.join(work, 'z.npy'), os.path.join(work, 'y.npy'),
               work) is None:
            continue
        zt = torch.tensor(z, requires_grad=True)
        loss = torch.nn.functional.cross_entropy(zt, torch.tensor(y))
        loss.backward()
        tag = 'xent n=%d k=%d' % (n, k)
        close(tag + ' loss', np.load(os.path.join(work, 'loss.npy')), loss.item(), 1e-5)
        close(tag + ' grad', np.load(os.path.join(work, 'dlogits.npy')), zt.grad.numpy(), 1e-5)


OPTIM_CASES = [  # kind, lr, momentum, weight decay, beta1, beta2, eps
    ('sgd', 0.1, 0.0, 0.0, 0.9, 0.999, 1e-8),
    ('sgd', 0.05, 0.9, 0.0, 0.9, 0.999, 1e-8),
    ('sgd', 0.01, 0.9, 5e-4, 0.9, 0.999, 1e-8),
    ('adam', 1e-3, 0.0, 0.0, 0.9, 0.999, 1e-8),
    ('adam', 0.01, 0.0, 1e-2, 0.8, 0.99, 1e-6),
]
STEPS = 6


def check_optim(work):
    rng = np.random.default_rng(2)
    for case in OPTIM_CASES:
        kind, lr, mom, wd, b1, b2, eps = case
        p0 = rng.standard_normal(40).astype(np.float32)
        grads = [rng.standard_normal(40).astype(np.float32) for _ in range(STEPS)]
        np.save(os.path.join(work, 'p.npy'), p0)
        for i, g in enumerate(grads):
            np.save(os.path.join(work, 'g%d.npy' % i), g)
        args = [kind, lr, mom, wd, b1, b2, eps, STEPS]
        if run(DRIVER, 'optim', work, *args) is None:
            continue
        ours = np.load(os.path.join(work, 'out.npy'))
        if run(OPTIM_DRIVER, work, *args) is None:
            continue
        interp = np.load(os.path.join(work, 'out.npy'))
        param = torch.tensor(p0, requires_grad=True)
        if kind == 'sgd':
            opt = torch.optim.SGD([param], lr=lr, momentum=mom, weight_decay=wd)
        else:
            opt = torch.optim.Adam([param], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
        for g in grads:
            param.grad = torch.tensor(g)
            opt.step()
        tag = 'optim %s' % (case,)
        close(tag + ' vs torch', ours, param.detach().numpy(), 1e-4)
        if not np.array_equal(ours, interp):
            failures.append('%s: differs from interp/optim.c by %.3g' %
                            (tag, np.max(np.abs(ours - interp))))


def check_schedules():
    for kind, base, epochs, step, gamma in [('step', 0.1, 12, 3, 0.5), ('step', 1e-3, 7, 1, 0.9),
                                            ('cosine', 0.1, 10, 1, 1.0),
                                            ('cosine', 1e-3, 25, 1, 1.0),
                                            ('constant', 0.05, 5, 1, 1.0)]:
        out = run(DRIVER, 'sched', kind, base, epochs, step, gamma)
        if out is None:
            continue
        ours = [float(x) for x in out.split()]
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        if kind == 'step':
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=step, gamma=gamma)
        elif kind == 'cosine':
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        else:
            sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0)
        want = []
        for _ in range(epochs + 1):
            want.append(opt.param_groups[0]['lr'])
            opt.step()
            sched.step()
        close('sched %s base %g' % (kind, base), ours, want, 1e-12)


def check_metrics(work):
    rng = np.random.default_rng(3)
    cases = []
    y = rng.integers(0, 5, 200)
    cases.append((y, np.where(rng.random(200) < 0.7, y, rng.integers(0, 5, 200)), 5))
    y = rng.integers(0, 4, 60)  # class 4 never occurs, class 3 never predicted
    cases.append((y, np.where(y == 3, 0, np.where(rng.random(60) < 0.5, y, 4)), 5))
    y = np.array([1] * 10 + [0] * 90)  # the course's patients
    cases.append((y, np.zeros(100, np.int64), 2))
    y = rng.integers(0, 3, 40)  # classes 3..5 absent from both
    cases.append((y, rng.integers(0, 3, 40), 6))
    for i, (y, pred, k) in enumerate(cases):
        np.save(os.path.join(work, 'y.npy'), y.astype(np.int64))
        np.save(os.path.join(work, 'pred.npy'), pred.astype(np.int64))
        out = run(DRIVER, 'metrics', os.path.join(work, 'y.npy'),
                  os.path.join(work, 'pred.npy'), k)
        if out is None:
            continue
        rows = [[float(x) for x in line.split()] for line in out.strip().split('\n')]
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=list(range(k)),
                                                     zero_division=0)
        mp, mr, mf, _ = precision_recall_fscore_support(y, pred, average='macro',
                                                        zero_division=0)
        tag = 'metrics case %d' % i
        close(tag + ' accuracy', rows[0], [accuracy_score(y, pred)], 1e-12)
        close(tag + ' per class', rows[1:1 + k], np.stack([p, r, f], 1), 1e-12)
        close(tag + ' macro', rows[1 + k], [mp, mr, mf], 1e-12)


# ---- a Python copy of train.c's generator: the same stream on every machine ----
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Rng:
    def __init__(self, seed, stream):
        self.state = mix64(seed) ^ mix64((stream * GOLDEN + 1) & M64)

    def below(self, bound):
        reject = (1 << 64) % bound
        while True:
            self.state = (self.state + GOLDEN) & M64
            x = mix64(self.state)
            if x >= reject:
                return x % bound

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def ints(line):
    return [int(x) for x in line.split()]


def check_order():
    for seed, epoch, n in [(0, 0, 10), (42, 3, 1797), (2**64 - 1, 7, 5), (1, 0, 1)]:
        out = run(DRIVER, 'shuffle', seed, epoch, n)
        if out is not None and ints(out) != Rng(seed, 16 + epoch).shuffle(list(range(n))):
            failures.append('shuffle seed %d epoch %d n %d differs' % (seed, epoch, n))
    for n, f, seed in [(1797, 0.2, 0), (10, 0.25, 9), (7, 0.5, 3)]:
        out = run(DRIVER, 'split', n, f, seed)
        if out is None:
            continue
        lines = out.split('\n')
        perm = Rng(seed, 1).shuffle(list(range(n)))
        nval = max(1, min(n - 1, int(np.floor(n * f + 0.5))))
        if ints(lines[0]) != perm[:n - nval] or ints(lines[1]) != perm[n - nval:]:
            failures.append('split n %d f %g seed %d differs' % (n, f, seed))
    for n, k, seed in [(23, 5, 11), (10, 10, 0), (1797, 10, 4)]:
        out = run(DRIVER, 'kfold', n, k, seed)
        if out is None:
            continue
        lines = out.split('\n')
        order = np.array(Rng(seed, 2).shuffle(list(range(n))))
        for fold, (tr, va) in enumerate(KFold(n_splits=k).split(order)):
            if (ints(lines[2 * fold]) != order[tr].tolist() or
                    ints(lines[2 * fold + 1]) != order[va].tolist()):
                failures.append('kfold n %d k %d fold %d differs from KFold' % (n, k, fold))


def main():
    with tempfile.TemporaryDirectory(prefix='cnnc-rt-train-') as work:
        check_xent(work)
        check_optim(work)
        check_metrics(work)
    check_schedules()
    check_order()
    for f in failures:
        print('FAIL', f)
    print('%d failure(s)' % len(failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
