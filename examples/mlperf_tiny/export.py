#!/usr/bin/python3
"""export.py: the four MLPerf Tiny reference networks, rebuilt in PyTorch
from the published Keras architectures (github.com/mlcommons/tiny) with
seeded random weights, written as ONNX for cnnc.

    export.py OUTDIR [NAME ...]      (default: all four)

Gives OUTDIR/NAME.onnx, and OUTDIR/NAME.in.npy / NAME.out.npy: a seeded
input batch and PyTorch's output on it, the oracle for `cnnc run`. NAME:
- resnet8: image classification (CIFAR-10, 32x32x3 -> 10), the
  eembc ResNet-v1 of three stacks of 16/32/64 filters, 78 K parameters,
  12.5 M MACs (benchmark/training/image_classification/keras_model.py);
- ds_cnn: keyword spotting (49x10x1 MFCC -> 12), a 10x4 stride-2 conv and
  four depthwise-separable blocks of 64 filters
  (v0.1/training/keyword_spotting/keras_model.py, 'ds_cnn');
- mobilenet_v1_vww: visual wake words (96x96x3 -> 2), MobileNetV1 with
  width 0.25 (v0.1/benchmarks/visual_wake_words/vww_model.py);
- fc_autoencoder: anomaly detection (640 -> 640), dense layers
  128-128-128-128-8-128-128-128-128 with BatchNorm and ReLU
  (v0.1/benchmarks/anomaly_detection/keras_model.py).
Keras' padding='same' is ONNX's SAME_UPPER: the odd cell of padding at the
end, written here as an explicit zero pad where it is not symmetric. The
BatchNorm statistics are random too, so that folding them is tested. The
softmax of the classifiers is left out: the logits are compared."""
import os
import sys

import numpy as np
import torch
from torch import nn

OPSET = 13


def same_pad(size, kernel, stride):
    """Keras' 'same' padding of one dimension: (before, after)."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_bn(cin, cout, k, stride, size, groups=1, relu=True):
    """Conv2d (Keras 'same') + BatchNorm [+ ReLU] on a size[0] x size[1] input."""
    kh, kw = (k, k) if isinstance(k, int) else k
    (pt, pb), (pl, pr) = same_pad(size[0], kh, stride), same_pad(size[1], kw, stride)
    layers = []
    if pt == pb and pl == pr:
        conv = nn.Conv2d(cin, cout, (kh, kw), stride, (pt, pl), groups=groups)
    else:
        layers.append(nn.ZeroPad2d((pl, pr, pt, pb)))
        conv = nn.Conv2d(cin, cout, (kh, kw), stride, 0, groups=groups)
    layers += [conv, nn.BatchNorm2d(cout)] + ([nn.ReLU()] if relu else [])
    out = ((size[0] + stride - 1) // stride, (size[1] + stride - 1) // stride)
    return nn.Sequential(*layers), out


class ResidualStack(nn.Module):
    """y = relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)), the shortcut a
    strided 1x1 conv where the stack downsamples."""

    def __init__(self, cin, cout, stride, size):
        super().__init__()
        self.a, mid = conv_bn(cin, cout, 3, stride, size)
        self.b, self.size = conv_bn(cout, cout, 3, 1, mid, relu=False)
        self.short = nn.Conv2d(cin, cout, 1, stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b(self.a(x)) + self.short(x))


class ResNet8(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, size = conv_bn(3, 16, 3, 1, (32, 32))
        self.s1 = ResidualStack(16, 16, 1, size)
        self.s2 = ResidualStack(16, 32, 2, self.s1.size)
        self.s3 = ResidualStack(32, 64, 2, self.s2.size)
        self.pool = nn.AvgPool2d(self.s3.size)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.s3(self.s2(self.s1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def separable(c, stride, size, cout=None):
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU."""
    dw, size = conv_bn(c, c, 3, stride, size, groups=c)
    pw, size = conv_bn(c, cout or c, 1, 1, size)
    return nn.Sequential(dw, pw), size


class DSCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, size = conv_bn(1, 64, (10, 4), 2, (49, 10))
        blocks = []
        for _ in range(4):
            block, size = separable(64, 1, size)
            blocks.append(block)
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AvgPool2d(size)  # (25, 5): the whole plane
        self.fc = nn.Linear(64, 12)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class MobileNetV1VWW(nn.Module):
    # (output filters, stride) of the 13 separable blocks, width 0.25
    BLOCKS = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + \
             [(256, 2), (256, 1)]

    def __init__(self):
        super().__init__()
        self.stem, size = conv_bn(3, 8, 3, 2, (96, 96))
        blocks, c = [], 8
        for cout, stride in self.BLOCKS:
            block, size = separable(c, stride, size, cout)
            blocks.append(block)
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AvgPool2d(size)  # 3x3: the whole plane
        self.fc = nn.Linear(c, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class FCAutoencoder(nn.Module):
    WIDTHS = [128, 128, 128, 128, 8, 128, 128, 128, 128]

    def __init__(self, dim=640):
        super().__init__()
        layers, n = [], dim
        for w in self.WIDTHS:
            layers += [nn.Linear(n, w), nn.BatchNorm1d(w), nn.ReLU()]
            n = w
        layers.append(nn.Linear(n, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


NETS = {"resnet8": (ResNet8, (3, 32, 32)), "ds_cnn": (DSCNN, (1, 49, 10)),
        "mobilenet_v1_vww": (MobileNetV1VWW, (3, 96, 96)),
        "fc_autoencoder": (FCAutoencoder, (640,))}


def randomize_batchnorm(net, gen):
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.weight.data = 0.5 + torch.rand(n, generator=gen)
            m.bias.data = 0.2 * torch.randn(n, generator=gen)
            m.running_mean.data = 0.2 * torch.randn(n, generator=gen)
            m.running_var.data = 0.5 + torch.rand(n, generator=gen)


def export(name, outdir):
    cls, shape = NETS[name]
    torch.manual_seed(0)
    net = cls().eval()
    gen = torch.Generator().manual_seed(1)
    randomize_batchnorm(net, gen)
    x = torch.randn((2,) + shape, generator=gen)
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(net, x[:1], path, opset_version=OPSET, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "n"},
                                                             "output": {0: "n"}})
    with torch.no_grad():
        y = net(x)
    np.save(os.path.join(outdir, name + ".in.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(outdir, name + ".out.npy"), y.numpy().astype(np.float32))
    params = sum(p.numel() for p in net.parameters())
    print("%s: %d parameters -> %s" % (name, params, path))


def main():
    if len(sys.argv) < 2 or any(n not in NETS for n in sys.argv[2:]):
        sys.exit("usage: export.py OUTDIR [%s ...]" % "|".join(NETS))
    os.makedirs(sys.argv[1], exist_ok=True)
    for name in sys.argv[2:] or NETS:
        export(name, sys.argv[1])


if __name__ == "__main__":
    main()
