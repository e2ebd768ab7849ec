#!/usr/bin/python3
"""A frozen batchnorm in the generated training step, against PyTorch
(docs/training.md, "Freezing").

tests/traingen/cut.cnn with `--freeze-until bn1`: c1 and bn1 are frozen,
c2, p and fc train. `./M train` runs three steps (three epochs of one
batch of the same four samples, plain SGD) and saves. PyTorch's twin of
the model, built from `cnnc weights`, with requires_grad=False on c1 and
bn1, in train() mode, takes the same three torch.optim.SGD steps. A
frozen batchnorm still normalises with each batch's statistics and
updates its running statistics (momentum 0.1, the unbiased variance):
- bn1.running_mean and running_var and the trained weights agree with
  torch's within rtol 1e-3 (contract section 6, gradients);
- c1's and bn1's weight and bias are bit for bit the initial ones.

usage: check_frozen_bn.py CNNC OUTDIR CC SOURCE_DIR
"""
import os
import subprocess
import sys

import numpy as np
import torch

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2"]
STEPS, BATCH, LR = 3, 4, 0.1


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))


def load(folder):
    return {f[:-4]: np.load(os.path.join(folder, f)) for f in os.listdir(folder)
            if f.endswith(".npy")}


def twin(w):
    """cut.cnn in PyTorch: conv, relu, batchnorm, conv, prelu, flatten, dense."""
    t = {k: torch.tensor(v) for k, v in w.items()}
    m = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(4),
        torch.nn.Conv2d(4, 6, 3), torch.nn.PReLU(t["p.weight"].numel()), torch.nn.Flatten(),
        torch.nn.Linear(96, 5))
    names = {0: "c1", 2: "bn1", 3: "c2", 4: "p", 6: "fc"}
    state = {}
    for i, layer in names.items():
        for k in m[i].state_dict():
            key = "%s.%s" % (layer, k)
            if key in t:
                state["%d.%s" % (i, k)] = t[key].reshape(m[i].state_dict()[k].shape)
            else:
                state["%d.%s" % (i, k)] = m[i].state_dict()[k]
    m.load_state_dict(state)
    for layer in (m[0], m[2]):
        for p in layer.parameters():
            p.requires_grad_(False)
    return m, names


def torch_steps(w, x, y):
    m, names = twin(w)
    m.train()
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=LR, momentum=0)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(torch.tensor(x)), torch.tensor(y).long())
        loss.backward()
        opt.step()
    out = {}
    for i, layer in names.items():
        for k, v in m[i].state_dict().items():
            if k != "num_batches_tracked":
                out["%s.%s" % (layer, k)] = v.detach().numpy()
    return out


def main(argv):
    cnnc, outdir, cc, src = argv[1:5]
    os.makedirs(outdir, exist_ok=True)
    model = os.path.join(src, "tests", "traingen", "cut.cnn")
    stem, init, saved = (os.path.join(outdir, d) for d in ("m", "init", "saved"))
    os.makedirs(init, exist_ok=True)
    os.makedirs(saved, exist_ok=True)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((BATCH, 2, 8, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 3], np.int32)
    xp, yp = os.path.join(outdir, "x.npy"), os.path.join(outdir, "y.npy")
    np.save(xp, x)
    np.save(yp, y)
    run([cnnc, model, "-o", stem + ".c", "--train", "--main", "--batch", str(BATCH),
         "--optimizer", "sgd", "--momentum", "0", "--freeze-until", "bn1"])
    run([cc] + STRICT + [stem + ".c", "-o", stem, "-lm"])
    # one batch of the four samples per epoch: every step sees the same batch
    run([stem, "train", xp, yp, "--epochs", str(STEPS), "--batch", str(BATCH), "--val-split", "0",
         "--lr", str(LR), "--save", saved])
    run([cnnc, "weights", model, "--outdir", init])
    w, got = load(init), load(saved)
    want = torch_steps(w, x, y)
    errors = []
    for name in ("c1.weight", "c1.bias", "bn1.weight", "bn1.bias"):
        if got[name].tobytes() != w[name].tobytes():
            errors.append("%s: frozen, but changed" % name)
    for name in ("bn1.running_mean", "bn1.running_var", "c2.weight", "c2.bias", "p.weight",
                 "fc.weight", "fc.bias"):
        a, b = got[name].ravel(), want[name].ravel()
        err = np.abs(a - b).max()
        if not err <= 1e-3 * np.abs(b).max():
            errors.append("%s: max |cnnc - torch| %g, max |torch| %g" % (name, err, np.abs(b).max()))
    if np.array_equal(want["bn1.running_mean"], w["bn1.running_mean"]):
        errors.append("torch's running mean did not move: the test checks nothing")
    for e in errors:
        print(e)
    print("frozen bn1 after %d steps: %s" % (STEPS, "ok" if not errors else "FAIL"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
