#!/usr/bin/python3
"""make_seeds.py: the seed corpora of the libFuzzer harnesses (tests/fuzz).

    /usr/bin/python3 make_seeds.py CNNC SOURCE_DIR OUTDIR

Writes OUTDIR/<harness>/ for each harness from what the project already
has, so that fuzzing starts from valid inputs and mutates its way out:

    dsl/      every .cnn of examples/ and tests/ (the diagnostics' broken
              ones included)
    onnx/     tests/onnx's models (onnxtest.py: one per operator and option,
              the small nets) exported at opsets 9, 13 and 17, with the
              exporter's idioms (Shape/Gather/Concat into Reshape, Constant
              nodes, Pad, Clip's inputs); files over 64 KB left out; single
              nodes made with onnx.helper for what PyTorch does not emit
    npy/      float32, int32 and int64 arrays of ranks 0 to 4, formats
              1.0, 2.0 and 3.0, an empty array, big-endian and Fortran
              files (refused)
    image/    binary PGM and PPM images, 8- and 16-bit, with header
              comments, and broken ones (truncated, maxval 0, too large)
    weights/  tests/cli/bn.cnn's `cnnc weights` files joined by FUZZ_SEP in
              the order of their file names (fuzz_weights.c), one with a
              file missing, one with an extra file
    program/  command lines for fuzz_program.c with their x.npy (one a PGM
              image), y.npy and the folder of tests/train/tiny.cnn's weights
"""
import io
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np

SEP = b"\n--8<--\n"  # fuzz.h's FUZZ_SEP


def npy_bytes(a, version=None):
    f = io.BytesIO()
    if version:
        np.lib.format.write_array(f, a, version=version)
    else:
        np.save(f, a)
    return f.getvalue()


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def dsl_seeds(src, out):
    for top in ("examples", "tests"):
        for root, _, files in os.walk(os.path.join(src, top)):
            for f in sorted(files):
                if f.endswith(".cnn"):
                    rel = os.path.relpath(os.path.join(root, f), src).replace("/", "_")
                    shutil.copyfile(os.path.join(root, f), os.path.join(out, rel))


