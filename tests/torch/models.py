"""models.py: the PyTorch oracle for examples/*.cnn.

Each example network written again by hand as a torch nn.Module, from what
the model means (the course table, the tutorials), never from cnnc's IR, so
that the two implementations can disagree. EXAMPLES maps an example's name
to (module factory, per-sample input shape, layer map); the layer map names,
for every cnnc layer that has parameters, the torch submodule that holds
them, so that `<layer>.<suffix>.npy` loads into `<module>.<suffix>`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc3 = nn.Linear(16 * 5 * 5, 120)
        self.fc4 = nn.Linear(120, 84)
        self.fc5 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc3(x))
        x = F.relu(self.fc4(x))
        return F.softmax(self.fc5(x), dim=1)


class CifarKeras(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn = nn.BatchNorm2d(64)
        self.fc1 = nn.Linear(64 * 8 * 8, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.bn(x), 1)
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class TutorialNet(nn.Module):
    """Verbatim from pytorch.org/tutorials/beginner/blitz/cifar10_tutorial."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (3x3, 3x3, optional projection)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNetSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 32, 1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class Signal1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 8, 7, padding='same')
        self.c2 = nn.Conv1d(8, 16, 5, stride=2)
        self.c3 = nn.Conv1d(16, 16, 3, dilation=2, padding=2, padding_mode='replicate')
        self.c4 = nn.Conv1d(16, 24, 4, stride=3)
        self.bn = nn.BatchNorm1d(24)
        self.fc = nn.Linear(24, 4)

    def forward(self, x):
        x = F.relu(self.c1(x))
        # 'same' at stride 2 (SAME_UPPER): out = ceil(100/2) = 50 needs
        # (50-1)*2 + 5 - 100 = 3 padded cells, 1 before and 2 after.
        x = F.relu(self.c2(F.pad(x, (1, 2))))
        x = F.max_pool1d(x, 2)
        x = F.relu(self.c3(x))
        x = F.relu(self.bn(self.c4(x)))
        x = F.adaptive_avg_pool1d(x, 1)
        return self.fc(torch.flatten(x, 1))


def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout))


class DepthwiseSeparable(nn.Module):
    """MobileNet v1's structure: conv_bn, then conv_dw blocks."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16, 3, stride=2)
        self.dw1 = conv_bn(16, 16, 3, groups=16)
        self.pw1 = conv_bn(16, 32, 1)
        self.dw2 = conv_bn(32, 32, 3, stride=2, groups=32)
        self.pw2 = conv_bn(32, 64, 1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu6(self.stem(x))
        x = F.relu(self.pw1(F.relu6(self.dw1(x))))
        x = F.relu(self.pw2(F.relu6(self.dw2(x))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(self.drop(x))


class InceptionMini(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, padding_mode='reflect')
        self.br1 = nn.Conv2d(16, 8, 1)
        self.br2a = nn.Conv2d(16, 8, 1)
        self.br2b = nn.Conv2d(8, 12, 3, padding=2, dilation=2)
        self.br3b = nn.Conv2d(16, 8, 1)
        self.br4a = nn.Conv2d(16, 4, 1)
        self.br4b = nn.Conv2d(4, 8, 5, padding='same')
        self.bn = nn.BatchNorm2d(18)
        self.fc1 = nn.Linear(18, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.leaky_relu(self.stem(x), 0.1)
        x = F.max_pool2d(x, 3, 2, 1)
        b1 = F.relu(self.br1(x))
        b2 = torch.tanh(self.br2b(F.elu(self.br2a(x), 1.0)))
        b3 = torch.sigmoid(self.br3b(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)))
        b4 = F.leaky_relu(self.br4b(self.br4a(x)), 0.2)
        x = torch.cat([b1, b2, b3, b4], 1)
        n, c, h, w = x.shape
        x = x.view(n, c // 2, 2, h, w).amax(2)  # maxout: channel pairs
        x = self.bn(x)
        x = torch.flatten(F.adaptive_max_pool2d(x, 1), 1)
        x = F.dropout(x, 0.5, self.training)
        return self.fc2(F.elu(self.fc1(x), 0.5))


class OddOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 6, (3, 5), stride=(2, 1))
        self.g1 = nn.Conv2d(6, 12, 3, padding=1, groups=3)
        self.g2 = nn.Conv2d(6, 12, 1, groups=2)
        self.g3 = nn.Conv2d(6, 12, 3, padding=1, padding_mode='reflect')
        self.fc1 = nn.Linear(12 * 3 * 5, 20, bias=False)
        self.fc2 = nn.Linear(20, 5)

    def forward(self, x):
        # F.pad lists the last axis first: (left, right, top, bottom).
        x = F.pad(x, (0, 1, 1, 2), mode='replicate')
        x = self.c1(F.pad(x, (2, 2, 1, 0)))
        x = torch.clamp(x, -0.5, 1.5)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = torch.sigmoid(self.g1(x)) + F.relu6(self.g2(x)) + self.g3(x)
        x = F.avg_pool2d(x, 2, 2, 1, count_include_pad=True)
        x = torch.tanh(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


class UNetSmall(nn.Module):
    """A two-level U-Net (Ronneberger et al. 2015, shrunk): skip concats,
    one transposed-conv and one bilinear up-sampling, class scores per pixel
    averaged over the image."""

    def __init__(self):
        super().__init__()
        self.e1 = nn.Conv2d(3, 16, 3, padding=1)
        self.e2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.e2_bn = nn.BatchNorm2d(32)
        self.mid = nn.Conv2d(32, 64, 3, padding=1)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.d2 = nn.Conv2d(64, 32, 3, padding=1)
        self.d1 = nn.Conv2d(48, 16, 3, padding=1)
        self.seg = nn.Conv2d(16, 10, 1)

    def forward(self, x):
        e1 = F.relu(self.e1(x))
        e2 = F.relu(self.e2_bn(self.e2(F.max_pool2d(e1, 2))))
        m = F.relu(self.mid(F.max_pool2d(e2, 2)))
        d2 = F.relu(self.d2(torch.cat([self.up2(m), e2], 1)))
        up1 = F.interpolate(d2, scale_factor=2, mode='bilinear', align_corners=False)
        d1 = F.relu(self.d1(torch.cat([up1, e1], 1)))
        return torch.flatten(F.adaptive_avg_pool2d(self.seg(d1), 1), 1)


def mobilenet_v3_small():
    """torchvision's MobileNetV3-Small itself: its own implementation of the
    paper's network, independent of cnnc and of examples/mobilenet_v3_small.cnn."""
    import torchvision
    return torchvision.models.mobilenet_v3_small(weights=None)


