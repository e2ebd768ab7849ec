#!/usr/bin/python3
"""check_package.py: cnnc installed and used from outside (contract, section 10).

Usage: check_package.py BUILDDIR SRCDIR WORKDIR

Installs BUILDDIR with `cmake --install --prefix`, then moves the tree to
another prefix (the package must be relocatable), and checks:
- bin/cnnc runs, `man -l share/man/man1/cnnc.1` renders, the docs and
  examples are under share/;
- the outside project tests/package/project finds the package through
  CMAKE_PREFIX_PATH alone and builds three cnnc_add_model() targets (one
  with --weights DIR, one with TRAIN, one with INT8 CALIB and
  TARGET_PROFILE cortex-m4, whose outputs must equal `cnnc run --int8`'s
  bit for bit) into one program, whose outputs agree
  with the installed `cnnc run` (rtol 1e-4) and whose training loss agrees
  with `cnnc grad`'s loss.npy;
- the build generates the code again when a weights file, the model or
  cnnc changes, and not otherwise;
- `cpack -G DEB` makes a .deb holding the same files, whose cnnc runs.
Every failure is listed; the exit status is 1 if there was any.
"""
import glob
import os
import shutil
import subprocess
import sys

import numpy as np

BUILD, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
PREFIX = os.path.join(WORK, "moved", "prefix")
CNNC = os.path.join(PREFIX, "bin", "cnnc")
failures = []


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())
    return ok


def run(*args, env=None, cwd=None):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900,
                          env=env, cwd=cwd)


def install():
    stage = os.path.join(WORK, "stage")
    p = run("cmake", "--install", BUILD, "--prefix", stage)
    if not check(p.returncode == 0, "cmake --install", p.stderr):
        return False
    os.makedirs(os.path.dirname(PREFIX))
    shutil.move(stage, PREFIX)
    p = run(CNNC, "--version")
    check(p.returncode == 0 and p.stdout.startswith("cnnc "), "installed bin/cnnc runs", p.stderr)
    env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    p = run("man", "-l", os.path.join(PREFIX, "share/man/man1/cnnc.1"), env=env)
    check(p.returncode == 0 and "EXIT STATUS" in p.stdout and "cnnc_add_model" in p.stdout,
          "man -l cnnc.1 renders", p.stderr[:500])
    for f in ("share/doc/cnnc/README.md", "share/doc/cnnc/dsl.md",
              "share/doc/cnnc/examples/lenet.cnn", "lib/cmake/cnnc/cnncConfig.cmake"):
        check(os.path.isfile(os.path.join(PREFIX, f)), f"installed {f}")
    return not failures


def write_weights(wdir, rng):
    """New values in fc5's bias, so tuned's outputs differ from lenet's."""
    np.save(os.path.join(wdir, "fc5.bias.npy"), rng.standard_normal(10).astype("<f4"))


def configure(models, wdir, calib):
    build = os.path.join(WORK, "user_build")
    p = run("cmake", "-S", os.path.join(SRC, "tests/package/project"), "-B", build,
            f"-DCMAKE_PREFIX_PATH={PREFIX}", f"-DMODEL={models['lenet']}",
            f"-DTUNED_MODEL={models['tuned']}", f"-DWEIGHTS={wdir}", f"-DCALIB={calib}")
    check(p.returncode == 0, "the outside project configures", p.stdout[-2000:] + p.stderr)
    return build


def build_user(build, want_generated, why):
    """Builds; checks which models cnnc compiled again (by the command's comment)."""
    p = run("cmake", "--build", build, "-j2")
    if not check(p.returncode == 0, f"outside project builds ({why})", p.stdout[-3000:]):
        return False
    got = sorted(name for name in ("lenet.c", "tuned.c", "lenet_t.c", "lenet_q.c")
                 if f"to {name}" in p.stdout)
    return check(got == sorted(want_generated), f"regenerated after {why}",
                 f"cnnc compiled {got}, expected {sorted(want_generated)}")


def agree(a, ref, tol):
    return a.shape == ref.shape and not np.isnan(a).any() and \
        np.abs(a - ref).max() <= tol * np.abs(ref).max()


def check_outputs(build, models, wdir, calib, x_npy, x_raw, why):
    app = os.path.join(build, "app")
    for which, model, extra, tol in (
            ("lenet", models["lenet"], [], 1e-4), ("tuned", models["tuned"], ["--weights", wdir], 1e-4),
            ("int8", models["lenet"], ["--int8", "--calib", calib], 0)):
        ref = os.path.join(WORK, f"ref_{which}.npy")
        p = run(CNNC, "run", model, "--input", x_npy, "--output", ref, *extra)
        check(p.returncode == 0, f"cnnc run {which}", p.stderr)
        out = os.path.join(WORK, f"out_{which}.f32")
        p = run(app, "forward", which, x_raw, out)
        if check(p.returncode == 0, f"app forward {which} ({why})", p.stderr):
            got = np.fromfile(out, "<f4").reshape(-1, 10)
            check(agree(got, np.load(ref), tol), f"app {which} vs cnnc run ({why})",
                  f"{got[0]} vs {np.load(ref)[0]}")
    a, b = np.load(os.path.join(WORK, "ref_lenet.npy")), np.load(os.path.join(WORK, "ref_tuned.npy"))
    check(np.abs(a - b).max() > 1e-3, "the --weights folder changed the tuned model's outputs")


