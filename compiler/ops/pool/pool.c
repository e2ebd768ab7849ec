/* pool.c: max and average pooling (1-D and 2-D), and their global forms.
 *
 * Forward, per channel c, over the window of output (oy, ox) (rows
 * oy*SH - PT + ky*DH, columns likewise, as conv):
 *   maxpool: y = max over the window's cells inside the input (padding is
 *            -inf, never chosen);
 *   avgpool: y = sum over the cells inside the input / divisor, where the
 *            divisor counts the window's cells inside the padded input
 *            (count_include_pad, PyTorch's default) or inside the input
 *            only; a ceil-mode window running past the padded input never
 *            counts the cells beyond it (PyTorch).
 *   global_avgpool / global_maxpool: mean / max over all of H x W.
 *
 * Shape rule, per spatial axis: O = floor((I + P - Keff)/S) + 1, or with
 * ceil_mode ceil(...) + 1, less one if the last window would start beyond
 * the input and its left padding. C x H x W gives C x OH x OW, C x L gives
 * C x OL; global pools give C x 1 x 1 (C x 1 for 1-D). Errors, as PyTorch:
 * kernel, stride < 1, a padding not below the kernel (ONNX's rule; the DSL
 * holds its own layers to PyTorch's stricter half-kernel rule), O < 1. avgpool has
 * no dilation. Pools have no parameters and count no MACs (comparisons and
 * additions are not multiply-accumulates). */
#include "../ops.h"

#include <math.h>

/* ---- shape rules ---- */

static bool check_window_input(const Node *n, const Shape *x)
{
    char buf[64];
    if (x->rank == 2 || x->rank == 3)
        return true;
    diag_error(n->loc, "%s '%s': needs a C x H x W (2-D) or C x L (1-D) input, got %s",
               op_info(n->op)->name, n->name, shape_str(x, buf, sizeof buf));
    return false;
}

/* ONNX: pads smaller than the kernel, so that every window reads the input.
 * (PyTorch's opset-9 export pads MaxPool k=3 by 2 at the end to mimic
 * ceil_mode.) */
static bool check_pool_pad(const Node *n)
{
    const Attrs *a = &n->a;
    for (int i = 0; i < 4; i++)
        if (a->pad[i] >= a->kernel[i % 2]) {
            diag_error(n->loc, "%s '%s': padding %d is not smaller than the kernel size %d",
                       op_info(n->op)->name, n->name, a->pad[i], a->kernel[i % 2]);
            return false;
        }
    return true;
}

static bool pool_infer(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    if (!check_window_input(n, x))
        return false;
    bool one_d = x->rank == 2;
    if (one_d)
        window_make_1d(&n->a);
    if (n->op == OP_AVGPOOL && (n->a.dilation[0] != 1 || n->a.dilation[1] != 1)) {
        diag_error(n->loc, "avgpool '%s': average pooling has no dilation", n->name);
        return false;
    }
    int64_t c, h, w, oh, ow;
    shape_chw(x, &c, &h, &w);
    bool ok = window_axis(n, 0, one_d, h, &oh);
    ok &= window_axis(n, 1, one_d, w, &ow);
    n->a.same_pad = false;
    if (!ok || !check_pool_pad(n))
        return false;
    g->t[n->out].shape = one_d ? shape_make(2, (int64_t[]){c, ow}) : shape_make(3, (int64_t[]){c, oh, ow});
    return true;
}

static bool global_pool_infer(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    if (!check_window_input(n, x))
        return false;
    g->t[n->out].shape = x->rank == 2 ? shape_make(2, (int64_t[]){x->d[0], 1})
                                      : shape_make(3, (int64_t[]){x->d[0], 1, 1});
    return true;
}

static int64_t no_macs(const Graph *g, const Node *n)
{
    return 0;
}

/* ---- interpreter ---- */

int64_t pool_argmax(const ConvGeom *k, const float *x, int64_t oy, int64_t ox, bool nan_wins)
{
    int64_t at = -1;
    for (int ky = 0; ky < k->kh; ky++) {
        int64_t iy = oy * k->sh - k->pt + (int64_t)ky * k->dh;
        if (iy < 0 || iy >= k->h)
            continue;
        for (int kx = 0; kx < k->kw; kx++) {
            int64_t ix = ox * k->sw - k->pl + (int64_t)kx * k->dw;
            if (ix < 0 || ix >= k->w)
                continue;
            float v = x[iy * k->w + ix];
            if (at < 0 || v > x[at] || (nan_wins && isnan(v)))
                at = iy * k->w + ix;
        }
    }
    return at;
}

static float max_cell(const ConvGeom *k, const float *x, int64_t oy, int64_t ox)
{
    int64_t at = pool_argmax(k, x, oy, ox, true);
    return at >= 0 ? x[at] : -INFINITY;
}

