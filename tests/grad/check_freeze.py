"""check_freeze.py: `cnnc grad --freeze-until T` (and --train-bias-only)
against PyTorch autograd with requires_grad=False on the frozen parameters
(contract section 8).

    /usr/bin/python3 check_freeze.py CNNC_BINARY SOURCE_DIR WORKDIR

Oracle: the frozen layers of each case are written out by hand below (what
"every node T depends on" means for that model, independently of cnnc's
graph walk); torch computes the other parameters' gradients with those
layers' requires_grad=False. cnnc's folder must hold exactly loss.npy and
one file per parameter that is not frozen, each agreeing with torch's
gradient (contract section 6: rtol 1e-3). The cases:
- every examples/*.cnn with its torch twin (tests/torch/models.py), cut
  at one to four points each: a pool, a dense layer, a flatten (a view,
  which stands for its input), a batchnorm, the middle of a residual
  block (the skip branch beside the cut stays trainable), one inception
  branch of four, a U-Net encoder whose skips the decoder reads, a whole
  backbone under a new classifier;
- an ONNX export of a small conv -> batchnorm -> relu -> flatten -> gemm
  network cut between the conv and its batchnorm, and at the flatten's
  output (an ONNX view);
- --train-bias-only alone and with a cut (TinyTL).
"""
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'torch'))
import check_grad  # noqa: E402
from oracle import cnnc, report  # noqa: E402

BATCH = 3

class AllBut:
    """Every layer but the named ones (a backbone with a new classifier)."""

    def __init__(self, *trained):
        self.trained = set(trained)

    def __contains__(self, layer):
        return layer not in self.trained


# (example, cnnc options, the cnnc layers whose parameters are frozen)
RESNET_B2 = ['stem', 'stem_bn', 'b1_conv1', 'b1_bn1', 'b1_conv2', 'b1_bn2']
CASES = [
    ('lenet', ['--freeze-until', 'pool2'], ['conv1', 'conv2']),
    ('lenet', ['--freeze-until', 'flatten_1'], ['conv1', 'conv2']),
    ('lenet', ['--freeze-until', 'fc4'], ['conv1', 'conv2', 'fc3', 'fc4']),
    ('lenet', ['--freeze-until', 'conv1'], ['conv1']),
    ('cifar_keras', ['--freeze-until', 'bn'], ['conv1', 'conv2', 'bn']),
    ('resnet_small', ['--freeze-until', 'b2_conv2'], RESNET_B2 + ['b2_conv1', 'b2_bn1', 'b2_conv2']),
    ('resnet_small', ['--freeze-until', 'b1_out'], RESNET_B2),
    ('pytorch_tutorial_net', ['--freeze-until', 'pool'], ['conv1']),
    ('pytorch_tutorial_net', ['--freeze-until', 'fc1'], ['conv1', 'conv2', 'fc1']),
    ('signal1d', ['--freeze-until', 'p1'], ['c1', 'c2']),
    ('signal1d', ['--freeze-until', 'bn'], ['c1', 'c2', 'c3', 'c4', 'bn']),
    ('depthwise_separable', ['--freeze-until', 'pw1_bn'],
     ['stem', 'stem_bn', 'dw1', 'dw1_bn', 'pw1', 'pw1_bn']),
    # one branch of four: br1, br3b and br4a/br4b beside it still train
    ('inception_mini', ['--freeze-until', 'br2b'], ['stem', 'br2a', 'br2b']),
    ('inception_mini', ['--freeze-until', 'mix'],
     ['stem', 'br1', 'br2a', 'br2b', 'br3b', 'br4a', 'br4b']),
    ('odd_ops', ['--freeze-until', 'g2'], ['c1', 'g2']),
    ('odd_ops', ['--freeze-until', 'sum'], ['c1', 'g1', 'g2', 'g3']),
    # the encoder; the decoder reads e1 and e2_bn through its skips
    ('unet_small', ['--freeze-until', 'p2'], ['e1', 'e2', 'e2_bn']),
    ('unet_small', ['--freeze-until', 'up2'], ['e1', 'e2', 'e2_bn', 'mid', 'up2']),
    ('mobilenet_v3_small', ['--freeze-until', 'head_bn'], AllBut('fc1', 'fc2')),
]
# --train-bias-only: every weight frozen, and the biases of these layers.
BIAS_CASES = [
    ('lenet', ['--train-bias-only'], []),
    ('lenet', ['--train-bias-only', '--freeze-until', 'pool2'], ['conv1', 'conv2']),
    ('cifar_keras', ['--train-bias-only'], []),
]


