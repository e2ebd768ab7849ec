"""check_examples.py: every examples/*.cnn against its PyTorch twin.

    /usr/bin/python3 check_examples.py CNNC_BINARY SOURCE_DIR [NAME...]

For each example: `cnnc weights` exports the seeded initial parameters;
they load by name into the hand-written module of models.py; a seeded
random batch (N = 1 and N = 3) goes through `cnnc run` and through torch
in eval mode, and the outputs must agree (contract section 6). Each batch
runs twice: with cnnc's own initialisation (no --weights: it must be what
`cnnc weights` wrote), and with random BatchNorm statistics and affine
parameters written back through `--weights`. `cnnc info`'s parameter
count must be torch's (trainable parameters; LeNet's is the course table's
62958). Exits non-zero
on any failure, and when an example has no oracle or an oracle no example.
"""
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402
from oracle import (check_examples, cnnc, compare, example_names, load_into,  # noqa: E402
                    randomize_bn_stats, read_params, usage, write_params)


# Counts fixed by the course material, checked besides torch's count.
KNOWN_PARAMETERS = {'lenet': 62958}


def check_info(binary, path, module):
    ok, out = cnnc(binary, 'info', path)
    if not ok:
        return 'cnnc info failed: ' + out
    m = re.search(r'^parameters: (\d+)$', out, re.M)
    if not m:
        return "cnnc info printed no 'parameters: N' line"
    want = sum(p.numel() for p in module.parameters())
    known = KNOWN_PARAMETERS.get(os.path.basename(path)[:-4], want)
    if known != want:
        return 'the oracle counts %d parameters, the course %d' % (want, known)
    if int(m.group(1)) != want:
        return 'cnnc info says parameters: %s, torch counts %d' % (m.group(1), want)
    return ''


def run_case(binary, path, work, module, params, shape, n, seed, weights_dir):
    """One batch through cnnc and torch; '' or the failure."""
    errors = load_into(module, params, layer_map_of(path))
    if errors:
        return '; '.join(errors)
    x = np.random.default_rng(seed).standard_normal((n, *shape)).astype('<f4')
    inp, out = os.path.join(work, 'in.npy'), os.path.join(work, 'out.npy')
    np.save(inp, x)
    if os.path.exists(out):
        os.remove(out)
    args = ['run', path, '--input', inp, '--output', out]
    if weights_dir:
        args += ['--weights', weights_dir]
    ok, msg = cnnc(binary, *args)
    if not ok:
        return 'cnnc run failed: ' + msg
    with torch.no_grad():  # the reference in float64: its own error is nil
        ref = module.double().eval()(torch.from_numpy(x).double()).numpy()
    return compare(np.load(out), ref)


def layer_map_of(path):
    return models.EXAMPLES[os.path.basename(path)[:-4]][2]


def check_example(binary, path, work):
    """Returns the list of failures of one example."""
    name = os.path.basename(path)[:-4]
    factory, shape, _ = models.EXAMPLES[name]
    torch.manual_seed(0)
    module = factory()
    failures = []
    wdir = os.path.join(work, 'weights')
    ok, msg = cnnc(binary, 'weights', path, '--outdir', wdir)
    if not ok:
        return ['cnnc weights failed: ' + msg]
    params = read_params(wdir)
    has_bn = any(k.endswith('.running_mean') for k in params)
    err = check_info(binary, path, module)
    if err:
        failures.append(err)
    rdir = os.path.join(work, 'random_bn')
    rparams = dict(params)
    randomize_bn_stats(rparams, np.random.default_rng(1234))
    write_params(rdir, rparams)
    for n in (1, 3):
        err = run_case(binary, path, work, module, params, shape, n, 100 + n, None)
        if err:
            failures.append('N=%d, cnnc init: %s' % (n, err))
        if has_bn:
            err = run_case(binary, path, work, module, rparams, shape, n, 200 + n, rdir)
            if err:
                failures.append('N=%d, random BatchNorm state: %s' % (n, err))
    return failures


def main(argv):
    binary, src = usage(argv, 'NAME...')
    exdir = os.path.join(src, 'examples')
    names = example_names(exdir)
    bad = 0
    for orphan in sorted(set(models.EXAMPLES) - set(names)):
        print('FAIL %s: an oracle in models.py but no examples/%s.cnn' % (orphan, orphan))
        bad += 1
    bad += check_examples(binary, exdir, argv[3:] or names, models.EXAMPLES, check_example,
                          'cnnc-torch-')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
