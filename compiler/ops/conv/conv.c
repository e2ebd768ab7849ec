/* conv.c: convolution (1-D and 2-D, grouped, dilated, padded), and the
 * sliding-window geometry it shares with the pools.
 *
 * Forward (cross-correlation, as PyTorch and ONNX; G groups, Cg = C/G
 * input channels and Fg = F/G filters per group, g = f / Fg):
 *   y[f,oy,ox] = act(b[f] + sum_{c<Cg, ky<KH, kx<KW}
 *                W[f,c,ky,kx] * xpad[g*Cg + c, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW])
 * where xpad reads outside the input as zeros, a reflection or the nearest
 * edge cell (padding_mode).
 *
 * Shape rule, per spatial axis (Keff = D*(K-1) + 1, P = begin + end pad):
 *   O = floor((I + P - Keff) / S) + 1, an error if O < 1.
 * Input C x H x W gives F x OH x OW; C x L gives F x OL. Weight is
 * [F, C/G, KH, KW] (1-D: [F, C/G, K]), bias [F]. groups = -1 means depthwise
 * (G = C). 'same' padding is ONNX's SAME_UPPER: total = max((ceil(I/S)-1)*S
 * + Keff - I, 0), begin = total/2, the extra cell at the end.
 *
 * A fused residual (passes/fuse_residual.c; the front ends never make one):
 * a second input x1 of exactly the output's shape, added before the
 * epilogue, y = act(conv(x0) + b + x1). */
#include "../ops.h"

#include <limits.h>

static int64_t floor_div(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return -floor_div(-a, b);
}

static const char *axis_noun(int axis, bool one_d)
{
    return one_d ? "length" : axis ? "width" : "height";
}

static const char *axis_cells(int axis, bool one_d, int64_t count)
{
    if (one_d)
        return count == 1 ? "position" : "positions";
    if (axis)
        return count == 1 ? "column" : "columns";
    return count == 1 ? "row" : "rows";
}

void window_make_1d(Attrs *a)
{
    a->kernel[0] = a->stride[0] = a->dilation[0] = 1;
    a->pad[0] = a->pad[2] = 0;
}

static bool resolve_same(Node *n, int axis, int64_t in, int64_t keff)
{
    int s = n->a.stride[axis];
    int64_t total = (ceil_div(in, s) - 1) * s + keff - in;
    if (total < 0)
        total = 0;
    if (total > INT_MAX) {
        diag_error(n->loc, "%s '%s': 'same' padding of %lld is too large", op_info(n->op)->name,
                   n->name, (long long)total);
        return false;
    }
    n->a.pad[axis] = (int)(total / 2);
    n->a.pad[axis + 2] = (int)(total - total / 2);
    return true;
}

/* The course calls a stride that does not tile the input invalid; PyTorch
 * floors, and so do we, but say which input cells are dropped. Cells of
 * the end padding that go unread lose nothing, so they are not counted. */
static void warn_unread(const Node *n, int axis, bool one_d, int64_t in, int64_t keff,
                        int64_t out)
{
    const Attrs *a = &n->a;
    int pb = a->pad[axis], pe = a->pad[axis + 2], s = a->stride[axis];
    int64_t span = in + pb + pe - keff;
    int64_t unread = span % s - pe;
    if (unread <= 0)
        return;
    diag_warning(n->loc,
                 "%s '%s': the last %lld %s of the input %s never read: (I + P - K) = "
                 "%lld is not a multiple of the stride %d, so output %s (%lld + %d - %lld)/%d + 1 "
                 "= %lld is rounded down",
                 op_info(n->op)->name, n->name, (long long)unread,
                 axis_cells(axis, one_d, unread), unread == 1 ? "is" : "are", (long long)span, s,
                 axis_noun(axis, one_d), (long long)in, pb + pe, (long long)keff, s,
                 (long long)out);
}

