/* conv_int8.c: conv's integer form (docs/int8.md), which dense shares (a
 * dense layer is a 1x1 conv over IN x 1 x 1).
 *
 *   acc[f, p] = b'[f] + sum_{c < Cg, ky, kx} x[g*Cg + c, iy, ix] * w[f, c, ky, kx]
 *   y[f, p]   = clamp(zy + round(acc * M[f]), lo, hi)             (kit/qmath.h)
 *
 * x and y are int8 with zero points zx and zy; w is int8 per output
 * channel, its zero point removed at compile time (an imported uint8 or
 * offset weight must fit int8 once moved, else the layer stays float);
 * b'[f] = b[f] - zx * sum(w[f]) folds the input's zero point in, which is
 * why the padding reads zx (the real 0) and the kernels multiply raw int8
 * values. b is the int32 bias at scale sx * sw[f] (rescaled from its own
 * scale, or quantized from float, if need be); M[f] = sx * sw[f] / sy;
 * [lo, hi] are the fused clamp's bounds (relu: [zy, 127]). The int32
 * accumulator cannot overflow: |b'| + Cg*KH*KW * 128 * 128 < 2^31 is
 * checked. The kernels themselves are in conv_int8_emit.c. */
#include "conv_int8.h"
#include "../../kit/qmath.h"

#include <math.h>
#include <stdlib.h>

/* The weights as the kernels read them, [F][Cg*KH*KW] minus their zero
 * points, and each output channel's scale into sw. */
static const char *take_weights(const Tensor *wt, ConvQ *q, double *sw)
{
    const Quant *qw = wt->q;
    int64_t f = q->k.f;
    if (!qw || !qw->values || qw->dtype != DT_I8)
        return "its weights have no int8 form";
    if (qw->n != 1 && qw->n != f)
        return "its weights' scales are neither one per tensor nor one per output channel";
    q->w = xmalloc((size_t)(f * q->kdim) * sizeof *q->w);
    for (int64_t c = 0; c < f; c++) {
        int i = qw->n == 1 ? 0 : (int)c;
        sw[c] = qw->scale[i];
        for (int64_t k = 0; k < q->kdim; k++) {
            int32_t v = qw->values[c * q->kdim + k] - qw->zero_point[i];
            if (v < -128 || v > 127)
                return "its weights do not fit int8 once their zero point is removed";
            q->w[c * q->kdim + k] = (int8_t)v;
        }
    }
    return NULL;
}

/* Bias f in accumulator units (scale sx * sw[f]). */
static double bias_units(const Tensor *bt, int64_t f, double acc_scale)
{
    if (!bt)
        return 0;
    const Quant *qb = bt->q;
    if (!qb || !qb->values)
        return nearbyint(bt->data[f] / acc_scale);
    int i = qb->n == 1 ? 0 : (int)f;
    double v = (double)qb->values[f] - qb->zero_point[i];
    if (fabs(qb->scale[i] / acc_scale - 1) < 1e-6)
        return v; /* the usual case: the bias was quantized at this scale */
    return nearbyint(v * qb->scale[i] / acc_scale);
}

/* Bias, zero-point fold and multiplier of every output channel. */
static const char *take_bias(const Graph *g, const Node *n, ConvQ *q, const double *sw)
{
    const Tensor *bt = n->nparam > 1 && n->param[1] >= 0 ? &g->t[n->param[1]] : NULL;
    double sx = q_scale(g->t[n->in[0]].q), sy = q_scale(g->t[n->out].q);
    int64_t f = q->k.f;
    q->b = xmalloc((size_t)f * sizeof *q->b);
    q->ms = xmalloc((size_t)f * 2 * sizeof *q->ms);
    for (int64_t c = 0; c < f; c++) {
        double b = bias_units(bt, c, sx * sw[c]);
        int64_t sum = 0;
        for (int64_t k = 0; k < q->kdim; k++)
            sum += q->w[c * q->kdim + k];
        double folded = b - (double)q->zx * (double)sum;
        if (!(fabs(folded) + (double)q->kdim * 128 * 128 < 0x1p31))
            return "its int32 accumulator could overflow (a bias or a dot product too large)";
        q->b[c] = (int32_t)folded;
        QMul m;
        if (!qmul_make(sx * sw[c] / sy, &m))
            return "the ratio of its scales cannot be represented (input * weight / output "
                   "scale at least 2^30)";
        q->ms[2 * c] = m.m;
        q->ms[2 * c + 1] = m.s;
    }
    return NULL;
}

