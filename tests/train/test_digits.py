#!/usr/bin/python3
"""test_digits.py: the digits example end to end (examples/digits).

    test_digits.py CNNC SOURCE_DIR WORKDIR

make_digits.py -> `cnnc digits.cnn -o d.c --train --main` -> cc -O2 ->
`./d train digits_x.npy digits_y.npy --val-split 0.2 --save DIR` must reach
>= 97% validation accuracy within a minute of CPU time (the child's user +
system time, so a loaded machine does not fail it). Then, independently of
the program: the interpreter (`cnnc run --weights DIR`) on the runtime's
validation samples (a Python copy of the seeded split) reproduces the
printed accuracy, sklearn's metrics on those predictions match the printed
table, the weights baked back with `cnnc --weights DIR` give the same
outputs as the interpreter, and the untrained model is far worse (training
really changed the saved weights). Last, two one-epoch runs with the same
seed save byte-identical folders."""
import os
import resource
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainlib as tl  # noqa: E402

CPU_BUDGET_S = 60.0
K = 10


def cpu_of_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    cnnc, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    digits = os.path.join(src, 'examples', 'digits')
    model = os.path.join(digits, 'digits.cnn')
    tl.run('/usr/bin/python3', os.path.join(digits, 'make_digits.py'), work)
    x_path, y_path = os.path.join(work, 'digits_x.npy'), os.path.join(work, 'digits_y.npy')
    y = np.load(y_path)
    prog = tl.build(cnnc, model, work, 'd', '--train', '--main')
    fail = tl.Failures()

    saved = os.path.join(work, 'trained')
    os.makedirs(saved)
    cpu0, t0 = cpu_of_children(), time.time()
    _, out, _ = tl.run(prog, 'train', x_path, y_path, '--val-split', '0.2', '--save', saved)
    cpu, wall = cpu_of_children() - cpu0, time.time() - t0
    print(out)
    acc = tl.last_value(out, 'val_accuracy')
    print('train: val_accuracy %s, %.1f s CPU, %.1f s wall' % (acc, cpu, wall))
    fail.check(acc is not None and acc >= 0.97, 'val_accuracy %s < 0.97' % acc)
    fail.check(cpu < CPU_BUDGET_S, 'training took %.1f s of CPU (budget %g s)' % (cpu, CPU_BUDGET_S))

    # The interpreter on the saved folder.
    _, val = tl.val_split(len(y), 0.2, 0)  # digits.cnn's seed
    ref = os.path.join(work, 'ref.npy')
    tl.run(cnnc, 'run', model, '--input', x_path, '--output', ref, '--weights', saved)
    scores = np.load(ref)
    pred = scores.argmax(1)
    got = float(np.mean(pred[val] == y[val]))
    fail.check(acc is not None and abs(got - acc) <= 1e-6,
               'cnnc run --weights: val accuracy %.6f, the program printed %s' % (got, acc))
    tl.check_metrics(fail, out, y[val].tolist(), pred[val].tolist(), K, 'digits')

    # Baked back into generated code: the same outputs as the interpreter.
    baked = tl.build(cnnc, model, work, 'baked', '--main', '--weights', saved)
    outp = os.path.join(work, 'baked.npy')
    tl.run(baked, 'infer', x_path, outp)
    b = np.load(outp)
    err = np.abs(b - scores).max() / max(np.abs(scores).max(), 1e-30)
    fail.check(err <= 1e-4, 'baked weights vs cnnc run: relative difference %g' % err)
    fail.check(np.array_equal(b.argmax(1)[val], pred[val]), 'baked weights predict differently')

    # The untrained model (the compiled-in initial weights) is far worse.
    init = os.path.join(work, 'init.npy')
    tl.run(cnnc, 'run', model, '--input', x_path, '--output', init)
    untrained = float(np.mean(np.load(init).argmax(1)[val] == y[val]))
    fail.check(untrained < 0.5, 'untrained val accuracy %.3f: did training change anything?'
               % untrained)

    # Determinism on the real network: one epoch, twice, same bytes.
    runs = []
    for name in ['det1', 'det2']:
        d = os.path.join(work, name)
        os.makedirs(d)
        tl.run(prog, 'train', x_path, y_path, '--epochs', '1', '--save', d)
        runs.append(d)
    fail.check(tl.same_bytes(*runs), 'two runs with the same seed saved different bytes')
    fail.exit()


if __name__ == '__main__':
    main()
