/* concat_int8.c: concat's integer form (docs/int8.md): each input moved
 * into the output's scale and zero point,
 *
 *   y = clamp(zy + round((x_i - z_i) * M_i)),  M_i = s_i / sy,
 *
 * and copied as it is where its scale and zero point are the output's
 * (branches calibrated alike, or QDQ models that share one). */
#include "../ops.h"
#include "../../kit/qmath.h"


/* Input i keeps its bytes (same scale and zero point as the output)? */
static bool copies(const Graph *g, const Node *n, int i)
{
    const Quant *a = g->t[n->in[i]].q, *b = g->t[n->out].q;
    return q_scale(a) == q_scale(b) && q_zero(a) == q_zero(b);
}

static bool input_mul(const Graph *g, const Node *n, int i, QMul *m)
{
    return qmul_make((double)q_scale(g->t[n->in[i]].q) / q_scale(g->t[n->out].q), m);
}

static const char *concat_int8_check(const Graph *g, const Node *n)
{
    QMul m;
    if (g->t[n->out].shape.rank > 3)
        return "its output is a volume (C x D x H x W): the int8 kernel is 2-d";
    for (int i = 0; i < n->nin; i++)
        if (!copies(g, n, i) && !input_mul(g, n, i, &m))
            return "the ratio of its scales cannot be represented";
    return NULL;
}

static void concat_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                            int batch)
{
    int64_t outer, inner;
    shape_split(node_out_shape(g, n), n->a.axis, &outer, &inner);
    int8_t *y = out;
    int32_t zy = q_zero(g->t[n->out].q);
    for (int64_t o = 0; o < outer * batch; o++)
        for (int i = 0; i < n->nin; i++) {
            int64_t chunk = node_in_shape(g, n, i)->d[n->a.axis] * inner;
            const int8_t *x = (const int8_t *)in[i] + o * chunk;
            int32_t zx = q_zero(g->t[n->in[i]].q);
            QMul m = {0, 1};
            bool copy = copies(g, n, i);
            if (!copy)
                input_mul(g, n, i, &m);
            for (int64_t j = 0; j < chunk; j++)
                *y++ = copy ? x[j] : (int8_t)q_requant(x[j] - zx, m, zy, -128, 127);
        }
}

static void concat_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    int64_t outer, inner, at = 0, total = node_out_shape(g, n)->d[n->a.axis];
    shape_split(node_out_shape(g, n), n->a.axis, &outer, &inner);
    emit_line(e, "for (int o = 0; o < %lld; o++) {", (long long)outer);
    for (int i = 0; i < n->nin; i++) {
        int64_t chunk = node_in_shape(g, n, i)->d[n->a.axis] * inner;
        emit_line(e, "{");
        emit_line(e, "const int8_t *x = x%d + o * %lld;", i, (long long)chunk);
        emit_line(e, "int8_t *yo = y + o * %lld + %lld;", (long long)(total * inner),
                  (long long)(at * inner));
        QMul m;
        if (copies(g, n, i)) {
            emit_line(e, "memcpy(yo, x, %lld);", (long long)chunk);
        } else {
            input_mul(g, n, i, &m);
            emit_line(e, "for (int j = 0; j < %lld; j++)", (long long)chunk);
            emit_line(e, "    yo[j] = cnnc_rq8(x[j] - %ld, %s, %ld, -128, 127);",
                      (long)q_zero(g->t[n->in[i]].q), qmul_args(e, m),
                      (long)q_zero(g->t[n->out].q));
        }
        emit_line(e, "}");
        at += node_in_shape(g, n, i)->d[n->a.axis];
    }
    emit_line(e, "}");
}

const QuantOps concat_int8 = {
    .check = concat_int8_check,
    .run = concat_int8_run,
    .emit = concat_int8_emit,
};
