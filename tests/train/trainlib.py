"""trainlib.py: what the train command's tests share: a Python copy of the
runtime's seeded split (runtime/train.c, splitmix64), running commands,
parsing the program's output, and the metrics table checked against
sklearn on predictions the test computes itself."""
import os
import re
import subprocess
import sys

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def permutation(n, seed, stream):
    """cnnc_rng(seed, stream) + cnnc_shuffle on [0, n): Fisher-Yates from
    the last element down, unbiased draws by rejection."""
    state = mix64(seed) ^ mix64((stream * GOLDEN + 1) & M64)
    a = list(range(n))
    for i in range(n - 1, 0, -1):
        reject = (1 << 64) % (i + 1)
        while True:
            state = (state + GOLDEN) & M64
            x = mix64(state)
            if x >= reject:
                break
        j = x % (i + 1)
        a[i], a[j] = a[j], a[i]
    return a


def val_split(n, f, seed):
    """cnnc_val_split: the last round(n f) of the stream-1 permutation."""
    idx = permutation(n, seed, 1)
    nval = 0 if f <= 0 else max(1, min(n - 1, int(np.floor(n * f + 0.5))))
    return idx[:n - nval], idx[n - nval:]


class Failures:
    def __init__(self):
        self.items = []

    def check(self, ok, what):
        if not ok:
            self.items.append(what)
            print('FAIL:', what, flush=True)
        return ok

    def exit(self):
        if self.items:
            print('%d failure(s)' % len(self.items))
            sys.exit(1)
        print('ok')


def run(*args, ok=True, cwd=None):
    """Runs a command; returns (returncode, stdout, stderr)."""
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                       timeout=600)
    if ok and p.returncode != 0:
        sys.exit('command failed (%d): %s\n%s%s' % (p.returncode, ' '.join(map(str, args)),
                                                    p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


def build(cnnc, model, work, name, *opts):
    """cnnc MODEL -o work/name.c OPTS, then cc -O2; returns the program."""
    c = os.path.join(work, name + '.c')
    exe = os.path.join(work, name)
    run(cnnc, model, '-o', c, *opts)
    run('cc', '-O2', '-std=c99', '-Wall', '-Wextra', '-pedantic', '-Werror', c, '-o', exe, '-lm')
    return exe


def last_value(out, key):
    """The number of the output's last line, which must read `key: X`."""
    lines = out.rstrip('\n').split('\n')
    m = re.fullmatch(re.escape(key) + r': ([0-9.]+)', lines[-1])
    return float(m.group(1)) if m else None


def metrics_rows(out, k):
    """The printed table: {class or 'macro': (precision, recall, f1, support)}."""
    rows = {}
    for line in out.split('\n'):
        m = re.fullmatch(r'(\d+|macro)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+(\d+)', line.strip())
        if m:
            rows[m.group(1)] = tuple(float(m.group(i)) for i in range(2, 5)) + (int(m.group(5)),)
    return rows


def confusion_rows(out, k):
    """The printed confusion matrix (k rows of k counts after its header)."""
    lines = out.split('\n')
    for i, line in enumerate(lines):
        if line.startswith('true\\pred'):
            return [[int(v) for v in lines[i + 1 + r].split()[1:]] for r in range(k)]
    return None


def check_metrics(fail, out, y_true, y_pred, k, tag):
    """The table and the matrix against sklearn on the same predictions."""
    cm = confusion_matrix(y_true, y_pred, labels=list(range(k)))
    fail.check(confusion_rows(out, k) == cm.tolist(), '%s: confusion matrix differs from sklearn'
               % tag)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(range(k)),
                                                 zero_division=0)
    present = sorted(set(y_true) | set(y_pred))
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=present,
                                                    average='macro', zero_division=0)
    rows = metrics_rows(out, k)
    for c in range(k):
        got = rows.get(str(c))
        fail.check(got is not None and np.allclose(got[:3], (p[c], r[c], f[c]), atol=5.1e-5)
                   and got[3] == s[c], '%s: class %d metrics %s, sklearn %s'
                   % (tag, c, got, (p[c], r[c], f[c], s[c])))
    got = rows.get('macro')
    fail.check(got is not None and np.allclose(got[:3], (mp, mr, mf), atol=5.1e-5)
               and got[3] == len(y_true), '%s: macro %s, sklearn %s' % (tag, got, (mp, mr, mf)))


def npy_files(d):
    return sorted(f for f in os.listdir(d) if f.endswith('.npy'))


def same_bytes(a, b):
    """Two weight folders hold the same files with the same bytes."""
    if npy_files(a) != npy_files(b):
        return False
    for f in npy_files(a):
        with open(os.path.join(a, f), 'rb') as fa, open(os.path.join(b, f), 'rb') as fb:
            if fa.read() != fb.read():
                return False
    return True