def run_grad(binary, model, work, x, labels, options, wdir=None):
    """cnnc grad with options into a fresh folder; (folder, error)."""
    out = tempfile.mkdtemp(dir=work)
    np.save(os.path.join(work, 'x.npy'), x)
    np.save(os.path.join(work, 'y.npy'), labels)
    args = ['grad', model, '--input', os.path.join(work, 'x.npy'), '--labels',
            os.path.join(work, 'y.npy'), '--outdir', out] + options
    ok, msg = cnnc(binary, *(args + (['--weights', wdir] if wdir else [])), timeout=300)
    return (out, '') if ok else (None, 'cnnc grad failed: ' + msg)


def trained(named, frozen_layers, bias_only):
    """The cnnc names torch trains: requires_grad=False on the others."""
    keep = {}
    for name, p in named.items():
        layer, _, suffix = name.rpartition('.')
        on = layer not in frozen_layers and (not bias_only or suffix == 'bias')
        p.requires_grad_(on)
        if on:
            keep[name] = p
    return keep


def check_example_case(binary, src, work, name, options, frozen_layers):
    path = os.path.join(src, 'examples', name + '.cnn')
    work = tempfile.mkdtemp(dir=work)  # a weights folder of its own
    module, params, layer_map, wdir, x, labels = check_grad.example_setup(binary, path, work)
    named = check_grad.named_params(module, params, layer_map)
    keep = trained(named, frozen_layers, '--train-bias-only' in options)
    out, err = run_grad(binary, path, work, x, labels, options, wdir)
    if err:
        return [err]
    loss, grads = check_grad.torch_grads(module, keep, module, x, labels)
    return check_grad.compare_dir(out, loss, grads)


class ConvBnNet(nn.Module):
    """conv -> batchnorm -> relu -> flatten -> gemm: the ONNX cases."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


def onnx_cases(binary, work):
    import onnx
    torch.manual_seed(3)
    module = ConvBnNet()
    with torch.no_grad():
        module.bn.weight.uniform_(0.5, 1.5)
        module.bn.bias.normal_(0, 0.3)
        module.bn.running_mean.normal_(0, 0.1)
    path = os.path.join(work, 'convbn.onnx')
    torch.onnx.export(module.eval(), torch.zeros(1, 2, 6, 6), path, opset_version=13,
                      input_names=['x'], output_names=['logits'],
                      dynamic_axes={'x': {0: 'n'}, 'logits': {0: 'n'}},
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    outputs = {n.op_type: n.output[0] for n in onnx.load(path).graph.node}
    rng = np.random.default_rng(5)
    x = rng.standard_normal((BATCH, 2, 6, 6)).astype('<f4')
    labels = rng.integers(0, 5, BATCH).astype('<i8')
    named = dict(module.named_parameters())
    failures = []
    for cut, frozen in ((outputs['Conv'], ['conv']), (outputs['Flatten'], ['conv', 'bn'])):
        keep = trained(named, frozen, False)
        out, err = run_grad(binary, path, work, x, labels, ['--freeze-until', cut])
        if err:
            failures.append(err)
            continue
        loss, grads = check_grad.torch_grads(module, keep, module, x, labels)
        failures += ['cut %s: %s' % (cut, f) for f in check_grad.compare_dir(out, loss, grads)]
    return failures


def main(argv):
    binary, src, work = argv[1:4]
    os.makedirs(work, exist_ok=True)
    failed = 0
    cases = [(n, o, f) for n, o, f in CASES + BIAS_CASES]
    for name, options, frozen in cases:
        try:
            errors = check_example_case(binary, src, work, name, options, frozen)
        except RuntimeError as e:
            errors = [str(e)]
        failed += report('%s %s' % (name, ' '.join(options)), errors)
    failed += report('convbn.onnx', onnx_cases(binary, work))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
