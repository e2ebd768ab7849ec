/* resize.c: resizing by interpolation (ONNX Resize and Upsample; PyTorch's
 * nn.Upsample and F.interpolate), nearest and linear (bilinear in 2-D,
 * trilinear in 3-D), over the spatial axes of C x L, C x H x W or
 * C x D x H x W.
 *
 * Forward, per spatial axis (they are separable): output cell o maps to
 * the input coordinate x, in float as ONNX Runtime computes it, with s the
 * axis' scale, O and I its output and input lengths:
 *   half_pixel          x = (o + 0.5)/s - 0.5
 *   pytorch_half_pixel  x = O > 1 ? (o + 0.5)/s - 0.5 : 0
 *   align_corners       x = O > 1 ? o*(I - 1)/(O - 1) : 0
 *   asymmetric          x = o/s
 *   tf_half_pixel_for_nn x = (o + 0.5)/s
 * nearest reads cell round(x) (nearest_mode: halves to the floor or the
 * ceiling, or floor(x), ceil(x); opsets below 11: floor when up-sampling,
 * ceil when down), clamped into [0, I); linear clamps x into [0, I - 1]
 * and blends cells i0 = floor(x) and i1 = min(i0 + 1, I - 1) with weights
 * 1 - (x - i0) and x - i0. In several axes the blends nest, the last axis
 * innermost: y = w0y*(w0x*a + w1x*b) + w1y*(w0x*c + w1x*d), as PyTorch.
 *
 * Shape rule: each spatial axis becomes floor(I * s) cells (ONNX's
 * scales), or the given target (ONNX's sizes, with s = O/I); at least 1.
 * Backward: the transpose of each axis' blend, in the reverse order. */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const coord_names[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                          "asymmetric", "tf_half_pixel_for_nn"};
static const char *const nearest_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                            "ceil", "simple"};

const char *resize_coord_name(int coord)
{
    return coord_names[coord];
}

const char *resize_nearest_name(int mode)
{
    return nearest_names[mode];
}

/* ---- shape rule ---- */

static bool resize_infer(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    char buf[64];
    if (x->rank < 2 || x->rank > 4) {
        diag_error(n->loc, "resize '%s': needs a C x L, C x H x W or C x D x H x W input, got %s",
                   n->name, shape_str(x, buf, sizeof buf));
        return false;
    }
    const Attrs *a = &n->a;
    Shape out = *x;
    for (int i = 0; i < x->rank - 1; i++) {
        float s = a->scale[i];
        if (!(s > 0) || !isfinite(s)) {
            diag_error(n->loc, "resize '%s': scale %g of spatial axis %d must be positive",
                       n->name, (double)s, i);
            return false;
        }
        double o = a->target.rank ? (double)a->target.d[1 + i] : floor((double)x->d[1 + i] * s);
        if (o < 1 || o > (double)INT32_MAX) {
            diag_error(n->loc, "resize '%s': spatial axis %d of %lld cells scaled by %g gives %.0f "
                       "cells; 1 to 2^31 are supported", n->name, i, (long long)x->d[1 + i],
                       (double)s, o);
            return false;
        }
        out.d[1 + i] = (int64_t)o;
    }
    g->t[n->out].shape = out;
    return true;
}

/* Moves data, no multiply-accumulates (a linear blend is two per cell,
 * not counted, as the pools' sums are not). */
static int64_t resize_macs(const Graph *g, const Node *n)
{
    return 0;
}

/* ---- the taps of one axis ---- */

/* The input coordinate output cell o maps to (float, as ONNX Runtime). */
static float source_coord(int coord, float o, float s, int64_t in, int64_t out)
{
    switch (coord) {
    case COORD_PYTORCH_HALF_PIXEL:
        return out > 1 ? (o + 0.5f) / s - 0.5f : 0.0f;
    case COORD_ALIGN_CORNERS:
        return out > 1 ? o * (float)(in - 1) / (float)(out - 1) : 0.0f;
    case COORD_ASYMMETRIC:
        return o / s;
    case COORD_TF_HALF_PIXEL_FOR_NN:
        return (o + 0.5f) / s;
    default:
        return (o + 0.5f) / s - 0.5f;
    }
}

static int64_t nearest_cell(int mode, float x, bool down)
{
    switch (mode) {
    case NEAREST_ROUND_PREFER_CEIL:
        return (int64_t)roundf(x);
    case NEAREST_FLOOR:
        return (int64_t)floorf(x);
    case NEAREST_CEIL:
        return (int64_t)ceilf(x);
    case NEAREST_SIMPLE:
        return down ? (int64_t)ceilf(x) : (int64_t)x;
    default: /* round_prefer_floor */
        return x == floorf(x) + 0.5f ? (int64_t)floorf(x) : (int64_t)roundf(x);
    }
}