bool window_axis(Node *n, int axis, bool one_d, int64_t in, int64_t *out)
{
    Attrs *a = &n->a;
    const char *op = op_info(n->op)->name;
    int k = a->kernel[axis], s = a->stride[axis], d = a->dilation[axis];
    if (k < 1 || s < 1 || d < 1) {
        diag_error(n->loc, "%s '%s': kernel %s, stride and dilation must be at least 1, got %d, %d, %d",
                   op, n->name, axis_noun(axis, one_d), k, s, d);
        return false;
    }
    int64_t keff = (int64_t)d * (k - 1) + 1;
    if (a->same_pad && !resolve_same(n, axis, in, keff))
        return false;
    int pb = a->pad[axis], pe = a->pad[axis + 2];
    if (pb < 0 || pe < 0) {
        diag_error(n->loc, "%s '%s': padding must not be negative, got %d and %d", op, n->name, pb, pe);
        return false;
    }
    int64_t span = in + pb + pe - keff;
    int64_t o = (a->ceil_mode ? ceil_div(span, s) : floor_div(span, s)) + 1;
    /* PyTorch: in ceil mode the last window must start inside the input
     * or its left padding. */
    if (a->ceil_mode && (o - 1) * s >= in + pb)
        o--;
    if (o < 1) {
        diag_error(n->loc, "%s '%s': output %s %s(%lld + %d - %lld)/%d%s + 1 = %lld is below 1", op,
                   n->name, axis_noun(axis, one_d), a->ceil_mode ? "ceil(" : "", (long long)in,
                   pb + pe, (long long)keff, s, a->ceil_mode ? ")" : "", (long long)o);
        return false;
    }
    if (!a->ceil_mode)
        warn_unread(n, axis, one_d, in, keff, o);
    *out = o;
    return true;
}

ConvGeom conv_geometry(const Graph *g, const Node *n)
{
    const Attrs *a = &n->a;
    ConvGeom k = {
        .kh = a->kernel[0], .kw = a->kernel[1],
        .sh = a->stride[0], .sw = a->stride[1],
        .dh = a->dilation[0], .dw = a->dilation[1],
        .pt = a->pad[0], .pl = a->pad[1], .pb = a->pad[2], .pr = a->pad[3],
    };
    shape_chw(node_in_shape(g, n, 0), &k.c, &k.h, &k.w);
    shape_chw(node_out_shape(g, n), &k.f, &k.oh, &k.ow);
    k.groups = n->op == OP_CONV ? a->groups : (int)k.c;
    return k;
}

/* ---- shape rule ---- */

static bool conv_groups(Node *n, int64_t c)
{
    Attrs *a = &n->a;
    if (a->groups == -1)
        a->groups = (int)c;
    if (a->groups < 1) {
        diag_error(n->loc, "conv '%s': groups must be at least 1, got %d", n->name, a->groups);
        return false;
    }
    bool ok = true;
    if (c % a->groups != 0) {
        diag_error(n->loc, "conv '%s': %lld input channels do not split into %d groups", n->name,
                   (long long)c, a->groups);
        ok = false;
    }
    if (a->filters % a->groups != 0) {
        diag_error(n->loc, "conv '%s': %d filters do not split into %d groups", n->name, a->filters,
                   a->groups);
        ok = false;
    }
    return ok;
}

/* PyTorch's rule: a reflection cannot reach past the opposite edge. */
static bool check_reflect(const Node *n, bool one_d, int64_t h, int64_t w)
{
    const int *p = n->a.pad;
    for (int i = 0; i < 4; i++) {
        int64_t in = i % 2 ? w : h;
        if (n->a.pad_mode == PAD_REFLECT && p[i] > 0 && p[i] >= in) {
            diag_error(n->loc, "conv '%s': reflect padding %d must be below the input %s %lld",
                       n->name, p[i], axis_noun(i % 2, one_d), (long long)in);
            return false;
        }
    }
    return true;
}

/* The residual x1 must be y cell for cell: the kernels read it at y's
 * offsets (no broadcast). */
static bool check_residual(const Graph *g, const Node *n)
{
    const Shape *r = node_in_shape(g, n, 1), *y = node_out_shape(g, n);
    char s0[64], s1[64];
    if (shape_eq(r, y))
        return true;
    diag_error(n->loc, "conv '%s': residual '%s' (%s) must have the output's shape %s", n->name,
               g->t[n->in[1]].name, shape_str(r, s0, sizeof s0), shape_str(y, s1, sizeof s1));
    return false;
}

