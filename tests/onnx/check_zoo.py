#!/usr/bin/python3
"""The modern torchvision networks (issue 13's zoo) against PyTorch, through
cnnc run and through the generated program.

Each network is built with random weights and random BatchNorm statistics
(onnxtest.big; LayerNorm affine terms and ConvNeXt's layer scale too),
exported by torch.onnx.export in eval mode with a dynamic batch, and run on
a batch of 2 by `cnnc run` and by the program `cnnc --main --weights-blob`
writes (gcc -std=c99 -pedantic -Werror); both must agree with PyTorch
within contract section 6's tolerance: 1e-3 * max|ref| at 224x224, 1e-4
below. Each line gives both errors (relative to max|ref|) and the seconds
spent on each step.

usage: check_zoo.py CNNC WORKDIR CC GROUP [REGEX]
GROUP ci: one network of each family at one opset (each family's operators
as that opset exports them), at 64x64 where the network allows it, and
built at -O1: cc takes most of the time, and -O1 builds these programs in
a third of -O2's. ConvNeXt's and
VGG's are narrow ones of torchvision's own blocks (convnext_tiny's 4.5
GMACs and 110 MB of weights take minutes, vgg11_bn's 7.6 GMACs too). GROUP slow: every network of ZOO at every
opset of OPSETS, at 224x224, built at -O2. REGEX: only the networks it
matches. An opset for which cnnc writes the same C and weights as for an
earlier one (the usual case: the exports differ, the fused graphs do not)
runs that opset's program instead of building it again. A network's files
are deleted once it passes (the large ones' weights are 100 MB and more); a
failing one keeps them."""
import glob
import os
import re
import sys
import time
import warnings

import numpy as np
import torch

import onnxtest as T

warnings.filterwarnings("ignore")