ResizeTap *resize_taps(const Node *n, int axis, int64_t in, int64_t out)
{
    const Attrs *a = &n->a;
    ResizeTap *t = xmalloc((size_t)out * sizeof *t);
    for (int64_t o = 0; o < out; o++) {
        float x = source_coord(a->coord_mode, (float)o, a->scale[axis], in, out);
        if (a->resize_mode == RESIZE_NEAREST) {
            int64_t i = nearest_cell(a->nearest_mode, x, a->scale[axis] < 1);
            i = i < 0 ? 0 : i >= in ? in - 1 : i;
            t[o] = (ResizeTap){i, i, 1.0f, 0.0f};
            continue;
        }
        x = x < 0 ? 0.0f : x > (float)(in - 1) ? (float)(in - 1) : x;
        int64_t i0 = (int64_t)x;
        float w1 = x - (float)i0;
        t[o] = (ResizeTap){i0, i0 + 1 < in ? i0 + 1 : in - 1, 1.0f - w1, w1};
    }
    return t;
}

bool resize_taps_identity(const ResizeTap *t, int64_t in, int64_t out)
{
    for (int64_t o = 0; in == out && o < out; o++)
        if (t[o].i0 != o || t[o].w0 != 1.0f || t[o].w1 != 0.0f)
            return false;
    return in == out;
}

ResizePass resize_pass(const Graph *g, const Node *n, int axis)
{
    const Shape *x = node_in_shape(g, n, 0), *y = node_out_shape(g, n);
    ResizePass p = {.outer = 1, .inner = 1, .in = x->d[1 + axis], .out = y->d[1 + axis]};
    for (int i = 0; i < 1 + axis; i++) /* the axes before it, at their input sizes */
        p.outer *= x->d[i];
    for (int i = 2 + axis; i < x->rank; i++) /* after it, already resized */
        p.inner *= y->d[i];
    p.taps = resize_taps(n, axis, p.in, p.out);
    p.nearest = n->a.resize_mode == RESIZE_NEAREST;
    return p;
}

int64_t resize_max_cells(const Graph *g, const Node *n)
{
    const Shape *x = node_in_shape(g, n, 0), *y = node_out_shape(g, n);
    int64_t cells = 1;
    for (int i = 0; i < x->rank; i++)
        cells *= x->d[i] > y->d[i] ? x->d[i] : y->d[i];
    return cells;
}

/* ---- interpreter ---- */

static void run_pass(const ResizePass *p, const float *x, float *y)
{
    for (int64_t o = 0; o < p->outer; o++)
        for (int64_t j = 0; j < p->out; j++) {
            const ResizeTap *t = &p->taps[j];
            const float *a = x + (o * p->in + t->i0) * p->inner;
            const float *b = x + (o * p->in + t->i1) * p->inner;
            float *d = y + (o * p->out + j) * p->inner;
            for (int64_t k = 0; k < p->inner; k++)
                d[k] = p->nearest ? a[k] : t->w0 * a[k] + t->w1 * b[k];
        }
}

static void resize_run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                       bool training)
{
    const Shape *xs = node_in_shape(g, n, 0);
    int64_t nx = shape_numel(xs), ny = shape_numel(node_out_shape(g, n));
    size_t most = (size_t)resize_max_cells(g, n) * sizeof(float);
    float *buf[2] = {xmalloc(most), xmalloc(most)};
    for (int b = 0; b < batch; b++) {
        const float *cur = in[0] + b * nx;
        int which = 0;
        for (int axis = xs->rank - 2; axis >= 0; axis--) {
            ResizePass p = resize_pass(g, n, axis);
            if (!resize_taps_identity(p.taps, p.in, p.out)) {
                run_pass(&p, cur, buf[which]);
                cur = buf[which];
                which ^= 1;
            }
            free(p.taps);
        }
        memcpy(out + b * ny, cur, (size_t)ny * sizeof(float));
    }
    free(buf[0]);
    free(buf[1]);
}

static void dump_resize(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    int ns = node_in_shape(g, n, 0)->rank - 1;
    fprintf(out, " mode=%s coord=%s", a->resize_mode == RESIZE_LINEAR ? "linear" : "nearest",
            coord_names[a->coord_mode]);
    if (a->resize_mode == RESIZE_NEAREST)
        fprintf(out, " nearest=%s", nearest_names[a->nearest_mode]);
    fprintf(out, " scale=");
    for (int i = 0; i < ns; i++)
        fprintf(out, "%s%g", i ? "x" : "", (double)a->scale[i]);
}

const OpInfo op_resize = {
    .name = "resize",
    .traits = OP_TRAITS(RESIZE),
    .infer = resize_infer,
    .macs = resize_macs,
    .run = resize_run,
    .grad = resize_grad,
    .grad_reads = grad_reads_none,
    .emit = resize_emit,
    .emit_grad = resize_emit_grad,
    .dump = dump_resize,
    .onnx_export = resize_onnx_export,
};
