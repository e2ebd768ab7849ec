#!/usr/bin/python3
"""test_budget.py: --ram-budget and --flash-budget (no Arm toolchain needed).

Takes: CNNC SOURCE_DIR WORK_DIR. Checks, on LeNet, against numbers worked by
hand from its layer table: conv1's output is 8x28x28 floats (25088 bytes)
and pool1's 8x14x14 (6272 bytes); both are live while pool1 runs, and that
is the largest live set, 31360 bytes. A budget below the arena fails with
a diagnostic naming that layer and those buffers and leaves an earlier
OUT.c untouched; a budget equal to the arena passes; the flash budget is
checked against the weights' bytes the generated file states; malformed
numbers and unknown targets are errors; the generated C refuses to compile
when its header's arena is smaller than the plan or over the RAM budget.
On resnet_small (3x3 convs that go to Winograd's kernel by default): a RAM
budget the Winograd build is over and the direct one is not gives the
direct kernels, with a note; --no-winograd gives them as well, and
`info --no-winograd` reports that build's arena. On patch_stem for a
Cortex-M4: a budget only --patch fits takes the fewest bands that fit.
Exit status 0 or 1."""
import os
import re
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what)


def cnnc(*args):
    return subprocess.run([CNNC] + list(args), capture_output=True, text=True)


CNNC, SRC, WORK = sys.argv[1:4]
os.makedirs(WORK, exist_ok=True)
lenet = os.path.join(SRC, "examples", "lenet.cnn")
out = os.path.join(WORK, "lenet_budget.c")
diag = re.compile(r"^\S+?(:\d+:\d+)?: (error|warning): ")

p = cnnc(lenet, "-o", out)
check(p.returncode == 0, "plain compile: %s" % p.stderr)
header = open(out[:-2] + ".h").read()
arena = int(re.search(r"#define lenet_budget_ARENA_BYTES (\d+)", header).group(1))
weights = int(re.search(r"weights (\d+) bytes", open(out).read()).group(1))
check(arena == 25088 + 6272, "arena %d, hand-worked 31360" % arena)
before = open(out).read()

p = cnnc(lenet, "-o", out, "--ram-budget", str(arena - 1))
first = p.stderr.splitlines()[0] if p.stderr else ""
check(p.returncode == 1, "ram budget below the arena: exit %d" % p.returncode)
check(diag.match(first) and "31360-byte arena" in first and "RAM budget of 31359" in first,
      "ram budget error line: %r" % first)
check(re.search(r"note: the largest live set is 31360 bytes, at layer 'pool1': "
                r"conv1 \(25088 bytes\), pool1 \(6272 bytes\)", p.stderr),
      "peak note: %r" % p.stderr)
check(open(out).read() == before, "a failed budget compile changed OUT.c")

p = cnnc(lenet, "-o", out, "--ram-budget", str(arena), "--flash-budget", str(weights))
check(p.returncode == 0, "budgets equal to the need: exit %d %s" % (p.returncode, p.stderr))

