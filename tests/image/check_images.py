#!/usr/bin/python3
"""check_images.py: PGM/PPM images as inputs (contract, section 3), through
`cnnc run --input IMAGE|DIR` and the generated program's `infer`.

Usage: check_images.py CNNC SRCDIR WORKDIR

The oracle is this file's own netpbm writer and NumPy: each image's samples
are scaled by maxval and normalised with the model's declared mean and std
here, saved as .npy, and `cnnc run` on that .npy must give what both image
paths give (max |a - b| <= 1e-5 * max |ref|). `infer` must print each
image's top 5 classes with the probabilities NumPy computes from the
output. Every bad image must give `FILE: error: ...` naming the file, a
non-zero exit, and no output file, from cnnc and from the program alike.
Every failure is listed; the exit status is 1 if there was any.
"""
import os
import re
import shutil
import subprocess
import sys

import numpy as np

CNNC, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
failures = []

# model, its channels x height x width, mean, std (None: no normalisation)
MODELS = {
    "lenet": ("examples/lenet.cnn", (3, 32, 32), None, None),
    "cifar_keras": ("examples/cifar_keras.cnn", (3, 32, 32),
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "digits": ("examples/digits/digits.cnn", (1, 8, 8), None, None),
}


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300,
                          **kw)


def pnm(samples, maxval, comment=True):
    """A binary PGM (H, W) or PPM (H, W, 3) file's bytes."""
    h, w = samples.shape[:2]
    magic = b"P5" if samples.ndim == 2 else b"P6"
    dtype = ">u2" if maxval > 255 else "u1"
    head = magic + (b"\n# made by check_images.py\n" if comment else b" ")
    return head + b"%d %d\n%d\n" % (w, h, maxval) + samples.astype(dtype).tobytes()


def expected_input(samples, maxval, mean, std):
    """The model's input for one image, the way contract section 3 says."""
    x = samples.astype(np.float32) / np.float32(maxval)
    x = x[:, :, None] if x.ndim == 2 else x
    if mean is not None:
        x = (x - np.float32(mean)) * (np.float32(1) / np.float32(std))
    return x.transpose(2, 0, 1)


def agree(a, ref, tol=1e-5):
    return a.shape == ref.shape and not np.isnan(a).any() and \
        np.abs(a - ref).max() <= tol * max(np.abs(ref).max(), 1e-30)


def random_images(shape, rng, n, maxval):
    c, h, w = shape
    dims = (h, w) if c == 1 else (h, w, 3)
    return [rng.integers(0, maxval + 1, dims) for _ in range(n)]


def build(name, model):
    c_file = os.path.join(WORK, f"{name}.c")
    p = run(CNNC, os.path.join(SRC, model), "-o", c_file, "--main")
    check(p.returncode == 0, f"{name}: compile", p.stderr)
    exe = os.path.join(WORK, name)
    p = run("gcc", "-std=c99", "-O1", "-Wall", "-Wextra", "-pedantic", "-Werror", c_file, "-o",
            exe, "-lm")
    check(p.returncode == 0, f"{name}: gcc", p.stderr[:2000])
    return exe


def parse_top(text):
    """{name: [(class, probability), ...]} from infer's printout."""
    tops, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^(.*): top (\d+) of (\d+) classes$", line)
        if m:
            name = m.group(1)
            tops[name] = []
            continue
        m = re.match(r"^  class (\d+): ([0-9.]+)$", line)
        if m and name is not None:
            tops[name].append((int(m.group(1)), float(m.group(2))))
    return tops


def check_top(name, printed, out, probs):
    p = out.astype(np.float64) if probs else np.exp(out - out.max()) / np.exp(out - out.max()).sum()
    order = sorted(range(len(p)), key=lambda k: (-p[k], k))[:5]
    want = [(k, round(float(p[k]), 4)) for k in order]
    got = printed.get(name)
    ok = got is not None and [k for k, _ in got] == order and \
        all(abs(a - b) <= 1.5e-4 for (_, a), (_, b) in zip(got, want))
    check(ok, f"{name}: top 5 printed", f"got {got}, want {want}")


