#!/usr/bin/python3
"""Exports one of torchvision's networks, with seeded random weights (no
download), to ONNX for cnnc: `export_torchvision.py resnet18 resnet18.onnx`.
Names: resnet18, mobilenet_v2, squeezenet1_1. Input 1x3x224x224, opset 13."""
import sys

import torch
import torchvision

NETS = {"resnet18": torchvision.models.resnet18,
        "mobilenet_v2": torchvision.models.mobilenet_v2,
        "squeezenet1_1": torchvision.models.squeezenet1_1}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in NETS:
        sys.exit("usage: export_torchvision.py {%s} OUT.onnx" % "|".join(NETS))
    torch.manual_seed(0)
    net = NETS[sys.argv[1]](weights=None).eval()
    torch.onnx.export(net, torch.randn(1, 3, 224, 224), sys.argv[2], opset_version=13,
                      input_names=["image"], output_names=["logits"])


if __name__ == "__main__":
    main()
