#!/usr/bin/python3
"""test_feature_cache.py: `train --cache-features BYTES` (docs/training.md,
"Feature caching") is the same training as without it, and refuses, with
its reason, where it would not be.

    test_feature_cache.py CNNC SOURCE_DIR WORKDIR

1. Same training: with and without the cache, the same build trains to
   the same `--save` folder, bit for bit, and prints the same epoch lines
   (samples/s aside) and metrics, on examples/transfer (its `freeze`d
   import, make_data.py's digits 5-9: hold-out, k-fold, no validation)
   and on examples/lenet.cnn with `--freeze-until` a dense layer (the
   cut after its activation) and a pool (a conv head). The oracle is the
   uncached run, whose step the traingen tests check against the
   interpreter and PyTorch; the cache must change nothing but the time.
2. The cut: P_FEATURE_SIZE is the floats of the cut's sample (the
   import's pool, 16x3x3; fc3's 120; pool1's 8x14x14).
3. Refusals, as `PROG: error: --cache-features: ...` and exit 1, with the
   same reason in OUT.h: a batchnorm in the frozen part, a dropout in it,
   a layer reading a frozen tensor or the input besides the cut (a skip
   across it), a model with no frozen part; a budget smaller than the cache (both
   numbers named) and a malformed budget."""
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainlib as tl  # noqa: E402

# A small model: its layers, then the head every refusal case shares.
MODEL = """model m {{
  input 1x4x4
  c1: conv(4, kernel=3, padding=same, activation=relu)
{layers}
  flatten
  fc: dense(3)
}}
"""
SKIP_ACROSS = MODEL.format(layers="""  c2: conv(4, kernel=3, padding=same)
  s: add(c2, c1)""")
INPUT_ACROSS = MODEL.format(layers="""  c2: conv(4, kernel=3, padding=same)
  side: conv(4, kernel=3, padding=same) from input
  s: add(c2, side)""")
DROPOUT = MODEL.format(layers="""  d: dropout(0.5)
  c2: conv(4, kernel=3, padding=same)""")


def epoch_lines(out):
    """The epoch lines without their speed, and the metrics after them."""
    lines = [re.sub(r'\s+\d+ samples/s$', '', ln) for ln in out.split('\n')]
    return [ln for ln in lines if not ln.startswith(('feature cache:', 'saved '))]


def same_training(fail, prog, work, tag, data, *opts):
    """prog trained with and without the cache: same folder, same output."""
    runs = []
    for cached in (False, True):
        d = os.path.join(work, '%s_%s' % (tag, 'cached' if cached else 'plain'))
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        extra = ('--cache-features', '64M') if cached else ()
        _, out, _ = tl.run(prog, 'train', data[0], data[1], '--save', d, *opts, *extra)
        runs.append((d, out))
    (plain, pout), (cached, cout) = runs
    fail.check(tl.same_bytes(plain, cached), '%s: the saved weights differ' % tag)
    fail.check(epoch_lines(pout) == epoch_lines(cout), '%s: the printed runs differ' % tag)
    line = [ln for ln in cout.split('\n') if ln.startswith('feature cache:')]
    fail.check(len(line) == 1 and re.search(r'(\d+\.\d+x faster|no epoch ran from the cache)',
                                            line[0]),
               '%s: no speed-up line in %r' % (tag, line))
    print('%s: same weights%s' % (tag, ('; ' + line[0]) if line else ''))


def feature_size(header):
    with open(header) as f:
        m = re.search(r'#define \w+_FEATURE_SIZE (\d+)', f.read())
    return int(m.group(1)) if m else None


def check_size(fail, work, name, want):
    got = feature_size(os.path.join(work, name + '.h'))
    fail.check(got == want, '%s: P_FEATURE_SIZE %s, want %d' % (name, got, want))


def refused(fail, cnnc, work, name, model, pattern, data, *opts):
    """A build whose train --cache-features fails with the reason, which
    its OUT.h gives as well."""
    prog = tl.build(cnnc, model, work, name, '--train', '--main', *opts)
    with open(os.path.join(work, name + '.h')) as f:
        header = f.read()
    fail.check(re.search(r'No feature cache \(P_train_features\): .*' + pattern, header),
               '%s: OUT.h does not say /%s/' % (name, pattern))
    fail.check(feature_size(os.path.join(work, name + '.h')) is None,
               '%s: P_FEATURE_SIZE defined in a refused build' % name)
    expect_error(fail, name, [prog, 'train', data[0], data[1], '--cache-features', '1M'],
                 prog, r'--cache-features: .*' + pattern)


