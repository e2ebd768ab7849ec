/* conv_transpose.c: the transposed convolution (PyTorch's ConvTranspose1d,
 * 2d, 3d; ONNX ConvTranspose), 1-D, 2-D and 3-D, grouped, dilated, padded,
 * with output padding: the gradient of a convolution with respect to its
 * input, used to up-sample (decoders, U-Nets).
 *
 * Forward (G groups, Cg = C/G input channels and Fg = F/G filters per
 * group, channel c in group g = c / Cg): every input cell scatters through
 * the kernel, written here per output cell as the gather
 *   y[f,oy,ox] = act(b[f] + sum_{c<Cg, ky, kx, iy, ix}
 *                W[g*Cg + c, f - g*Fg, ky, kx] * x[g*Cg + c, iy, ix])
 *   over iy*SH - PT + ky*DH = oy and ix*SW - PL + kx*DW = ox,
 * the depth alike in 3-D.
 *
 * Shape rule, per spatial axis (Keff = D*(K-1) + 1, PB and PE the begin and
 * end padding, OP the output padding):
 *   O = (I - 1)*S + Keff - PB - PE + OP, an error if O < 1, and OP must be
 * below S or D (PyTorch's rule: past that, cells only the bias reaches).
 * Padding crops the full output (it is the padding of the convolution this
 * one transposes); output padding extends it at the end. Weight is
 * [C, F/G, K...] (PyTorch's layout), bias [F]; zero padding only.
 *
 * MACs: every input cell times every tap times Fg: C * I... * Fg * K...
 * (what the scatter multiplies). */
#include "../ops.h"

#include <stdlib.h>

/* ---- shape rule ---- */

static bool convt_groups(Node *n, int64_t c)
{
    Attrs *a = &n->a;
    if (a->groups < 1) {
        diag_error(n->loc, "conv_transpose '%s': groups must be at least 1, got %d", n->name,
                   a->groups);
        return false;
    }
    bool ok = true;
    if (c % a->groups != 0) {
        diag_error(n->loc, "conv_transpose '%s': %lld input channels do not split into %d groups",
                   n->name, (long long)c, a->groups);
        ok = false;
    }
    if (a->filters % a->groups != 0) {
        diag_error(n->loc, "conv_transpose '%s': %d filters do not split into %d groups",
                   n->name, a->filters, a->groups);
        ok = false;
    }
    return ok;
}

static bool convt_infer(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    const Shape *x = node_in_shape(g, n, 0);
    if (!window_check_input(n, x))
        return false;
    if (n->a.filters < 1) {
        diag_error(n->loc, "conv_transpose '%s': needs at least 1 filter, got %d", n->name,
                   n->a.filters);
        return false;
    }
    if (n->a.pad_mode != PAD_ZEROS) {
        diag_error(n->loc, "conv_transpose '%s': only zero padding is supported", n->name);
        return false;
    }
    int ns = x->rank - 1;
    int64_t c = x->d[0];
    Shape out = {x->rank, {n->a.filters}};
    bool ok = convt_groups(n, c);
    ok &= window_spatial(n, x, true, out.d + 1);
    if (!ok)
        return false;
    const Attrs *a = &n->a;
    Shape ws = window_weight_shape(c, a->filters / a->groups, n, ns);
    Shape bs = shape_make(1, (int64_t[]){a->filters});
    if (!graph_param(g, n, 0, "weight", T_PARAM, &ws, a->init))
        return false;
    if (a->bias && !graph_param(g, n, 1, "bias", T_PARAM, &bs, a->init))
        return false;
    g->t[n->out].shape = out;
    return true;
}

static int64_t convt_macs(const Graph *g, const Node *n)
{
    ConvGeom k = conv_geometry(g, n);
    int64_t in = k.c * k.d * k.h * k.w, per_input = (k.f / k.groups) * k.kd * k.kh * k.kw;
    int64_t macs;
    return mul_overflows(in, per_input, &macs) ? INT64_MAX : macs;
}

/* ---- interpreter ---- */

