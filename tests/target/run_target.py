#!/usr/bin/python3
"""run_target.py: models on emulated Cortex-M cores, through scripts/target-bench.

Takes: CNNC SOURCE_DIR WORK_DIR [--targets T,T...] [--samples N]
[target-bench options --] [MODEL ...] (default: every example whose weights
fit the boards' flash, on cortex-m4, 3 samples). For each model and target, target-bench builds the model for
the target's profile, runs it in QEMU and checks it against `cnnc run`
(max|a-b| <= 1e-4 * max|ref|), the objects' sizes against `cnnc info
--target` and the weights against cnnc's prediction, and finds no .data or
.bss in the model. A target without a QEMU machine (cortex-m0plus) is
built, linked and sized only. Gives a table of flash, RAM and instructions
per inference (QEMU -icount: a proxy for cycles) and exit status 0 (all
pass) or 1; a missing Arm toolchain or QEMU is a failure naming the
package (scripts/deps.sh test installs them)."""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SKIPPED = 77  # target-bench: built and sized, no QEMU machine


def parse_args(script):
    """CNNC SOURCE_DIR WORK_DIR [--targets T,...] [--samples N] [OPTS --] [MODEL ...]."""
    if len(sys.argv) < 4:
        sys.exit("usage: %s CNNC SOURCE_DIR WORK_DIR [--targets T,T] [--samples N] "
                 "[OPTIONS --] [MODEL ...]" % script)
    cnnc, src, work = sys.argv[1:4]
    rest, targets, samples, opts = sys.argv[4:], ["cortex-m4"], 3, []
    while rest and rest[0] in ("--targets", "--samples"):
        if rest[0] == "--targets":
            targets = rest[1].split(",")
        else:
            samples = int(rest[1])
        rest = rest[2:]
    if "--" in rest:
        opts, rest = rest[:rest.index("--")], rest[rest.index("--") + 1:]
    packages = {"arm-none-eabi-gcc": "gcc-arm-none-eabi",
                "arm-none-eabi-size": "binutils-arm-none-eabi",
                "qemu-system-arm": "qemu-system-arm"}
    missing = sorted({pkg for tool, pkg in packages.items() if not shutil.which(tool)})
    if missing:
        sys.exit("error: missing Debian package(s) %s (bash scripts/deps.sh test installs them)"
                 % ", ".join(missing))
    models = rest or fitting_examples(cnnc, src)
    return cnnc, src, work, targets, samples, opts, models


# The boards' flash (tests/target/boards/*.ld): 4 MiB, 8 MiB on the mps3.
BOARD_FLASH = 4 << 20


def fitting_examples(cnnc, src):
    """Every example whose float32 weights fit the boards' flash; the others
    (MobileNetV3-Small's 10 MB) are named as left out."""
    fit = []
    for f in sorted(os.listdir(os.path.join(src, "examples"))):
        if not f.endswith(".cnn"):
            continue
        path = os.path.join(src, "examples", f)
        info = subprocess.run([cnnc, "info", path], capture_output=True, text=True).stdout
        m = re.search(r"^weights_bytes: (\d+)$", info, re.M)
        if m and int(m.group(1)) > BOARD_FLASH:
            print("left out: %s: %s bytes of weights, more than the boards' %d of flash"
                  % (f, m.group(1), BOARD_FLASH))
        else:
            fit.append(path)
    return fit


def bench(cnnc, src, work, model, target, samples, opts):
    """target-bench's figures ({label: number}) and its errors."""
    stem = os.path.splitext(os.path.basename(model))[0]
    d = os.path.join(work, target, stem)
    cmd = [sys.executable, os.path.join(src, "scripts", "target-bench"), model,
           "--target", target, "--samples", str(samples), "--workdir", d] + opts
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, CNNC=cnnc))
    row = {m[0]: float(m[1]) for m in re.findall(r"^(\w+): ([0-9.e+-]+)$", p.stdout, re.M)}
    row.update(model=stem, target=target, ran=p.returncode == 0)
    if p.returncode in (0, SKIPPED) and "flash_bytes" in row:
        return row, []
    return row, [(p.stderr or p.stdout).strip()[-3000:] or "exit %d" % p.returncode]


def print_table(rows):
    cols = [("model", "model"), ("target", "target"), ("code", "flash_code_bytes"),
            ("weights", "flash_weights_bytes"), ("flash", "flash_bytes"),
            ("arena", "ram_arena_bytes"), ("stack", "ram_stack_bytes"),
            ("stack_hw", "ram_stack_measured_bytes"), ("ram", "ram_bytes"),
            ("insns", "instructions"), ("rel.err", "max_rel_error")]
    print(" ".join("%-20s" % c if i < 2 else "%10s" % c for i, (c, _) in enumerate(cols)))
    for r in rows:
        vals = []
        for i, (_, key) in enumerate(cols):
            v = r.get(key, "-")
            vals.append("%-20s" % v if i < 2 else "%10s" % (
                "%.1e" % v if key == "max_rel_error" and v != "-" else
                "%d" % v if v != "-" else v))
        print(" ".join(vals))
    print("bytes; as `cnnc info --target` counts them: flash = the model's code + weights +"
          " other constants, ram = arena + .data/.bss + deepest stack (gcc's call graph);"
          " stack_hw: the measured high-water mark, libm included; insns: instructions per"
          " inference (QEMU -icount, a proxy for cycles); '-': not run (no QEMU machine)")


def main():
    cnnc, src, work, targets, samples, opts, models = parse_args("run_target.py")
    rows, failed = [], 0
    for m in models:
        for t in targets:
            row, errors = bench(cnnc, src, work, m, t, samples, opts)
            rows.append(row)
            for e in errors:
                print("FAIL %s on %s: %s" % (os.path.basename(m), t, e))
            failed += bool(errors)
    print_table(rows)
    print("%d of %d builds pass" % (len(rows) - failed, len(rows)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
