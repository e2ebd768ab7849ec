#!/usr/bin/python3
"""run_train_bench.py: cnnc's generated training step against PyTorch's, in
one run, on one core, at batch 1 and 32, the same networks and weights; or,
with --old-cnnc, against the training step another cnnc generates.

usage: /usr/bin/python3 bench/train/run_train_bench.py [--cnnc PATH]
           [--work DIR] [--iters N] [--core C] [--models a,b,...]
           [--old-cnnc PATH [--rounds R] [--no-torch]]

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

--old-cnnc PATH (a cnnc built from another commit, e.g. in a temporary
worktree) compiles the same models with it too; the two programs run
alternately, R rounds (default 3), and each figure is the best of its R
medians, so that a burst of load on the shared machine does not land on
one side only. The table then gives old, new and new/old; --no-torch
skips PyTorch.
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


def build(cnnc, model, work, tag):
    """The training program of `model` as `cnnc` generates it: SGD with
    momentum compiled in (train_main.c sets it), gcc -O3 -march=native."""
    src, prog = os.path.join(work, tag + '.c'), os.path.join(work, tag)
    run([cnnc, model, '-o', src, '--train', '--name', 'm', '--batch', str(max(BATCHES)),
         '--optimizer', 'sgd', '--momentum', '0.9'])
    run(['gcc', '-O3', '-march=native', '-DMODEL_C="%s"' % src,
         os.path.join(HERE, 'train_main.c'), '-o', prog, '-lm'])
    return prog


def time_programs(args, progs):
    """{tag: {batch: ms}}: the best median of each program over the rounds,
    the programs taking turns."""
    taskset = ['taskset', '-c', str(args.core)]
    best = {}
    for _ in range(args.rounds if len(progs) > 1 else 1):
        for tag, prog in progs:
            got = medians(run(taskset + [prog] + [str(n) for n in BATCHES] + [str(args.iters)]))
            old = best.setdefault(tag, got)
            for n in got:
                old[n] = min(old[n], got[n])
    return best


def bench_model(args, name):
    model = os.path.join(ROOT, 'examples', name + '.cnn')
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    wdir = os.path.join(work, 'weights')
    run([args.cnnc, 'weights', model, '--outdir', wdir])
    progs = [('cnnc', build(args.cnnc, model, work, 'train'))]
    if args.old_cnnc:
        progs.insert(0, ('old', build(args.old_cnnc, model, work, 'train_old')))
    res = time_programs(args, progs)
    taskset = ['taskset', '-c', str(args.core)]
    for tag, path in BLAS if not args.no_torch else ():
        # One BLAS thread too: OpenBLAS starts its own threads otherwise.
        env = dict(os.environ, LD_LIBRARY_PATH=path, OPENBLAS_NUM_THREADS='1')
        out = run(taskset + [sys.executable, os.path.join(HERE, 'torch_train.py'), name, wdir,
                             str(args.iters)] + [str(n) for n in BATCHES], env=env)
        print('  %s: torch %s mapped %s' % (name, tag, re.search(r'blas: (.*)', out).group(1)))
        res[tag] = medians(out)
    return res, macs(args.cnnc, model)


def compare(args):
    """The old cnnc's step against this one's: new/old per model and batch."""
    rows = []
    for name in args.models.split(','):
        res, _ = bench_model(args, name)
        for n in BATCHES:
            rows.append((name, n, res['old'][n], res['cnnc'][n], res['cnnc'][n] / res['old'][n]))
    print('\ntraining step (forward + backward + SGD), one thread, best of %d medians, ms'
          % args.rounds)
    print('%-22s %5s %9s %9s %9s' % ('model', 'batch', 'old', 'new', 'new/old'))
    for r in rows:
        print('%-22s %5d %9.3f %9.3f %9.3f' % r)
    print('worst new/old: %.3f' % max(r[4] for r in rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cnnc', default=os.path.join(ROOT, 'build', 'cnnc'))
    ap.add_argument('--work', default='/tmp/cnnc_train_bench')
    ap.add_argument('--iters', type=int, default=30)
    ap.add_argument('--core', type=int, default=0)
    ap.add_argument('--models', default='lenet,pytorch_tutorial_net,cifar_keras')
    ap.add_argument('--old-cnnc', help='also time the step this cnnc generates')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--no-torch', action='store_true')
    args = ap.parse_args()
    if args.old_cnnc:
        compare(args)
        return
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
