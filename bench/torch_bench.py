#!/usr/bin/python3
"""torch_bench.py: PyTorch on one thread, batch 1, inference mode.

usage: torch_bench.py MODEL.pt ITERS
MODEL.pt is a whole nn.Module saved by run_bench.py (torch.save), with its
input shape in the attribute `bench_shape`. Prints `median_ms: X` over
ITERS runs after 3 warm-up runs.
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'torch'))
import torch  # noqa: E402


def main():
    path, iters = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    model = torch.load(path).eval()
    x = torch.rand((1,) + tuple(model.bench_shape)) * 2 - 1
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        for _ in range(iters):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1e3)
    print('median_ms: %.4f' % statistics.median(times))


if __name__ == '__main__':
    main()
