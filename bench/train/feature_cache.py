#!/usr/bin/python3
"""feature_cache.py: what `train --cache-features` saves, measured in one
run: the same program trained with and without the cache, on one core.

usage: /usr/bin/python3 bench/train/feature_cache.py [--cnnc PATH]
           [--work DIR] [--core C] [--rounds R] [--samples N]

Per case, a model with a frozen part (examples/transfer/transfer.cnn on
make_data.py's digits 5-9; examples/lenet.cnn --freeze-until fc3;
examples/cifar_keras.cnn --freeze-until pool2, whose batchnorm is after
the cut; the last two on N random samples, default 1024) is compiled with
`--train --main` and cc -O2, then `./prog train DATA LABELS --save DIR`
runs R times (default 3) without and with `--cache-features 1G`,
alternately, under `taskset -c CORE`. The table gives medians: the whole
run's wall time, an epoch's training speed (samples/s of the epoch lines;
without the cache their median, with it the first epoch, which computes
the features, and the median of the later ones), and the ratios. Each pair
of runs must save the same weights, bit for bit, or the script fails.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(args, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit('failed: %s\n%s%s' % (' '.join(map(str, args)), p.stdout, p.stderr))
    return p.stdout


def build(cnnc, model, work, name, *opts):
    c = os.path.join(work, name + '.c')
    run([cnnc, model, '-o', c, '--train', '--main', *opts])
    run(['cc', '-O2', c, '-o', os.path.join(work, name), '-lm'])
    return os.path.join(work, name)


def random_data(work, name, shape, classes, n):
    rng = np.random.default_rng(1)
    x, y = os.path.join(work, name + '_x.npy'), os.path.join(work, name + '_y.npy')
    np.save(x, rng.normal(0, 1, (n,) + shape).astype(np.float32))
    np.save(y, (np.arange(n) % classes).astype(np.int32))
    return x, y


def cases(cnnc, work, n):
    """(label, program, data) per case."""
    ex = os.path.join(ROOT, 'examples')
    run([sys.executable, os.path.join(ex, 'transfer', 'make_data.py'), work])
    yield ('transfer (`freeze`d import)',
           build(cnnc, os.path.join(ex, 'transfer', 'transfer.cnn'), work, 'transfer'),
           (os.path.join(work, 'digits59_x.npy'), os.path.join(work, 'digits59_y.npy')))
    yield ('lenet `--freeze-until fc3`',
           build(cnnc, os.path.join(ex, 'lenet.cnn'), work, 'lenet', '--freeze-until', 'fc3'),
           random_data(work, 'lenet', (3, 32, 32), 10, n))
    yield ('cifar_keras `--freeze-until pool2`',
           build(cnnc, os.path.join(ex, 'cifar_keras.cnn'), work, 'cifar', '--freeze-until',
                 'pool2'),
           random_data(work, 'cifar', (3, 32, 32), 10, n))


def train(prog, data, core, folder, cached):
    """One run: (wall seconds, the epochs' samples/s, its output)."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    extra = ['--cache-features', '1G'] if cached else []
    t0 = time.perf_counter()
    out = run(['taskset', '-c', str(core), prog, 'train', data[0], data[1], '--save', folder]
              + extra)
    wall = time.perf_counter() - t0
    speeds = [float(s) for s in re.findall(r'^epoch .* (\d+) samples/s$', out, re.M)]
    return wall, speeds, out


def same_folder(a, b):
    for f in sorted(os.listdir(a)):
        with open(os.path.join(a, f), 'rb') as fa, open(os.path.join(b, f), 'rb') as fb:
            if fa.read() != fb.read():
                return False
    return sorted(os.listdir(a)) == sorted(os.listdir(b))


def measure(prog, data, core, rounds, work):
    plain, cached = [], []
    for _ in range(rounds):
        plain.append(train(prog, data, core, os.path.join(work, 'plain'), False))
        cached.append(train(prog, data, core, os.path.join(work, 'cached'), True))
        if not same_folder(os.path.join(work, 'plain'), os.path.join(work, 'cached')):
            sys.exit('%s: the cache changed the saved weights' % prog)
    size = re.search(r'feature cache: (\d+) samples x (\d+) floats', cached[0][2])
    return {
        'samples': int(size.group(1)), 'floats': int(size.group(2)),
        'epochs': len(plain[0][1]),
        'wall_plain': statistics.median(r[0] for r in plain),
        'wall_cached': statistics.median(r[0] for r in cached),
        'sps_plain': statistics.median(s for r in plain for s in r[1]),
        'sps_first': statistics.median(r[1][0] for r in cached),
        'sps_cached': statistics.median(s for r in cached for s in r[1][1:]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cnnc', default=os.path.join(ROOT, 'build', 'cnnc'))
    ap.add_argument('--work', default='/tmp/cnnc_feature_cache_bench')
    ap.add_argument('--core', type=int, default=0)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--samples', type=int, default=1024)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    print('| model | samples x floats (cache bytes) | epochs | run, no cache (s) | run, cached (s) '
          '| run ratio | epoch, no cache (samples/s) | first epoch, cached | later epochs, '
          'cached | epoch ratio |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    for label, prog, data in cases(a.cnnc, a.work, a.samples):
        m = measure(prog, data, a.core, a.rounds, a.work)
        print('| %s | %d x %d (%s) | %d | %.2f | %.2f | %.1fx | %.0f | %.0f | %.0f | %.1fx |' % (
            label, m['samples'], m['floats'], f"{m['samples'] * m['floats'] * 4:,}", m['epochs'],
            m['wall_plain'], m['wall_cached'], m['wall_plain'] / m['wall_cached'],
            m['sps_plain'], m['sps_first'], m['sps_cached'], m['sps_cached'] / m['sps_plain']),
            flush=True)


if __name__ == '__main__':
    main()