def check_model(name, exe, rng):
    model, shape, mean, std = MODELS[name]
    model = os.path.join(SRC, model)
    d = os.path.join(WORK, f"{name}_images")
    os.makedirs(d)
    images = []
    for i, maxval in enumerate((255, 65535, 1000)):  # 8-bit, 16-bit, 16-bit with a small maxval
        for k, samples in enumerate(random_images(shape, rng, 1, maxval)):
            path = os.path.join(d, f"img{i}{k}.{'pgm' if shape[0] == 1 else 'ppm'}")
            with open(path, "wb") as f:
                f.write(pnm(samples, maxval, comment=i != 1))
            images.append((path, expected_input(samples, maxval, mean, std)))
    with open(os.path.join(d, "notes.txt"), "w") as f:  # not an image: skipped
        f.write("P6 not an image")
    ref_in = os.path.join(WORK, f"{name}_ref_in.npy")
    np.save(ref_in, np.stack([x for _, x in images]).astype("<f4"))
    ref_out = os.path.join(WORK, f"{name}_ref_out.npy")
    p = run(CNNC, "run", model, "--input", ref_in, "--output", ref_out)
    check(p.returncode == 0, f"{name}: cnnc run on the oracle's .npy", p.stderr)
    ref = np.load(ref_out)
    probs = "softmax" in open(model).read().split("train")[0]
    for how, cmd in (("cnnc run", [CNNC, "run", model, "--input", d, "--output"]),
                     ("infer", [exe, "infer", d])):
        out = os.path.join(WORK, f"{name}_{how.replace(' ', '_')}.npy")
        p = run(*cmd, out)
        check(p.returncode == 0, f"{name}: {how} on a folder", p.stderr)
        if p.returncode == 0:
            got = np.load(out)
            check(agree(got, ref), f"{name}: {how} on a folder vs the oracle's .npy",
                  f"shapes {got.shape} {ref.shape}")
        if how == "infer" and p.returncode == 0:
            tops = parse_top(p.stdout)
            check(list(tops) == [path for path, _ in images], f"{name}: infer's image order",
                  str(list(tops)))
            for i, (path, _) in enumerate(images):
                check_top(path, tops, ref[i], probs)
    one = os.path.join(WORK, f"{name}_one.npy")
    p = run(exe, "infer", images[0][0], one)
    check(p.returncode == 0 and agree(np.load(one), ref[:1]), f"{name}: infer on one image",
          p.stderr)


def expect_error(args, path, needle, out):
    p = run(*args)
    first = p.stderr.splitlines()[0] if p.stderr else ""
    check(p.returncode != 0 and first.startswith(f"{path}: error: ") and needle in first
          and not os.path.exists(out),
          f"bad image: {' '.join(map(str, args[:2]))} {os.path.basename(path)}",
          f"rc={p.returncode} stderr={p.stderr!r} (want '{needle}')")


def bad_images():
    """(file name, bytes, what the message must say) for an RGB 32x32 model."""
    rgb = np.zeros((32, 32, 3), np.uint8)
    good = pnm(rgb, 255)
    return [
        ("truncated.ppm", good[:-7], "truncated"),
        ("maxval0.ppm", b"P6 32 32 0\n" + rgb.tobytes(), "maxval"),
        ("maxval65536.ppm", b"P6 32 32 65536\n" + rgb.tobytes() * 2, "maxval"),
        ("zero.ppm", b"P6 0 32 255\n", "width"),
        ("huge.ppm", b"P6 30000 30000 255\n" + bytes(100), "pixels"),
        ("toowide.ppm", b"P6 99999999999999999999 1 255\n", "width"),
        ("grey.pgm", pnm(np.zeros((32, 32), np.uint8), 255), "grey (P5)"),
        ("garbage.ppm", b"P6 32 x32 255\n" + rgb.tobytes(), "height"),
        ("ascii.ppm", b"P3 32 32 255\n0 0 0\n", "P5 or P6"),
        ("empty.ppm", b"", "P5 or P6"),
        ("nospace.ppm", b"P6 32 32 255", "whitespace"),
        ("above.ppm", b"P6 32 32 100\n" + bytes([200]) * 3072, "above the maxval"),
        ("small.ppm", pnm(np.zeros((16, 24, 3), np.uint8), 255), "24x16"),
    ]


def check_bad(exe):
    model = os.path.join(SRC, "examples/lenet.cnn")
    d = os.path.join(WORK, "bad")
    os.makedirs(d)
    out = os.path.join(WORK, "bad_out.npy")
    for name, data, needle in bad_images():
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        expect_error([CNNC, "run", model, "--input", path, "--output", out], path, needle, out)
        expect_error([exe, "infer", path, out], path, needle, out)
    expect_error([exe, "infer", os.path.join(d, "small.ppm"), out], os.path.join(d, "small.ppm"),
                 "32x32", out)
    # a folder fails at its first bad image (byte order of the names), naming it
    expect_error([exe, "infer", d, out], os.path.join(d, "above.ppm"), "above the maxval", out)
    empty = os.path.join(WORK, "empty_dir")
    os.makedirs(empty)
    expect_error([CNNC, "run", model, "--input", empty, "--output", out], empty, "no .pgm", out)
    expect_error([exe, "infer", empty, out], empty, "no .pgm", out)
    sig = os.path.join(SRC, "examples/signal1d.cnn")
    expect_error([CNNC, "run", sig, "--input", os.path.join(d, "grey.pgm"), "--output", out],
                 os.path.join(d, "grey.pgm"), "not an image", out)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    rng = np.random.default_rng(7)
    exes = {name: build(name, m[0]) for name, m in MODELS.items()}
    if not failures:
        for name in MODELS:
            check_model(name, exes[name], rng)
        check_bad(exes["lenet"])
    for f in failures:
        print("FAIL:", f)
    print(f"check_images: {len(failures)} failure(s)")
    return 1 if failures else 0


sys.exit(main())
