#!/usr/bin/python3
"""run_bench.py: the generated code against ONNX Runtime, PyTorch and the
interpreter, in one run, on one core (taskset -c CORE), batch 1, the same
weights everywhere.

usage: /usr/bin/python3 bench/run_bench.py [--cnnc PATH] [--work DIR]
           [--iters N] [--core C] [--models a,b,...] [--no-layers]
           [--ort-layers] [--compile-time] [--int8]

Per model:
- the example networks (examples/*.cnn): `cnnc weights` dumps the weights,
  tests/torch/models.py's hand-written twin loads them (oracle.load_into)
  and is exported to ONNX (torch.onnx.export, opset 13);
- torchvision's resnet18 and mobilenet_v2 with random weights (seed 0),
  exported to ONNX; cnnc compiles that .onnx (weights in a blob).
The generated code is built twice: gcc -O3 -march=native (the fast path)
and gcc -O2 -std=c99 -DCNNC_NO_VECTOR_EXT (plain C99, no -march), linked
with bench/prof_main.c. Each timing is the median of --iters runs after
warm-up. ONNX Runtime is npm's onnxruntime-node (installed here on first
use), one intra-op and one inter-op thread, sequential; PyTorch is Debian's
torch with set_num_threads(1) under inference_mode. The interpreter
(`cnnc run`, one sample, process start and parsing included) is timed
loosely. --ort-layers adds ONNX Runtime's own per-node profile (its
profiler, a separate run: the median time of each node over --iters runs,
fused and layout-reordering nodes as ONNX Runtime names them) after the
generated code's per-layer table. GFLOP/s counts 2 * MACs (`cnnc info`'s macs line); percent of peak
is against bench/peak.c's widest vectors (16 floats where the machine has
AVX-512, else 8), measured at the start of the run; both figures are shown. --compile-time
also times gcc -O2 on resnet18's code with --split-weights. --int8 prints
issue 14's int8 table instead (bench/int8_host.py): int8 generated code
against ONNX Runtime on the QDQ model and against our float code on the
host, and Cortex-M4 instructions (QEMU) int8 against float, per example.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'torch'))

EXAMPLES = ['lenet', 'cifar_keras', 'pytorch_tutorial_net', 'resnet_small', 'signal1d',
            'depthwise_separable', 'inception_mini', 'odd_ops', 'unet_small']
TORCHVISION = ['resnet18', 'mobilenet_v2', 'mobilenet_v3_large', 'efficientnet_b0']
ORT_VERSION = '1.30.0'


def run(cmd, timeout=1800, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if r.returncode != 0:
        raise RuntimeError('%s failed (%d):\n%s%s' % (' '.join(cmd), r.returncode,
                                                        r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def median_ms(out):
    m = re.search(r'median_ms: ([0-9.]+)', out)
    return float(m.group(1)) if m else None


def ensure_ort():
    if not os.path.isdir(os.path.join(HERE, 'node_modules', 'onnxruntime-node')):
        run(['npm', 'install', '--prefix', HERE, 'onnxruntime-node@' + ORT_VERSION,
             '--ignore-scripts'], timeout=600)


def pinned(args, cmd):
    return ['taskset', '-c', str(args.core)] + cmd


def layer_macs(args, model, weights):
    """{layer name: MACs} and the total, from `cnnc info`."""
    out = run([args.cnnc, 'info', model] + (['--weights', weights] if weights else []))
    macs, total = {}, None
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[-1].isdigit():
            macs[f[0]] = int(f[-1])
        m = re.match(r'macs: (\d+)', line)
        if m:
            total = int(m.group(1))
    return macs, total


# ---- building the models ----

def prepare_example(args, name, work):
    """(cnnc source, weights dir, torch module, input shape)."""
    import torch
    import models
    import oracle
    src = os.path.join(ROOT, 'examples', name + '.cnn')
    wdir = os.path.join(work, 'weights')
    run([args.cnnc, 'weights', src, '--outdir', wdir])
    factory, shape, layer_map = models.EXAMPLES[name]
    torch.manual_seed(0)
    module = factory().eval()
    errors = oracle.load_into(module, oracle.read_params(wdir), layer_map)
    if errors:
        raise RuntimeError('\n'.join(errors))
    return src, wdir, module, shape


def prepare_torchvision(args, name, work):
    import torch
    import torchvision
    torch.manual_seed(0)
    module = getattr(torchvision.models, name)().eval()
    onnx_path = os.path.join(work, name + '.onnx')
    export(module, (3, 224, 224), onnx_path)
    return onnx_path, None, module, (3, 224, 224)


def export(module, shape, path):
    import torch
    if not os.path.exists(path):
        torch.onnx.export(module, torch.zeros((1,) + tuple(shape)), path, opset_version=13)


def build_generated(args, model, weights, work):
    """The two builds: {'o3': exe, 'plain': exe} and the blob (or None)."""
    c = os.path.join(work, 'm.c')
    blob = os.path.join(work, 'm.blob') if model.endswith('.onnx') else None
    cmd = [args.cnnc, model, '-o', c, '--name', 'm']
    cmd += ['--weights', weights] if weights else []
    cmd += ['--weights-blob', blob] if blob else []
    run(cmd)
    exes = {}
    for kind, flags in (('o3', ['-O3', '-march=native']),
                        ('plain', ['-O2', '-std=c99', '-DCNNC_NO_VECTOR_EXT'])):
        exe = os.path.join(work, 'gen_' + kind)
        run(['gcc'] + flags + ['-I', work, '-DMODEL_C="m.c"', os.path.join(HERE, 'prof_main.c'),
                               '-o', exe, '-lm'])
        exes[kind] = exe
    return exes, blob


# ---- timing ----

def time_generated(args, exe, blob, layers):
    out = run(pinned(args, [exe, str(args.iters), blob or '-', '1' if layers else '0']))
    per_layer = []
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == 'layer':
            per_layer.append((int(f[1]), f[2], float(f[3]), float(f[4])))
    m = re.search(r'min_ms: ([0-9.]+)', out)
    return median_ms(out), per_layer, float(m.group(1))


def time_ort(args, onnx_path):
    out = run(pinned(args, ['node', os.path.join(HERE, 'ort_bench.js'), onnx_path,
                            str(args.iters)]))
    return median_ms(out)


def ort_layers(args, onnx_path, work):
    """[(node, op type, median ms)] from ONNX Runtime's profiler, in run order."""
    import glob
    import json
    prefix = os.path.join(work, 'ort_profile')
    for old in glob.glob(prefix + '*.json'):
        os.remove(old)
    env = dict(os.environ, ORT_PROFILE=prefix)
    run(pinned(args, ['node', os.path.join(HERE, 'ort_bench.js'), onnx_path, str(args.iters)]),
        env=env)
    times, order = {}, []
    for event in json.load(open(glob.glob(prefix + '*.json')[0])):
        name = event.get('name', '')
        if event.get('cat') != 'Node' or not name.endswith('_kernel_time'):
            continue
        key = (name[:-len('_kernel_time')], event.get('args', {}).get('op_name', '?'))
        if key not in times:
            order.append(key)
        times.setdefault(key, []).append(event['dur'] / 1e3)
    return [(k[0], k[1], statistics.median(times[k])) for k in order]


