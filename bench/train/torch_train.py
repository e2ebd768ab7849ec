#!/usr/bin/python3
"""torch_train.py: PyTorch's training step on one thread (bench/train).

usage: torch_train.py MODEL WEIGHTS_DIR ITERS N...
MODEL is an example's name (tests/torch/models.py's twin), WEIGHTS_DIR what
`cnnc weights` wrote for it. For each batch size N: model.train(), SGD
(lr 0.01, momentum 0.9, as bench/train/train_main.c sets cnnc's), one step =
zero_grad, forward, cross-entropy, backward, optimizer step; prints
`median_ms N: X` over ITERS steps after 3 warm-up steps, timed with the
thread's CPU time like the C side. First prints `blas: ...`, the BLAS
and LAPACK files loaded (run it with LD_LIBRARY_PATH pinned).
"""
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'tests', 'torch'))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import models  # noqa: E402
import oracle  # noqa: E402


def blas_info():
    """The BLAS/LAPACK files mapped into this process (the pin's proof)."""
    with open('/proc/self/maps') as f:
        paths = sorted({ln.split()[-1] for ln in f if 'blas' in ln or 'lapack' in ln})
    return ' '.join(paths) or 'none'


def main():
    name, wdir, iters = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    factory, shape, layer_map = models.EXAMPLES[name]
    print('blas: %s' % blas_info())
    for n in [int(a) for a in sys.argv[4:]]:
        model = factory()
        errors = oracle.load_into(model, oracle.read_params(wdir), layer_map)
        if errors:
            sys.exit('\n'.join(errors))
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        gen = torch.Generator().manual_seed(1)
        x = torch.rand((n,) + tuple(shape), generator=gen) * 2 - 1
        y = torch.arange(n) % 10
        # the twins of softmax-ending models output probabilities
        probs = name != 'pytorch_tutorial_net'

        def step():
            opt.zero_grad()
            out = model(x)
            loss = F.nll_loss(torch.log(out), y) if probs else F.cross_entropy(out, y)
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        times = []
        for _ in range(iters):
            t0 = time.thread_time()
            step()
            times.append((time.thread_time() - t0) * 1e3)
        print('median_ms %d: %.4f' % (n, statistics.median(times)))


if __name__ == '__main__':
    main()
