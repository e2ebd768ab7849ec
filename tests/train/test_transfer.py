#!/usr/bin/python3
"""test_transfer.py: the DSL's import and freeze, and the transfer example
(examples/transfer) end to end, against PyTorch.

    test_transfer.py CNNC SOURCE_DIR WORKDIR

1. The cut: a model holding only `import("backbone.cnn", weights=...,
   until="pool")`, one importing the same network exported to ONNX by
   `cnnc export` (cut at the node "pool") and one exported by PyTorch (cut
   at the value "/MaxPool_output_0") give under `cnnc run` what a PyTorch
   twin of the backbone computes up to its pool from the committed
   weights.
2. The gradients: `cnnc grad transfer.cnn` (the imported block frozen, the
   head's initial weights from `cnnc weights`) equal torch autograd's with
   requires_grad=False on the backbone's parameters, in float64; no file
   for a frozen parameter. The same for the twin's layers written in one
   file with `freeze conv2`: conv1, before it, still has its gradient.
3. Every examples/*.cnn imported whole (.cnn + weights, and ONNX) runs
   bit for bit as the example does under `cnnc run`.
4. The example: make_data.py, then the generated trainer
   (`cnnc transfer.cnn --train --main`) on the digits 5-9 reaches >= 95%
   validation accuracy, and the saved backbone parameters are the
   committed ones, bit for bit."""
import glob
import os
import re
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainlib as tl  # noqa: E402

GRAD_RTOL = 1e-4
BACKBONE = ('conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias')