def print_ort_layers(name, rows):
    print('\n  per node, %s (ONNX Runtime, one thread, its profiler)' % name)
    print('  %-48s %-16s %9s' % ('node', 'op', 'median ms'))
    for node, op, ms in rows:
        print('  %-48s %-16s %9.4f' % (node[-48:], op[:16], ms))
    print('  %-48s %-16s %9.4f' % ('(sum)', '', sum(ms for _, _, ms in rows)))


def time_torch(args, module, shape, work):
    import torch
    module.bench_shape = tuple(shape)
    path = os.path.join(work, 'model.pt')
    torch.save(module, path)
    env = dict(os.environ)
    blas = '/usr/lib/x86_64-linux-gnu/blas'
    if os.path.isdir(blas):  # Debian's OpenBLAS: pin it to the reference path
        env['LD_LIBRARY_PATH'] = blas + ':' + env.get('LD_LIBRARY_PATH', '')
    env['OMP_NUM_THREADS'] = '1'
    env['OPENBLAS_NUM_THREADS'] = '1'
    out = run(pinned(args, ['/usr/bin/python3', os.path.join(HERE, 'torch_bench.py'), path,
                            str(args.iters)]), env=env)
    return median_ms(out)


def time_interp(args, model, weights, shape, work):
    import numpy as np
    x = np.random.default_rng(0).uniform(-1, 1, (1,) + tuple(shape)).astype(np.float32)
    xin, yout = os.path.join(work, 'x.npy'), os.path.join(work, 'y.npy')
    np.save(xin, x)
    cmd = [args.cnnc, 'run', model, '--input', xin, '--output', yout]
    cmd += ['--weights', weights] if weights else []
    times = []
    for _ in range(3 if model.endswith('.cnn') else 1):
        t0 = time.perf_counter()
        run(pinned(args, cmd))
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# ---- the report ----

