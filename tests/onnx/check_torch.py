#!/usr/bin/python3
"""Exports PyTorch models to ONNX and checks cnnc on each file:
- `cnnc run` against PyTorch: max|a - b| <= rtol * max|ref| (1e-4; 1e-3
  for 224x224 nets);
- every tensor shape cnnc infers against onnx's own shape inference, and
  `cnnc info`'s parameters and MACs against the counts of the ONNX graph
  (onnxtest.check_graph).

usage: check_torch.py CNNC WORKDIR GROUP [REGEX]   (GROUP: nets, ops, big;
REGEX: only the models whose names it matches)

nets: example-like networks (LeNet-like, a small ResNet, a 1-D net, ...);
ops: single-operator models for every option, at opsets 9, 11, 13, 17;
big: torchvision resnet18, mobilenet_v2, squeezenet1_1 (random weights).
Exits non-zero if any model disagrees or fails to load."""
import os
import re
import sys
import warnings

import torch

import onnxtest as T

warnings.filterwarnings("ignore")
CNNC, WORK, GROUP = sys.argv[1], sys.argv[2], sys.argv[3]
PICK = re.compile(sys.argv[4] if len(sys.argv) > 4 else "")
os.makedirs(WORK, exist_ok=True)


def check(name, model, shape, opset, rtol, batch=3, dynamic=True):
    path = os.path.join(WORK, "%s_op%d.onnx" % (name, opset))
    label = "%-28s opset %2d" % (name, opset)
    x = torch.randn(batch, *shape)
    ref = T.export(model, x, path, opset, dynamic)
    if isinstance(ref, str):  # the exporter itself refuses: not ours to test
        print("SKIP %s: torch cannot export it (%s)" % (label, ref))
        return True
    got, err = T.run_cnnc(CNNC, path, x.numpy())
    why = "failed: %s" % err if got is None else T.compare(got, ref, rtol)
    failures = ["cnnc run vs PyTorch: " + why] if why else []
    graph_failures, summary = T.check_graph(CNNC, path, batch)
    return not T.report("%s: %s" % (label, summary), failures + graph_failures)


def check_external(model):
    """Weights in a file beside the model (data_location = EXTERNAL)."""
    import onnx
    src = os.path.join(WORK, "resnet_small_op13.onnx")
    ext = os.path.join(WORK, "external")
    os.makedirs(ext, exist_ok=True)
    path = os.path.join(ext, "resnet_small_ext.onnx")
    onnx.save_model(onnx.load(src), path, save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x).numpy()
    got, err = T.run_cnnc(CNNC, path, x.numpy())
    why = "cnnc run failed: %s" % err if got is None else T.compare(got, ref)
    print("%s %-28s: %s" % ("FAIL" if why else "ok  ", "external_data", why or "agrees"))
    return not why


def main():
    ok = True
    torch.manual_seed(0)
    if GROUP == "nets":
        nets = T.nets()
        for name, model, shape in nets:
            for opset in T.OPSETS:
                ok &= check(name, model, shape, opset, 1e-4)
        ok &= check("lenet_static_batch", nets[0][1], (3, 32, 32), 13, 1e-4, batch=2,
                    dynamic=False)
        ok &= check_external(nets[1][1])
    elif GROUP == "ops":
        for name, model, shape in T.ops():
            for opset in T.OPSETS if PICK.search(name) else ():
                ok &= check(name, model, shape, opset, 1e-4, dynamic=name not in T.STATIC_BATCH)
    else:
        for name in T.BIG:
            ok &= check(name, T.big(name), (3, 224, 224), 13, 1e-3, batch=2)
    print("all agree" if ok else "DISAGREEMENT")
    sys.exit(0 if ok else 1)


main()
