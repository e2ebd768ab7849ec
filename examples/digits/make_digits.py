#!/usr/bin/python3
"""make_digits.py: the handwritten digits data set shipped with Debian's
python3-sklearn (UCI "Optical Recognition of Handwritten Digits", the test
part: 1,797 images of 8x8 pixels, 10 classes) as cnnc training files.

    /usr/bin/python3 make_digits.py [OUTDIR]     (default: this folder)

Writes OUTDIR/digits_x.npy, float32 [1797, 1, 8, 8] (N, C, H, W), pixel
counts 0..16 scaled to [0, 1], and OUTDIR/digits_y.npy, int64 [1797], the
digit. Reads the csv file directly (numpy only): each row is 64 pixels in
row-major order and the label last. The rows keep the file's order; the
training program shuffles with its own seed."""
import gzip
import os
import sys

import numpy as np

CSV = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    with gzip.open(CSV, 'rt') as f:
        rows = np.loadtxt(f, delimiter=',', dtype=np.int64)
    if rows.shape != (1797, 65) or rows[:, :64].min() < 0 or rows[:, :64].max() > 16:
        sys.exit('%s: error: expected 1797 rows of 64 pixels in 0..16 and a label, got %s'
                 % (CSV, rows.shape))
    x = (rows[:, :64].astype(np.float32) / 16).reshape(-1, 1, 8, 8)
    y = rows[:, 64]
    if sorted(set(y.tolist())) != list(range(10)):
        sys.exit('%s: error: labels are not the digits 0..9' % CSV)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, 'digits_x.npy'), x)
    np.save(os.path.join(out, 'digits_y.npy'), y)
    print('digits_x.npy %s float32, digits_y.npy %s int64, class counts %s'
          % (x.shape, y.shape, np.bincount(y).tolist()))


if __name__ == '__main__':
    main()
