"""What the ONNX test scripts share: the PyTorch models they export, running
cnnc on them, and the oracles that read the ONNX graph itself.

- NETS, OPS, BIG: the example-like networks, the single-operator models and
  torchvision's names; export() writes one to ONNX.
- run_cnnc: `cnnc run`; compare, report (tests/torch/oracle.py): contract
  section 6 and the ok/FAIL lines.
- compare_shapes: every shape onnx's own shape inference gives against the
  shape cnnc infers (`cnnc info --dump-ir=shape`), matched by node name.
- param_count, mac_count: `cnnc info`'s totals counted from the ONNX graph
  (initializer sizes, conv/gemm MACs).
- check_graph: both checks on one model file.

onnx 1.12's shape inference does not see through constant subgraphs (the
Pad amounts PyTorch computes with ConstantOfShape, Concat, Slice, ...), so
fold_constants() first evaluates them with numpy, from the operators'
definitions, and puts the results in as initializers; the shapes of every
other tensor are still onnx's own (but for ceil_mode pools, whose rule
onnx fixed after 1.12: _ceil_as_floor). The batch is made concrete (the input's
first dimension) so that Shape nodes fold too; it is dropped before shapes
are compared, as cnnc's activation shapes are per sample."""
import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, mapping, numpy_helper, shape_inference

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torch"))
from models import BasicBlock  # noqa: E402
from oracle import compare, report  # noqa: E402,F401  (for the scripts)

# ---- the models ----


def randomize_bn(m):
    """Non-trivial BatchNorm statistics, so that eval mode is tested (and
    PReLU slopes of both signs, LayerNorm and GroupNorm affine terms away
    from 1 and 0, and ConvNeXt's layer scale near 1 instead of 1e-6, which
    would hide its blocks' branches under the residual sum)."""
    for mod in m.modules():
        if isinstance(mod, (nn.LayerNorm, nn.GroupNorm)) and mod.weight is not None:
            randomize_norm(mod)
        if isinstance(getattr(mod, "layer_scale", None), nn.Parameter):
            with torch.no_grad():
                mod.layer_scale.uniform_(0.5, 1.5)
        if isinstance(mod, nn.PReLU):
            with torch.no_grad():
                mod.weight.uniform_(-0.5, 0.8)
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
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


class MobileBlocks(nn.Module):
    """MobileNetV3's and EfficientNet's blocks in small: hardswish and SiLU
    (exported as HardSigmoid * x and Sigmoid * x below opset 14),
    squeeze-and-excitation (global pool, 1x1 convs, a C x 1 x 1 scale times
    the C x H x W activation), PReLU, a mean over H and W (ReduceMean) and a
    GELU head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.BatchNorm2d(16),
                                nn.SiLU())
        self.se1 = nn.Sequential(nn.Conv2d(16, 8, 1), nn.ReLU(), nn.Conv2d(8, 16, 1),
                                 nn.Hardsigmoid())
        self.pw = nn.Sequential(nn.Conv2d(16, 24, 1), nn.BatchNorm2d(24), nn.PReLU(24))
        self.se2 = nn.Sequential(nn.Conv2d(24, 6, 1), nn.SiLU(), nn.Conv2d(6, 24, 1))
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.dw(self.stem(x))
        x = x * self.se1(F.adaptive_avg_pool2d(x, 1))
        x = self.pw(x)
        x = torch.sigmoid(self.se2(F.adaptive_avg_pool2d(x, 1))) * x + x
        return F.gelu(self.fc(x.mean((2, 3))))


def nets():
    """(name, model, per-sample input shape), weights seeded."""
    torch.manual_seed(0)
    return [
        ("lenet", LeNet(), (3, 32, 32)),
        ("resnet_small", randomize_bn(SmallResNet()), (3, 16, 16)),
        ("net1d", randomize_bn(Net1d()), (2, 32)),
        ("inception", Inception(), (3, 12, 12)),
        ("mobile_blocks", randomize_bn(MobileBlocks()), (3, 16, 16)),
    ]


def op(name, f, *mods, shape=(3, 8, 8), min_opset=None):
    """min_opset: below it torch's export computes something else (bilinear
    at opset 9 is ONNX Upsample's asymmetric linear), so it is skipped."""
    model = Lambda(f, *mods)
    model.min_opset = min_opset
    return (name, model, shape)