int64_t *conv_transpose_sources(int64_t out, int k, int stride, int dilation, int pad,
                                int64_t in)
{
    int64_t *map = xmalloc((size_t)(out * k) * sizeof *map);
    for (int t = 0; t < k; t++)
        for (int64_t o = 0; o < out; o++) {
            int64_t at = o + pad - (int64_t)t * dilation;
            map[t * out + o] = at >= 0 && at % stride == 0 && at / stride < in ? at / stride : -1;
        }
    return map;
}

ConvTaps conv_transpose_taps(const ConvGeom *k)
{
    return (ConvTaps){
        .z = conv_transpose_sources(k->od, k->kd, k->sd, k->dd, k->pf, k->d),
        .y = conv_transpose_sources(k->oh, k->kh, k->sh, k->dh, k->pt, k->h),
        .x = conv_transpose_sources(k->ow, k->kw, k->sw, k->dw, k->pl, k->w),
    };
}

void conv_taps_free(ConvTaps *t)
{
    free(t->z);
    free(t->y);
    free(t->x);
}

/* Output cell (oz, oy, ox) of filter fl of a group, before bias and
 * epilogue: x is the group's first input channel, w its weights. */
static double convt_cell(const ConvGeom *k, const ConvTaps *t, const float *x, const float *w,
                         int64_t fl, int64_t oz, int64_t oy, int64_t ox)
{
    int64_t cg = k->c / k->groups, fg = k->f / k->groups, taps = (int64_t)k->kd * k->kh * k->kw;
    double acc = 0;
    for (int64_t c = 0; c < cg; c++)
        for (int kz = 0; kz < k->kd; kz++) {
            int64_t iz = t->z[kz * k->od + oz];
            for (int ky = 0; iz >= 0 && ky < k->kh; ky++) {
                int64_t iy = t->y[ky * k->oh + oy];
                for (int kx = 0; iy >= 0 && kx < k->kw; kx++) {
                    int64_t ix = t->x[kx * k->ow + ox];
                    if (ix < 0)
                        continue;
                    acc += (double)x[((c * k->d + iz) * k->h + iy) * k->w + ix] *
                           w[(c * fg + fl) * taps + (kz * k->kh + ky) * k->kw + kx];
                }
            }
        }
    return acc;
}

static void convt_run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                      bool training)
{
    ConvGeom k = conv_geometry(g, n);
    ConvTaps t = conv_transpose_taps(&k);
    const float *wt = node_param_data(g, n, 0);
    const float *bias = n->a.bias ? node_param_data(g, n, 1) : NULL;
    int64_t cg = k.c / k.groups, fg = k.f / k.groups, taps = (int64_t)k.kd * k.kh * k.kw;
    int64_t in_plane = k.d * k.h * k.w, plane = k.od * k.oh * k.ow;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < k.f; f++) {
            int64_t gi = f / fg;
            const float *x = in[0] + (b * k.c + gi * cg) * in_plane;
            const float *w = wt + gi * cg * fg * taps;
            float *y = out + (b * k.f + f) * plane;
            for (int64_t i = 0; i < plane; i++) {
                double acc = convt_cell(&k, &t, x, w, f % fg, i / (k.oh * k.ow),
                                        i / k.ow % k.oh, i % k.ow);
                if (bias)
                    acc += bias[f];
                y[i] = act_apply(n->act, (float)acc);
            }
        }
    conv_taps_free(&t);
}

static void dump_convt(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    window_dump(g, n, out);
    window_dump_dilation(g, n, out);
    if (window_is_3d(g, n))
        fprintf(out, " output_padding=%dx%dx%d", a->out_pad_d, a->out_pad[0], a->out_pad[1]);
    else
        fprintf(out, " output_padding=%dx%d", a->out_pad[0], a->out_pad[1]);
    fprintf(out, " groups=%d", a->groups);
}

const OpInfo op_conv_transpose = {
    .name = "conv_transpose",
    .traits = OP_TRAITS(CONV_TRANSPOSE),
    .infer = convt_infer,
    .macs = convt_macs,
    .run = convt_run,
    .grad = conv_transpose_grad,
    .grad_reads = conv_grad_reads, /* x for dL/dW, y for the epilogue: a conv's needs */
    .emit = conv_transpose_emit,
    .emit_grad = conv_transpose_emit_grad,
    .emit_train = conv_transpose_emit_train,
    .dump = dump_convt,
    .onnx_export = conv_transpose_onnx_export,
};
