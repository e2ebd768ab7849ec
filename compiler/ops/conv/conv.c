/* conv.c: convolution (1-D, 2-D and 3-D, grouped, dilated, padded), and
 * the sliding-window geometry it shares with conv_transpose and the pools.
 *
 * Forward (cross-correlation, as PyTorch and ONNX; G groups, Cg = C/G
 * input channels and Fg = F/G filters per group, g = f / Fg):
 *   y[f,oy,ox] = act(b[f] + sum_{c<Cg, ky<KH, kx<KW}
 *                W[f,c,ky,kx] * xpad[g*Cg + c, oy*SH - PT + ky*DH, ox*SW - PL + kx*DW])
 * where xpad reads outside the input as zeros, a reflection or the nearest
 * edge cell (padding_mode); a 3-D one sums over the depth taps kz too, at
 * planes oz*SD - PF + kz*DD.
 *
 * Shape rule, per spatial axis (Keff = D*(K-1) + 1, P = begin + end pad):
 *   O = floor((I + P - Keff) / S) + 1, an error if O < 1.
 * Input C x H x W gives F x OH x OW; C x L gives F x OL; C x D x H x W
 * gives F x OD x OH x OW. Weight is [F, C/G, KH, KW] (1-D: [F, C/G, K],
 * 3-D: [F, C/G, KD, KH, KW]), bias [F]. groups = -1 means depthwise
 * (G = C). 'same' padding is ONNX's SAME_UPPER: total = max((ceil(I/S)-1)*S
 * + Keff - I, 0), begin = total/2, the extra cell at the end.
 *
 * A fused residual (passes/fuse_residual.c; the front ends never make one):
 * a second input x1 of exactly the output's shape, added before the
 * epilogue, y = act(conv(x0) + b + x1). */
#include "../ops.h"

#include <limits.h>
#include <stdlib.h>

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
    return one_d ? "length" : axis == WINDOW_D ? "depth" : axis ? "width" : "height";
}

static const char *axis_cells(int axis, bool one_d, int64_t count)
{
    if (one_d)
        return count == 1 ? "position" : "positions";
    if (axis == WINDOW_D)
        return count == 1 ? "plane" : "planes";
    if (axis)
        return count == 1 ? "column" : "columns";
    return count == 1 ? "row" : "rows";
}

WindowAxis window_axis_attrs(Attrs *a, int axis)
{
    if (axis == WINDOW_D)
        return (WindowAxis){&a->kernel_d, &a->stride_d, &a->dilation_d, &a->pad_d[0],
                            &a->pad_d[1], &a->out_pad_d};
    return (WindowAxis){&a->kernel[axis], &a->stride[axis], &a->dilation[axis], &a->pad[axis],
                        &a->pad[axis + 2], &a->out_pad[axis]};
}

int window_attr_axis(int ns, int i)
{
    return ns == 1 ? 1 : ns == 2 ? i : i == 0 ? WINDOW_D : i - 1;
}

void window_make_1d(Attrs *a)
{
    a->kernel[0] = a->stride[0] = a->dilation[0] = 1;
    a->pad[0] = a->pad[2] = a->out_pad[0] = 0;
}

static bool resolve_same(Node *n, WindowAxis x, int64_t in, int64_t keff)
{
    int s = *x.s;
    int64_t total = (ceil_div(in, s) - 1) * s + keff - in;
    if (total < 0)
        total = 0;
    if (total > INT_MAX) {
        diag_error(n->loc, "%s '%s': 'same' padding of %lld is too large", op_info(n->op)->name,
                   n->name, (long long)total);
        return false;
    }
    *x.pb = (int)(total / 2);
    *x.pe = (int)(total - total / 2);
    return true;
}

/* The course calls a stride that does not tile the input invalid; PyTorch
 * floors, and so do we, but say which input cells are dropped. Cells of
 * the end padding that go unread lose nothing, so they are not counted. */