static bool conv_infer(Graph *g, Node *n)
{
    if (n->nin != 2 && !check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    char buf[64];
    if (x->rank != 2 && x->rank != 3) {
        diag_error(n->loc, "conv '%s': needs a C x H x W (2-D) or C x L (1-D) input, got %s",
                   n->name, shape_str(x, buf, sizeof buf));
        return false;
    }
    if (n->a.filters < 1) {
        diag_error(n->loc, "conv '%s': needs at least 1 filter, got %d", n->name, n->a.filters);
        return false;
    }
    bool one_d = x->rank == 2;
    if (one_d)
        window_make_1d(&n->a);
    int64_t c, h, w, oh, ow;
    shape_chw(x, &c, &h, &w);
    bool ok = conv_groups(n, c);
    ok &= window_axis(n, 0, one_d, h, &oh);
    ok &= window_axis(n, 1, one_d, w, &ow);
    n->a.same_pad = false;
    if (!ok || !check_reflect(n, one_d, h, w))
        return false;

    const Attrs *a = &n->a;
    Shape ws = one_d ? shape_make(3, (int64_t[]){a->filters, c / a->groups, a->kernel[1]})
                     : shape_make(4, (int64_t[]){a->filters, c / a->groups, a->kernel[0], a->kernel[1]});
    Shape bs = shape_make(1, (int64_t[]){a->filters});
    if (!graph_param(g, n, 0, "weight", T_PARAM, &ws, a->init))
        return false;
    if (a->bias && !graph_param(g, n, 1, "bias", T_PARAM, &bs, a->init))
        return false;
    g->t[n->out].shape = one_d ? shape_make(2, (int64_t[]){a->filters, ow})
                               : shape_make(3, (int64_t[]){a->filters, oh, ow});
    return n->nin < 2 || check_residual(g, n);
}

/* Saturates rather than overflows: shape inference bounds the output and
 * the weight, not their product. */
static int64_t conv_macs(const Graph *g, const Node *n)
{
    ConvGeom k = conv_geometry(g, n);
    int64_t out = k.oh * k.ow * k.f, per_output = (k.c / k.groups) * k.kh * k.kw, macs;
    return mul_overflows(out, per_output, &macs) ? INT64_MAX : macs;
}

/* ---- interpreter ---- */

/* One output cell before bias and epilogue: x is the group's first input
 * channel (Cg x H x W), wf the filter (Cg x KH x KW). */
static double conv_cell(const ConvGeom *k, PadMode mode, const float *x, const float *wf,
                        int64_t oy, int64_t ox)
{
    double acc = 0;
    int64_t cg = k->c / k->groups;
    for (int64_t c = 0; c < cg; c++)
        for (int ky = 0; ky < k->kh; ky++) {
            int64_t iy = pad_source(oy * k->sh - k->pt + (int64_t)ky * k->dh, k->h, mode);
            if (iy < 0)
                continue;
            for (int kx = 0; kx < k->kw; kx++) {
                int64_t ix = pad_source(ox * k->sw - k->pl + (int64_t)kx * k->dw, k->w, mode);
                if (ix < 0)
                    continue;
                acc += (double)x[(c * k->h + iy) * k->w + ix] *
                       wf[(c * k->kh + ky) * k->kw + kx];
            }
        }
    return acc;
}

static void conv_run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                     bool training)
{
    ConvGeom k = conv_geometry(g, n);
    const float *wt = node_param_data(g, n, 0);
    const float *bias = n->a.bias ? node_param_data(g, n, 1) : NULL;
    int64_t cg = k.c / k.groups, fg = k.f / k.groups;
    int64_t in_size = k.c * k.h * k.w, plane = k.oh * k.ow;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < k.f; f++) {
            const float *x = in[0] + b * in_size + (f / fg) * cg * k.h * k.w;
            const float *wf = wt + f * cg * k.kh * k.kw;
            float *y = out + (b * k.f + f) * plane;
            /* The residual in float after the conv's own rounding: what
             * the separate add computed, bit for bit. */
            const float *r = n->nin > 1 ? in[1] + (b * k.f + f) * plane : NULL;
            for (int64_t i = 0, oy = 0; oy < k.oh; oy++)
                for (int64_t ox = 0; ox < k.ow; ox++, i++) {
                    double acc = conv_cell(&k, n->a.pad_mode, x, wf, oy, ox);
                    if (bias)
                        acc += bias[f];
                    float v = (float)acc;
                    if (r)
                        v += r[i];
                    y[i] = act_apply(n->act, v);
                }
        }
}

void window_dump(const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    fprintf(out, " kernel=%dx%d stride=%dx%d pad=%d,%d,%d,%d", a->kernel[0], a->kernel[1],
            a->stride[0], a->stride[1], a->pad[0], a->pad[1], a->pad[2], a->pad[3]);
}

static void dump_conv(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    window_dump(n, out);
    fprintf(out, " dilation=%dx%d groups=%d mode=%d", a->dilation[0], a->dilation[1], a->groups,
            (int)a->pad_mode);
}

const OpInfo op_conv = {
    .name = "conv",
    .traits = OP_TRAITS(CONV),
    .infer = conv_infer,
    .macs = conv_macs,
    .run = conv_run,
    .grad = conv_grad,
    .emit = conv_emit,
    .emit_grad = conv_emit_grad,
    .dump = dump_conv,
    .absorb_pad = conv_absorb_pad,
    .quant = &conv_int8,
    .onnx_export = conv_onnx_export,
    .grad_reads = conv_grad_reads,
    .emit_train = conv_emit_train,
};