p = cnnc(lenet, "-o", out, "--flash-budget", "%dK" % (weights // 1024))
check(p.returncode == 1 and "over the flash budget of %d bytes" % (weights // 1024 * 1024)
      in p.stderr, "flash budget in KiB: %r" % p.stderr)

for bad in ("12x", "-5", "", "1G"):
    p = cnnc(lenet, "-o", out, "--ram-budget", bad)
    check(p.returncode == 1 and "--ram-budget needs a number" in p.stderr,
          "malformed budget %r: %r" % (bad, p.stderr))

# The generated C checks its arena at compile time: a header edited to a
# smaller arena, or one over the --ram-budget it was compiled with, fails.
def compiles(c_file):
    return subprocess.run(["cc", "-std=c99", "-pedantic", "-Werror", "-c", c_file, "-o",
                           os.path.join(WORK, "check.o")], capture_output=True, text=True)


def edit_arena(c_file, new_bytes):
    h = c_file[:-2] + ".h"
    text = open(h).read()
    open(h, "w").write(re.sub(r"(#define \w+_ARENA_BYTES )\d+", r"\g<1>%d" % new_bytes, text))


p = cnnc(lenet, "-o", out, "--ram-budget", str(arena))
check(p.returncode == 0 and compiles(out).returncode == 0, "budgeted OUT.c compiles")
edit_arena(out, arena - 4)
r = compiles(out)
check(r.returncode != 0 and "arena_check" in r.stderr, "a shrunk arena must not compile: %r" % r.stderr)
edit_arena(out, arena + 4)
r = compiles(out)
check(r.returncode != 0 and "ram_budget_check" in r.stderr,
      "an arena over the budget must not compile: %r" % r.stderr)

# Winograd's scratch against a RAM budget (resnet_small: 16-64 channels).
resnet = os.path.join(SRC, "examples", "resnet_small.cnn")
rout = os.path.join(WORK, "resnet_budget.c")


def info_arena(*flags):
    p = cnnc("info", resnet, *flags)
    return int(re.search(r"^arena_bytes: (\d+)$", p.stdout, re.M).group(1))


def compiled(*flags):
    p = cnnc(resnet, "-o", rout, *flags)
    header = open(rout[:-2] + ".h").read() if p.returncode == 0 else ""
    m = re.search(r"#define resnet_budget_ARENA_BYTES (\d+)", header)
    winograd = p.returncode == 0 and "Winograd F(2x2, 3x3)" in open(rout).read()
    return p, int(m.group(1)) if m else -1, winograd


wino_arena, direct_arena = info_arena(), info_arena("--no-winograd")
check(direct_arena < wino_arena, "Winograd's scratch: arena %d, direct %d" % (wino_arena, direct_arena))
p, a, wino = compiled()
check(p.returncode == 0 and wino and a == wino_arena, "default: Winograd, arena %d" % a)
p, a, wino = compiled("--no-winograd")
check(p.returncode == 0 and not wino and a == direct_arena, "--no-winograd: arena %d" % a)
p, a, wino = compiled("--ram-budget", str(wino_arena))
check(p.returncode == 0 and wino and "direct kernel" not in p.stderr,
      "a budget Winograd fits keeps it: %r" % p.stderr)
p, a, wino = compiled("--ram-budget", str(direct_arena))
check(p.returncode == 0 and not wino and a == direct_arena and
      re.search(r"note: 3x3 convolutions by the direct kernel, not Winograd's, to fit the budget "
                r"\(arena %d bytes instead of %d" % (direct_arena, wino_arena), p.stderr),
      "a budget only the direct kernels fit: exit %d, arena %d, %r" % (p.returncode, a, p.stderr))
p, a, wino = compiled("--ram-budget", str(direct_arena - 1))
check(p.returncode == 1 and "needs a %d-byte arena" % direct_arena in p.stderr and
      "with Winograd's (the default) the arena is %d bytes" % wino_arena in p.stderr,
      "a budget nothing fits names the smaller arena, then Winograd's: %r" % p.stderr)

# On a Cortex-M profile, a RAM budget the layer-by-layer arena is over (even
# with the direct kernels) takes the fewest bands of --patch (2, 3, 4, 6, 8,
# 12, 16) whose arena fits, with a note: the same arena as that --patch
# given; a budget no band count fits fails as before; the host never bands
# unasked.
stem = os.path.join(SRC, "tests", "codegen", "models", "patch_stem.cnn")
pout = os.path.join(WORK, "patch_budget.c")


def patched(*flags):
    p = cnnc(stem, "-o", pout, "--target", "cortex-m4", *flags)
    m = re.search(r"#define patch_budget_ARENA_BYTES (\d+)", open(pout[:-2] + ".h").read()) \
        if p.returncode == 0 else None
    return p, int(m.group(1)) if m else -1


_, whole = patched()
arenas = {n: patched("--patch", str(n))[1] for n in (2, 3)}
check(whole > arenas[2] > arenas[3] > 0, "patch_stem arenas: %d, %r" % (whole, arenas))
budget = (arenas[2] + arenas[3]) // 2
p, a = patched("--ram-budget", str(budget))
check(p.returncode == 0 and a == arenas[3] and
      "note: the leading layers in 3 bands (--patch 3) to fit the RAM budget: arena %d bytes "
      "instead of %d" % (arenas[3], whole) in p.stderr,
      "a budget 3 bands fit: exit %d, arena %d, %r" % (p.returncode, a, p.stderr))
p, a = patched("--ram-budget", "1000")
check(p.returncode == 1 and "needs a %d-byte arena" % whole in p.stderr and "bands" not in p.stderr,
      "a budget no band count fits: %r" % p.stderr)
p = cnnc(stem, "-o", pout, "--ram-budget", str(budget))
check(p.returncode == 1 and "bands" not in p.stderr, "the host bands unasked: %r" % p.stderr)

p = cnnc("info", lenet, "--target", "avr")
check(p.returncode == 1 and "unknown target 'avr'" in p.stderr, "unknown target: %r" % p.stderr)

# info takes --train (and --batch) only with --target: a usage error, exit 2.
for args in (["--train"], ["--target", "cortex-m4", "--batch", "2"], ["--batch", "2"]):
    p = cnnc("info", lenet, *args)
    check(p.returncode == 2 and "takes --train and --batch with --target only" in p.stderr,
          "info %s: exit %d %r" % (" ".join(args), p.returncode, p.stderr))

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