class Twin(nn.Module):
    """backbone.cnn up to `pool`, then transfer.cnn's head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc1 = nn.Linear(144, 32)
        self.fc2 = nn.Linear(32, 5)

    def features(self, x):
        return F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(self.features(x).flatten(1))))


def load(twin, folder, prefix=''):
    with torch.no_grad():
        for name, p in twin.named_parameters():
            path = os.path.join(folder, prefix + name + '.npy')
            if os.path.exists(path):
                p.copy_(torch.from_numpy(np.load(path)).double())


def write_model(path, body):
    with open(path, 'w') as f:
        f.write('model cut {\n  input 1x8x8\n  %s\n}\n' % body)


def check_cut(fail, cnnc, ex, work, x):
    twin = Twin().double()
    load(twin, os.path.join(ex, 'backbone_weights'))
    want = twin.features(torch.from_numpy(x).double()).detach().numpy()
    onnx = os.path.join(work, 'backbone.onnx')
    tl.run(cnnc, 'export', os.path.join(ex, 'backbone.cnn'), '--weights',
           os.path.join(ex, 'backbone_weights'), '-o', onnx)
    # PyTorch's export names values apart from nodes: the cut by value name.
    torch.onnx.export(twin.float(), torch.zeros(1, 1, 8, 8), os.path.join(work, 'torch.onnx'))
    cases = {'cnn': 'f: import("%s", weights="%s", until="pool")'
                    % (os.path.join(ex, 'backbone.cnn'), os.path.join(ex, 'backbone_weights')),
             'onnx': 'f: import("backbone.onnx", until="pool")',
             'torch onnx': 'f: import("torch.onnx", until="/MaxPool_output_0")'}
    x_path = os.path.join(work, 'x.npy')
    np.save(x_path, x)
    for tag, body in cases.items():
        stem = os.path.join(work, 'cut_' + tag.replace(' ', '_'))
        model, out = stem + '.cnn', stem + '.npy'
        write_model(model, body)
        tl.run(cnnc, 'run', model, '--input', x_path, '--output', out)
        got = np.load(out)
        err = np.abs(got - want).max() / np.abs(want).max()
        print('cut (%s): relative difference to torch %.2g' % (tag, err))
        fail.check(got.shape == want.shape and err <= 1e-5, 'cut (%s): %g off torch' % (tag, err))


# The twin's layers in one .cnn file, conv2 frozen in the middle: conv1
# still learns through it.
LOCAL = """model local {
  input 1x8x8
  conv1: conv(8, kernel=3, padding=same, activation=relu)
  conv2: conv(16, kernel=3, activation=relu)
  pool: maxpool(2)
  flatten
  fc1: dense(32, activation=relu)
  fc2: dense(5)
  freeze conv2
}
"""


def check_grad(fail, cnnc, model, frozen, work, x, y):
    """cnnc grad of model (the twin's layers, `frozen` ones frozen) against
    autograd with requires_grad=False on those."""
    tag = os.path.splitext(os.path.basename(model))[0]
    init, grads = os.path.join(work, tag + '_init'), os.path.join(work, tag + '_grads')
    tl.run(cnnc, 'weights', model, '--outdir', init)
    x_path, y_path = os.path.join(work, 'gx.npy'), os.path.join(work, 'gy.npy')
    np.save(x_path, x)
    np.save(y_path, y)
    tl.run(cnnc, 'grad', model, '--input', x_path, '--labels', y_path, '--outdir', grads)
    twin = Twin().double()
    load(twin, init, 'features.')
    load(twin, init)
    for name in frozen:
        getattr(twin, name.split('.')[0]).get_parameter(name.split('.')[1]).requires_grad_(False)
    loss = F.cross_entropy(twin(torch.from_numpy(x).double()), torch.from_numpy(y))
    loss.backward()
    got_loss = float(np.load(os.path.join(grads, 'loss.npy')))
    fail.check(abs(got_loss - loss.item()) <= 1e-5 * abs(loss.item()),
               'loss %g, torch %g' % (got_loss, loss.item()))
    files = sorted(f for f in os.listdir(grads) if f != 'loss.npy')
    want_files = sorted(n + '.npy' for n, p in twin.named_parameters() if p.requires_grad)
    fail.check(files == want_files, 'gradient files %s, expected %s' % (files, want_files))
    for name, p in twin.named_parameters():
        path = os.path.join(grads, name + '.npy')
        if not p.requires_grad or not os.path.exists(path):
            continue
        ref = p.grad.numpy()
        err = np.abs(np.load(path) - ref).max() / max(np.abs(ref).max(), 1e-12)
        print('grad %s %-12s relative difference to torch %.2g' % (tag, name, err))
        fail.check(err <= GRAD_RTOL, 'grad %s %s: %g off torch' % (tag, name, err))


def check_whole(fail, cnnc, src, work):
    """Every examples/*.cnn imported whole, from the .cnn file and its
    `cnnc weights` folder and from its `cnnc export`, runs under `cnnc run`
    exactly as the example itself: the copy keeps every operator's
    attributes and every parameter."""
    rng = np.random.default_rng(2)
    for path in sorted(glob.glob(os.path.join(os.path.abspath(src), 'examples', '*.cnn'))):
        name = os.path.splitext(os.path.basename(path))[0]
        d = os.path.join(work, 'whole_' + name)
        os.makedirs(d)
        shape = re.search(r'^\s*input\s+(?:\w+:\s*)?([0-9x]+)', open(path).read(), re.M).group(1)
        x_path = os.path.join(d, 'x.npy')
        np.save(x_path, rng.random([2] + [int(v) for v in shape.split('x')], dtype=np.float32))
        tl.run(cnnc, 'weights', path, '--outdir', os.path.join(d, 'w'))
        tl.run(cnnc, 'export', path, '-o', os.path.join(d, 'm.onnx'))
        tl.run(cnnc, 'run', path, '--input', x_path, '--output', os.path.join(d, 'ref.npy'))
        ref = np.load(os.path.join(d, 'ref.npy'))
        for tag, args in (('cnn', '"%s", weights="w"' % path), ('onnx', '"m.onnx"')):
            model = os.path.join(d, tag + '.cnn')
            with open(model, 'w') as f:
                f.write('model w {\n  input %s\n  a: import(%s)\n}\n' % (shape, args))
            out = os.path.join(d, tag + '.npy')
            tl.run(cnnc, 'run', model, '--input', x_path, '--output', out)
            fail.check(np.array_equal(np.load(out), ref),
                       '%s imported whole (%s) runs differently' % (name, tag))
    print('every example imported whole runs as itself')


def check_training(fail, cnnc, ex, work):
    tl.run('/usr/bin/python3', os.path.join(ex, 'make_data.py'), work)
    prog = tl.build(cnnc, os.path.join(ex, 'transfer.cnn'), work, 'transfer', '--train', '--main')
    saved = os.path.join(work, 'trained')
    os.makedirs(saved)
    _, out, _ = tl.run(prog, 'train', os.path.join(work, 'digits59_x.npy'),
                       os.path.join(work, 'digits59_y.npy'), '--val-split', '0.2', '--save', saved)
    acc = tl.last_value(out, 'val_accuracy')
    print('digits 5-9 with the frozen backbone: val_accuracy %s' % acc)
    fail.check(acc is not None and acc >= 0.95, 'val_accuracy %s < 0.95' % acc)
    # A frozen parameter is a constant of the code (flash), not in the state:
    # no step can change it, and --save writes it from flash beside the
    # trained ones (a complete --weights folder), the committed values.
    source = open(prog + '.c').read()
    for name in BACKBONE:
        path = os.path.join(saved, 'features.' + name + '.npy')
        committed = np.load(os.path.join(ex, 'backbone_weights', name + '.npy'))
        fail.check(os.path.exists(path) and np.load(path).tobytes() == committed.tobytes(),
                   'frozen %s: not saved as committed' % name)
        fail.check('_TS_features_' + name.replace('.', '_') not in source,
                   'frozen %s is in the training state' % name)


def main():
    cnnc, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    ex = os.path.abspath(os.path.join(src, 'examples', 'transfer'))
    rng = np.random.default_rng(1)
    fail = tl.Failures()
    check_cut(fail, cnnc, ex, work, rng.random((4, 1, 8, 8), dtype=np.float32))
    x, y = rng.random((3, 1, 8, 8), dtype=np.float32), np.array([0, 3, 4], dtype=np.int64)
    check_grad(fail, cnnc, os.path.join(ex, 'transfer.cnn'), BACKBONE, work, x, y)
    local = os.path.join(work, 'local.cnn')
    with open(local, 'w') as f:
        f.write(LOCAL)
    check_grad(fail, cnnc, local, ('conv2.weight', 'conv2.bias'), work, x, y)
    check_whole(fail, cnnc, src, work)
    check_training(fail, cnnc, ex, work)
    fail.exit()


if __name__ == '__main__':
    main()
