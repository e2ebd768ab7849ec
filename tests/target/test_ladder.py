#!/usr/bin/python3
"""test_ladder.py: the RAM budget's ladder on a Cortex-M4 (int8).

Takes: CNNC SOURCE_DIR WORK_DIR. When the arena of an int8 build for a
Cortex-M profile is over --ram-budget, the compiler takes the first step
that fits: the fewest bands (--patch), then the fused inverted-residual
blocks (--fuse-blocks), then both with the fewest bands, each with a note;
when none fits, the error of the build as asked. Each expected arena is
that of the same build given by hand (the flags the note names), and each
budget is chosen so that exactly the expected step is the first to fit:

  tests/target/ladder_stem.cnn (the stem's peak, which bands shrink, over
  the block's): a budget the bands meet takes them; one below every band
  count and below the fused build takes the fused blocks and the fewest
  bands; explicit --patch N keeps N bands (fused blocks added), explicit
  --fuse-blocks is kept (bands added); a budget nothing meets fails with
  the layer-by-layer arena named.
  tests/target/ladder.cnn (the block's peak, which bands cannot shrink: the
  patch pass finds no cut): a budget only the fused blocks meet takes them.

The build the ladder chose on ladder_stem (fused blocks and bands) then
runs in QEMU through scripts/target-bench: bit for bit `cnnc run --int8`
on 3 samples, its sizes those `cnnc info --target` reports with the same
budget. Exit status 0 or 1."""
import os
import re
import subprocess
import sys

import numpy as np

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)


CNNC, SRC, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
CALIB = os.path.join(WORK, "calib.npy")
np.save(CALIB, np.random.default_rng(3).standard_normal((8, 3, 48, 48)).astype(np.float32))
OUT = os.path.join(WORK, "ladder.c")
BAND_COUNTS = (2, 3, 4, 6, 8, 12, 16)  # main.c's budget_band_counts


def build(model, *flags):
    """(the compile, its arena in bytes or -1)."""
    p = subprocess.run([CNNC, os.path.join(SRC, "tests", "target", model), "-o", OUT, "--int8",
                        "--calib", CALIB, "--target", "cortex-m4"] + list(flags),
                       capture_output=True, text=True)
    m = re.search(r"#define ladder_ARENA_BYTES (\d+)", open(OUT[:-2] + ".h").read()) \
        if p.returncode == 0 else None
    return p, int(m.group(1)) if m else -1


def note(what, arena, whole):
    return "note: %s to fit the RAM budget: arena %d bytes instead of %d" % (what, arena, whole)


def expect_step(model, budget, arena, what, whole, *flags):
    p, a = build(model, "--ram-budget", str(budget), *flags)
    check(p.returncode == 0 and a == arena and note(what, arena, whole) in p.stderr,
          "%s %s budget %d: expected arena %d (%s): exit %d, arena %d, %r"
          % (model, " ".join(flags), budget, arena, what, p.returncode, a, p.stderr))


# ladder_stem: every arena the ladder may choose, given by hand.
whole = build("ladder_stem.cnn")[1]
fused = build("ladder_stem.cnn", "--fuse-blocks")[1]
bands = {n: build("ladder_stem.cnn", "--patch", str(n))[1] for n in BAND_COUNTS}
both = {n: build("ladder_stem.cnn", "--fuse-blocks", "--patch", str(n))[1] for n in BAND_COUNTS}
print("ladder_stem arenas: whole %d, fused %d, bands %r, fused and bands %r"
      % (whole, fused, bands, both))
least_bands = min(bands.values())
check(0 < least_bands < whole and fused >= least_bands, "bands shrink the stem, fusion alone "
      "does not shrink it below them")
check(min(both.values()) < least_bands, "fused blocks and bands go below either alone")

# Bands alone meet the budget: the fewest that do, no fusion.
two = bands[2]
expect_step("ladder_stem.cnn", two, two, "the leading layers in 2 bands (--patch 2)", whole)
# Below every band count and the fused build: the fewest bands fused blocks need
# (a budget between 2 and 3 fused bands' arenas, so that 2 do not fit).
budget = (both[2] + both[3]) // 2
check(both[3] < budget < min(both[2], least_bands, fused), "a budget only fused blocks and 3 "
      "or more bands meet: %d" % budget)
fewest = min(n for n in BAND_COUNTS if both[n] <= budget)
expect_step("ladder_stem.cnn", budget, both[fewest], "inverted-residual blocks fused and the "
            "leading layers in %d bands (--fuse-blocks --patch %d)" % (fewest, fewest), whole)
# Explicit flags stay: --patch N adds fused blocks only, --fuse-blocks adds bands only.
many = max(n for n in BAND_COUNTS if both[n] <= budget)
expect_step("ladder_stem.cnn", budget, both[many], "inverted-residual blocks fused "
            "(--fuse-blocks)", bands[many], "--patch", str(many))
expect_step("ladder_stem.cnn", budget, both[fewest], "the leading layers in %d bands (--patch %d)"
            % (fewest, fewest), fused, "--fuse-blocks")
if fewest > 2:
    p, _ = build("ladder_stem.cnn", "--ram-budget", str(budget), "--patch", "2")
    check(p.returncode == 1 and "needs a %d-byte arena" % bands[2] in p.stderr and
          "note: inverted" not in p.stderr,
          "--patch 2 stays 2 bands though the budget needs more: %r" % p.stderr)
# Nothing meets it: the error of the build as asked.
p, _ = build("ladder_stem.cnn", "--ram-budget", "1000")
check(p.returncode == 1 and "needs a %d-byte arena, over the RAM budget of 1000" % whole in p.stderr
      and "to fit the RAM budget" not in p.stderr, "a budget nothing meets: %r" % p.stderr)

# ladder: bands cannot help, the fused blocks can.
block_whole = build("ladder.cnn")[1]
block_fused = build("ladder.cnn", "--fuse-blocks")[1]
check(0 < block_fused < block_whole and
      all(build("ladder.cnn", "--patch", str(n))[1] == block_whole for n in (2, 16)),
      "ladder.cnn: bands give nothing, fusion %d < %d" % (block_fused, block_whole))
expect_step("ladder.cnn", block_fused, block_fused, "inverted-residual blocks fused "
            "(--fuse-blocks)", block_whole)

# The chosen build in QEMU, bit for bit against cnnc run --int8.
r = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "target-bench"),
                    os.path.join(SRC, "tests", "target", "ladder_stem.cnn"), "--target",
                    "cortex-m4", "--int8", "--calib", CALIB, "--ram-budget", str(budget),
                    "--samples", "3"], capture_output=True, text=True,
                   env=dict(os.environ, CNNC=CNNC))
fig = dict(re.findall(r"^(\w+): (\S+)$", r.stdout, re.M))
check(r.returncode == 0 and float(fig.get("max_rel_error", 1)) == 0 and
      int(fig.get("ram_arena_bytes", -1)) == both[fewest],
      "target-bench of the ladder's build: exit %d, %s" % (r.returncode,
                                                           (r.stdout + r.stderr)[-2000:]))
print("ladder_stem int8 cortex-m4, budget %d: arena %s B, ram %s B, instructions %s"
      % (budget, fig.get("ram_arena_bytes"), fig.get("ram_bytes"), fig.get("instructions")))
print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
