#!/usr/bin/python3
"""train_torch.py: REFERENCE ONLY. Trains digits.cnn's network in PyTorch
the way cnnc's generated `train` program is meant to, to show that the
architecture and hyperparameters reach the target (>= 97% validation
accuracy) in well under a minute on one core. Not part of cnnc.

    /usr/bin/python3 make_digits.py
    /usr/bin/python3 train_torch.py [--cnnc CNNC] [--epochs N] [--seed S] [--val-split F]

Mirrors the runtime (runtime/train.h): the validation split is the last
fraction of a seeded permutation (cnnc_val_split, stream 1), the training
indices are reshuffled in place every epoch (cnnc_shuffle_epoch, stream 16
+ epoch), with the same splitmix64 generator copied below; the loss is the
mean cross-entropy of each batch (the last one shorter); the defaults are
digits.cnn's train section (SGD lr 0.03, momentum 0.9, batch 32, 25
epochs, seed 0, and a 20% validation split). With --cnnc, the initial weights are cnnc's
own seeded ones (`cnnc weights`), else PyTorch's default initialisation
under torch.manual_seed(seed). Prints the runtime's epoch line and, last,
`val_accuracy: X`."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def shuffle(a, seed, stream):
    """runtime/train.c's cnnc_rng + cnnc_shuffle, in place."""
    state = mix64(seed) ^ mix64((stream * GOLDEN + 1) & M64)
    for i in range(len(a) - 1, 0, -1):
        reject = (1 << 64) % (i + 1)
        while True:
            state = (state + GOLDEN) & M64
            x = mix64(state)
            if x >= reject:
                break
        j = x % (i + 1)
        a[i], a[j] = a[j], a[i]
    return a


def val_split(n, f, seed):
    idx = shuffle(list(range(n)), seed, 1)
    nval = 0 if f <= 0 or n < 2 else max(1, min(n - 1, int(np.floor(n * f + 0.5))))
    return idx[:n - nval], idx[n - nval:]


def model():
    """digits.cnn, layer for layer (names as cnnc's parameter files)."""
    return nn.ModuleDict({
        'conv1': nn.Conv2d(1, 16, 3, padding=1), 'conv2': nn.Conv2d(16, 32, 3),
        'fc1': nn.Linear(288, 64), 'fc2': nn.Linear(64, 10)})


def forward(m, x):
    x = torch.relu(m['conv1'](x))
    x = torch.relu(m['conv2'](x))
    x = nn.functional.max_pool2d(x, 2).flatten(1)
    return m['fc2'](torch.relu(m['fc1'](x)))


def load_cnnc_weights(m, cnnc):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([cnnc, 'weights', os.path.join(HERE, 'digits.cnn'), '--outdir', d],
                       check=True)
        with torch.no_grad():
            for name, p in m.named_parameters():
                p.copy_(torch.from_numpy(np.load(os.path.join(d, name + '.npy'))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cnnc')
    ap.add_argument('--epochs', type=int, default=25)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--optim', choices=['sgd', 'adam'], default='sgd')
    ap.add_argument('--lr', type=float, default=0.03)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--val-split', type=float, default=0.2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    try:
        x = torch.from_numpy(np.load(os.path.join(HERE, 'digits_x.npy')))
        y = torch.from_numpy(np.load(os.path.join(HERE, 'digits_y.npy')))
    except FileNotFoundError as e:
        sys.exit('%s: error: run make_digits.py first' % e.filename)
    train, val = val_split(len(y), args.val_split, args.seed)
    m = model()
    if args.cnnc:
        load_cnnc_weights(m, args.cnnc)
    if args.optim == 'sgd':
        opt = torch.optim.SGD(m.parameters(), lr=args.lr, momentum=args.momentum)
    else:
        opt = torch.optim.Adam(m.parameters(), lr=args.lr)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        shuffle(train, args.seed, 16 + epoch)
        total, right = 0.0, 0
        for b in range(0, len(train), args.batch):
            idx = torch.tensor(train[b:b + args.batch])
            logits = forward(m, x[idx])
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            right += (logits.argmax(1) == y[idx]).sum().item()
        with torch.no_grad():
            val_acc = (forward(m, x[val]).argmax(1) == y[val]).float().mean().item()
        rate = len(train) / (time.perf_counter() - t0)
        print('epoch %d/%d  loss %.4f  train_acc %.4f  val_acc %.4f  %.0f samples/s'
              % (epoch + 1, args.epochs, total / len(train), right / len(train), val_acc, rate))
    print('train_seconds: %.2f' % (time.perf_counter() - start))
    print('val_accuracy: %.4f' % val_acc)


if __name__ == '__main__':
    main()
