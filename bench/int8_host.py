#!/usr/bin/python3
"""int8_host.py: issue 14's table, int8 against float, on the host and on an
emulated Cortex-M4, in one run (`bench/run_bench.py --int8` runs it too).

usage: /usr/bin/python3 bench/int8_host.py [--cnnc PATH] [--work DIR]
           [--iters N] [--core C] [--models a,b,...] [--target T | --no-target]

Per example (examples/*.cnn, its own seeded weights):
- host, one core (taskset -c CORE), batch 1: the float build and the
  `--int8 --calib` build (32 seeded N(0, 1) calibration samples) of cnnc,
  each gcc -O3 -march=native with bench/prof_main.c; ONNX Runtime (npm's
  onnxruntime-node, one thread, all graph optimisations, so that it fuses
  the QDQ groups into its integer kernels) on the QDQ model `cnnc quantize`
  writes from the same calibration set, and on the float model `cnnc
  export` writes: medians in ms, int8 / float and int8 / ONNX Runtime's QDQ;
- target T (default cortex-m4) in QEMU, through bench/int8_target.py
  (scripts/target-bench, each build checked there against `cnnc run`, int8
  bit for bit): instructions per inference, float and int8, and their
  ratio; `-` where the model does not fit the board.
All measured in this run."""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import int8_target  # noqa: E402
import run_bench as rb  # noqa: E402


def build(args, src, work, name, extra):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    rb.run([args.cnnc, src, '-o', os.path.join(d, 'm.c'), '--name', 'm'] + extra)
    exe = os.path.join(d, 'gen')
    rb.run(['gcc', '-O3', '-march=native', '-I', d, '-DMODEL_C="m.c"',
            os.path.join(HERE, 'prof_main.c'), '-o', exe, '-lm'])
    return rb.time_generated(args, exe, None, False)[0]


def input_shape(args, src, work):
    rb.run([args.cnnc, src, '-o', os.path.join(work, 'shape.c'), '--name', 'm'])
    text = open(os.path.join(work, 'shape.h')).read()
    dims = text.split('m_INPUT_SHAPE {')[1].split('}')[0]
    return tuple(int(v) for v in dims.split(','))


def ort_or_none(args, path):
    """ONNX Runtime's median, or None (said on stderr) where it fails."""
    try:
        return rb.time_ort(args, path)
    except RuntimeError as e:
        sys.stderr.write('%s: %s\n' % (path, str(e).strip().splitlines()[-1]))
        return None


def bench(args, name):
    src = os.path.join(rb.ROOT, 'examples', name + '.cnn')
    if not os.path.exists(src):  # digits: a folder of its own
        src = os.path.join(rb.ROOT, 'examples', name, name + '.cnn')
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    calib = os.path.join(work, 'calib.npy')
    shape = input_shape(args, src, work)
    np.save(calib, np.random.default_rng(1).standard_normal((32,) + shape).astype(np.float32))
    qdq, f32 = os.path.join(work, 'qdq.onnx'), os.path.join(work, 'f32.onnx')
    rb.run([args.cnnc, 'quantize', src, '--calib', calib, '-o', qdq])
    rb.run([args.cnnc, 'export', src, '-o', f32])
    gf = build(args, src, work, 'float', [])
    gq = build(args, src, work, 'int8', ['--int8', '--calib', calib])
    oq, of = ort_or_none(args, qdq), ort_or_none(args, f32)
    mf = mq = None
    if args.target:
        target_work = os.path.join(work, args.target)
        mf = int8_target.bench(args.cnnc, src, args.target, [], os.path.join(target_work, 'f'))
        mq = int8_target.bench(args.cnnc, src, args.target, ['--int8', '--calib', calib],
                               os.path.join(target_work, 'q'))
        mf, mq = (mf or {}).get('instructions'), (mq or {}).get('instructions')
    print(ROW % (name, rb.fmt(gf, '%.4f'), rb.fmt(gq, '%.4f'), rb.fmt(oq, '%.4f'),
                 rb.fmt(of, '%.4f'), rb.ratio(gq, gf), rb.ratio(gq, oq),
                 rb.fmt(mf and mf / 1e6, '%.3f'), rb.fmt(mq and mq / 1e6, '%.3f'),
                 rb.ratio(mq, mf)))
    sys.stdout.flush()


ROW = '%-22s %9s %9s %9s %9s %7s %7s %10s %10s %7s'


def table(args):
    """Prints the table for args (cnnc, work, iters, core, models, target)."""
    args.cnnc = os.path.abspath(args.cnnc)
    rb.ensure_ort()
    print('host: ms per sample (median of %d, taskset -c %d, batch 1); %s: QEMU instructions '
          'per inference (M)' % (args.iters, args.core, args.target or 'no target'))
    print(ROW % ('model', 'gen_f32', 'gen_i8', 'ORT_qdq', 'ORT_f32', 'i8/f32', 'i8/ORTq',
                 'mcu_f32', 'mcu_i8', 'i8/f32'))
    for name in args.models.split(','):
        bench(args, name)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--cnnc', default=os.path.join(rb.ROOT, 'build', 'cnnc'))
    p.add_argument('--work', default='/tmp/cnnc_int8_bench')
    p.add_argument('--iters', type=int, default=50)
    p.add_argument('--core', type=int, default=0)
    p.add_argument('--models', default=','.join(rb.EXAMPLES + ['digits']))
    p.add_argument('--target', default='cortex-m4')
    p.add_argument('--no-target', dest='target', action='store_const', const=None)
    table(p.parse_args())


if __name__ == '__main__':
    main()
