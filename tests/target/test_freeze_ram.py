"""test_freeze_ram.py: the training RAM of part of a network (issue 16's
figure; contract sections 2 and 8).

    /usr/bin/python3 test_freeze_ram.py CNNC SOURCE_DIR

`cnnc info examples/lenet.cnn --target cortex-m4 --train --batch 1
--optimizer sgd --momentum 0`, with and without `--freeze-until fc4` (the
input of the last dense layer, fc5): the cut build's ram_train_bytes must
be at most 64 KiB and at most 0.25x the full build's, both measured here
in the same run. Each machine-readable line appears once; the table of
training variants agrees with the measured builds: its `full` and
`--freeze-until fc4` rows give the state and arena bytes those builds
report (ram_train_state_bytes, ram_train_arena_bytes).
"""
import re
import subprocess
import sys

BASE = ['--target', 'cortex-m4', '--train', '--batch', '1', '--optimizer', 'sgd',
        '--momentum', '0']
LINES = ('ram_train_state_bytes', 'ram_train_arena_bytes', 'ram_train_bytes')


def info(cnnc, model, extra):
    r = subprocess.run([cnnc, 'info', model] + BASE + extra, capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError('cnnc info %s failed:\n%s' % (' '.join(extra), r.stderr))
    values = {}
    for key in LINES:
        found = re.findall(r'^%s: (\d+)$' % key, r.stdout, re.M)
        if len(found) != 1:
            raise RuntimeError('%s: %d lines, expected one' % (key, len(found)))
        values[key] = int(found[0])
    rows = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in
            re.finditer(r'^  (full|--\S+(?: \S+)?) +(\d+) +(\d+) +\d+$', r.stdout, re.M)}
    return values, rows


def main(argv):
    cnnc, src = argv[1:3]
    model = src + '/examples/lenet.cnn'
    errors = []
    try:
        full, rows = info(cnnc, model, [])
        cut, _ = info(cnnc, model, ['--freeze-until', 'fc4'])
    except RuntimeError as e:
        print('FAIL\n    %s' % e)
        return 1
    ratio = cut['ram_train_bytes'] / full['ram_train_bytes']
    print('lenet ram_train_bytes: full %d, --freeze-until fc4 %d (%.3fx)'
          % (full['ram_train_bytes'], cut['ram_train_bytes'], ratio))
    if cut['ram_train_bytes'] > 64 * 1024:
        errors.append('the cut build needs more than 64 KiB')
    if ratio > 0.25:
        errors.append('the cut build needs more than 0.25x of full training')
    for label, build in (('full', full), ('--freeze-until fc4', cut)):
        want = (build['ram_train_state_bytes'], build['ram_train_arena_bytes'])
        if rows.get(label) != want:
            errors.append('variant %s: %s in the table, the build reports %s'
                          % (label, rows.get(label), want))
    print('ok' if not errors else 'FAIL')
    for e in errors:
        print('    ' + e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