AvgWindow avg_window(const ConvGeom *k, bool include_pad, int64_t oy, int64_t ox)
{
    int64_t y0 = oy * k->sh - k->pt, x0 = ox * k->sw - k->pl;
    int64_t y1 = y0 + k->kh, x1 = x0 + k->kw;
    if (y1 > k->h + k->pb)
        y1 = k->h + k->pb;
    if (x1 > k->w + k->pr)
        x1 = k->w + k->pr;
    int64_t padded = (y1 - y0) * (x1 - x0);
    AvgWindow a = {
        .y0 = y0 < 0 ? 0 : y0,
        .x0 = x0 < 0 ? 0 : x0,
        .y1 = y1 > k->h ? k->h : y1,
        .x1 = x1 > k->w ? k->w : x1,
    };
    a.divisor = include_pad ? padded : (a.y1 - a.y0) * (a.x1 - a.x0);
    return a;
}

static float avg_cell(const ConvGeom *k, bool include_pad, const float *x, int64_t oy, int64_t ox)
{
    AvgWindow a = avg_window(k, include_pad, oy, ox);
    double sum = 0;
    for (int64_t iy = a.y0; iy < a.y1; iy++)
        for (int64_t ix = a.x0; ix < a.x1; ix++)
            sum += x[iy * k->w + ix];
    return a.divisor > 0 ? (float)(sum / (double)a.divisor) : 0.0f;
}

static void pool_run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                     bool training)
{
    ConvGeom k = conv_geometry(g, n);
    int64_t planes = (int64_t)batch * k.c;
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in[0] + p * k.h * k.w;
        float *y = out + p * k.oh * k.ow;
        for (int64_t oy = 0; oy < k.oh; oy++)
            for (int64_t ox = 0; ox < k.ow; ox++)
                y[oy * k.ow + ox] = n->op == OP_MAXPOOL
                                        ? max_cell(&k, x, oy, ox)
                                        : avg_cell(&k, n->a.count_include_pad, x, oy, ox);
    }
}

static void global_pool_run(Graph *g, const Node *n, const float *const *in, float *out,
                            int batch, bool training)
{
    int64_t c, h, w;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    int64_t planes = (int64_t)batch * c, size = h * w;
    for (int64_t p = 0; p < planes; p++) {
        const float *x = in[0] + p * size;
        double sum = 0;
        float m = -INFINITY;
        for (int64_t i = 0; i < size; i++) {
            sum += x[i];
            m = x[i] > m || isnan(x[i]) ? x[i] : m;
        }
        out[p] = n->op == OP_GLOBAL_MAXPOOL ? m : (float)(sum / (double)size);
    }
}

static void dump_pool(const Graph *g, const Node *n, FILE *out)
{
    window_dump(n, out);
    fprintf(out, " ceil=%d include_pad=%d", n->a.ceil_mode, n->a.count_include_pad);
}

const OpInfo op_maxpool = {
    .name = "maxpool",
    .traits = OP_TRAITS(MAXPOOL),
    .infer = pool_infer,
    .macs = no_macs,
    .run = pool_run,
    .grad = maxpool_grad,
    .emit = pool_emit,
    .emit_grad = pool_emit_grad,
    .dump = dump_pool,
    .absorb_pad = maxpool_absorb_pad,
    .quant = &maxpool_int8,
    .onnx_export = pool_onnx_export,
    .grad_reads = maxpool_grad_reads,
};

const OpInfo op_avgpool = {
    .name = "avgpool",
    .traits = OP_TRAITS(AVGPOOL),
    .infer = pool_infer,
    .macs = no_macs,
    .run = pool_run,
    .grad = avgpool_grad,
    .emit = pool_emit,
    .emit_grad = pool_emit_grad,
    .dump = dump_pool,
    .absorb_pad = avgpool_absorb_pad,
    .quant = &avgpool_int8,
    .onnx_export = pool_onnx_export,
    .grad_reads = grad_reads_none,
};

const OpInfo op_global_avgpool = {
    .name = "global_avgpool",
    .traits = OP_TRAITS(GLOBAL_AVGPOOL),
    .infer = global_pool_infer,
    .macs = no_macs,
    .run = global_pool_run,
    .grad = global_avgpool_grad,
    .emit = global_pool_emit,
    .emit_grad = global_pool_emit_grad,
    .quant = &global_avgpool_int8,
    .onnx_export = global_pool_onnx_export,
    .grad_reads = grad_reads_none,
};

const OpInfo op_global_maxpool = {
    .name = "global_maxpool",
    .traits = OP_TRAITS(GLOBAL_MAXPOOL),
    .infer = global_pool_infer,
    .macs = no_macs,
    .run = global_pool_run,
    .grad = global_maxpool_grad,
    .emit = global_pool_emit,
    .emit_grad = global_pool_emit_grad,
    .quant = &global_maxpool_int8,
    .onnx_export = global_pool_onnx_export,
    .grad_reads = maxpool_grad_reads,
};