# Family: its torchvision 0.14 networks (slow: every classification network
# of issue 13's families), and the network CI runs with the opset it is
# exported at and its input size (AlexNet's and VGG's classifiers read a
# 6x6 / 7x7 grid that their adaptive pools cannot export from a smaller
# plane; Inception v3 needs 75x75 at least).
ZOO = {
    "AlexNet": (["alexnet"], "alexnet", 11, 224),
    "VGG": (["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"],
            "vgg_narrow", 13, 224),  # BatchNorm after every conv, adaptive pool
    "GoogLeNet": (["googlenet"], "googlenet", 17, 64),  # inception branches, concat
    "Inception3": (["inception_v3"], "inception_v3", 13, 96),  # asymmetric 1x7 / 7x1 kernels
    "DenseNet": (["densenet121", "densenet161", "densenet169", "densenet201"],
                 "densenet121", 11, 64),  # concat of every earlier layer
    "ResNet": (["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
                "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"],
               "resnext50_32x4d", 17, 64),  # grouped 3x3 in bottlenecks
    "SqueezeNet": (["squeezenet1_0", "squeezenet1_1"], "squeezenet1_1", 13, 64),  # fire concat
    "MobileNetV2": (["mobilenet_v2"], "mobilenet_v2", 11, 64),  # Clip as relu6
    "MobileNetV3": (["mobilenet_v3_small", "mobilenet_v3_large"],
                    "mobilenet_v3_small", 17, 64),  # HardSwish itself, HardSigmoid in SE
    "EfficientNet": (["efficientnet_b%d" % i for i in range(8)] +
                     ["efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l"],
                     "efficientnet_b0", 13, 64),  # SiLU as Sigmoid * x, SE
    "ShuffleNetV2": (["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                      "shufflenet_v2_x2_0"], "shufflenet_v2_x1_0", 13, 64),  # Split's sizes an input
    "MnasNet": (["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"],
                "mnasnet0_5", 11, 64),  # ReduceMean's axes an attribute
    "RegNetX": (["regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf",
                 "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf"], "regnet_x_400mf", 13, 64),
    "RegNetY": (["regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf",
                 "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf"],
                "regnet_y_400mf", 11, 64),  # grouped convs, SE
    "ConvNeXt": (["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"],
                 "convnext_narrow", 17, 64),  # LayerNormalization, GELU
}
OPSETS = (11, 13, 17)


def convnext_narrow():
    """torchvision's ConvNeXt at a quarter of convnext_tiny's width and
    depths 1, 1, 2, 1: the same blocks (7x7 depthwise conv, LayerNorm2d,
    Linear, GELU, layer scale, stochastic depth) and downsampling layers."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    torch.manual_seed(0)
    return T.randomize_bn(ConvNeXt([CNBlockConfig(24, 48, 1), CNBlockConfig(48, 96, 1),
                                    CNBlockConfig(96, 192, 2), CNBlockConfig(192, None, 1)]))


def vgg_narrow():
    """torchvision's VGG with batchnorm at a sixteenth of vgg11_bn's conv
    widths, its last stage kept at 512 channels for the classifier, which is
    torchvision's own (512 x 7 x 7 -> 4096 -> 4096 -> 1000): vgg11_bn's
    7.6 GMACs take the interpreter minutes."""
    from torchvision.models.vgg import VGG, make_layers
    torch.manual_seed(0)
    return T.randomize_bn(VGG(make_layers([4, "M", 8, "M", 16, 16, "M", 32, 32, "M", 512, "M"],
                                          batch_norm=True)))


NARROW = {"convnext_narrow": convnext_narrow, "vgg_narrow": vgg_narrow}


def cases(group):
    """{network: [(opset, input size, cc optimisation)]} of the group."""
    if group == "ci":
        return {name: [(opset, size, "-O1")] for _, name, opset, size in ZOO.values()}
    return {name: [(opset, 224, "-O2") for opset in OPSETS]
            for names, _, _, _ in ZOO.values() for name in names}


def relative_error(got, ref):
    return float(np.max(np.abs(got.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def check(cnnc, work, cc, name, opset, size, opt, built):
    """Prints the case's line; returns whether it passed. built: the
    network's programs so far (onnxtest.build_program)."""
    label = "%-20s opset %d %dx%d %s" % (name, opset, size, size, opt)
    stem = os.path.join(work, "%s_op%d_%d" % (name, opset, size))
    rtol = 1e-3 if size >= 224 else 1e-4
    start = time.time()
    x = torch.randn(2, 3, size, size)
    model = NARROW[name]() if name in NARROW else T.big(name)
    ref = T.export(model, x, stem + ".onnx", opset)
    if isinstance(ref, str):  # the exporter itself refuses: not ours to test
        print("SKIP %s: torch cannot export it (%s)" % (label, ref))
        return True
    exported = time.time()
    got, err = T.run_cnnc(cnnc, stem + ".onnx", x.numpy())
    if got is None:
        return not T.report(label, ["cnnc run failed: " + err])
    interpreted = time.time()
    why = T.compare(got, ref, rtol)
    failures = ["cnnc run vs PyTorch: " + why] if why else []
    try:
        program = T.build_program(cnnc, cc, stem + ".onnx", stem, True, opt, built)
        built_at = time.time()
        out = T.run_program(stem, x.numpy(), program)
    except RuntimeError as e:
        return not T.report(label, failures + [str(e)])
    why = T.compare(out, ref, rtol)
    failures += ["program vs PyTorch: " + why] if why else []
    build = "%.0f" % (built_at - interpreted) if program == stem else "0, %s's program" % (
        os.path.basename(program))
    summary = "run %.2g, program %.2g (s: export %.0f, run %.0f, build %s, infer %.0f)" % (
        relative_error(got, ref), relative_error(out, ref), exported - start,
        interpreted - exported, build, time.time() - built_at)
    return not T.report("%s: %s" % (label, summary), failures)


def check_network(cnnc, work, cc, name, runs):
    """Every opset of one network; its files are deleted when all pass."""
    built, ok = {}, True
    for opset, size, opt in runs:
        ok &= check(cnnc, work, cc, name, opset, size, opt, built)
    if ok:
        for f in glob.glob(os.path.join(work, name + "_op*")):
            os.remove(f)
    return ok


def main():
    cnnc, work, cc, group = sys.argv[1:5]
    pick = re.compile(sys.argv[5] if len(sys.argv) > 5 else "")
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    ok = True
    for name, runs in cases(group).items():
        if pick.search(name):
            ok &= check_network(cnnc, work, cc, name, runs)
    print("all agree" if ok else "DISAGREEMENT")
    sys.exit(0 if ok else 1)


main()
