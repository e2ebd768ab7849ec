"""check_matrix.py: the single-layer matrix through `cnnc run` against torch.

    /usr/bin/python3 check_matrix.py CNNC_BINARY SOURCE_DIR [REGEX]

gen_matrix.py writes every case of matrix_cases.txt (or those matching
REGEX) into a temporary folder; each runs once through
`cnnc run NAME.cnn --input NAME.input.npy --weights NAME.weights`, and the
output must agree with torch's (contract section 6). Prints one line per
failure (with the case's table row) and a tally per operator; exits
non-zero on any failure.
"""
import collections
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_matrix  # noqa: E402
from oracle import cnnc, compare, usage  # noqa: E402


def check_case(binary, d, name):
    path = lambda suffix: os.path.join(d, name + suffix)  # noqa: E731
    ok, msg = cnnc(binary, 'run', path('.cnn'), '--input', path('.input.npy'),
                   '--output', path('.out.npy'), '--weights', path('.weights'), timeout=20)
    if not ok:
        return 'cnnc run failed: ' + msg.replace('\n', '\n       ')
    return compare(np.load(path('.out.npy')), np.load(path('.expected.npy')))


def main(argv):
    binary, _ = usage(argv, 'REGEX')
    tally = collections.defaultdict(lambda: [0, 0])
    failed = 0
    with tempfile.TemporaryDirectory(prefix='cnnc-matrix-') as d:
        cases = gen_matrix.generate(d, argv[3] if len(argv) > 3 else None)
        for name, row in cases:
            err = check_case(binary, d, name)
            op = row.split()[0]
            tally[op][0] += 1
            if err:
                tally[op][1] += 1
                failed += 1
                print('FAIL %s: %s\n     %s' % (name, row, err))
    for op, (n, bad) in tally.items():
        print('%-15s %3d cases, %3d failed' % (op, n, bad))
    print('%d of %d matrix cases failed' % (failed, len(cases)))
    return 1 if failed or not cases else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