def fmt(v, spec='%.3f'):
    return spec % v if v is not None else 'n/a'


def ratio(a, b):
    return '%.2f' % (a / b) if a and b else 'n/a'


def print_layers(name, per_layer, macs, peak):
    print('\n  per layer, %s (generated, -O3 -march=native; GFLOP/s of the median, '
          '[of the fastest run])' % name)
    print('  %-48s %9s %9s %9s %8s %6s %8s' % ('layer', 'median ms', 'min ms', 'MFLOP', 'GFLOP/s',
                                              '%peak', '[GF/s]'))
    for _, lname, ms, fast in per_layer:
        flops = 2 * macs.get(lname, 0)
        if flops and ms > 0 and fast > 0:
            gf = flops / (ms * 1e6)
            print('  %-48s %9.4f %9.4f %9.1f %8.1f %5.0f%% %8.1f' % (
                lname[-48:], ms, fast, flops / 1e6, gf, 100 * gf / peak, flops / (fast * 1e6)))
        else:
            print('  %-48s %9.4f %9.4f' % (lname[-48:], ms, fast))


def bench_model(args, name, peak):
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    if name in TORCHVISION:
        model, weights, module, shape = prepare_torchvision(args, name, work)
        onnx_path = model
    else:
        model, weights, module, shape = prepare_example(args, name, work)
        onnx_path = os.path.join(work, name + '.onnx')
        try:
            export(module, shape, onnx_path)
        except Exception as e:  # noqa: BLE001 (an exporter gap is reported, not fatal)
            print('  %s: torch.onnx.export failed: %s' % (name, str(e).splitlines()[0]))
            onnx_path = None
    macs, total = layer_macs(args, model, weights)
    exes, blob = build_generated(args, model, weights, work)
    row = {'name': name}
    row['gen'], per_layer, row['gen_min'] = time_generated(args, exes['o3'], blob,
                                                           not args.no_layers)
    row['plain'], _, _ = time_generated(args, exes['plain'], blob, False)
    try:
        row['ort'] = time_ort(args, onnx_path) if onnx_path else None
    except RuntimeError as e:
        print('  %s: onnxruntime failed: %s' % (name, str(e).splitlines()[-1]))
        row['ort'] = None
    row['torch'] = time_torch(args, module, shape, work)
    row['interp'] = time_interp(args, model, weights, shape, work)
    row['gflops'] = 2 * total / (row['gen'] * 1e6) if total else None
    row['mflop'] = 2 * total / 1e6 if total else None
    if not args.no_layers:
        print_layers(name, per_layer, macs, peak)
    if args.ort_layers and row['ort']:
        print_ort_layers(name, ort_layers(args, onnx_path, work))
    return row


def compile_time(args):
    """Seconds for gcc -O2 -c on resnet18's code and its split weights."""
    work = os.path.join(args.work, 'resnet18_split')
    os.makedirs(work, exist_ok=True)
    onnx_path, _, _, _ = prepare_torchvision(args, 'resnet18', os.path.join(args.work, 'resnet18'))
    c = os.path.join(work, 'm.c')
    run([args.cnnc, onnx_path, '-o', c, '--name', 'm', '--split-weights'])
    out = {}
    for f in ('m.c', 'm_weights.c'):
        t0 = time.perf_counter()
        run(['gcc', '-O2', '-c', os.path.join(work, f), '-o', os.path.join(work, f + '.o')])
        out[f] = time.perf_counter() - t0
    return out