def _mobilenet_v3_small_map():
    """The example's layers in torchvision's modules: features.0 the stem,
    features.1 to 11 the blocks (block.0 the expansion where the width
    changes, then the depthwise conv, the SE block where there is one, the
    projection), features.12 the head's 1x1 conv; classifier.0 and .3 the
    dense layers."""
    names = {'stem': 'features.0.0', 'stem_bn': 'features.0.1', 'head': 'features.12.0',
             'head_bn': 'features.12.1', 'fc1': 'classifier.0', 'fc2': 'classifier.3'}
    for i in range(1, 12):
        parts = ['expand'] * (i != 1) + ['dw'] + ['se'] * (i not in (2, 3)) + ['proj']
        for j, part in enumerate(parts):
            ours, theirs = 'b%d_%s' % (i, part), 'features.%d.block.%d' % (i, j)
            if part == 'se':
                names.update({ours + '1': theirs + '.fc1', ours + '2': theirs + '.fc2'})
            else:
                names.update({ours: theirs + '.0', ours + '_bn': theirs + '.1'})
    return names


def _same(names):
    return {n: n for n in names}


EXAMPLES = {
    'lenet': (LeNet, (3, 32, 32), _same(['conv1', 'conv2', 'fc3', 'fc4', 'fc5'])),
    'cifar_keras': (CifarKeras, (3, 32, 32), _same(['conv1', 'conv2', 'bn', 'fc1', 'fc2'])),
    'pytorch_tutorial_net': (TutorialNet, (3, 32, 32),
                             _same(['conv1', 'conv2', 'fc1', 'fc2', 'fc3'])),
    'resnet_small': (ResNetSmall, (3, 32, 32), {
        'stem': 'conv1', 'stem_bn': 'bn1',
        'b1_conv1': 'layer1.conv1', 'b1_bn1': 'layer1.bn1',
        'b1_conv2': 'layer1.conv2', 'b1_bn2': 'layer1.bn2',
        'b2_conv1': 'layer2.conv1', 'b2_bn1': 'layer2.bn1',
        'b2_conv2': 'layer2.conv2', 'b2_bn2': 'layer2.bn2',
        'b2_proj': 'layer2.downsample.0', 'b2_proj_bn': 'layer2.downsample.1',
        'b3_conv1': 'layer3.conv1', 'b3_bn1': 'layer3.bn1',
        'b3_conv2': 'layer3.conv2', 'b3_bn2': 'layer3.bn2',
        'fc': 'fc'}),
    'signal1d': (Signal1d, (1, 100), _same(['c1', 'c2', 'c3', 'c4', 'bn', 'fc'])),
    'depthwise_separable': (DepthwiseSeparable, (3, 32, 32), {
        'stem': 'stem.0', 'stem_bn': 'stem.1', 'dw1': 'dw1.0', 'dw1_bn': 'dw1.1',
        'pw1': 'pw1.0', 'pw1_bn': 'pw1.1', 'dw2': 'dw2.0', 'dw2_bn': 'dw2.1',
        'pw2': 'pw2.0', 'pw2_bn': 'pw2.1', 'fc': 'fc'}),
    'inception_mini': (InceptionMini, (3, 24, 24), _same(
        ['stem', 'br1', 'br2a', 'br2b', 'br3b', 'br4a', 'br4b', 'bn', 'fc1', 'fc2'])),
    'odd_ops': (OddOps, (2, 13, 17), _same(['c1', 'g1', 'g2', 'g3', 'fc1', 'fc2'])),
    'unet_small': (UNetSmall, (3, 32, 32), _same(
        ['e1', 'e2', 'e2_bn', 'mid', 'up2', 'd2', 'd1', 'seg'])),
    'mobilenet_v3_small': (mobilenet_v3_small, (3, 224, 224), _mobilenet_v3_small_map()),
}
