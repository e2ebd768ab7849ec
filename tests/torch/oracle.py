"""oracle.py: what the PyTorch oracle scripts share.

Running cnnc, the parameter-file names of contract section 5, loading such
a folder into a torch module by an explicit name map, the agreement test of
contract section 6, and the loop over examples/*.cnn with its report.
"""
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch

RTOL = 1e-4


def escape_name(name):
    """Contract 5: every byte outside [A-Za-z0-9._-] is written %XX."""
    return ''.join(chr(b) if re.match(rb'[A-Za-z0-9._-]', bytes([b])) else '%%%02X' % b
                   for b in name.encode())


def unescape_name(fname):
    return re.sub(r'%([0-9A-F]{2})', lambda m: chr(int(m.group(1), 16)), fname)


def cnnc(binary, *args, timeout=60):
    """Runs cnnc; returns (ok, combined output)."""
    try:
        p = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, 'timed out after %d s' % timeout
    out = (p.stdout + p.stderr).strip()
    if p.returncode < 0:
        return False, 'killed by signal %d\n%s' % (-p.returncode, out)
    return p.returncode == 0, out


def read_params(folder):
    """{cnnc name: array} for every .npy in folder."""
    params = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith('.npy'):
            params[unescape_name(f[:-4])] = np.load(os.path.join(folder, f))
    return params


def write_params(folder, params):
    os.makedirs(folder, exist_ok=True)
    for name, a in params.items():
        np.save(os.path.join(folder, escape_name(name) + '.npy'),
                np.ascontiguousarray(a, dtype='<f4'))


def load_into(module, params, layer_map):
    """Copies cnnc's parameters into module's state_dict.

    layer_map: cnnc layer -> torch submodule path. Every cnnc parameter must
    land on a state_dict entry of the same shape, and every state_dict entry
    (but BatchNorm's step counter) must be filled: anything else is an error
    message in the returned list."""
    errors = []
    state = module.state_dict()
    filled = set()
    for name, a in params.items():
        layer, _, suffix = name.rpartition('.')
        if layer not in layer_map:
            errors.append('cnnc has %s, which the oracle does not expect' % name)
            continue
        key = layer_map[layer] + '.' + suffix
        if key not in state:
            errors.append('%s maps to %s, not in the torch module' % (name, key))
            continue
        if tuple(a.shape) != tuple(state[key].shape):
            errors.append('%s has shape %s, torch %s wants %s'
                          % (name, tuple(a.shape), key, tuple(state[key].shape)))
            continue
        if a.dtype != np.float32:
            errors.append('%s has dtype %s, not float32' % (name, a.dtype))
            continue
        state[key] = torch.from_numpy(a.copy())
        filled.add(key)
    for key in state:
        if key not in filled and not key.endswith('num_batches_tracked'):
            errors.append('torch parameter %s got no value from cnnc' % key)
    if not errors:
        module.load_state_dict(state)
    return errors


def randomize_bn_stats(params, rng):
    """Non-trivial BatchNorm state, so that a wrong eval formula shows:
    random running statistics and affine parameters."""
    for name in params:
        if name.endswith('.running_mean'):
            layer = name[:-len('.running_mean')]
            c = params[name].shape
            params[name] = rng.normal(0, 0.5, c).astype('<f4')
            params[layer + '.running_var'] = rng.uniform(0.3, 2.0, c).astype('<f4')
            if layer + '.weight' in params:
                params[layer + '.weight'] = rng.uniform(0.5, 1.5, c).astype('<f4')
            if layer + '.bias' in params:
                params[layer + '.bias'] = rng.normal(0, 0.3, c).astype('<f4')


def compare(got, ref, rtol=RTOL, floor=0.0):
    """Contract 6: '' when got agrees with ref, else why not. An array that
    vanishes exactly (a gradient of a bias right before BatchNorm) is
    float32 noise in cnnc: it is measured against `floor` instead of its
    own 0."""
    if tuple(got.shape) != tuple(ref.shape):
        return 'shape %s, torch gives %s' % (tuple(got.shape), tuple(ref.shape))
    if got.dtype != np.float32:
        return 'dtype %s, not float32' % got.dtype
    if np.isnan(got).any():
        return 'NaN in output'
    err = float(np.max(np.abs(got.astype(np.float64) - ref))) if got.size else 0.0
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, floor)
    if not err <= rtol * scale:
        i = np.unravel_index(np.argmax(np.abs(got - ref)), ref.shape)
        return ('max|a-b| = %.3g > %.0e * max|ref| = %.3g; at %s: cnnc %.7g, torch %.7g'
                % (err, rtol, rtol * scale, tuple(int(v) for v in i), got[i], ref[i]))
    return ''


def report(label, failures):
    """Prints 'ok  LABEL' or 'FAIL LABEL' with the failures under it;
    returns 1 when there are failures, else 0."""
    print('%s %s' % ('FAIL' if failures else 'ok  ', label))
    for f in failures:
        print('     ' + f)
    return 1 if failures else 0


def example_names(exdir):
    """The examples/*.cnn models, by name, sorted."""
    return sorted(f[:-4] for f in os.listdir(exdir) if f.endswith('.cnn'))


def check_examples(binary, exdir, names, twins, check, prefix):
    """check(binary, path, work) -> failures, for each named example in a
    fresh temporary folder; an example without a twin (a key of `twins`,
    models.EXAMPLES) fails. Prints a line each; returns how many failed."""
    bad = 0
    for name in names:
        if name not in twins:
            print('FAIL %s: no PyTorch twin in tests/torch/models.py' % name)
            bad += 1
            continue
        with tempfile.TemporaryDirectory(prefix=prefix) as work:
            bad += report(name, check(binary, os.path.join(exdir, name + '.cnn'), work))
    print('%d of %d examples failed' % (bad, len(names)))
    return bad


def usage(argv, what):
    if len(argv) < 3:
        sys.exit('usage: %s CNNC_BINARY SOURCE_DIR [%s]' % (argv[0], what))
    return os.path.abspath(argv[1]), os.path.abspath(argv[2])