def check_loss(build, models, x_npy, x_raw, rng):
    labels = rng.integers(0, 10, 3).astype("<i4")
    lab_raw, lab_npy = os.path.join(WORK, "labels.i32"), os.path.join(WORK, "labels.npy")
    labels.tofile(lab_raw)
    np.save(lab_npy, labels.astype("<i8"))
    gdir = os.path.join(WORK, "grad")
    p = run(CNNC, "grad", models["lenet"], "--input", x_npy, "--labels", lab_npy, "--outdir", gdir)
    check(p.returncode == 0, "cnnc grad", p.stderr)
    p = run(os.path.join(build, "app"), "loss", x_raw, lab_raw)
    if check(p.returncode == 0, "app loss (the TRAIN target)", p.stderr):
        ref = float(np.load(os.path.join(gdir, "loss.npy")))
        check(abs(float(p.stdout) - ref) <= 1e-4 * abs(ref), "TRAIN target's loss vs cnnc grad",
              f"{p.stdout.strip()} vs {ref}")


def check_deb():
    out = os.path.join(WORK, "deb")
    p = run("cpack", "-G", "DEB", "-B", out, cwd=BUILD)
    debs = glob.glob(os.path.join(out, "*.deb"))
    if not check(p.returncode == 0 and len(debs) == 1, "cpack -G DEB", p.stdout[-2000:] + p.stderr):
        return
    root = os.path.join(WORK, "deb_root")
    p = run("dpkg-deb", "-x", debs[0], root)
    info = run("dpkg-deb", "-f", debs[0], "Depends").stdout
    check("libprotobuf-c" in info, "the .deb depends on libprotobuf-c", info)
    for f in ("usr/bin/cnnc", "usr/share/man/man1/cnnc.1", "usr/lib/cmake/cnnc/cnncConfig.cmake",
              "usr/share/doc/cnnc/examples/lenet.cnn"):
        check(os.path.isfile(os.path.join(root, f)), f"the .deb holds {f}")
    p = run(os.path.join(root, "usr/bin/cnnc"), "info", os.path.join(SRC, "examples/lenet.cnn"))
    check(p.returncode == 0 and "parameters: 62958" in p.stdout, "the .deb's cnnc runs", p.stderr)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    if install():
        rng = np.random.default_rng(5)
        models = {}
        for which in ("lenet", "tuned"):
            models[which] = os.path.join(WORK, f"{which}.cnn")
            shutil.copy(os.path.join(SRC, "examples/lenet.cnn"), models[which])
        wdir = os.path.join(WORK, "weights")
        run(CNNC, "weights", models["tuned"], "--outdir", wdir)
        write_weights(wdir, rng)
        x = rng.standard_normal((3, 3, 32, 32)).astype("<f4")
        x_npy, x_raw = os.path.join(WORK, "x.npy"), os.path.join(WORK, "x.f32")
        np.save(x_npy, x)
        x.tofile(x_raw)
        calib = os.path.join(WORK, "calib.npy")
        np.save(calib, rng.standard_normal((20, 3, 32, 32)).astype("<f4"))
        build = configure(models, wdir, calib)
        if build_user(build, ["lenet.c", "tuned.c", "lenet_t.c", "lenet_q.c"], "the first build"):
            check_outputs(build, models, wdir, calib, x_npy, x_raw, "first build")
            check_loss(build, models, x_npy, x_raw, rng)
            build_user(build, [], "nothing changed")
            write_weights(wdir, rng)
            if build_user(build, ["tuned.c"], "a weights file changed"):
                check_outputs(build, models, wdir, calib, x_npy, x_raw, "new weights")
            np.save(calib, rng.standard_normal((20, 3, 32, 32)).astype("<f4") * 2)
            if build_user(build, ["lenet_q.c"], "the calibration set changed"):
                check_outputs(build, models, wdir, calib, x_npy, x_raw, "new calibration")
            with open(models["lenet"]) as f:
                text = f.read()
            with open(models["lenet"], "w") as f:
                f.write(text.replace("conv(8, kernel=5", "conv(6, kernel=5"))
            if build_user(build, ["lenet.c", "lenet_t.c", "lenet_q.c"], "the model changed"):
                check_outputs(build, models, wdir, calib, x_npy, x_raw, "edited model")
            os.utime(CNNC)
            build_user(build, ["lenet.c", "tuned.c", "lenet_t.c", "lenet_q.c"], "cnnc changed")
    check_deb()
    for f in failures:
        print("FAIL:", f)
    print(f"check_package: {len(failures)} failure(s)")
    return 1 if failures else 0


sys.exit(main())