def ops():
    torch.manual_seed(1)
    return [
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
        # ceil_mode windows that would start in the end padding are dropped
        # (onnx/onnx#5711: a 1x1 kernel with stride 2).
        op("maxpool_ceil_k1", lambda x: F.max_pool2d(x, 1, 2, ceil_mode=True), shape=(3, 7, 6)),
        op("maxpool_ceil_pad", lambda x: F.max_pool2d(x, 3, 3, 1, ceil_mode=True),
           shape=(3, 8, 10)),
        # Opset 9 has no ceil_mode: PyTorch pads the end by a stride more.
        op("maxpool1d_ceil_pad", lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True),
           shape=(3, 8)),
        op("avgpool", lambda x: F.avg_pool2d(x, 2)),
        op("avgpool_pad", lambda x: F.avg_pool2d(x, 3, 2, 1)),
        op("avgpool_pad_exclude", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
        op("avgpool_ceil", lambda x: F.avg_pool2d(x, 2, ceil_mode=True), shape=(3, 7, 7)),
        op("avgpool_ceil_pad_exclude",
           lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
           shape=(3, 6, 6)),
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
        op("hardsigmoid", lambda x: F.hardsigmoid(x * 4)),
        op("hardswish", lambda x: F.hardswish(x * 4)),
        op("silu", lambda x: F.silu(x * 3)),
        op("gelu", lambda x: F.gelu(x * 2)),
        op("gelu_tanh", lambda x: F.gelu(x * 2, approximate="tanh")),
        op("erf", lambda x: torch.erf(x)),
        op("softplus", lambda x: F.softplus(x * 4)),
        op("softplus_beta", lambda x: F.softplus(x * 4, beta=2)),
        op("mish", lambda x: F.mish(x * 3)),
        op("prelu", lambda x, p: p(x), nn.PReLU(3, 0.1)),
        op("prelu_shared", lambda x, p: p(x), nn.PReLU(1, -0.2)),
        op("prelu_flat", lambda x, p: p(x), nn.PReLU(6, 0.3), shape=(6,)),
        op("unary_math", lambda x: torch.sqrt(x * x + 1) - torch.exp(-x.abs()) + torch.log(
            x.pow(2) + 0.5) + 1.5 / (x * x + 1)),
        op("mul_se", lambda x: x * torch.sigmoid(F.adaptive_avg_pool2d(x, 1))),
        op("mul_se_first", lambda x: F.adaptive_avg_pool2d(x, 1) * x),
        op("sub_mean_rows", lambda x: x - x.mean(2, keepdim=True)),
        op("div_max_channels", lambda x: x / (1 + x.abs().amax(1, keepdim=True))),
        op("broadcast_both", lambda x: x.mean(3, keepdim=True) + x.amax(2, keepdim=True)),
        op("rsub_rdiv", lambda x: (1 - x) + 2 / (x * x + 1)),
        op("reduce_mean_hw", lambda x: x.mean((2, 3))),
        op("reduce_mean_c_keep", lambda x: x.mean(1, keepdim=True)),
        op("reduce_sum", lambda x: x.sum((1, 3))),
        op("reduce_sum_keep", lambda x: x.sum(-1, keepdim=True)),
        op("reduce_max", lambda x: x.amax(1)),
        op("reduce_l2", lambda x: x.norm(dim=2)),
        op("reduce_1d", lambda x: x.mean(2), shape=(3, 10)),
        op("dropout", lambda x, d: d(x), nn.Dropout(0.5)),
        op("identity", lambda x, i: i(x) + 0, nn.Identity()),
    ] + layout_ops() + norm_ops() + upsampling_and_volume_ops()