def helper_nodes():
    """Single-node models for what the exporter seldom writes."""
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.ones((2, 18), np.float32), "w")
    s = numpy_helper.from_array(np.array([0, -1], np.int64), "s")
    graphs = {
        "gemm_trans": ([helper.make_node("Flatten", ["x"], ["f"]),
                        helper.make_node("Gemm", ["f", "w"], ["y"], transB=1, alpha=0.5)], [w]),
        "reshape_sub": ([helper.make_node("Reshape", ["x", "s"], ["r"]),
                         helper.make_node("Sub", ["r", "r"], ["y"])], [s]),
        "global_max": ([helper.make_node("GlobalMaxPool", ["x"], ["y"])], []),
        "transpose_const": ([helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
                                np.ones((3, 2), np.float32))),
                             helper.make_node("Transpose", ["c"], ["t"], perm=[1, 0]),
                             helper.make_node("Flatten", ["x"], ["f"]),
                             helper.make_node("Identity", ["f"], ["y"])], []),
    }
    for name, (nodes, inits) in graphs.items():
        g = helper.make_graph(nodes, name, [x], [y], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        yield name, m.SerializeToString()


def onnx_seeds(src, out):
    """tests/onnx's single-operator models and small nets (onnxtest.py) at
    three opsets, and helper_nodes()."""
    import torch
    sys.path.insert(0, os.path.join(src, "tests", "onnx"))
    import onnxtest
    warnings.filterwarnings("ignore")
    for name, model, shape in onnxtest.ops() + onnxtest.nets():
        for opset in (9, 13, 17):
            path = os.path.join(out, "%s_op%d.onnx" % (name, opset))
            # batch 3: the STATIC_BATCH models' constants are built for it
            onnxtest.export(model, torch.randn(3, *shape), path, opset,
                            dynamic=name not in onnxtest.STATIC_BATCH)
            if os.path.exists(path) and os.path.getsize(path) > 64 << 10:
                os.remove(path)  # mostly weights: they would only slow the mutations down
    for name, data in helper_nodes():
        write(out, name + ".onnx", data)


def npy_seeds(out):
    rng = np.random.default_rng(1)
    arrays = {
        "f32_0d": np.float32(1.5),
        "f32_1d": rng.standard_normal(5).astype("<f4"),
        "f32_4d": rng.standard_normal((2, 1, 3, 2)).astype("<f4"),
        "f32_empty": np.zeros((0, 3), "<f4"),
        "i64_labels": np.array([0, 3, 9, 1], "<i8"),
        "i32_labels": np.array([2, 0], "<i4"),
        "i64_bad_label": np.array([4, 11], "<i8"),
        "f32_big_endian": rng.standard_normal(3).astype(">f4"),
        "f64": rng.standard_normal(3),
        "f32_fortran": np.asfortranarray(rng.standard_normal((2, 3)).astype("<f4")),
    }
    for name, a in arrays.items():
        write(out, name + ".npy", npy_bytes(a))
    for version in ((2, 0), (3, 0)):
        write(out, "f32_v%d.npy" % version[0], npy_bytes(arrays["f32_4d"], version))


def pnm(magic, width, height, maxval, samples, comment=b""):
    """A binary netpbm image: header, then big-endian samples."""
    head = b"%s\n%s%d %d\n%d\n" % (magic, comment, width, height, maxval)
    return head + np.asarray(samples, ">u2" if maxval > 255 else "u1").tobytes()


def image_seeds(out):
    rng = np.random.default_rng(3)
    images = {
        "gray.pgm": pnm(b"P5", 4, 4, 255, rng.integers(0, 256, 16)),
        "color16.ppm": pnm(b"P6", 3, 2, 65535, rng.integers(0, 65536, 18)),
        "comment.pgm": pnm(b"P5", 2, 3, 15, rng.integers(0, 16, 6), b"# made by make_seeds\n"),
        "truncated.ppm": pnm(b"P6", 4, 4, 255, rng.integers(0, 256, 40)),
        "maxval0.pgm": pnm(b"P5", 1, 1, 0, [0]),
        "huge.pgm": b"P5\n40000 40000\n255\n",
    }
    for name, data in images.items():
        write(out, name, data)
    return images["gray.pgm"]


def weights_files(cnnc, model, work):
    """`cnnc weights MODEL` as {file name: bytes}."""
    subprocess.run([cnnc, "weights", model, "--outdir", work], check=True)
    return {f: open(os.path.join(work, f), "rb").read() for f in sorted(os.listdir(work))}


def weights_seeds(cnnc, src, out):
    with tempfile.TemporaryDirectory() as work:
        files = weights_files(cnnc, os.path.join(src, "tests/cli/bn.cnn"), work)
    chunks = list(files.values())
    write(out, "all", SEP.join(chunks))
    write(out, "one_missing", SEP.join(chunks[:1] + [b"-"] + chunks[2:]))
    write(out, "extra_file", SEP.join(chunks + [chunks[0]]))
    write(out, "wrong_shape", SEP.join(chunks[1:] + chunks[:1]))


def program_seeds(cnnc, src, out, image):
    rng = np.random.default_rng(2)
    x = npy_bytes(rng.standard_normal((6, 1, 4, 4)).astype("<f4"))
    y = npy_bytes(np.array([0, 1, 2, 0, 1, 2], "<i8"))
    x2 = npy_bytes(rng.standard_normal((2, 1, 4, 4)).astype("<f4"))
    y2 = npy_bytes(np.array([1, 2], "<i4"))
    with tempfile.TemporaryDirectory() as work:
        weights = list(weights_files(cnnc, os.path.join(src, "tests/train/tiny.cnn"), work).values())
    seeds = {
        "infer": [b"infer x.npy out.npy", x],
        "bench": [b"bench x.npy 3", x2],
        "grad": [b"grad x.npy y.npy w", x2, y2],
        "train": [b"train x.npy y.npy --epochs 2 --batch 3 --lr 0.1 --seed 7 --save w", x, y],
        "train_kfold": [b"train x.npy y.npy --epochs 1 --kfold 3 --schedule step --step-size 1 "
                        b"--gamma 0.5", x, y],
        "train_resume": [b"train x.npy y.npy --epochs 1 --val-split 0.5 --resume w", x, y]
        + weights,
        "infer_image": [b"infer x.npy out.npy", image],
        "usage": [b"frobnicate"],
    }
    for name, chunks in seeds.items():
        write(out, name, SEP.join(chunks))


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: make_seeds.py CNNC SOURCE_DIR OUTDIR")
    cnnc, src, outdir = (os.path.abspath(a) for a in sys.argv[1:])
    harnesses = ("dsl", "onnx", "npy", "image", "weights", "program")
    for harness in harnesses:
        shutil.rmtree(os.path.join(outdir, harness), ignore_errors=True)
        os.makedirs(os.path.join(outdir, harness))
    dsl_seeds(src, os.path.join(outdir, "dsl"))
    onnx_seeds(src, os.path.join(outdir, "onnx"))
    npy_seeds(os.path.join(outdir, "npy"))
    image = image_seeds(os.path.join(outdir, "image"))
    weights_seeds(cnnc, src, os.path.join(outdir, "weights"))
    program_seeds(cnnc, src, os.path.join(outdir, "program"), image)
    counts = {h: len(os.listdir(os.path.join(outdir, h))) for h in harnesses}
    print("seeds: " + ", ".join("%s %d" % kv for kv in counts.items()))


main()
