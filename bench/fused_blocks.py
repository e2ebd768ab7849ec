#!/usr/bin/python3
"""Float fused inverted-residual blocks on the host (--fuse-blocks): a
torchvision model's generated code built without and with the fusion (gcc
-O3 -march=native, bench/prof_main.c), both pinned to one core, against
ONNX Runtime one thread (bench/ort_bench.js), all in one run. Prints the
whole network's medians and ratios, then per fused block the three layers'
medians summed (unfused build) against the fused layer's median, with the
ORT profiler's nodes of the block (its node names start with the block's,
/features/features.N/; its residual add included) where --ort-layers.

usage: taskset -c 0 /usr/bin/python3 bench/fused_blocks.py [--cnnc build/cnnc]
       [--work /tmp/hf] [--model mobilenet_v2] [--iters 30] [--core 0] [--ort-layers]
"""
import argparse
import os
import re

import run_bench as rb


def build(args, onnx_path, work, extra):
    """The -O3 build of the generated code (with extra cnnc flags): exe,
    blob, and the names of the layers inside fused blocks."""
    os.makedirs(work, exist_ok=True)
    c, blob = os.path.join(work, 'm.c'), os.path.join(work, 'm.blob')
    rb.run([args.cnnc, onnx_path, '-o', c, '--name', 'm', '--weights-blob', blob] + extra)
    plan = rb.run([args.cnnc, onnx_path, '--dump-ir=plan', '-o', os.path.join(work, 'plan.c'),
                   '--name', 'p', '--weights-blob', os.path.join(work, 'plan.blob')] + extra)
    hidden = re.findall(r'^(\S+): \S+ inside a fused block', plan, re.M)
    exe = os.path.join(work, 'gen')
    rb.run(['gcc', '-O3', '-march=native', '-I', work, '-DMODEL_C="m.c"',
            os.path.join(rb.HERE, 'prof_main.c'), '-o', exe, '-lm'])
    return exe, blob, hidden


def layer_ms(per_layer):
    return {name: ms for _, name, ms, _ in per_layer}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--cnnc', default=os.path.join(rb.ROOT, 'build', 'cnnc'))
    ap.add_argument('--work', default='/tmp/cnnc-fused')
    ap.add_argument('--model', default='mobilenet_v2')
    ap.add_argument('--iters', type=int, default=30)
    ap.add_argument('--core', type=int, default=0)
    ap.add_argument('--ort-layers', action='store_true')
    args = ap.parse_args()
    rb.ensure_ort()
    work = os.path.join(args.work, args.model)
    os.makedirs(work, exist_ok=True)
    onnx_path, _, _, _ = rb.prepare_torchvision(args, args.model, work)
    plain = build(args, onnx_path, os.path.join(work, 'plain'), [])
    fused = build(args, onnx_path, os.path.join(work, 'fused'), ['--fuse-blocks'])
    t_plain, l_plain, _ = rb.time_generated(args, plain[0], plain[1], True)
    t_fused, l_fused, _ = rb.time_generated(args, fused[0], fused[1], True)
    t_ort = rb.time_ort(args, onnx_path)
    print('%s, %d iterations, core %d: median ms' % (args.model, args.iters, args.core))
    print('  unfused %.3f  fused %.3f  ORT one thread %.3f' % (t_plain, t_fused, t_ort))
    print('  fused/unfused %.3f  unfused/ORT %.3f  fused/ORT %.3f' % (
        t_fused / t_plain, t_plain / t_ort, t_fused / t_ort))
    ort = {}
    if args.ort_layers:
        ort = {node: ms for node, _, ms in rb.ort_layers(args, onnx_path, work)}
    lp, lf = layer_ms(l_plain), layer_ms(l_fused)
    hidden = fused[2]
    print('\n  per fused block: the three layers unfused (median ms, summed) and fused')
    print('  %-40s %9s %9s %7s %9s' % ('block (project layer)', 'unfused', 'fused', 'ratio',
                                       'ORT'))
    names = [name for _, name, _, _ in l_plain]
    for i, name in enumerate(names):
        if i < 2 or names[i - 2] not in hidden or names[i - 1] not in hidden:
            continue
        three = names[i - 2:i + 1]
        before = sum(lp[n] for n in three)
        after = lf.get(name, float('nan'))
        block = name.split('/conv/')[0] + '/'  # torchvision's naming: /features/features.N/
        o = sum(ms for node, ms in ort.items() if node.startswith(block)) if ort else None
        print('  %-40s %9.4f %9.4f %7.3f %9s' % (name[-40:], before, after, after / before,
                                                  '%.4f' % o if o else '-'))


if __name__ == '__main__':
    main()