def upsampling_and_volume_ops():
    """Issue 13: transposed convolutions, resizes, 3-D layers."""
    vol = (2, 4, 5, 6)
    return [
        op("conv_transpose", lambda x, c: c(x), nn.ConvTranspose2d(3, 4, 3, 2, 1, 1)),
        op("conv_transpose_group_dil", lambda x, c: c(x),
           nn.ConvTranspose2d(4, 6, (3, 2), (1, 2), (1, 0), (0, 1), 2, dilation=(2, 1)),
           shape=(4, 5, 6)),
        op("conv_transpose_output_size", lambda x, c: c(x, output_size=[16, 16]),
           nn.ConvTranspose2d(3, 2, 3, 2, 1)),
        op("conv_transpose1d", lambda x, c: c(x), nn.ConvTranspose1d(3, 4, 4, 2, 1), shape=(3, 9)),
        op("conv_transpose3d", lambda x, c: c(x), nn.ConvTranspose3d(2, 3, 2, 2), shape=vol),
        op("upsample_nearest", lambda x: F.interpolate(x, scale_factor=2)),
        op("upsample_nearest_size", lambda x: F.interpolate(x, size=(12, 20))),
        op("upsample_bilinear", lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"),
           min_opset=11),
        op("upsample_bilinear_corners", lambda x: F.interpolate(
            x, scale_factor=(1.5, 2), mode="bilinear", align_corners=True), min_opset=11),
        op("upsample_linear1d", lambda x: F.interpolate(x, scale_factor=3, mode="linear"),
           shape=(3, 7), min_opset=11),
        op("upsample_trilinear", lambda x: F.interpolate(x, scale_factor=2, mode="trilinear"),
           shape=vol, min_opset=11),
        op("upsample_nearest3d", lambda x: F.interpolate(x, scale_factor=(1, 2, 3)), shape=vol),
        op("conv3d", lambda x, c: c(x), nn.Conv3d(2, 4, 3, (1, 2, 2), 1), shape=vol),
        op("maxpool3d", lambda x: F.max_pool3d(x, 2, ceil_mode=True), shape=vol),
        op("avgpool3d", lambda x: F.avg_pool3d(x, 3, 2, 1, count_include_pad=False), shape=vol),
        op("batchnorm3d", lambda x, b: b(x), randomize_bn(nn.BatchNorm3d(2)), shape=vol),
        op("global_avgpool3d", lambda x: F.adaptive_avg_pool3d(x, 1), shape=vol),
    ]


# The models whose constants hold the batch of 3 they are exported with.
STATIC_BATCH = ("concat_const", "gemm_matrix_bias", "gemm_column_bias")


# A ViT's class token, Expanded to the batch and concatenated in front.
CLS = torch.linspace(-1, 1, 8).reshape(1, 1, 8)


