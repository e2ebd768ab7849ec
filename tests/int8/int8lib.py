"""int8lib.py: what the int8 test scripts share: running a command,
recording a check's outcome, and the exit status that sums them up."""
import subprocess
import sys

failures = []


def run(cmd, ok=True, cwd=None):
    """cmd's completed process; a RuntimeError naming it when it fails and ok."""
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=900)
    if ok and r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                       r.stderr))
    return r


def expect(cond, what, detail=""):
    print("%s: %s %s" % ("ok" if cond else "FAIL", what, detail))
    if not cond:
        failures.append("%s %s" % (what, detail))


def finish(nothing_checked=False):
    """Lists the failures and exits 1 if any (or if nothing was checked)."""
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures or nothing_checked else 0)