const char *conv_q_make(const Graph *g, const Node *n, const ConvGeom *k, ConvQ *q)
{
    *q = (ConvQ){.k = *k, .mode = n->op == OP_CONV ? n->a.pad_mode : PAD_ZEROS};
    q->cg = k->c / k->groups;
    q->fg = k->f / k->groups;
    q->taps = (int64_t)k->kh * k->kw;
    q->kdim = q->cg * q->taps;
    if (n->nin > 1)
        return "a fused residual add";
    Act act = node_epilogue(n);
    if (!act_is_clamp(act))
        return "its fused activation is not a clamp (it needs a scale of its own)";
    const Quant *qy = g->t[n->out].q;
    q->zx = q_zero(g->t[n->in[0]].q);
    q->zy = q_zero(qy);
    q_bounds(act, qy, &q->lo, &q->hi);
    double *sw = xmalloc((size_t)k->f * sizeof *sw);
    const char *why = take_weights(&g->t[n->param[0]], q, sw);
    if (!why)
        why = take_bias(g, n, q, sw);
    free(sw);
    if (why)
        conv_q_free(q);
    return why;
}

void conv_q_free(ConvQ *q)
{
    free(q->w);
    free(q->b);
    free(q->ms);
    q->w = NULL;
    q->b = q->ms = NULL;
}

/* One output cell's accumulator: x is the group's first input channel. */
static int32_t cell(const ConvQ *q, const int8_t *x, const int8_t *wf, int64_t oy, int64_t ox)
{
    const ConvGeom *k = &q->k;
    int32_t acc = 0;
    for (int64_t c = 0; c < q->cg; c++)
        for (int ky = 0; ky < k->kh; ky++) {
            int64_t iy = pad_source(oy * k->sh - k->pt + (int64_t)ky * k->dh, k->h, q->mode);
            for (int kx = 0; kx < k->kw; kx++) {
                int64_t ix = pad_source(ox * k->sw - k->pl + (int64_t)kx * k->dw, k->w, q->mode);
                int32_t v = iy < 0 || ix < 0 ? q->zx : x[(c * k->h + iy) * k->w + ix];
                acc += v * wf[(c * k->kh + ky) * k->kw + kx];
            }
        }
    return acc;
}

void conv_q_run(const ConvQ *q, const int8_t *x, int8_t *y, int batch)
{
    const ConvGeom *k = &q->k;
    int64_t plane = k->oh * k->ow, in_size = k->c * k->h * k->w;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t f = 0; f < k->f; f++) {
            const int8_t *xg = x + b * in_size + (f / q->fg) * q->cg * k->h * k->w;
            int8_t *yf = y + (b * k->f + f) * plane;
            QMul m = {q->ms[2 * f], q->ms[2 * f + 1]};
            for (int64_t oy = 0; oy < k->oh; oy++)
                for (int64_t ox = 0; ox < k->ow; ox++) {
                    int32_t acc = q->b[f] + cell(q, xg, q->w + f * q->kdim, oy, ox);
                    yf[oy * k->ow + ox] = (int8_t)q_requant(acc, m, q->zy, q->lo, q->hi);
                }
        }
}

/* ---- conv's QuantOps ---- */

static const char *conv_int8_check(const Graph *g, const Node *n)
{
    if (g->t[n->in[0]].shape.rank > 3)
        return "its input is a volume (C x D x H x W): the int8 kernels are 2-d";
    ConvGeom k = conv_geometry(g, n);
    ConvQ q;
    const char *why = conv_q_make(g, n, &k, &q);
    conv_q_free(&q);
    return why;
}

static void conv_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                          int batch)
{
    ConvGeom k = conv_geometry(g, n);
    ConvQ q;
    if (conv_q_make(g, n, &k, &q))
        internal_error("conv '%s': integer form refused after check", n->name);
    conv_q_run(&q, in[0], out, batch);
    conv_q_free(&q);
}

static void conv_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    ConvGeom k = conv_geometry(g, n);
    ConvQ q;
    if (conv_q_make(g, n, &k, &q))
        internal_error("conv '%s': integer form refused after check", n->name);
    conv_q_emit(e, n, &q);
    conv_q_free(&q);
}

const QuantOps conv_int8 = {
    .flags = QUANT_WEIGHTS,
    .check = conv_int8_check,
    .run = conv_int8_run,
    .emit = conv_int8_emit,
};
