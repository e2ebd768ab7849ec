"""ort.py: ONNX Runtime from Python through node (tests/int8): npm's
onnxruntime-node, installed into a folder of the build tree on first use, as
bench/run_bench.py installs it for the benchmarks."""
import os
import subprocess

import numpy as np

ORT_VERSION = '1.30.0'
HERE = os.path.dirname(os.path.abspath(__file__))


def ensure(folder):
    """Installs onnxruntime-node into folder unless it is there; its path."""
    if not os.path.isdir(os.path.join(folder, 'node_modules', 'onnxruntime-node')):
        os.makedirs(folder, exist_ok=True)
        r = subprocess.run(['npm', 'install', '--prefix', folder, 'onnxruntime-node@' + ORT_VERSION,
                            '--ignore-scripts'], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise RuntimeError('npm install onnxruntime-node failed (Debian packages nodejs and '
                               'npm, and the npm registry, are needed):\n' + r.stderr[-2000:])
    return folder


def run(folder, model, x, work, level='disabled'):
    """ONNX Runtime's output of model on float32 array x; level: its graph
    optimisations (ort_run.js: 'disabled' computes QDQ models as ONNX
    defines them, in float between the quantizations)."""
    inp, out = os.path.join(work, 'ort_in.raw'), os.path.join(work, 'ort_out.raw')
    np.ascontiguousarray(x, np.float32).tofile(inp)
    env = dict(os.environ, NODE_PATH=os.path.join(folder, 'node_modules'))
    r = subprocess.run(['node', os.path.join(HERE, 'ort_run.js'), model, inp,
                        ','.join(str(d) for d in x.shape), out, level], capture_output=True,
                       text=True,
                       env=env, timeout=600)
    if r.returncode != 0:
        raise RuntimeError('onnxruntime on %s failed:\n%s' % (model, r.stderr[-2000:]))
    shape = tuple(int(d) for d in r.stdout.strip().split(','))
    return np.fromfile(out, dtype=np.float32).reshape(shape)
