#!/usr/bin/python3
"""make_data.py: the digits example's data (examples/digits/make_digits.py)
split in two tasks for the transfer example.

    /usr/bin/python3 make_data.py [OUTDIR]     (default: this folder)

Writes OUTDIR/digits04_x.npy, float32 [N, 1, 8, 8], and digits04_y.npy,
int64 labels 0..4 (the digits 0-4: the backbone's task), and likewise
digits59_x.npy and digits59_y.npy, the digits 5-9 with labels 0..4 (digit
minus 5: the new head's task). The rows keep the csv file's order; the
training programs shuffle and split off validation with their own seed."""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(HERE, '..', 'digits', 'make_digits.py'), tmp],
                       check=True, stdout=subprocess.DEVNULL)
        x = np.load(os.path.join(tmp, 'digits_x.npy'))
        y = np.load(os.path.join(tmp, 'digits_y.npy'))
    for name, low in (('digits04', 0), ('digits59', 5)):
        keep = (y >= low) & (y < low + 5)
        np.save(os.path.join(out, name + '_x.npy'), np.ascontiguousarray(x[keep]))
        np.save(os.path.join(out, name + '_y.npy'), (y[keep] - low).astype(np.int64))
        print('%s_x.npy %s float32, %s_y.npy labels 0..4 (digits %d-%d)'
              % (name, x[keep].shape, name, low, low + 4))


if __name__ == '__main__':
    main()
