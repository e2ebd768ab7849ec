/* softmax_int8.c: softmax's integer form (docs/int8.md), along the axis as
 * softmax.c, with no float in the kernel:
 *
 *   E[d]  = round(e^(-d sx) * 2^20),  d = max_j x_j - x_i in [0, 255]
 *           (a table of 256 int32 the compiler fills)
 *   p_i   = round(E[d_i] * 2^30 / sum_j E[d_j])        (64-bit division)
 *   y_i   = clamp(zy + round(p_i * 2^-30 / sy))
 *
 * E[0] = 2^20, so the sum is at least 2^20 and p_i has 2^-20 of a step's
 * resolution or better: the result is the float softmax quantized, but for
 * an output step's rounding. Lines are up to 2^31 / 2^20 = 2048 long
 * before the sum needs 64 bits; it has them. */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <math.h>
#include <stdlib.h>

static void exp_table(const Graph *g, const Node *n, int32_t t[256])
{
    double sx = q_scale(g->t[n->in[0]].q);
    for (int d = 0; d < 256; d++)
        t[d] = (int32_t)llround(exp(-d * sx) * 0x1p20);
}

static bool out_mul(const Graph *g, const Node *n, QMul *m)
{
    return qmul_make(0x1p-30 / q_scale(g->t[n->out].q), m);
}

static const char *softmax_int8_check(const Graph *g, const Node *n)
{
    QMul m;
    return out_mul(g, n, &m) ? NULL : "its output scale is too small to represent";
}

static void softmax_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                             int batch)
{
    const Shape *s = node_out_shape(g, n);
    int64_t outer, len = s->d[n->a.axis], inner;
    shape_split(s, n->a.axis, &outer, &inner);
    int32_t t[256], zy = q_zero(g->t[n->out].q);
    QMul m;
    exp_table(g, n, t);
    out_mul(g, n, &m);
    for (int64_t o = 0; o < outer * batch; o++)
        for (int64_t k = 0; k < inner; k++) {
            const int8_t *x = (const int8_t *)in[0] + o * len * inner + k;
            int8_t *y = (int8_t *)out + o * len * inner + k;
            int32_t max = -128;
            int64_t sum = 0;
            for (int64_t i = 0; i < len; i++)
                max = x[i * inner] > max ? x[i * inner] : max;
            for (int64_t i = 0; i < len; i++)
                sum += t[max - x[i * inner]];
            for (int64_t i = 0; i < len; i++) {
                int64_t p = (((int64_t)t[max - x[i * inner]] << 30) + sum / 2) / sum;
                y[i * inner] = (int8_t)q_requant(p, m, zy, -128, 127);
            }
        }
}

static void softmax_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int64_t outer, len = s->d[n->a.axis], inner;
    shape_split(s, n->a.axis, &outer, &inner);
    int32_t t[256];
    QMul m;
    exp_table(g, n, t);
    out_mul(g, n, &m);
    char *comment = xasprintf("%s: round(e^(-d * input scale) * 2^20), d = 0 .. 255", n->name);
    emit_line(e, "const int32_t *E = %s;", emit_const_i32(e, "exp", comment, t, 256));
    free(comment);
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)outer);
    emit_line(e, "for (int k = 0; k < %lld; k++) {", (long long)inner);
    emit_line(e, "const int8_t *x = x0 + o * %lld + k;", (long long)(len * inner));
    emit_line(e, "int8_t *yl = y + o * %lld + k;", (long long)(len * inner));
    emit_line(e, "int32_t max = -128;");
    emit_line(e, "int64_t sum = 0;");
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)len);
    emit_line(e, "    max = x[i * %lld] > max ? x[i * %lld] : max;", (long long)inner,
              (long long)inner);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)len);
    emit_line(e, "    sum += E[max - x[i * %lld]];", (long long)inner);
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)len);
    emit_line(e, "const int32_t p = (int32_t)((((int64_t)E[max - x[i * %lld]] << 30) + sum / 2) / sum);",
              (long long)inner);
    emit_line(e, "yl[i * %lld] = cnnc_rq8(p, %s, %ld, -128, 127);", (long long)inner,
              qmul_args(e, m), (long)q_zero(g->t[n->out].q));
    emit_line(e, "}");
    emit_line(e, "}");
}

const QuantOps softmax_int8 = {
    .check = softmax_int8_check,
    .run = softmax_int8_run,
    .emit = softmax_int8_emit,
};