def expect_error(fail, tag, args, file, pattern):
    """A clean failure: exit 1, its first line `FILE: error: ...`."""
    rc, _, err = tl.run(*args, ok=False)
    first = err.split('\n')[0]
    fail.check(rc == 1, '%s: exit status %d' % (tag, rc))
    fail.check(first.startswith('%s: error: ' % file) and re.search(pattern, first),
               '%s: stderr %r, want %s: error: /%s/' % (tag, first, file, pattern))


def write(work, name, text):
    path = os.path.join(work, name)
    with open(path, 'w') as f:
        f.write(text)
    return path


def small_data(work, tag, shape, classes, n, seed):
    rng = np.random.default_rng(seed)
    x = os.path.join(work, tag + '_x.npy')
    y = os.path.join(work, tag + '_y.npy')
    np.save(x, rng.normal(0, 1, (n,) + shape).astype(np.float32))
    np.save(y, (np.arange(n) % classes).astype(np.int32))
    return x, y


def check_transfer(fail, cnnc, src, work):
    ex = os.path.join(src, 'examples', 'transfer')
    tl.run(sys.executable, os.path.join(ex, 'make_data.py'), work)
    data = (os.path.join(work, 'digits59_x.npy'), os.path.join(work, 'digits59_y.npy'))
    prog = tl.build(cnnc, os.path.join(ex, 'transfer.cnn'), work, 'transfer', '--train', '--main')
    check_size(fail, work, 'transfer', 16 * 3 * 3)
    same_training(fail, prog, work, 'transfer', data, '--epochs', '4')
    same_training(fail, prog, work, 'transfer_kfold', data, '--epochs', '2', '--kfold', '3')
    same_training(fail, prog, work, 'transfer_noval', data, '--epochs', '2', '--val-split', '0')
    expect_error(fail, 'budget', [prog, 'train', data[0], data[1], '--cache-features', '100K'],
                 prog, r'--cache-features 102400: the features of 896 samples need 516096 bytes')
    for bad in ('0', '12X', 'K', '-5', '99999999999999999999'):
        expect_error(fail, 'budget %s' % bad,
                     [prog, 'train', data[0], data[1], '--cache-features', bad], prog,
                     r'--cache-features .*: expected a number of bytes')


def check_lenet(fail, cnnc, src, work):
    lenet = os.path.join(src, 'examples', 'lenet.cnn')
    data = small_data(work, 'lenet', (3, 32, 32), 10, 80, 3)
    for cut, size in (('fc3', 120), ('pool1', 8 * 14 * 14)):
        name = 'lenet_' + cut
        prog = tl.build(cnnc, lenet, work, name, '--train', '--main', '--freeze-until', cut)
        check_size(fail, work, name, size)
        same_training(fail, prog, work, name, data, '--epochs', '3', '--batch', '16')


def check_refusals(fail, cnnc, src, work):
    tiny = os.path.join(src, 'tests', 'train', 'tiny.cnn')
    data = small_data(work, 'tiny', (1, 4, 4), 3, 30, 4)
    refused(fail, cnnc, work, 'cache_bn', tiny, r"batchnorm 'bn' is in the frozen part", data,
            '--freeze-until', 'bn')
    refused(fail, cnnc, work, 'cache_dropout', write(work, 'drop.cnn', DROPOUT),
            r"dropout 'd' is in the frozen part: it draws a new mask", data,
            '--freeze-until', 'c2')
    refused(fail, cnnc, work, 'cache_skip', write(work, 'skip.cnn', SKIP_ACROSS),
            r"layer 's' reads 'c1' of the frozen part besides the cut 'c2'", data,
            '--freeze-until', 'c2')
    refused(fail, cnnc, work, 'cache_input', write(work, 'side.cnn', INPUT_ACROSS),
            r"layer 'side' reads the model's input", data, '--freeze-until', 'c2')
    refused(fail, cnnc, work, 'cache_none', tiny, r'the model has no frozen part', data)


def main():
    cnnc, src, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    fail = tl.Failures()
    check_transfer(fail, cnnc, src, work)
    check_lenet(fail, cnnc, src, work)
    check_refusals(fail, cnnc, src, work)
    fail.exit()


if __name__ == '__main__':
    main()