def channel_shuffle(x, groups):
    """ShuffleNetV2's: reshape, transpose, reshape."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's: over the channels of NCHW, through channels-last."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def cat_split(x, sizes):
    parts = torch.split(x, sizes, 1)
    return torch.cat([parts[-1], parts[0] * 2], 1)


def layout_ops():
    """Transpose, Split and Slice, Squeeze and Unsqueeze, Concat with a
    constant, Gemm's bias broadcasts, MatMul of any rank, Pad's value."""
    w85 = torch.linspace(-1, 1, 40).reshape(8, 5)
    return [
        op("transpose_nhwc", lambda x: torch.relu(x.permute(0, 2, 3, 1))),
        op("transpose_3d", lambda x: x.permute(0, 3, 1, 2) * 2, shape=(4, 5, 6)),
        op("transpose_1d", lambda x: x.transpose(1, 2), shape=(3, 10)),
        op("channel_shuffle", lambda x: channel_shuffle(x, 3), shape=(6, 4, 5)),
        op("chunk_split", lambda x: cat_split(x, 2), shape=(4, 5, 5)),
        op("split_sizes", lambda x: cat_split(x, [1, 3]), shape=(4, 5, 5)),
        op("split_unused", lambda x: torch.split(x, [2, 1], 1)[0] * 2),
        op("slice_steps", lambda x: x[:, 1:, 1:7:2, ::3]),
        # (reshaped: onnx 1.12 infers no shape for Slice-1's negative starts)
        op("slice_negative", lambda x: x[:, :, -5:-1].reshape(-1, 3, 4, 8)),
        op("narrow", lambda x: x.narrow(3, 2, 4)),
        op("unsqueeze_two", lambda x: x.unsqueeze(1).unsqueeze(-2) + 1),
        op("squeeze_axis", lambda x: x[:, :1].squeeze(1) + 1),
        # a static batch of 3 (STATIC_BATCH): the constants hold one copy per sample
        op("concat_const", lambda x: torch.cat([x, torch.full((3, 2, 8, 8), 0.5)], 1)),
        # Gather of an activation at constant indices (slices): x[:, 1], index_select
        op("gather_scalar", lambda x: x[:, 1] * 2),
        op("index_select", lambda x: torch.index_select(x, 2, torch.tensor([0, 3, 3, 7])) + 1),
        # DenseNet-201's widest join: 49 inputs (a concat took 32 at most)
        op("concat_49", lambda x: torch.cat([x * (k + 1) for k in range(49)], 1), shape=(2, 3, 3)),
        op("class_token", lambda x: torch.cat([CLS.expand(x.shape[0], -1, -1), x], 1) * 2,
           shape=(4, 8)),
        op("gemm_matrix_bias", lambda x: torch.addmm(torch.linspace(-1, 1, 4).repeat(3, 1), x,
                                                     torch.linspace(-1, 1, 24).reshape(6, 4)),
           shape=(6,)),
        op("gemm_column_bias", lambda x: torch.addmm(torch.full((3, 1), 0.5), x,
                                                     torch.linspace(-1, 1, 24).reshape(6, 4)),
           shape=(6,)),
        op("matmul_4d", lambda x: x @ x.transpose(-1, -2)),
        op("matmul_3d", lambda x: torch.relu(x @ x.transpose(1, 2)), shape=(5, 7)),
        op("matmul_const_right", lambda x: x @ w85),
        op("matmul_const_left", lambda x: w85.t() @ x),
        op("matmul_const_batched", lambda x: x @ torch.linspace(-1, 1, 120).reshape(3, 8, 5)),
        op("linear_4d", lambda x, l: l(x), nn.Linear(8, 5)),
        op("linear_channels_last",
           lambda x, a, b: b(torch.relu(a(x.permute(0, 2, 3, 1)))).permute(0, 3, 1, 2),
           nn.Linear(3, 12), nn.Linear(12, 3)),
        op("pad_value", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5)),
        op("pad_crop", lambda x: F.pad(x, (-1, 2, 0, -2))),
    ]


def norm_ops():
    """LayerNormalization (opset 17; torch's decomposed form before),
    InstanceNormalization, and GroupNorm as torch exports it."""
    return [
        op("layernorm", lambda x, n: n(x), randomize_norm(nn.LayerNorm(8))),
        op("layernorm_chw", lambda x, n: n(x), randomize_norm(nn.LayerNorm([3, 8, 8]))),
        op("layernorm_noaffine", lambda x, n: n(x), nn.LayerNorm(8, elementwise_affine=False)),
        op("layernorm2d", lambda x, n: n(x), randomize_norm(LayerNorm2d(3, eps=1e-6))),
        op("groupnorm", lambda x, n: n(x), randomize_norm(nn.GroupNorm(3, 6)), shape=(6, 4, 5)),
        op("groupnorm_1d", lambda x, n: n(x), randomize_norm(nn.GroupNorm(2, 4)),
           shape=(4, 9)),
        op("instancenorm", lambda x, n: n(x), randomize_norm(nn.InstanceNorm2d(3, affine=True))),
        op("instancenorm_plain", lambda x, n: n(x), nn.InstanceNorm1d(3), shape=(3, 10)),
    ]


def randomize_norm(m):
    """Affine terms away from 1 and 0, so that they are tested."""
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.5, 0.5)
    return m


BIG = ["resnet18", "mobilenet_v2", "squeezenet1_1"]
OPSETS = (9, 11, 13, 17)


def big(name):
    import torchvision
    torch.manual_seed(0)
    return randomize_bn(getattr(torchvision.models, name)(weights=None))


def export(model, x, path, opset, dynamic=True):
    """Writes model (in eval mode) to path; returns PyTorch's output on x,
    or the exporter's own error as a string (not ours to test)."""
    model.eval()
    with torch.no_grad():
        ref = model(x).numpy()
    try:
        kw = {"dynamic_axes": {"x": {0: "N"}}} if dynamic else {}
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["x"], **kw)
    except Exception as e:
        return str(e).split("\n")[0][:60]
    return ref


# ---- running cnnc and the programs it writes ----

