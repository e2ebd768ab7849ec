#!/usr/bin/python3
"""An int8 build's calibration set for the tests: N float32 samples of
SHAPE (CxHxW) drawn from N(0, 1) with a fixed seed, as OUT.npy.

usage: make_calib.py OUT.npy SHAPE N
"""
import sys

import numpy as np


def main(argv):
    out, shape, n = argv[1], tuple(int(d) for d in argv[2].split("x")), int(argv[3])
    np.save(out, np.random.default_rng(16).standard_normal((n,) + shape).astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
