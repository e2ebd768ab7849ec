#!/usr/bin/python3
"""Exports PyTorch models to ONNX and checks `cnnc run` against PyTorch.

usage: check_torch.py CNNC WORKDIR GROUP   (GROUP: nets, ops, big)

nets: example-like networks (LeNet-like, a small ResNet, a 1-D net, ...);
ops: single-operator models for every option, at opsets 9, 11, 13, 17;
big: torchvision resnet18, mobilenet_v2, squeezenet1_1 (random weights).
Agreement: max|a - b| <= rtol * max|ref| (1e-4; 1e-3 for 224x224 nets).
Exits non-zero if any model disagrees or fails to load."""
import os
import subprocess
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
from models import BasicBlock  # noqa: E402

warnings.filterwarnings("ignore")
torch.manual_seed(0)
CNNC, WORK, GROUP = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)


def randomize_bn(m):
    """Non-trivial BatchNorm statistics, so that eval mode is tested."""
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.uniform_(mod.weight, 0.5, 1.5)
            nn.init.uniform_(mod.bias, -0.5, 0.5)
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 1.5)
    return m


class Lambda(nn.Module):
    def __init__(self, f, *mods):
        super().__init__()
        self.f = f
        self.mods = nn.ModuleList(mods)

    def forward(self, x):
        return self.f(x, *self.mods)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 5)
        self.c2 = nn.Conv2d(6, 16, 5, padding=1)
        self.f1 = nn.Linear(16 * 6 * 6, 32)
        self.f2 = nn.Linear(32, 10, bias=False)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c2(x)), 2)
        x = x.view(x.size(0), -1)
        x = F.relu6(self.f1(x))
        return torch.softmax(self.f2(x), 1)


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.l1 = BasicBlock(8, 8, 1)
        self.l2 = BasicBlock(8, 16, 2)
        self.bn = nn.BatchNorm2d(16)  # after an Add: not folded into a conv
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.bn(self.l2(self.l1(self.stem(x))))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class Net1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 8, 5, padding=2)
        self.b1 = nn.BatchNorm1d(8)
        self.c2 = nn.Conv1d(8, 8, 3, stride=2, dilation=2, groups=4)
        self.fc = nn.Linear(8 * 3, 16)
        self.bn = nn.BatchNorm1d(16)
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        x = F.max_pool1d(F.elu(self.b1(self.c1(x))), 2)
        x = F.avg_pool1d(F.leaky_relu(self.c2(x), 0.2), 2, ceil_mode=True)
        x = torch.sigmoid(self.bn(self.fc(x.flatten(1))))
        return self.out(F.dropout(x, 0.3, self.training))


