"""test_freeze_errors.py: the errors of --freeze-until and --train-bias-only,
of --train where no parameter reaches the output, and of --int8 in training with nothing frozen (bias-only training included),
in the command's own words
(contract sections 4 and 8): each gives one `FILE: error: ...` first line
saying what is wrong, a non-zero exit, and no output file (compile) or
folder (grad).

    /usr/bin/python3 test_freeze_errors.py CNNC SOURCE_DIR WORKDIR
"""
import os
import re
import subprocess
import sys

import numpy as np

NO_BIAS = """model no_bias {
  input 1x6x6
  c: conv(2, kernel=3, bias=false)
  flatten
  fc: dense(3, bias=false)
}
"""
# the output reads only the max-pooled input: conv c's weight and bias
# lie on a branch nothing reads
DEAD_BRANCH = """model dead_branch {
  input 1x6x6
  c: conv(2, kernel=3)
  p: maxpool(2) from input
  flatten
  softmax
}
"""


def main(argv):
    cnnc, src, work = argv[1:4]
    os.makedirs(work, exist_ok=True)
    lenet = os.path.join(src, 'examples', 'lenet.cnn')
    no_bias = os.path.join(work, 'no_bias.cnn')
    with open(no_bias, 'w') as f:
        f.write(NO_BIAS)
    dead = os.path.join(work, 'dead_branch.cnn')
    with open(dead, 'w') as f:
        f.write(DEAD_BRANCH)
    x, y = os.path.join(work, 'x.npy'), os.path.join(work, 'y.npy')
    np.save(x, np.zeros((2, 3, 32, 32), np.float32))
    np.save(y, np.zeros(2, np.int64))
    out_c, out_dir = os.path.join(work, 'out.c'), os.path.join(work, 'grads')
    grad = ['grad', lenet, '--input', x, '--labels', y, '--outdir', out_dir]
    compile_ = [lenet, '-o', out_c, '--train']
    # (arguments, exit status, the first line's pattern)
    cases = [
        (grad + ['--freeze-until', 'nope'], 1,
         r"^%s: error: --freeze-until: the model has no tensor 'nope'$" % re.escape(lenet)),
        (compile_ + ['--freeze-until', 'nope'], 1, r"^%s: error: .*no tensor 'nope'" % re.escape(lenet)),
        (grad + ['--freeze-until', 'softmax_1'], 1, r": error: --freeze-until: 'softmax_1' is the "
                                                      r"model's output"),
        (compile_ + ['--freeze-until', 'fc5'], 1, r": error: --freeze-until 'fc5': nothing is left "
                                                   r"to train"),
        (['grad', no_bias, '--input', x, '--labels', y, '--outdir', out_dir, '--train-bias-only'],
         1, r"^%s: error: --train-bias-only: the model has no bias" % re.escape(no_bias)),
        ([lenet, '-o', out_c, '--freeze-until', 'fc4'], 2, r"^cnnc: error: --freeze-until needs --train"),
        # an int8 backbone needs a frozen part: training itself runs in float
        (compile_ + ['--int8', '--calib', x], 1,
         r"^%s: error: --int8 with --train runs a frozen backbone in int8, but nothing is frozen"
         % re.escape(lenet)),
        (grad + ['--int8', '--calib', x], 1,
         r"^%s: error: cnnc grad --int8 runs a frozen backbone in int8, but nothing is frozen "
         r"\(the gradient runs in float\)" % re.escape(lenet)),
        # bias-only training freezes no layer whole: nothing for --int8 to quantize
        (compile_ + ['--int8', '--calib', x, '--train-bias-only'], 1,
         r"^%s: error: --int8 with --train --train-bias-only: bias-only training leaves no "
         r"frozen part to quantize" % re.escape(lenet)),
        (grad + ['--int8', '--calib', x, '--train-bias-only'], 1,
         r"^%s: error: cnnc grad --int8 --train-bias-only: bias-only training leaves no frozen "
         r"part to quantize" % re.escape(lenet)),
        ([dead, '-o', out_c, '--train'], 1,
         r"^%s: error: --train: no trainable parameter reaches the output: 'c.weight' and 1 more "
         r"lie on branches the output does not read$" % re.escape(dead)),
        (['info', lenet, '--freeze-until', 'fc4'], 2, r"^cnnc: error: --freeze-until needs --train"),
    ]
    failed = 0
    for args, status, pattern in cases:
        r = subprocess.run([cnnc] + args, capture_output=True, text=True, timeout=60)
        first = r.stderr.splitlines()[0] if r.stderr else ''
        problems = []
        if r.returncode != status:
            problems.append('exit %d, expected %d' % (r.returncode, status))
        if not re.search(pattern, first):
            problems.append('first line %r does not match %r' % (first, pattern))
        for leftover in (out_c, out_dir):
            if os.path.exists(leftover):
                problems.append('%s was written' % leftover)
        print('%s: %s' % (' '.join(args[:1] + args[-2:]), 'ok' if not problems else 'FAIL'))
        for p in problems:
            print('    ' + p)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