STRICT = ["-O2", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror"]


def run(cmd, timeout=600):
    """Runs cmd; raises RuntimeError with the tail of its output if it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(cmd), r.returncode,
                                                (r.stdout + r.stderr).strip()[-1500:]))


def build_program(cnnc, cc, path, stem, blob=False, opt="-O2", built=None, flags=()):
    """`cnnc PATH -o STEM.c --main` (the weights in STEM.bin with blob), built
    by cc with the strict flags (at opt) into the program STEM; returns the
    program's path, raises RuntimeError. built: a dict from generated C
    (its file names taken out) and weights to the program built from them;
    a model for which cnnc writes the same C and weights again (another
    opset's export of the same network) gets that program, not a new build.
    flags: more cnnc options."""
    run([cnnc, path, "-o", stem + ".c", "--main"] + list(flags) +
        (["--weights-blob", stem + ".bin"] if blob else []))
    key = None
    if built is not None:
        key = hashlib.sha256(open(stem + ".c").read().replace(os.path.basename(stem), "")
                             .encode()).hexdigest()
        if blob:
            key += hashlib.sha256(open(stem + ".bin", "rb").read()).hexdigest()
        if key in built:
            return built[key]
    run([cc, opt] + STRICT[1:] + [stem + ".c", "-o", stem, "-lm"])
    if key:
        built[key] = stem
    return stem


def run_program(stem, x, program=None):
    """`PROGRAM infer` (the program STEM by default) on the batch x, through
    STEM_in.npy and STEM_out.npy: its output."""
    xin, out = stem + "_in.npy", stem + "_out.npy"
    np.save(xin, x)
    run([program or stem, "infer", xin, out])
    return np.load(out)


def run_cnnc(cnnc, path, x, timeout=600, flags=()):
    """`cnnc run` on x (with flags): (output, None) or (None, stderr)."""
    xin, yout = path + ".in.npy", path + ".out.npy"
    np.save(xin, x)
    r = subprocess.run([cnnc, "run", path, "--input", xin, "--output", yout, *flags],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return np.load(yout), None


DUMP_LINE = re.compile(r"^(.+?) = \w+\(.*-> (\S+)$")


def cnnc_info(cnnc, path):
    """`cnnc info --dump-ir=shape`: ({node name: per-sample shape}, output
    tensor name, {"parameters": N, "macs": N}); raises on failure."""
    r = subprocess.run([cnnc, "info", path, "--dump-ir=shape"], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("cnnc info failed: " + r.stderr.strip()[:300])
    shapes, output, totals = {}, None, {}
    for line in r.stdout.splitlines():
        m = DUMP_LINE.match(line)
        if m and output is None:
            dims = m.group(2)
            shapes[m.group(1)] = () if dims == "scalar" else tuple(int(d) for d in
                                                                    dims.split("x"))
        elif line.startswith("output ") and output is None:
            output = line[len("output "):]
        m = re.match(r"^(parameters|macs): (\d+)$", line)
        if m:
            totals[m.group(1)] = int(m.group(2))
    if output is None or len(totals) != 2:
        raise RuntimeError("cnnc info printed no IR dump or no totals:\n" + r.stdout[:500])
    return shapes, output, totals


# ---- oracles from the ONNX graph ----


def _attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _slice(node, x, args):
    if args:  # opset 10 on: starts, ends, axes, steps as inputs
        starts, ends = args[0], args[1]
        axes = args[2] if len(args) > 2 and args[2] is not None else range(len(starts))
        steps = args[3] if len(args) > 3 and args[3] is not None else [1] * len(starts)
    else:
        starts, ends = _attr(node, "starts"), _attr(node, "ends")
        axes = _attr(node, "axes", range(len(starts)))
        steps = [1] * len(starts)
    index = [slice(None)] * x.ndim
    for s, e, a, k in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(k))
    return x[tuple(index)]


def _unsqueeze(node, x, args):
    axes = [int(a) for a in (args[0] if args else _attr(node, "axes"))]
    rank = x.ndim + len(axes)
    for a in sorted(a % rank for a in axes):
        x = np.expand_dims(x, a)
    return x


def _squeeze(node, x, args):
    axes = args[0] if args else _attr(node, "axes")
    return np.squeeze(x, tuple(int(a) for a in axes) if axes is not None else None)


def _reshape(node, x, args):
    shape = [int(d) for d in args[0]]
    if not _attr(node, "allowzero", 0):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _constant(node, ins):
    for name in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        v = _attr(node, name)
        if v is not None:
            if name == "value":
                return numpy_helper.to_array(v)
            return np.array(v, np.float32 if "float" in name else np.int64)
    raise ValueError("Constant without a value")


def _constant_of_shape(node, ins):
    v = _attr(node, "value")
    v = numpy_helper.to_array(v) if v is not None else np.zeros(1, np.float32)
    return np.full([int(d) for d in ins[0]], v.reshape(-1)[0], v.dtype)


# Operators on constants, as ONNX defines them (numpy, not cnnc's folding).
FOLD = {
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Identity": lambda n, i: i[0],
    "Cast": lambda n, i: i[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[_attr(n, "to")]),
    "Concat": lambda n, i: np.concatenate(i, _attr(n, "axis")),
    "Gather": lambda n, i: np.take(i[0], i[1], _attr(n, "axis", 0)),
    "Transpose": lambda n, i: np.transpose(i[0], _attr(n, "perm")),
    "Slice": lambda n, i: _slice(n, i[0], i[1:]),
    "Unsqueeze": lambda n, i: _unsqueeze(n, i[0], i[1:]),
    "Squeeze": lambda n, i: _squeeze(n, i[0], i[1:]),
    "Reshape": lambda n, i: _reshape(n, i[0], i[1:]),
    "Add": lambda n, i: i[0] + i[1],
    "Sub": lambda n, i: i[0] - i[1],
    "Mul": lambda n, i: i[0] * i[1],
    "Equal": lambda n, i: np.equal(i[0], i[1]),
    "Where": lambda n, i: np.where(i[0], i[1], i[2]),
    "Expand": lambda n, i: i[0] * np.ones([int(d) for d in i[1]], i[0].dtype),
}


def _dims(vi):
    """A value_info's dims: ints, or None for each unknown one; None if
    the rank itself is unknown."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def infer(model):
    """onnx's shape inference (strict): {tensor name: dims}."""
    inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    g = inferred.graph
    out = {vi.name: _dims(vi) for vi in list(g.value_info) + list(g.output) + list(g.input)}
    for init in g.initializer:
        out[init.name] = list(init.dims)
    return out


def fold_constants(model, batch):
    """A copy of model with the input's batch `batch` (unless the model
    fixes it) and every node whose
    inputs are constants (or, for Shape, of known shape) replaced by an
    initializer, until none is left."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    del g.value_info[:]  # the exporter's own annotations: only inference counts
    for out in g.output:
        out.type.tensor_type.ClearField("shape")
    batch_dim = g.input[0].type.tensor_type.shape.dim[0]
    if not batch_dim.HasField("dim_value"):
        batch_dim.dim_value = batch
    values = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    while True:
        shapes = infer(m)
        keep, folded = [], False
        for node in g.node:
            if node.op_type == "Shape" and None not in (shapes.get(node.input[0]) or [None]):
                values[node.output[0]] = np.array(shapes[node.input[0]], np.int64)[
                    _attr(node, "start", 0):_attr(node, "end", None)]
            elif node.op_type in FOLD and all(not i or i in values for i in node.input):
                ins = [values[i] if i else None for i in node.input]
                values[node.output[0]] = np.asarray(FOLD[node.op_type](node, ins))
            else:
                keep.append(node)
                continue
            folded = True
            g.initializer.append(numpy_helper.from_array(values[node.output[0]],
                                                         node.output[0]))
        if not folded and not _ceil_as_floor(g, shapes):
            return m, shapes
        del g.node[:]
        g.node.extend(keep)


def _ceil_as_floor(g, shapes):
    """onnx 1.12 keeps a ceil_mode pool's last window when it starts in the
    end padding; PyTorch, cnnc and ONNX itself since 1.16 drop it
    (onnx/onnx#5741: "sliding windows that would start in the right padded
    region are ignored"). So each ceil_mode pool becomes the same pool in
    floor mode, its end padding grown by stride - 1 (ceil(r/s) is
    floor((r + s - 1)/s)), less a stride where that rule drops the window
    onnx 1.12 infers. Returns whether any node changed."""
    changed = False
    for node in g.node:
        if node.op_type not in ("MaxPool", "AveragePool") or not _attr(node, "ceil_mode", 0):
            continue
        x, y = shapes.get(node.input[0]), shapes.get(node.output[0])
        if _attr(node, "auto_pad", b"NOTSET") != b"NOTSET" or not x or not y or None in x + y:
            continue
        ns = len(x) - 2
        strides, pads = _attr(node, "strides", [1] * ns), list(_attr(node, "pads", [0] * 2 * ns))
        for i in range(ns):
            drop = (y[2 + i] - 1) * strides[i] >= x[2 + i] + pads[i]
            pads[ns + i] += strides[i] - 1 - (strides[i] if drop else 0)
        for a in list(node.attribute):
            if a.name in ("ceil_mode", "pads"):
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute("pads", pads))
        changed = True
    return changed


# The operators whose output cnnc must always have under the node's name.
MUST_COMPARE = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Gemm",
                "MatMul", "ConvTranspose", "Resize", "Upsample"}


def compare_shapes(model, folded, shapes, ir, output):
    """Checks cnnc's per-sample shapes (ir: node name -> shape, from
    cnnc_info) against onnx's inferred shapes, with the batch dropped.
    Returns (errors, compared, left): `left` names the nodes that have no
    IR node under their name (aliases such as Dropout and Identity, an Add
    made a dense layer's bias) or whose shape onnx leaves unknown."""
    labels = [n.name or n.output[0] for n in model.graph.node]
    errors, compared, left = [], 0, []
    for node in folded.graph.node:
        label = node.name or node.output[0]
        dims = shapes.get(node.output[0])
        if label in ir and labels.count(label) == 1 and dims and None not in dims[1:]:
            compared += 1
            if tuple(dims[1:]) != ir[label]:
                errors.append("%s (%s): onnx infers %s, cnnc %s" % (
                    label, node.op_type, dims[1:], list(ir[label])))
        elif node.op_type in MUST_COMPARE:
            errors.append("%s (%s): not compared (cnnc node %s, onnx shape %s)" % (
                label, node.op_type, "found" if label in ir else "missing", dims))
        else:
            left.append(label)
    dims = shapes.get(model.graph.output[0].name)
    if not dims or None in dims[1:] or output not in ir:
        errors.append("graph output %s: not compared (onnx shape %s)" % (output, dims))
    elif tuple(dims[1:]) != ir[output]:
        errors.append("graph output %s: onnx infers %s, cnnc %s" % (output, dims[1:],
                                                                   list(ir[output])))
    else:
        compared += 1
    return errors, compared, left


# Inputs that are not parameters: BatchNorm's running statistics (buffers),
# and shapes, pads, axes, clip bounds.
NOT_PARAMS = {"BatchNormalization": (3, 4), "Pad": (1, 2), "Clip": (1, 2), "Reshape": (1,),
              "Slice": (1, 2, 3, 4), "Squeeze": (1,), "Unsqueeze": (1,),
              "Resize": (1, 2, 3), "Upsample": (1,)}


def param_count(model):
    """The sizes of the float32 initializers that some node takes as a
    parameter (BatchNorm gamma and beta, not its running statistics)."""
    uses = {}
    for node in model.graph.node:
        for k, name in enumerate(node.input):
            uses.setdefault(name, []).append(k not in NOT_PARAMS.get(node.op_type, ()))
    return sum(int(np.prod(i.dims)) for i in model.graph.initializer
               if i.data_type == onnx.TensorProto.FLOAT and any(uses.get(i.name, [])))


def mac_count(folded, shapes):
    """Multiply-accumulates of one sample in Conv, Gemm and MatMul: per
    output element, the weight's size divided by the output channels."""
    macs = 0
    for node in folded.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        w = shapes[node.input[1]]
        out = shapes[node.output[0]][1:]
        if node.op_type == "Conv":  # out [C_out, spatial], w [C_out, C_in/groups, kernel]
            macs += int(np.prod(out)) * int(np.prod(w[1:]))
        elif node.op_type == "ConvTranspose":  # each input cell through [C_out/groups, kernel]
            macs += int(np.prod(shapes[node.input[0]][1:])) * int(np.prod(w[1:]))
        elif node.op_type == "MatMul":  # every output element: a dot product of A's rows
            macs += int(np.prod(out)) * shapes[node.input[0]][-1]
        else:
            macs += int(np.prod(w))
    return macs


def check_graph(cnnc, path, batch):
    """Shapes and `cnnc info` totals of the model at path against its ONNX
    graph: (failures, a summary of what was compared)."""
    model = onnx.load(path)
    try:
        folded, shapes = fold_constants(model, batch)
        ir, output, totals = cnnc_info(cnnc, path)
    except Exception as e:  # onnx's inference refused, or cnnc info failed
        return ["%s: %s" % (type(e).__name__, str(e).strip()[:300])], ""
    failures, compared, left = compare_shapes(model, folded, shapes, ir, output)
    for what, n in (("parameters", param_count(model)), ("macs", mac_count(folded, shapes))):
        if totals[what] != n:
            failures.append("cnnc info: %s: %d, the ONNX graph has %d" % (what, totals[what], n))
    summary = "%d shapes, parameters %d, macs %d agree" % (compared, totals["parameters"],
                                                            totals["macs"])
    if left:
        summary += "; not in cnnc's IR: %s" % ", ".join(left)
    return failures, summary
