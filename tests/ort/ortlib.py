"""ortlib.py: ONNX Runtime (npm's onnxruntime-node, which `scripts/deps.sh
test` installs into build/ort) as an oracle for the tests: run(model, x)
returns the first output of MODEL.onnx on the float32 array x. The tests
that need it fail, naming the missing piece, rather than skip."""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ORT_DIR = os.path.join(ROOT, "build", "ort")


def require():
    """Exits 1 with the way to install it when onnxruntime-node is missing."""
    if not os.path.isdir(os.path.join(ORT_DIR, "node_modules", "onnxruntime-node")):
        sys.exit("error: onnxruntime-node is not installed in %s (bash scripts/deps.sh test "
                 "installs it)" % ORT_DIR)


def run(model, x):
    x = np.ascontiguousarray(x, dtype="<f4")
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        x.tofile(inp)
        env = dict(os.environ, NODE_PATH=os.path.join(ORT_DIR, "node_modules"))
        p = subprocess.run(["node", os.path.join(HERE, "ort_run.js"), model, inp, out,
                            *map(str, x.shape)], capture_output=True, text=True, env=env,
                           timeout=600)
        if p.returncode != 0:
            raise RuntimeError("onnxruntime failed on %s: %s" % (model, p.stderr.strip()[-800:]))
        shape = [int(d) for d in p.stdout.strip().splitlines()[-1].split()[1:]]
        return np.fromfile(out, dtype="<f4").reshape(shape)
