"""check_layout_onnx.py: `cnnc grad` of ONNX constants that the DSL cannot
write, against PyTorch autograd.

    /usr/bin/python3 check_layout_onnx.py CNNC_BINARY WORKDIR

tests/traingen/gen_onnx.py's layout.onnx trains a Concat's constant, a
MatMul's constant on either side and the bias Add taken into it, and the
affine terms of LayerNormalization and InstanceNormalization (the
operator matrix covers the norms' affine terms, not these constants). Its
twin below is written from the ONNX operators' definitions, in float64;
a seeded batch of 3 with random labels goes through both. Agreement as
check_grad.py's: loss within 1e-4 relative, every gradient max|a-b| <=
1e-3 * max|ref| (at least 1% of the largest gradient).
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'traingen'))
import gen_onnx  # noqa: E402

BATCH = 3


def torch_twin(w, x):
    """layout.onnx's graph, node by node."""
    c1 = torch.cat([x, w['C'].expand(x.shape[0], -1, -1, -1)], 1)
    m2 = w['L'] @ (c1 @ w['M'] + w['bias'])
    n1 = F.layer_norm(m2, (m2.shape[-1],), w['gamma'], w['beta'])
    n2 = F.instance_norm(n1.permute(0, 1, 3, 2), weight=w['scale'], bias=w['shift'])
    return n2[:, :, 1:5].flatten(1) @ w['fc.w'].T + w['fc.b']


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    cnnc, work = argv[1:3]
    os.makedirs(work, exist_ok=True)
    model = gen_onnx.build_layout()
    path = os.path.join(work, 'layout.onnx')
    onnx.save(model, path)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, 2, 4, 4)).astype('<f4')
    labels = rng.integers(0, 4, BATCH).astype('<i8')
    np.save(os.path.join(work, 'x.npy'), x)
    np.save(os.path.join(work, 'labels.npy'), labels)
    out = os.path.join(work, 'grads')
    subprocess.run([cnnc, 'grad', path, '--input', os.path.join(work, 'x.npy'), '--labels',
                    os.path.join(work, 'labels.npy'), '--outdir', out], check=True)
    w = {}
    for init in model.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32:
            w[init.name] = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(torch_twin(w, torch.tensor(x, dtype=torch.float64)),
                           torch.tensor(labels))
    loss.backward()
    failures = []
    got_loss = float(np.load(os.path.join(out, 'loss.npy')))
    if abs(got_loss - loss.item()) > 1e-4 * abs(loss.item()):
        failures.append('loss %g, torch %g' % (got_loss, loss.item()))
    floor = 0.01 * max(t.grad.abs().max().item() for t in w.values())
    for name, t in w.items():
        ref = t.grad.numpy()
        got = np.load(os.path.join(out, name + '.npy')).reshape(ref.shape)
        err, scale = np.abs(got - ref).max(), max(np.abs(ref).max(), floor)
        if not err <= 1e-3 * scale:
            failures.append('%s: max|a-b| = %g, max|ref| = %g' % (name, err, scale))
    for f in failures:
        print('FAIL', f)
    print('%d gradients checked, %d failed' % (len(w), len(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