class Inception(nn.Module):
    """Branches joined by Concat, reflect/replicate padding, a depthwise conv."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Sequential(nn.ReflectionPad2d((1, 2, 0, 1)), nn.Conv2d(3, 4, (2, 4)))
        self.c = nn.Sequential(nn.ReplicationPad2d(1), nn.Conv2d(3, 3, 3, groups=3),
                               nn.Conv2d(3, 4, 1))
        self.fc = nn.Linear(12 * 4 * 4, 10)

    def forward(self, x):
        x = torch.cat([self.a(x), self.b(x), self.c(x)], 1)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = F.avg_pool2d(x, 2, 2, padding=1, count_include_pad=False)
        return self.fc(x.reshape(-1, 12 * 4 * 4)) * 0.5 + 1.0


NETS = [
    ("lenet", LeNet(), (3, 32, 32)),
    ("resnet_small", randomize_bn(SmallResNet()), (3, 16, 16)),
    ("net1d", randomize_bn(Net1d()), (2, 32)),
    ("inception", Inception(), (3, 12, 12)),
]


def op(name, f, *mods, shape=(3, 8, 8)):
    return (name, Lambda(f, *mods), shape)


OPS = [
    op("conv_bias", lambda x, c: c(x), nn.Conv2d(3, 4, 3)),
    op("conv_nobias", lambda x, c: c(x), nn.Conv2d(3, 4, 3, bias=False)),
    op("conv_stride_pad", lambda x, c: c(x), nn.Conv2d(3, 4, (3, 2), (2, 1), (1, 2))),
    op("conv_dilation", lambda x, c: c(x), nn.Conv2d(3, 4, 3, dilation=(2, 1), padding=2)),
    op("conv_group", lambda x, c: c(x), nn.Conv2d(4, 6, 3, groups=2), shape=(4, 7, 9)),
    op("conv_depthwise", lambda x, c: c(x), nn.Conv2d(3, 6, 3, groups=3, padding=1)),
    op("conv1d", lambda x, c: c(x), nn.Conv1d(3, 5, 3, 2, 1, 2), shape=(3, 20)),
    op("maxpool", lambda x: F.max_pool2d(x, 3, 2, 1)),
    op("maxpool_ceil", lambda x: F.max_pool2d(x, 2, ceil_mode=True), shape=(3, 7, 7)),
    op("maxpool1d", lambda x: F.max_pool1d(x, 3, 2), shape=(3, 11)),
    op("avgpool", lambda x: F.avg_pool2d(x, 2)),
    op("avgpool_pad", lambda x: F.avg_pool2d(x, 3, 2, 1)),
    op("avgpool_pad_exclude", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
    op("avgpool_ceil", lambda x: F.avg_pool2d(x, 2, ceil_mode=True), shape=(3, 7, 7)),
    op("avgpool1d", lambda x: F.avg_pool1d(x, 4, 2, 1), shape=(3, 13)),
    op("global_avgpool", lambda x: F.adaptive_avg_pool2d(x, 1)),
    op("global_maxpool", lambda x: F.adaptive_max_pool2d(x, 1)),
    op("batchnorm2d", lambda x, b: b(x), randomize_bn(nn.BatchNorm2d(3))),
    op("batchnorm1d", lambda x, b: b(x), randomize_bn(nn.BatchNorm1d(5)), shape=(5,)),
    op("linear", lambda x, l: l(x), nn.Linear(6, 4), shape=(6,)),
    op("linear_nobias", lambda x, l: l(x), nn.Linear(6, 4, bias=False), shape=(6,)),
    op("matmul_const", lambda x: x @ torch.linspace(-1, 1, 24).reshape(6, 4), shape=(6,)),
    op("add_residual", lambda x: x + torch.relu(x)),
    op("add_bias", lambda x: x + torch.linspace(-1, 1, 3).reshape(3, 1, 1)),
    op("sub_const", lambda x: x - 0.25),
    op("mul_const", lambda x: x * torch.linspace(0.5, 2, 8)),
    op("div_const", lambda x: x / 4.0),
    op("mul_act", lambda x: x * torch.sigmoid(x)),
    op("relu", lambda x: F.relu(x)),
    op("leaky_relu", lambda x: F.leaky_relu(x, 0.1)),
    op("sigmoid", lambda x: torch.sigmoid(x)),
    op("tanh", lambda x: torch.tanh(x)),
    op("elu", lambda x: F.elu(x, 0.7)),
    op("relu6", lambda x: F.relu6(x * 4)),
    op("hardtanh", lambda x: F.hardtanh(x, -0.5, 0.75)),
    op("clamp_min", lambda x: torch.clamp(x, min=-0.2)),
    op("softmax_last", lambda x: torch.softmax(x, -1)),
    op("softmax_flat", lambda x: torch.softmax(x, 1), shape=(10,)),
    op("log_free_softmax_1d", lambda x: torch.softmax(x, 2), shape=(3, 9)),
    op("flatten", lambda x: torch.flatten(x, 1)),
    op("view_batch", lambda x: x.view(x.size(0), -1)),
    op("reshape_4d", lambda x: x.reshape(x.shape[0], 6, 4, 8)),
    op("unsqueeze_squeeze", lambda x: x.unsqueeze(2).squeeze(2), shape=(4, 6)),
    op("concat", lambda x: torch.cat([x, torch.relu(x), x], 1)),
    op("concat_h", lambda x: torch.cat([x, torch.tanh(x)], 2)),
    op("pad_zero", lambda x: F.pad(x, (1, 2, 0, 3))),
    op("pad_reflect", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect")),
    op("pad_edge", lambda x: F.pad(x, (2, 0, 1, 1), mode="replicate")),
    op("pad1d", lambda x: F.pad(x, (2, 1), mode="reflect"), shape=(3, 10)),
    op("dropout", lambda x, d: d(x), nn.Dropout(0.5)),
    op("identity", lambda x, i: i(x) + 0, nn.Identity()),
]

BIG = ["resnet18", "mobilenet_v2", "squeezenet1_1"]


def run_cnnc(path, x):
    xin, yout = path + ".in.npy", path + ".out.npy"
    np.save(xin, x)
    r = subprocess.run([CNNC, "run", path, "--input", xin, "--output", yout],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return np.load(yout), None


def check(name, model, shape, opset, rtol, batch=3, dynamic=True):
    model.eval()
    path = os.path.join(WORK, "%s_op%d.onnx" % (name, opset))
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        ref = model(x).numpy()
    try:
        kw = {"dynamic_axes": {"x": {0: "N"}}} if dynamic else {}
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["x"], **kw)
    except Exception as e:  # the exporter itself refuses: not ours to test
        print("SKIP %-28s opset %2d: torch cannot export it (%s)" % (name, opset,
                                                                     str(e).split("\n")[0][:60]))
        return True
    got, err = run_cnnc(path, x.numpy())
    if got is None:
        print("FAIL %-28s opset %2d: cnnc failed: %s" % (name, opset, err))
        return False
    if got.shape != ref.shape:
        print("FAIL %-28s opset %2d: shape %s, expected %s" % (name, opset, got.shape, ref.shape))
        return False
    diff = float(np.abs(got - ref).max())
    bound = rtol * float(np.abs(ref).max())
    ok = diff <= bound and not np.isnan(got).any()
    print("%s %-28s opset %2d: max|diff| %.3g (bound %.3g)" % ("ok  " if ok else "FAIL", name,
                                                              opset, diff, bound))
    return ok


def check_external():
    """Weights in a file beside the model (data_location = EXTERNAL)."""
    import onnx
    model = NETS[1][1].eval()
    src = os.path.join(WORK, "resnet_small_op13.onnx")
    ext = os.path.join(WORK, "external")
    os.makedirs(ext, exist_ok=True)
    path = os.path.join(ext, "resnet_small_ext.onnx")
    onnx.save_model(onnx.load(src), path, save_as_external_data=True, location="weights.bin",
                    size_threshold=0)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x).numpy()
    got, err = run_cnnc(path, x.numpy())
    ok = got is not None and float(np.abs(got - ref).max()) <= 1e-4 * float(np.abs(ref).max())
    print("%s %-28s: %s" % ("ok  " if ok else "FAIL", "external_data", err or "agrees"))
    return ok


def main():
    ok = True
    if GROUP == "nets":
        for name, model, shape in NETS:
            for opset in (9, 11, 13, 17):
                ok &= check(name, model, shape, opset, 1e-4)
        ok &= check("lenet_static_batch", NETS[0][1], (3, 32, 32), 13, 1e-4, batch=2,
                    dynamic=False)
    elif GROUP == "ops":
        for name, model, shape in OPS:
            for opset in (9, 11, 13, 17):
                ok &= check(name, model, shape, opset, 1e-4)
    else:
        import torchvision
        for name in BIG:
            model = randomize_bn(getattr(torchvision.models, name)(weights=None))
            ok &= check(name, model, (3, 224, 224), 13, 1e-3, batch=2)
    if GROUP == "nets":
        ok &= check_external()
    print("all agree" if ok else "DISAGREEMENT")
    sys.exit(0 if ok else 1)


main()