static void warn_unread(const Node *n, int axis, bool one_d, int64_t in, int64_t keff,
                        int64_t out)
{
    WindowAxis x = window_axis_attrs((Attrs *)&n->a, axis);
    int pb = *x.pb, pe = *x.pe, s = *x.s;
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

/* Kernel, stride and dilation of one axis are at least 1; its effective
 * kernel D*(K-1) + 1 into *keff. */
static bool window_axis_valid(const Node *n, WindowAxis x, int axis, bool one_d, int64_t *keff)
{
    int k = *x.k, s = *x.s, d = *x.d;
    if (k < 1 || s < 1 || d < 1) {
        diag_error(n->loc, "%s '%s': kernel %s, stride and dilation must be at least 1, got %d, %d, %d",
                   op_info(n->op)->name, n->name, axis_noun(axis, one_d), k, s, d);
        return false;
    }
    *keff = (int64_t)d * (k - 1) + 1;
    return true;
}

bool window_axis(Node *n, int axis, bool one_d, int64_t in, int64_t *out)
{
    Attrs *a = &n->a;
    WindowAxis x = window_axis_attrs(a, axis);
    const char *op = op_info(n->op)->name;
    int64_t keff;
    if (!window_axis_valid(n, x, axis, one_d, &keff))
        return false;
    if (a->same_pad && !resolve_same(n, x, in, keff))
        return false;
    int pb = *x.pb, pe = *x.pe, s = *x.s;
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

bool window_transposed_axis(Node *n, int axis, bool one_d, int64_t in, int64_t *out)
{
    WindowAxis x = window_axis_attrs(&n->a, axis);
    const char *op = op_info(n->op)->name;
    int64_t keff;
    if (!window_axis_valid(n, x, axis, one_d, &keff))
        return false;
    int pb = *x.pb, pe = *x.pe, op_ = *x.op, s = *x.s, d = *x.d;
    if (pb < 0 || pe < 0 || op_ < 0) {
        diag_error(n->loc, "%s '%s': padding and output padding must not be negative, got %d, "
                   "%d and %d", op, n->name, pb, pe, op_);
        return false;
    }
    if (op_ >= s && op_ >= d) { /* PyTorch's rule: else a row of bias alone */
        diag_error(n->loc, "%s '%s': output padding %d of the %s must be smaller than its "
                   "stride (%d) or its dilation (%d)", op, n->name, op_, axis_noun(axis, one_d),
                   s, d);
        return false;
    }
    int64_t o = (in - 1) * s + keff - pb - pe + op_;
    if (o < 1) {
        diag_error(n->loc, "%s '%s': output %s (%lld - 1)*%d + %lld - %d + %d = %lld is below 1",
                   op, n->name, axis_noun(axis, one_d), (long long)in, s, (long long)keff,
                   pb + pe, op_, (long long)o);
        return false;
    }
    *out = o;
    return true;
}

bool window_spatial(Node *n, const Shape *x, bool transposed, int64_t *out)
{
    int ns = x->rank - 1;
    if (ns == 1)
        window_make_1d(&n->a);
    bool ok = true;
    for (int i = 0; i < ns; i++) {
        int axis = window_attr_axis(ns, i);
        ok &= transposed ? window_transposed_axis(n, axis, ns == 1, x->d[1 + i], &out[i])
                         : window_axis(n, axis, ns == 1, x->d[1 + i], &out[i]);
    }
    n->a.same_pad = false;
    return ok;
}

ConvGeom conv_geometry(const Graph *g, const Node *n)
{
    const Attrs *a = &n->a;
    ConvGeom k = {
        .kh = a->kernel[0], .kw = a->kernel[1],
        .sh = a->stride[0], .sw = a->stride[1],
        .dh = a->dilation[0], .dw = a->dilation[1],
        .pt = a->pad[0], .pl = a->pad[1], .pb = a->pad[2], .pr = a->pad[3],
        .kd = a->kernel_d, .sd = a->stride_d, .dd = a->dilation_d,
        .pf = a->pad_d[0], .pbk = a->pad_d[1],
    };
    shape_cdhw(node_in_shape(g, n, 0), &k.c, &k.d, &k.h, &k.w);
    shape_cdhw(node_out_shape(g, n), &k.f, &k.od, &k.oh, &k.ow);
    k.groups = n->op == OP_CONV || n->op == OP_CONV_TRANSPOSE ? a->groups : (int)k.c;
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
static bool check_reflect(Node *n, const Shape *x)
{
    int ns = x->rank - 1;
    for (int i = 0; i < 2 * ns && n->a.pad_mode == PAD_REFLECT; i++) { /* begins, then ends */
        int axis = window_attr_axis(ns, i % ns);
        WindowAxis wa = window_axis_attrs(&n->a, axis);
        int64_t in = x->d[1 + i % ns];
        int p = i < ns ? *wa.pb : *wa.pe;
        if (p > 0 && p >= in) {
            diag_error(n->loc, "conv '%s': reflect padding %d must be below the input %s %lld",
                       n->name, p, axis_noun(axis, ns == 1), (long long)in);
            return false;
        }
    }
    return true;
}

bool window_check_input(const Node *n, const Shape *x)
{
    char buf[64];
    if (x->rank >= 2 && x->rank <= 4)
        return true;
    diag_error(n->loc, "%s '%s': needs a C x H x W (2-D), C x L (1-D) or C x D x H x W (3-D) "
               "input, got %s", op_info(n->op)->name, n->name, shape_str(x, buf, sizeof buf));
    return false;
}

Shape window_weight_shape(int64_t d0, int64_t d1, const Node *n, int ns)
{
    Shape s = {2 + ns, {d0, d1}};
    for (int i = 0; i < ns; i++)
        s.d[2 + i] = *window_axis_attrs((Attrs *)&n->a, window_attr_axis(ns, i)).k;
    return s;
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
    if (!window_check_input(n, x))
        return false;
    if (n->a.filters < 1) {
        diag_error(n->loc, "conv '%s': needs at least 1 filter, got %d", n->name, n->a.filters);
        return false;
    }
    int ns = x->rank - 1;
    int64_t c = x->d[0];
    Shape out = {x->rank, {n->a.filters}};
    bool ok = conv_groups(n, c);
    ok &= window_spatial(n, x, false, out.d + 1);
    if (!ok || !check_reflect(n, x))
        return false;

    const Attrs *a = &n->a;
    Shape ws = window_weight_shape(a->filters, c / a->groups, n, ns);
    Shape bs = shape_make(1, (int64_t[]){a->filters});
    if (!graph_param(g, n, 0, "weight", T_PARAM, &ws, a->init))
        return false;
    if (a->bias && !graph_param(g, n, 1, "bias", T_PARAM, &bs, a->init))
        return false;
    g->t[n->out].shape = out;
    return n->nin < 2 || check_residual(g, n);
}

/* Saturates rather than overflows: shape inference bounds the output and
 * the weight, not their product. */
static int64_t conv_macs(const Graph *g, const Node *n)
{
    ConvGeom k = conv_geometry(g, n);
    int64_t out = k.od * k.oh * k.ow * k.f, per_output = (k.c / k.groups) * k.kd * k.kh * k.kw;
    int64_t macs;
    return mul_overflows(out, per_output, &macs) ? INT64_MAX : macs;
}

/* ---- interpreter ---- */

/* map[k*out + o] = the input index output o reads with kernel tap k on one
 * axis, or -1 for a zero of the padding. */
static int64_t *tap_sources(int64_t out, int k, int stride, int dilation, int pad, int64_t in,
                            PadMode mode)
{
    int64_t *map = xmalloc((size_t)(out * k) * sizeof *map);
    for (int t = 0; t < k; t++)
        for (int64_t o = 0; o < out; o++)
            map[t * out + o] = pad_source(o * stride - pad + (int64_t)t * dilation, in, mode);
    return map;
}

ConvTaps conv_taps(const ConvGeom *k, PadMode mode)
{
    return (ConvTaps){
        .z = tap_sources(k->od, k->kd, k->sd, k->dd, k->pf, k->d, mode),
        .y = tap_sources(k->oh, k->kh, k->sh, k->dh, k->pt, k->h, mode),
        .x = tap_sources(k->ow, k->kw, k->sw, k->dw, k->pl, k->w, mode),
    };
}

/* The output columns [lo, hi) whose tap reads inside the row: column ox
 * reads lo's source + (ox - lo) * stride. */
typedef struct {
    int64_t lo, hi;
} Inside;

static Inside *inside_columns(const ConvGeom *k)
{
    Inside *in = xmalloc((size_t)k->kw * sizeof *in);
    for (int kx = 0; kx < k->kw; kx++) {
        int64_t first = (int64_t)kx * k->dw - k->pl; /* column ox = 0 reads */
        int64_t lo = first >= 0 ? 0 : (-first + k->sw - 1) / k->sw;
        int64_t hi = k->w - first <= 0 ? 0 : (k->w - first + k->sw - 1) / k->sw;
        in[kx] = (Inside){lo, hi < lo ? lo : hi > k->ow ? k->ow : hi};
    }
    return in;
}

/* One tap over one output row: a[ox] += x[source] * w, the columns inside
 * the row as a strided run, those in the padding through the table. */
static void conv_row(double *a, const float *xr, double w, const int64_t *cols,
                     const Inside *in, int64_t ow, int sw)
{
    for (int64_t ox = 0; ox < in->lo && ox < ow; ox++)
        if (cols[ox] >= 0)
            a[ox] += (double)xr[cols[ox]] * w;
    if (in->lo < in->hi) {
        const float *x = xr + cols[in->lo];
        for (int64_t ox = in->lo; ox < in->hi; ox++)
            a[ox] += (double)x[(ox - in->lo) * sw] * w;
    }
    for (int64_t ox = in->hi > in->lo ? in->hi : in->lo; ox < ow; ox++)
        if (cols[ox] >= 0)
            a[ox] += (double)xr[cols[ox]] * w;
}

/* One filter's sums before bias and epilogue, in double: x is the group's
 * first input channel (Cg x D x H x W), wf the filter (Cg x KD x KH x KW).
 * Taps are the outer loops, in the order (c, kz, ky, kx), and output cells
 * the inner ones, so every cell adds the same products in the same order as
 * a loop over its own taps would, while the inner loop walks one input row
 * (a loop per cell reads Cg planes apart: 20 times slower on a 1x1 conv). */
static void conv_filter(const ConvGeom *k, const ConvTaps *src, const Inside *inside,
                        const float *x, const float *wf, double *acc)
{
    int64_t in_plane = k->d * k->h * k->w;
    for (int64_t i = 0; i < k->od * k->oh * k->ow; i++)
        acc[i] = 0;
    for (int64_t c = 0; c < k->c / k->groups; c++)
        for (int kz = 0; kz < k->kd; kz++)
            for (int ky = 0; ky < k->kh; ky++)
                for (int kx = 0; kx < k->kw; kx++) {
                    double w = *wf++;
                    const int64_t *cols = src->x + kx * k->ow;
                    for (int64_t oz = 0; oz < k->od; oz++) {
                        int64_t iz = src->z[kz * k->od + oz];
                        for (int64_t oy = 0; iz >= 0 && oy < k->oh; oy++) {
                            int64_t iy = src->y[ky * k->oh + oy];
                            if (iy < 0)
                                continue;
                            const float *xr = x + c * in_plane + (iz * k->h + iy) * k->w;
                            conv_row(acc + (oz * k->oh + oy) * k->ow, xr, w, cols,
                                     &inside[kx], k->ow, k->sw);
                        }
                    }
                }
}

static void conv_run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                     bool training)
{
    ConvGeom k = conv_geometry(g, n);
    const float *wt = node_param_data(g, n, 0);
    const float *bias = n->a.bias ? node_param_data(g, n, 1) : NULL;
    int64_t cg = k.c / k.groups, fg = k.f / k.groups;
    int64_t in_plane = k.d * k.h * k.w, in_size = k.c * in_plane, plane = k.od * k.oh * k.ow;
    ConvTaps src = conv_taps(&k, n->a.pad_mode);
    Inside *inside = inside_columns(&k);
    double *acc = xmalloc((size_t)plane * sizeof *acc);
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < k.f; f++) {
            const float *x = in[0] + b * in_size + (f / fg) * cg * in_plane;
            conv_filter(&k, &src, inside, x, wt + f * cg * k.kd * k.kh * k.kw, acc);
            float *y = out + (b * k.f + f) * plane;
            /* The residual in float after the conv's own rounding: what
             * the separate add computed, bit for bit. */
            const float *r = n->nin > 1 ? in[1] + (b * k.f + f) * plane : NULL;
            for (int64_t i = 0; i < plane; i++) {
                float v = (float)(bias ? acc[i] + bias[f] : acc[i]);
                if (r)
                    v += r[i];
                y[i] = act_apply(n->act, v);
            }
        }
    free(acc);
    free(inside);
    conv_taps_free(&src);
}

bool window_is_3d(const Graph *g, const Node *n)
{
    return node_in_shape(g, n, 0)->rank == 4;
}

void window_dump(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    if (window_is_3d(g, n)) {
        fprintf(out, " kernel=%dx%dx%d stride=%dx%dx%d pad=%d,%d,%d,%d,%d,%d", a->kernel_d,
                a->kernel[0], a->kernel[1], a->stride_d, a->stride[0], a->stride[1], a->pad_d[0],
                a->pad[0], a->pad[1], a->pad_d[1], a->pad[2], a->pad[3]);
        return;
    }
    fprintf(out, " kernel=%dx%d stride=%dx%d pad=%d,%d,%d,%d", a->kernel[0], a->kernel[1],
            a->stride[0], a->stride[1], a->pad[0], a->pad[1], a->pad[2], a->pad[3]);
}

void window_dump_dilation(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    if (window_is_3d(g, n))
        fprintf(out, " dilation=%dx%dx%d", a->dilation_d, a->dilation[0], a->dilation[1]);
    else
        fprintf(out, " dilation=%dx%d", a->dilation[0], a->dilation[1]);
}

static void dump_conv(const Graph *g, const Node *n, FILE *out)
{
    window_dump(g, n, out);
    window_dump_dilation(g, n, out);
    fprintf(out, " groups=%d mode=%d", n->a.groups, (int)n->a.pad_mode);
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
    .writes_over_input = conv_writes_over_input,
    .block = &conv_irb,
};
