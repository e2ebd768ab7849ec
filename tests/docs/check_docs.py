#!/usr/bin/python3
"""check_docs.py: documentation that cannot rot.

Usage: check_docs.py CNNC SRCDIR WORKDIR

- Every fenced C block of README.md and docs/*.md compiles (gcc -std=c99
  -Wall -Wextra -pedantic -Werror) against the header cnnc generates for
  it. The block says which in its fence: ```c model=PATH name=PREFIX
  [train]``` compiles PATH (from the project's root) with --name PREFIX
  (and --train). A block is a whole file: it includes the header itself;
  only the reader's own board functions of BOARD below are declared for
  it. A block that includes a generated header but is not fenced as C is
  an error too, so none escapes.
- Every ```sh runnable``` block runs (bash -e) in an empty folder where
  `examples/` is the project's and `cnnc` is the one under test.
- The manual page docs/cnnc.1 and `cnnc --help` name the same options,
  both ways (the man page's part before THE GENERATED PROGRAM, whose own
  options belong to the generated program).
Every failure is listed; the exit status is 1 if there was any.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

CNNC, SRC, WORK = (os.path.abspath(a) for a in sys.argv[1:4])
failures = []

BOARD = """/* The reader's own code, which the documents' snippets call. */
#include <stddef.h>
#include <stdint.h>
void board_init(void);
void read_sensor(float *input);
void act_on(const float *output);
int state_restore(void *state, size_t size);
void state_save(const void *state, size_t size);
int collect_labelled(float *input, int32_t *labels, int max);
"""


def check(ok, what, detail=""):
    if not ok:
        failures.append(f"{what}\n    {detail}".rstrip())
    return ok


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)


def blocks(path):
    """(line, info words, text) of every fenced block, and of every indented one (info None)."""
    lines = open(path).read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(.*)$", lines[i])
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append((i + 1, m.group(1).split(), "\n".join(lines[i + 1:j]) + "\n"))
            i = j + 1
            continue
        if lines[i].startswith("    ") and (i == 0 or lines[i - 1].strip() == ""):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or lines[j] == ""):
                j += 1
            out.append((i + 1, None, "\n".join(l[4:] for l in lines[i:j]) + "\n"))
            i = j
            continue
        i += 1
    return out


def header_dir(model, name, train, cache):
    key = (model, name, train)
    if key not in cache:
        d = os.path.join(WORK, f"h{len(cache)}")
        os.makedirs(d)
        args = [CNNC, os.path.join(SRC, model), "-o", os.path.join(d, name + ".c"), "--name", name]
        p = run(args + (["--train"] if train else []))
        cache[key] = d if check(p.returncode == 0, f"cnnc for {key}", p.stderr) else None
    return cache[key]


def check_c_block(where, info, text, cache, n):
    opts = dict(w.split("=", 1) for w in info[1:] if "=" in w)
    if not check("model" in opts and "name" in opts,
                 f"{where}: a C block must say model=PATH name=PREFIX in its fence", " ".join(info)):
        return
    hdr = header_dir(opts["model"], opts["name"], "train" in info[1:], cache)
    if not hdr:
        return
    if not check(f'#include "{opts["name"]}.h"' in text,
                 f"{where}: the block must include {opts['name']}.h itself"):
        return
    src = os.path.join(WORK, f"block{n}.c")
    with open(src, "w") as f:
        path, line = where.rsplit(":", 1)
        f.write(BOARD + f"#line {int(line) + 1} \"{path}\"\n" + text)
    p = run(["gcc", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I", hdr, "-c", src,
             "-o", src + ".o"])
    check(p.returncode == 0, f"{where}: the C block does not compile", p.stderr[:3000])


def check_sh_block(where, text, n):
    d = os.path.join(WORK, f"sh{n}")
    os.makedirs(d)
    os.symlink(os.path.join(SRC, "examples"), os.path.join(d, "examples"))
    env = dict(os.environ, PATH=os.path.dirname(CNNC) + os.pathsep + os.environ["PATH"])
    p = run(["bash", "-e", "-o", "pipefail", "-c", text], cwd=d, env=env)
    check(p.returncode == 0, f"{where}: the runnable block failed ({p.returncode})",
          (p.stdout[-1500:] + p.stderr[-1500:]))


def check_blocks():
    files = [os.path.join(SRC, "README.md")] + sorted(glob.glob(os.path.join(SRC, "docs/*.md")))
    cache, n, seen = {}, 0, {"c": 0, "sh": 0}
    for path in files:
        for line, info, text in blocks(path):
            where = f"{os.path.relpath(path, SRC)}:{line}"
            n += 1
            lang = info[0] if info else None
            if lang == "c":
                seen["c"] += 1
                check_c_block(where, info, text, cache, n)
            elif lang == "sh" and "runnable" in info[1:]:
                seen["sh"] += 1
                check_sh_block(where, text, n)
            else:
                check(not re.search(r'^\s*#include "', text, re.M),
                      f"{where}: C code in a block not fenced as ```c model=... name=...```")
    check(seen["c"] >= 5 and seen["sh"] >= 1, "the documents' blocks were found", str(seen))


def help_options():
    out = run([CNNC, "--help"]).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9]|-O0|-o|-h)(?![\w-])", out))


def man_options():
    text = open(os.path.join(SRC, "docs/cnnc.1")).read()
    text = text[:text.index(".Sh THE GENERATED PROGRAM")]
    opts = set()
    for line in text.splitlines():
        if line.startswith(".\\\""):
            continue
        for m in re.finditer(r"\bFl (-?[A-Za-z0-9][\w-]*)", line):
            opts.add("-" + m.group(1))
    return opts


def check_man():
    h, m = help_options(), man_options()
    check(len(h) > 20, "options found in cnnc --help", str(sorted(h)))
    check(not h - m, "options of cnnc --help missing from the man page", str(sorted(h - m)))
    check(not m - h, "options of the man page missing from cnnc --help", str(sorted(m - h)))


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    check_blocks()
    check_man()
    for f in failures:
        print("FAIL:", f)
    print(f"check_docs: {len(failures)} failure(s)")
    return 1 if failures else 0


sys.exit(main())
