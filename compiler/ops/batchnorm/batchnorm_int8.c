/* batchnorm_int8.c: a batchnorm that did not fold into a conv or dense
 * layer, in integers (docs/int8.md). Per channel it is y = a[c] x + b[c]
 * with a = gamma / sqrt(var + eps), b = beta - mean a: a depthwise 1x1 conv
 * whose weight is +-127 (or 0) at scale |a[c]| / 127, exact, and whose
 * bias is b in units of sx |a[c]| / 127. So it runs as one
 * (ops/conv/conv_int8.c), its fused clamp as the conv's bounds. */
#include "../conv/conv_int8.h"
#include "../../kit/qmath.h"

#include <math.h>
#include <stdlib.h>

enum { GAMMA, BETA, MEAN, VAR };

static const char *bn_make(const Graph *g, const Node *n, ConvQ *q)
{
    int64_t c, h, w;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    *q = (ConvQ){.k = {.c = c, .h = h, .w = w, .f = c, .oh = h, .ow = w, .kh = 1, .kw = 1,
                       .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = (int)c},
                 .cg = 1, .fg = 1, .taps = 1, .kdim = 1};
    if (!act_is_clamp(node_epilogue(n)))
        return "its fused activation is not a clamp (it needs a scale of its own)";
    const Quant *qx = g->t[n->in[0]].q, *qy = g->t[n->out].q;
    q->zx = q_zero(qx);
    q->zy = q_zero(qy);
    q_bounds(node_epilogue(n), qy, &q->lo, &q->hi);
    q->w = xmalloc((size_t)c * sizeof *q->w);
    q->b = xmalloc((size_t)c * sizeof *q->b);
    q->ms = xmalloc((size_t)c * 2 * sizeof *q->ms);
    const float *p[4];
    for (int s = 0; s < 4; s++)
        p[s] = g->t[n->param[s]].data;
    for (int64_t i = 0; i < c; i++) {
        double a = p[GAMMA][i] / sqrt((double)p[VAR][i] + n->a.eps);
        double b = p[BETA][i] - p[MEAN][i] * a, sw = a != 0 ? fabs(a) / 127 : 1;
        double bias = nearbyint(b / (q_scale(qx) * sw));
        q->w[i] = (int8_t)(a > 0 ? 127 : a < 0 ? -127 : 0);
        double folded = bias - (double)q->zx * q->w[i];
        QMul m;
        if (!(fabs(folded) + 128.0 * 128 < 0x1p31))
            return "its int32 accumulator could overflow (a shift too large for its scales)";
        if (!qmul_make(q_scale(qx) * sw / q_scale(qy), &m))
            return "the ratio of its scales cannot be represented";
        q->b[i] = (int32_t)folded;
        q->ms[2 * i] = m.m;
        q->ms[2 * i + 1] = m.s;
    }
    return NULL;
}

static const char *bn_int8_check(const Graph *g, const Node *n)
{
    ConvQ q;
    const char *why = bn_make(g, n, &q);
    conv_q_free(&q);
    return why;
}

static void bn_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                        int batch)
{
    ConvQ q;
    if (bn_make(g, n, &q))
        internal_error("batchnorm '%s': integer form refused after check", n->name);
    conv_q_run(&q, in[0], out, batch);
    conv_q_free(&q);
}

static void bn_int8_emit(Emit *e, const Node *n)
{
    ConvQ q;
    if (bn_make(emit_graph(e), n, &q))
        internal_error("batchnorm '%s': integer form refused after check", n->name);
    conv_q_emit(e, n, &q);
    conv_q_free(&q);
}

const QuantOps batchnorm_int8 = {
    .check = bn_int8_check,
    .run = bn_int8_run,
    .emit = bn_int8_emit,
};
