/* elementwise_int8.c: add's and mul's integer forms (docs/int8.md), for
 * activations only (a constant operand B keeps the layer float).
 *
 *   add  each input rescaled to a shared fine grid, as TensorFlow Lite does:
 *          a_i = round((x_i - z_i) * 2^20 * M_i),  M_i = s_i / (2 max_j s_j)
 *          y = clamp(zy + round(sum_i a_i * M),   M = 2 max_j s_j / (2^20 sy))
 *        so a residual join whose inputs have different scales loses
 *        under 2^-19 of an input step before the one rounding that matters;
 *        [lo, hi] the fused clamp's (a residual's relu).
 *   mul  y = clamp(zy + round((x0 - z0) (x1 - z1) M)),  M = s0 s1 / sy.
 *
 * |x - z| <= 255, so (x - z) * 2^20 < 2^28 and each a_i <= 2^27: up to 15
 * inputs sum in int32. */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <stdlib.h>

#define ADD_SHIFT 20
#define ADD_MAX_INPUTS 15

/* The rescaling of an add: per input (m, s) pairs, then the output's. */
typedef struct {
    int n;
    int32_t zx[ADD_MAX_INPUTS], zy, lo, hi;
    QMul in[ADD_MAX_INPUTS], out;
} AddQ;

static const char *add_make(const Graph *g, const Node *n, AddQ *q)
{
    if (n->nparam > 0 && n->param[0] >= 0)
        return "a constant operand";
    if (n->nin > ADD_MAX_INPUTS)
        return "more than 15 inputs";
    if (!act_is_clamp(node_epilogue(n)))
        return "its fused activation is not a clamp (it needs a scale of its own)";
    const Quant *qy = g->t[n->out].q;
    double smax = 0;
    for (int j = 0; j < n->nin; j++)
        smax = q_scale(g->t[n->in[j]].q) > smax ? q_scale(g->t[n->in[j]].q) : smax;
    q->n = n->nin;
    q->zy = q_zero(qy);
    q_bounds(node_epilogue(n), qy, &q->lo, &q->hi);
    for (int j = 0; j < n->nin; j++) {
        q->zx[j] = q_zero(g->t[n->in[j]].q);
        if (!qmul_make(q_scale(g->t[n->in[j]].q) / (2 * smax), &q->in[j]))
            return "the ratio of its scales cannot be represented";
    }
    if (!qmul_make(2 * smax / ((double)(1 << ADD_SHIFT) * q_scale(qy)), &q->out))
        return "the ratio of its scales cannot be represented";
    return NULL;
}

static const char *mul_make(const Graph *g, const Node *n, QMul *m)
{
    if (n->nparam > 0 && n->param[0] >= 0)
        return "a constant operand";
    double s = (double)q_scale(g->t[n->in[0]].q) * q_scale(g->t[n->in[1]].q);
    return qmul_make(s / q_scale(g->t[n->out].q), m)
               ? NULL
               : "the ratio of its scales cannot be represented";
}

static const char *elementwise_int8_check(const Graph *g, const Node *n)
{
    AddQ a;
    QMul m;
    for (int i = 0; i < n->nin; i++)
        if (!shape_eq(&g->t[n->in[i]].shape, node_out_shape(g, n)))
            return "it broadcasts: the int8 kernel takes operands of the output's shape";
    return n->op == OP_ADD ? add_make(g, n, &a) : mul_make(g, n, &m);
}

static void elementwise_int8_run(const Graph *g, const Node *n, const void *const *in,
                                 void *out, int batch)
{
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    const int8_t *const *x = (const int8_t *const *)in;
    int8_t *y = out;
    AddQ a;
    QMul m;
    if (n->op == OP_ADD ? add_make(g, n, &a) != NULL : mul_make(g, n, &m) != NULL)
        internal_error("%s '%s': integer form refused after check", op_info(n->op)->name,
                       n->name);
    for (int64_t i = 0; i < count; i++) {
        if (n->op == OP_MUL) {
            int32_t p = (x[0][i] - q_zero(g->t[n->in[0]].q)) * (x[1][i] - q_zero(g->t[n->in[1]].q));
            y[i] = (int8_t)q_requant(p, m, q_zero(g->t[n->out].q), -128, 127);
            continue;
        }
        int32_t sum = 0;
        for (int j = 0; j < a.n; j++)
            sum += (int32_t)qmul_apply((x[j][i] - a.zx[j]) * (1 << ADD_SHIFT), a.in[j]);
        y[i] = (int8_t)q_requant(sum, a.out, a.zy, a.lo, a.hi);
    }
}

