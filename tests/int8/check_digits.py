#!/usr/bin/python3
"""The digits example quantized (issue 14's accuracy target): trained by
cnnc's own generated trainer, then compiled --int8 with 200 calibration
samples taken from the training split; its validation accuracy must stay
within 1 point of the float model's, and the int8 program must agree with
`cnnc run --int8` bit for bit.

The validation split is a Python copy of the runtime's seeded one
(tests/train/trainlib.py); the accuracies are computed here from each
program's scores, not read from cnnc.

usage: check_digits.py CNNC SOURCE_DIR WORKDIR
"""
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'train'))
import trainlib as tl  # noqa: E402

CALIB = 200


def accuracy(scores, y, idx):
    return float(np.mean(scores.argmax(1)[idx] == y[idx]))


def main():
    cnnc, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    digits = os.path.join(src, 'examples', 'digits')
    model = os.path.join(digits, 'digits.cnn')
    tl.run('/usr/bin/python3', os.path.join(digits, 'make_digits.py'), work)
    x_path, y_path = os.path.join(work, 'digits_x.npy'), os.path.join(work, 'digits_y.npy')
    x, y = np.load(x_path), np.load(y_path)
    fail = tl.Failures()
    prog = tl.build(cnnc, model, work, 'd', '--train', '--main')
    saved = os.path.join(work, 'trained')
    os.makedirs(saved)
    tl.run(prog, 'train', x_path, y_path, '--val-split', '0.2', '--save', saved)

    train, val = tl.val_split(len(y), 0.2, 0)  # digits.cnn's seed
    calib = os.path.join(work, 'calib.npy')
    np.save(calib, x[train[:CALIB]])
    quant = ['--int8', '--calib', calib, '--weights', saved]
    ref_f, ref_8 = os.path.join(work, 'float.npy'), os.path.join(work, 'int8.npy')
    tl.run(cnnc, 'run', model, '--input', x_path, '--output', ref_f, '--weights', saved)
    tl.run(cnnc, 'run', model, '--input', x_path, '--output', ref_8, *quant)
    acc_f, acc_8 = accuracy(np.load(ref_f), y, val), accuracy(np.load(ref_8), y, val)
    print('validation accuracy: float %.4f, int8 %.4f (%d calibration samples)'
          % (acc_f, acc_8, CALIB))
    fail.check(acc_f >= 0.95, 'the float model trained poorly: %.4f' % acc_f)
    fail.check(abs(acc_f - acc_8) <= 0.01,
               'int8 accuracy %.4f is more than 1 point from float %.4f' % (acc_8, acc_f))

    prog8 = tl.build(cnnc, model, work, 'd8', '--main', *quant)
    out8 = os.path.join(work, 'gen8.npy')
    tl.run(prog8, 'infer', x_path, out8)
    fail.check(np.array_equal(np.load(out8), np.load(ref_8)),
               'the int8 program differs from cnnc run --int8')
    fail.exit()


if __name__ == '__main__':
    main()
