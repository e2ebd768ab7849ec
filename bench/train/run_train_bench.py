#!/usr/bin/python3
"""run_train_bench.py: cnnc's generated training step against PyTorch's, in
one run, on one core, at batch 1 and 32, the same networks and weights.

usage: /usr/bin/python3 bench/train/run_train_bench.py [--cnnc PATH]
           [--work DIR] [--iters N] [--core C] [--models a,b,...]

Per model (examples/*.cnn; default lenet, pytorch_tutorial_net,
cifar_keras): `cnnc weights` dumps the weights, which PyTorch's twin
(tests/torch/models.py) loads (oracle.load_into); `cnnc MODEL --train
--batch 32` is built with gcc -O3 -march=native into train_main.c. A step
is forward + loss + backward + SGD (lr 0.01, momentum 0.9) on both sides;
each figure is the median of --iters steps (thread CPU time) under
`taskset -c CORE`. PyTorch runs twice, its BLAS pinned by LD_LIBRARY_PATH:
the reference BLAS/LAPACK (/usr/lib/x86_64-linux-gnu/{blas,lapack}) and
OpenBLAS (.../openblas-pthread, from Debian's libopenblas0-pthread, which
this does not install); the libraries each run mapped are printed.
GFLOP/s counts 6 x MACs per sample (forward 2, backward 4: `cnnc info`'s
macs line), so cnnc's first layer, which skips dx, is flattered a little.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIB = '/usr/lib/x86_64-linux-gnu/'
BLAS = [('ref', LIB + 'blas:' + LIB + 'lapack'), ('openblas', LIB + 'openblas-pthread')]
BATCHES = (1, 32)


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError('%s failed (%d):\n%s%s' % (' '.join(cmd), r.returncode,
                                                        r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def medians(out):
    return {int(n): float(ms) for n, ms in re.findall(r'median_ms (\d+): ([0-9.]+)', out)}


def macs(cnnc, model):
    return int(re.search(r'^macs: (\d+)', run([cnnc, 'info', model]), re.M).group(1))


def bench_model(args, name):
    model = os.path.join(ROOT, 'examples', name + '.cnn')
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    wdir = os.path.join(work, 'weights')
    run([args.cnnc, 'weights', model, '--outdir', wdir])
    src, prog = os.path.join(work, 'm.c'), os.path.join(work, 'train')
    run([args.cnnc, model, '-o', src, '--train', '--name', 'm', '--batch', str(max(BATCHES))])
    run(['gcc', '-O3', '-march=native', '-DMODEL_C="%s"' % src,
         os.path.join(HERE, 'train_main.c'), '-o', prog, '-lm'])
    taskset = ['taskset', '-c', str(args.core)]
    res = {'cnnc': medians(run(taskset + [prog] + [str(n) for n in BATCHES] + [str(args.iters)]))}
    for tag, path in BLAS:
        # One BLAS thread too: OpenBLAS starts its own threads otherwise.
        env = dict(os.environ, LD_LIBRARY_PATH=path, OPENBLAS_NUM_THREADS='1')
        out = run(taskset + [sys.executable, os.path.join(HERE, 'torch_train.py'), name, wdir,
                             str(args.iters)] + [str(n) for n in BATCHES], env=env)
        print('  %s: torch %s mapped %s' % (name, tag, re.search(r'blas: (.*)', out).group(1)))
        res[tag] = medians(out)
    return res, macs(args.cnnc, model)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cnnc', default=os.path.join(ROOT, 'build', 'cnnc'))
    ap.add_argument('--work', default='/tmp/cnnc_train_bench')
    ap.add_argument('--iters', type=int, default=30)
    ap.add_argument('--core', type=int, default=0)
    ap.add_argument('--models', default='lenet,pytorch_tutorial_net,cifar_keras')
    args = ap.parse_args()
    rows = []
    for name in args.models.split(','):
        res, m = bench_model(args, name)
        for n in BATCHES:
            c, r, o = res['cnnc'][n], res['ref'][n], res['openblas'][n]
            rows.append((name, n, c, r, o, c / r, c / o, 6.0 * m * n / c / 1e6,
                         6.0 * m * n / o / 1e6))
    print('\ntraining step (forward + backward + SGD), one thread, median ms')
    print('%-22s %5s %9s %9s %9s %8s %8s %8s %8s' % (
        'model', 'batch', 'cnnc', 'torch-ref', 'torch-ob', 'x ref', 'x ob', 'cnnc GF', 'ob GF'))
    for r in rows:
        print('%-22s %5d %9.3f %9.3f %9.3f %8.2f %8.2f %8.1f %8.1f' % r)
    print('(x = cnnc time / PyTorch time; GF = GFLOP/s counting 6 flops per forward MAC)')


if __name__ == '__main__':
    main()