/* Input j's term round(v 2^20 M) of v = x - zx (|v| <= 255) as 32-bit C:
 * with m = m' 2^t (t trailing zeros) and S = s - 20 - t, a product for
 * S <= 0; else m' split at bit S, v mh + ((v ml + 2^(S-1)) >> S), exact
 * (floor of an integer plus a fraction) where both parts stay in int32.
 * NULL where they would not: cnnc_rq32 then, in 64 bits. */
static char *add_term(const char *v, QMul k)
{
    if (k.m == 0)
        return xasprintf("0");
    int64_t m = k.m;
    int S = k.s - ADD_SHIFT;
    while (m % 2 == 0 && S > 0) {
        m /= 2;
        S--;
    }
    if (S <= 0)
        return xasprintf("%s * %lld", v, (long long)(m << -S));
    int64_t mh = m >> S, ml = m & (((int64_t)1 << S) - 1), half = (int64_t)1 << (S - 1);
    if (S > 22 || 255 * mh > INT32_MAX)
        return NULL;
    if (!mh)
        return xasprintf("((%s * %lld + %lld) >> %d)", v, (long long)ml, (long long)half, S);
    return xasprintf("%s * %lld + ((%s * %lld + %lld) >> %d)", v, (long long)mh, v,
                     (long long)ml, (long long)half, S);
}

/* y[i] = the sum requantized: for 32 < s <= 54, cnnc_rq8's rule from the
 * product's high word with the zero point folded into the rounding term
 * (as the blocked conv does), saturated by SSAT where there is one. */
static void emit_add_requant(Emit *e, const AddQ *a)
{
    int sh = a->out.s - 32;
    if (sh < 1 || sh > 22) {
        emit_line(e, "y[i] = cnnc_rq8(sum, %s, %ld, %ld, %ld);", qmul_args(e, a->out),
                  (long)a->zy, (long)a->lo, (long)a->hi);
        return;
    }
    emit_line(e, "int32_t v = cnnc_sat8(((int32_t)(((int64_t)sum * %ld) >> 32) + %ld) >> %d);",
              (long)a->out.m, (long)((1L << (sh - 1)) + a->zy * (1L << sh)), sh);
    if (a->lo > -128)
        emit_line(e, "v = v < %ld ? %ld : v;", (long)a->lo, (long)a->lo);
    if (a->hi < 127)
        emit_line(e, "v = v > %ld ? %ld : v;", (long)a->hi, (long)a->hi);
    emit_line(e, "y[i] = (int8_t)v;");
}

static void emit_add(Emit *e, const AddQ *a)
{
    emit_line(e, "int32_t sum = 0;");
    for (int j = 0; j < a->n; j++) {
        char *v = xasprintf("v%d", j), *term = add_term(v, a->in[j]);
        emit_line(e, "const int32_t v%d = x%d[i] - %ld;", j, j, (long)a->zx[j]);
        if (term)
            emit_line(e, "sum += %s;", term);
        else
            emit_line(e, "sum += cnnc_rq32(v%d * %d, %s);", j, 1 << ADD_SHIFT,
                      qmul_args(e, a->in[j]));
        free(v);
        free(term);
    }
    emit_add_requant(e, a);
}

static void elementwise_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    emit_line(e, "for (int i = 0; i < %lld; i++) {", (long long)shape_numel(node_out_shape(g, n)));
    if (n->op == OP_MUL) {
        QMul m;
        mul_make(g, n, &m);
        emit_line(e, "const int32_t p = (x0[i] - %ld) * (x1[i] - %ld);",
                  (long)q_zero(g->t[n->in[0]].q), (long)q_zero(g->t[n->in[1]].q));
        emit_line(e, "y[i] = cnnc_rq8(p, %s, %ld, -128, 127);", qmul_args(e, m),
                  (long)q_zero(g->t[n->out].q));
    } else {
        AddQ a;
        add_make(g, n, &a);
        emit_add(e, &a);
    }
    emit_line(e, "}");
}

const QuantOps elementwise_int8 = {
    .check = elementwise_int8_check,
    .run = elementwise_int8_run,
    .emit = elementwise_int8_emit,
};
