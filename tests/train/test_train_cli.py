#!/usr/bin/python3
"""test_train_cli.py: the `train` command of a `--main --train` program on
tests/train/tiny.cnn (seconds): saved folders, determinism, the metrics
table against sklearn, k-fold, resume, the lr schedule, the NaN stop and
every error case (contract sections 3-5).

    test_train_cli.py CNNC WORKDIR

Oracles: `cnnc run --weights DIR` (the interpreter) on the saved folder,
sklearn's metrics on those predictions, a Python copy of the runtime's
seeded split, and `cnnc weights` for the folder's file names."""
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainlib as tl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, 'tiny.cnn')
K = 3
N = 90


def make_data(work):
    """Three 4x4 patterns (top row, left column, diagonal) under noise."""
    rng = np.random.default_rng(5)
    y = np.arange(N) % K
    x = rng.normal(0, 0.3, (N, 1, 4, 4)).astype(np.float32)
    for i, c in enumerate(y):
        if c == 0:
            x[i, 0, 0, :] += 1
        elif c == 1:
            x[i, 0, :, 0] += 1
        else:
            x[i, 0, range(4), range(4)] += 1
    paths = {}
    for name, arr in [('x', x), ('y', y.astype(np.int64)), ('y32', y.astype(np.int32)),
                      ('y_short', y[:10].astype(np.int64)), ('y_range', (y + 1).astype(np.int64)),
                      ('y_float', y.astype(np.float32)), ('y_2d', y.reshape(-1, 1)),
                      ('x_shape', rng.normal(size=(N, 1, 5, 5)).astype(np.float32)),
                      ('x_f64', x.astype(np.float64)), ('x_empty', x[:0])]:
        paths[name] = os.path.join(work, name + '.npy')
        np.save(paths[name], arr)
    paths['garbage'] = os.path.join(work, 'garbage.npy')
    with open(paths['garbage'], 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00\xff\xffnot a header at all')
    return x, y, paths


def train(prog, paths, *opts, ok=True, labels='y'):
    return tl.run(prog, 'train', paths['x'], paths[labels], *opts, ok=ok)


def folder(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def predictions(cnnc, work, x_path, weights):
    out = os.path.join(work, 'pred.npy')
    tl.run(cnnc, 'run', MODEL, '--input', x_path, '--output', out, '--weights', weights)
    return np.load(out)


def check_save_and_metrics(fail, cnnc, prog, work, paths, y):
    a = folder(work, 'a')
    _, out, _ = train(prog, paths, '--save', a)
    acc = tl.last_value(out, 'val_accuracy')
    fail.check(acc is not None, 'the last line is not `val_accuracy: X`: %r' % out[-200:])
    ref = folder(work, 'ref')
    tl.run(cnnc, 'weights', MODEL, '--outdir', ref)
    fail.check(tl.npy_files(a) == tl.npy_files(ref), '--save wrote %s; cnnc weights names %s'
               % (tl.npy_files(a), tl.npy_files(ref)))
    fail.check(not tl.same_bytes(a, ref), 'training left the saved weights at their start')
    # The saved weights through the interpreter reproduce the reported
    # accuracy on the runtime's validation samples, and the table is
    # sklearn's on those predictions.
    _, val = tl.val_split(N, 0.2, 1)
    pred = predictions(cnnc, work, paths['x'], a).argmax(1)
    got = float(np.mean(pred[val] == y[val]))
    fail.check(acc is not None and abs(got - acc) <= 1e-6,
               'cnnc run on the saved weights: val accuracy %s, the program said %s' % (got, acc))
    fail.check(acc is not None and acc >= 0.8, 'tiny model: val accuracy %s < 0.8' % acc)
    tl.check_metrics(fail, out, y[val].tolist(), pred[val].tolist(), K, 'holdout')
    m = re.search(r'best epoch (\d+): val_acc ([0-9.]+)', out)
    fail.check(m is not None and abs(float(m.group(2)) - acc) <= 5e-5,
               'best epoch line %s vs val_accuracy %s' % (m and m.group(0), acc))
    epochs = re.findall(r'^epoch (\d+)/(\d+)  loss [0-9.]+  train_acc [0-9.]+  val_acc [0-9.]+  '
                        r'\d+ samples/s$', out, re.M)
    fail.check(epochs == [(str(i), '4') for i in range(1, 5)],
               'epoch lines (4 from the train section): %s' % epochs)
    # int32 labels are read too, and give the same run.
    b = folder(work, 'b32')
    train(prog, paths, '--save', b, labels='y32')
    fail.check(tl.same_bytes(a, b), 'int32 labels train differently from int64 ones')
    return a


def check_determinism(fail, prog, work, paths, a):
    b = folder(work, 'b')
    train(prog, paths, '--save', b)
    fail.check(tl.same_bytes(a, b), 'the same seed saved different bytes')
    c = folder(work, 'c')
    train(prog, paths, '--save', c, '--seed', '2')
    fail.check(not tl.same_bytes(a, c), '--seed 2 saved the same weights as seed 1')


def check_kfold(fail, cnnc, prog, work, paths, y):
    _, out, _ = train(prog, paths, '--kfold', '3', '--epochs', '2')
    folds = re.findall(r'^fold (\d)/3: best epoch \d+, val_acc ([0-9.]+)$', out, re.M)
    fail.check([f[0] for f in folds] == ['1', '2', '3'], 'k-fold lines: %s' % folds)
    mean = tl.last_value(out, 'val_accuracy')
    fail.check(mean is not None and folds and
               abs(mean - np.mean([float(f[1]) for f in folds])) <= 1e-4,
               'k-fold: val_accuracy %s is not the mean of %s' % (mean, folds))
    cm = tl.confusion_rows(out, K)
    fail.check(cm is not None and sum(map(sum, cm)) == N,
               'k-fold: the matrix counts %s samples, not every sample once'
               % (cm and sum(map(sum, cm))))


def check_resume(fail, prog, work, paths, a):
    # lr ~0 for one epoch from a saved folder: the weights stay a's (the
    # running statistics move: they do not depend on lr).
    r = folder(work, 'r')
    _, out, _ = train(prog, paths, '--resume', a, '--epochs', '1', '--lr', '1e-30',
                      '--save', r)
    fail.check('resumed from' in out, 'no resume line')
    same = all(np.array_equal(np.load(os.path.join(a, f)), np.load(os.path.join(r, f)))
               for f in tl.npy_files(a) if 'running' not in f)
    fail.check(same, '--resume: the parameters did not come from the folder')
    s = folder(work, 's')
    train(prog, paths, '--epochs', '1', '--lr', '1e-30', '--save', s)
    fail.check(not np.array_equal(np.load(os.path.join(a, 'fc.weight.npy')),
                                  np.load(os.path.join(s, 'fc.weight.npy'))),
               'without --resume the start is the same as with it')


def check_schedule(fail, prog, work, paths):
    # --schedule step with gamma 1e-30 after each epoch: epochs 2 and 3 barely
    # move the parameters, so they match a one-epoch run.
    one = folder(work, 'one')
    train(prog, paths, '--epochs', '1', '--val-split', '0', '--save', one)
    three = folder(work, 'three')
    _, out, _ = train(prog, paths, '--epochs', '3', '--val-split', '0', '--schedule', 'step',
                      '--step-size', '1', '--gamma', '1e-30', '--save', three)
    fail.check(tl.last_value(out, 'train_accuracy') is not None,
               'without validation the last line is `train_accuracy: X`')
    for f in ['conv1.weight.npy', 'fc.weight.npy']:
        w1, w3 = np.load(os.path.join(one, f)), np.load(os.path.join(three, f))
        fail.check(np.allclose(w1, w3, rtol=1e-5, atol=1e-6),
                   '--schedule step: %s moved after epoch 1 (max diff %g)'
                   % (f, np.abs(w1 - w3).max()))
    plain = folder(work, 'plain')
    train(prog, paths, '--epochs', '3', '--val-split', '0', '--save', plain)
    fail.check(not np.allclose(np.load(os.path.join(one, 'fc.weight.npy')),
                               np.load(os.path.join(plain, 'fc.weight.npy')), atol=1e-6),
               'a constant schedule trains no further than one epoch')
    _, out, _ = train(prog, paths, '--epochs', '2', '--schedule', 'cosine')
    fail.check(tl.last_value(out, 'val_accuracy') is not None, '--schedule cosine failed')


def expect_error(fail, tag, args, file, pattern):
    """A clean failure: non-zero exit (no signal), `FILE: error: ...`."""
    rc, out, err = tl.run(*args, ok=False)
    first = err.split('\n')[0]
    fail.check(rc > 0, '%s: exit status %d' % (tag, rc))
    fail.check(first.startswith('%s: error: ' % file) and re.search(pattern, first),
               '%s: stderr %r, want %s: error: /%s/' % (tag, first, file, pattern))


def check_errors(fail, prog, work, paths):
    t = [prog, 'train', paths['x'], paths['y']]
    missing = os.path.join(work, 'no-such-folder')
    bad = folder(work, 'bad')
    np.save(os.path.join(bad, 'conv1.weight.npy'), np.zeros((4, 1, 2, 2), np.float32))
    cases = [
        ('nan', t + ['--lr', '1e30'], prog,
         r'epoch \d+, batch \d+ of \d+: the loss or a gradient is not finite'),
        ('batch', t + ['--batch', '999'], prog, r'--batch 999 exceeds .*BATCH_MAX 16'),
        ('epochs', t + ['--epochs', '0'], prog, r'--epochs 0'),
        ('lr', t + ['--lr', 'fast'], prog, r'--lr fast'),
        ('split', t + ['--val-split', '1.5'], prog, r'--val-split 1.5'),
        ('both', t + ['--kfold', '3', '--val-split', '0.2'], prog, r'exclude each other'),
        ('kfold', t + ['--kfold', '1000'], prog, r'--kfold 1000 needs at least 1000 samples'),
        ('option', t + ['--bogus', '1'], prog, r"unknown option '--bogus'"),
        ('value', t + ['--seed'], prog, r'--seed needs a value'),
        ('usage', [prog, 'train', paths['x']], prog, r'usage'),
        ('save', t + ['--save', missing], missing, r'no such folder'),
        ('resume', t + ['--resume', missing], os.path.join(missing, 'conv1.weight.npy'), r''),
        ('resume shape', t + ['--resume', bad], os.path.join(bad, 'conv1.weight.npy'),
         r'shape \(4, 1, 2, 2\); the model.s conv1.weight has shape \(4, 1, 3, 3\)'),
        ('no data', [prog, 'train', os.path.join(work, 'none.npy'), paths['y']],
         os.path.join(work, 'none.npy'), r''),
        ('data shape', [prog, 'train', paths['x_shape'], paths['y']], paths['x_shape'],
         r'shape \(90, 1, 5, 5\); the model takes \(90, 1, 4, 4\)'),
        ('data dtype', [prog, 'train', paths['x_f64'], paths['y']], paths['x_f64'], r''),
        ('data empty', [prog, 'train', paths['x_empty'], paths['y']], paths['x_empty'],
         r'no samples'),
        ('garbage', [prog, 'train', paths['garbage'], paths['y']], paths['garbage'], r''),
        ('count', [prog, 'train', paths['x'], paths['y_short']], paths['y_short'],
         r'10 labels, but .* holds 90 samples'),
        ('range', [prog, 'train', paths['x'], paths['y_range']], paths['y_range'], r'3'),
        ('float labels', [prog, 'train', paths['x'], paths['y_float']], paths['y_float'],
         r'integers'),
        ('2-d labels', [prog, 'train', paths['x'], paths['y_2d']], paths['y_2d'], r'1-D'),
    ]
    for tag, args, file, pattern in cases:
        expect_error(fail, tag, args, file, pattern)
    fail.check(not os.listdir(bad)[1:], 'a failed run wrote into a folder')


def main():
    cnnc, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    x, y, paths = make_data(work)
    prog = tl.build(cnnc, MODEL, work, 'tiny', '--train', '--main')
    fail = tl.Failures()
    a = check_save_and_metrics(fail, cnnc, prog, work, paths, y)
    check_determinism(fail, prog, work, paths, a)
    check_kfold(fail, cnnc, prog, work, paths, y)
    check_resume(fail, prog, work, paths, a)
    check_schedule(fail, prog, work, paths)
    check_errors(fail, prog, work, paths)
    fail.exit()


if __name__ == '__main__':
    main()
