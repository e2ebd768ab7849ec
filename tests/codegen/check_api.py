#!/usr/bin/python3
"""The generated code's API and output files (tests/codegen).

- two models compiled with different --name link into one program, and
  both agree with `cnnc run` (the oracle), with a profile hook counting
  the layers each runs;
- the output is byte-identical on two runs;
- a failed compile leaves the earlier OUT.c / OUT.h untouched, no temp;
- --split-weights: OUT.c holds no weights, OUT_weights.c does, and the two
  together agree with `cnnc run`;
- --weights-blob: the --main program given the blob agrees with `cnnc
  run`, and bench ends with `median_ms: X`;
- P_image_to_input normalises a uint8 HWC image with the model's
  mean/std, against numpy.

usage: check_api.py CNNC SOURCE_DIR WORKDIR CC
"""
import os
import re
import subprocess
import sys

import numpy as np

STRICT = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O1"]
failures = []


def run(cmd, ok=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


def expect(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)


def agree(got, ref):
    got = np.asarray(got, dtype=np.float32).reshape(ref.shape)
    return not np.isnan(got).any() and np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def oracle(cnnc, model, x, work, tag):
    np.save(os.path.join(work, tag + "_in.npy"), x)
    run([cnnc, "run", model, "--input", os.path.join(work, tag + "_in.npy"), "--output",
         os.path.join(work, tag + "_ref.npy")])
    return np.load(os.path.join(work, tag + "_ref.npy"))


TWO_MODELS = r"""#include <stdio.h>
#include <stdlib.h>
static int calls_a, calls_b;
#define a_PROFILE_BEGIN(layer, name) (calls_a++, (void)(layer), (void)(name))
#define b_PROFILE_BEGIN(layer, name) (calls_b++, (void)(layer), (void)(name))
#include "a.c"
#include "b.c"
static float xa[a_INPUT_SIZE], xb[b_INPUT_SIZE], ya[a_OUTPUT_SIZE], yb[b_OUTPUT_SIZE];
static float arena_a[a_ARENA_BYTES / 4 + 1], arena_b[b_ARENA_BYTES / 4 + 1];
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    (void)argc;
    if (!f || fread(xa, 4, a_INPUT_SIZE, f) != a_INPUT_SIZE || fread(xb, 4, b_INPUT_SIZE, f) != b_INPUT_SIZE)
        return 1;
    fclose(f);
    a_forward(arena_a, xa, ya, 1);
    b_forward(arena_b, xb, yb, 1);
    f = fopen(argv[2], "wb");
    fwrite(ya, 4, a_OUTPUT_SIZE, f);
    fwrite(yb, 4, b_OUTPUT_SIZE, f);
    fclose(f);
    printf("%d %d %d %d\n", calls_a, calls_b, a_LAYER_COUNT, b_LAYER_COUNT);
    return 0;
}
"""


def two_models(cnnc, src, work, cc):
    """lenet as prefix a, odd_ops as b, in one translation unit and also as
    two linked objects (static runtime copies must not clash)."""
    ma, mb = os.path.join(src, "examples/lenet.cnn"), os.path.join(src, "examples/odd_ops.cnn")
    run([cnnc, ma, "-o", os.path.join(work, "a.c"), "--name", "a", "--main"])
    run([cnnc, mb, "-o", os.path.join(work, "b.c"), "--name", "b", "--main"])
    # Two --main files cannot share a program (two main()s): link without.
    run([cnnc, ma, "-o", os.path.join(work, "a_lib.c"), "--name", "a"])
    run([cnnc, mb, "-o", os.path.join(work, "b_lib.c"), "--name", "b"])
    rng = np.random.default_rng(7)
    xa = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    xb = rng.standard_normal((1, 2, 13, 17)).astype(np.float32)
    ra, rb = oracle(cnnc, ma, xa, work, "a"), oracle(cnnc, mb, xb, work, "b")
    np.concatenate([xa.ravel(), xb.ravel()]).tofile(os.path.join(work, "ab_in.raw"))
    driver = os.path.join(work, "two.c")
    with open(driver, "w") as f:
        f.write(TWO_MODELS.replace('"a.c"', '"a_lib.c"').replace('"b.c"', '"b_lib.c"'))
    run([cc] + STRICT + [driver, "-o", os.path.join(work, "two"), "-lm"])
    out = run([os.path.join(work, "two"), os.path.join(work, "ab_in.raw"),
               os.path.join(work, "ab_out.raw")]).stdout.split()
    y = np.fromfile(os.path.join(work, "ab_out.raw"), dtype="<f4")
    expect(agree(y[:ra.size], ra) and agree(y[ra.size:], rb),
           "two models in one program agree with cnnc run")
    calls_a, calls_b, count_a, count_b = map(int, out)
    expect(0 < calls_a <= count_a and 0 < calls_b <= count_b,
           "profile hooks ran once per computing layer (%s)" % " ".join(out))
    # Separate objects: every runtime copy is static, so they link.
    objs = []
    for p in ("a_lib", "b_lib"):
        objs.append(os.path.join(work, p + ".o"))
        run([cc] + STRICT + ["-c", os.path.join(work, p + ".c"), "-o", objs[-1]])
    main_c = os.path.join(work, "two_main.c")
    with open(main_c, "w") as f:
        f.write('#include "a_lib.h"\n#include "b_lib.h"\n'
                'static float arena[(a_ARENA_BYTES > b_ARENA_BYTES ? a_ARENA_BYTES : b_ARENA_BYTES) / 4 + 1];\n'
                'static float x[a_INPUT_SIZE], y[a_OUTPUT_SIZE + b_OUTPUT_SIZE];\n'
                'int main(void) { a_forward(arena, x, y, 1); b_forward(arena, x, y, 1); '
                'return a_layer_name(0) == 0; }\n')
    run([cc] + STRICT + [main_c] + objs + ["-o", os.path.join(work, "two_objs"), "-lm"])
    expect(run([os.path.join(work, "two_objs")], ok=False).returncode == 0,
           "two models as separate objects link and run")
    # And two --main amalgamations compile as separate objects too.
    for p in ("a", "b"):
        run([cc] + STRICT + ["-c", os.path.join(work, p + ".c"), "-o", os.path.join(work, p + ".o")])


def determinism_and_atomicity(cnnc, src, work):
    model = os.path.join(src, "examples/odd_ops.cnn")
    outs = []
    for d in ("det1", "det2"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
        run([cnnc, model, "-o", os.path.join(work, d, "m.c"), "--main"])
        outs.append([open(os.path.join(work, d, f), "rb").read() for f in ("m.c", "m.h")])
    expect(outs[0] == outs[1], "two compiles give byte-identical OUT.c and OUT.h")
    umask = os.umask(0)
    os.umask(umask)
    mode = os.stat(os.path.join(work, "det1", "m.c")).st_mode & 0o777
    expect(mode == 0o666 & ~umask, "OUT.c has the umask's mode, not 0%o" % mode)
    bad = os.path.join(work, "bad.cnn")
    with open(bad, "w") as f:
        f.write("model bad {\n  input 3x8x8\n  conv(4, kernel=99)\n}\n")
    r = run([cnnc, bad, "-o", os.path.join(work, "det1", "m.c")], ok=False)
    after = [open(os.path.join(work, "det1", f), "rb").read() for f in ("m.c", "m.h")]
    left = [f for f in os.listdir(os.path.join(work, "det1")) if "tmp" in f]
    expect(r.returncode != 0 and after == outs[0] and not left,
           "a failed compile leaves OUT.c/OUT.h untouched and no temporary")


def split_weights(cnnc, src, work, cc):
    model = os.path.join(src, "examples/lenet.cnn")
    out_c = os.path.join(work, "sp.c")
    run([cnnc, model, "-o", out_c, "--main", "--split-weights"])
    text = open(out_c).read()
    wtext = open(os.path.join(work, "sp_weights.c")).read()
    expect("static const union" not in text and "extern const union" in text
           and "conv1.weight" in wtext and len(re.findall(r"0x[0-9a-f]{8}", wtext)) > 60000,
           "--split-weights moves the weights into OUT_weights.c")
    exe = os.path.join(work, "sp")
    run([cc] + STRICT + [out_c, os.path.join(work, "sp_weights.c"), "-o", exe, "-lm"])
    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ref = oracle(cnnc, model, x, work, "sp")
    run([exe, "infer", os.path.join(work, "sp_in.npy"), os.path.join(work, "sp_out.npy")])
    expect(agree(np.load(os.path.join(work, "sp_out.npy")), ref),
           "--split-weights program agrees with cnnc run")


def weights_blob(cnnc, src, work, cc):
    model = os.path.join(src, "examples/resnet_small.cnn")
    out_c, blob = os.path.join(work, "bl.c"), os.path.join(work, "bl.bin")
    run([cnnc, model, "-o", out_c, "--main", "--weights-blob", blob])
    header = open(os.path.join(work, "bl.h")).read()
    size = int(re.search(r"#define bl_WEIGHTS_BYTES (\d+)", header).group(1))
    expect(os.path.getsize(blob) == size and size > 4 * 38000, "the blob has bl_WEIGHTS_BYTES bytes")
    exe = os.path.join(work, "bl")
    run([cc] + STRICT + [out_c, "-o", exe, "-lm"])
    x = np.random.default_rng(4).standard_normal((3, 3, 32, 32)).astype(np.float32)
    ref = oracle(cnnc, model, x, work, "bl")
    run([exe, "infer", os.path.join(work, "bl_in.npy"), os.path.join(work, "bl_out.npy")])
    expect(agree(np.load(os.path.join(work, "bl_out.npy")), ref),
           "--weights-blob program agrees with cnnc run")
    last = run([exe, "bench", os.path.join(work, "bl_in.npy"), "5"]).stdout.strip().splitlines()[-1]
    expect(re.fullmatch(r"median_ms: [0-9.]+", last) is not None, "bench ends with median_ms")
    r = run([exe, "infer", os.path.join(work, "nope.npy"), os.path.join(work, "x.npy")], ok=False)
    expect(r.returncode != 0 and re.match(r"^\S+: error: ", r.stderr) is not None,
           "infer on a missing file is an error in the contract's format")


IMAGE = r"""#include <stdio.h>
#include "im.h"
int main(void)
{
    uint8_t image[5 * 4 * 3];
    float input[im_INPUT_SIZE];
    int i;
    for (i = 0; i < 5 * 4 * 3; i++)
        image[i] = (uint8_t)(i * 37 % 256);
    im_image_to_input(image, input);
    for (i = 0; i < im_INPUT_SIZE; i++)
        printf("%.9g\n", input[i]);
    return 0;
}
"""


def image_helper(cnnc, src, work, cc):
    run([cnnc, os.path.join(src, "tests/codegen/models/normed.cnn"), "-o",
         os.path.join(work, "im.c")])
    with open(os.path.join(work, "im_main.c"), "w") as f:
        f.write(IMAGE)
    exe = os.path.join(work, "im")
    run([cc] + STRICT + [os.path.join(work, "im_main.c"), os.path.join(work, "im.c"), "-o", exe,
                         "-lm"])
    got = np.array([float(v) for v in run([exe]).stdout.split()])
    image = (np.arange(60) * 37 % 256).reshape(5, 4, 3) / 255.0
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    want = ((image - mean) / std).transpose(2, 0, 1).ravel()
    expect(np.abs(got - want).max() < 1e-5, "image_to_input: HWC uint8 to normalised CHW")


def main():
    cnnc, src, work, cc = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    for step in (lambda: two_models(cnnc, src, work, cc),
                 lambda: determinism_and_atomicity(cnnc, src, work),
                 lambda: split_weights(cnnc, src, work, cc),
                 lambda: weights_blob(cnnc, src, work, cc),
                 lambda: image_helper(cnnc, src, work, cc)):
        try:
            step()
        except RuntimeError as e:
            expect(False, str(e)[:3000])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