def measure_peak(args, exe):
    """{'v8': GFLOP/s, 'v16': GFLOP/s (AVX-512 only), 'peak': the widest's}."""
    out = run(pinned(args, [exe]))
    found = re.findall(r'peak(?:_(v8|v16))?_gflops: ([0-9.]+)', out)
    return {k or 'peak': float(v) for k, v in found}


def peak_text(p):
    return '%.1f GFLOP/s (8 floats %.1f, 16 floats %s)' % (
        p['peak'], p['v8'], '%.1f' % p['v16'] if 'v16' in p else 'n/a: no AVX-512')


def int8_table(args):
    """bench/int8_host.py's table, the examples by default, Cortex-M4 columns."""
    import int8_host
    if args.models == ','.join(EXAMPLES + TORCHVISION):
        args.models = ','.join(EXAMPLES + ['digits'])
    args.target = 'cortex-m4'
    int8_host.table(args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cnnc', default=os.path.join(ROOT, 'build', 'cnnc'))
    ap.add_argument('--work', default='/tmp/cnnc-bench')
    ap.add_argument('--iters', type=int, default=30)
    ap.add_argument('--core', type=int, default=0)
    ap.add_argument('--models', default=','.join(EXAMPLES + TORCHVISION))
    ap.add_argument('--no-layers', action='store_true')
    ap.add_argument('--ort-layers', action='store_true')
    ap.add_argument('--compile-time', action='store_true')
    ap.add_argument('--peak', type=float, help='GFLOP/s for %%peak instead of peak.c\'s '
                    'figure (on a shared machine peak.c reads low)')
    ap.add_argument('--int8', action='store_true')
    args = ap.parse_args()
    args.cnnc = os.path.abspath(args.cnnc)
    os.makedirs(args.work, exist_ok=True)
    if args.int8:
        int8_table(args)
        return
    ensure_ort()
    peak_exe = os.path.join(args.work, 'peak')
    run(['gcc', '-O3', '-march=native', os.path.join(HERE, 'peak.c'), '-o', peak_exe])
    measured = measure_peak(args, peak_exe)
    peak = args.peak or measured['peak']
    print('peak (bench/peak.c, FMA, one core): %s; %%peak uses %.1f' % (peak_text(measured),
                                                                         peak))
    rows = []
    for name in args.models.split(','):
        print('\n== %s' % name, flush=True)
        try:
            rows.append(bench_model(args, name, peak))
        except RuntimeError as e:
            print('  %s: FAILED: %s' % (name, e))
    again = measure_peak(args, peak_exe)
    print('\npeak measured again at the end: %s; %%peak uses %.1f' % (peak_text(again), peak))
    print('\nms per sample (median of %d, taskset -c %d, batch 1, one thread)' % (args.iters,
                                                                                 args.core))
    print('%-22s %9s %9s %9s %9s %9s %9s %7s %7s %8s %6s' % (
        'model', 'gen-O3', '(min)', 'gen-c99', 'ORT', 'PyTorch', 'interp', 'gen/ORT', 'gen/PT',
        'GFLOP/s', '%peak'))
    for r in rows:
        print('%-22s %9s %9s %9s %9s %9s %9s %7s %7s %8s %6s' % (
            r['name'], fmt(r['gen'], '%.4f'), fmt(r['gen_min'], '%.4f'), fmt(r['plain'], '%.4f'),
            fmt(r['ort'], '%.4f'),
            fmt(r['torch'], '%.4f'), fmt(r['interp'], '%.1f'), ratio(r['gen'], r['ort']),
            ratio(r['gen'], r['torch']), fmt(r['gflops'], '%.1f'),
            fmt(r['gflops'] and 100 * r['gflops'] / peak, '%.0f%%')))
    if args.compile_time:
        t = compile_time(args)
        print('\nresnet18 --split-weights, gcc -O2 -c: m.c %.1f s, m_weights.c %.1f s' %
              (t['m.c'], t['m_weights.c']))


if __name__ == '__main__':
    main()
