/* maxout_int8.c: maxout's integer form (docs/int8.md): the max of each
 * group's k pieces, in int8 order, which is the reals' order, so the output
 * keeps the input's scale and zero point (else the layer stays float). */
#include "../ops.h"
#include "../../kit/qmath.h"

static const char *maxout_int8_check(const Graph *g, const Node *n)
{
    const Quant *a = g->t[n->in[0]].q, *b = g->t[n->out].q;
    if (q_scale(a) != q_scale(b) || q_zero(a) != q_zero(b))
        return "its input and output scales differ (a max keeps the scale)";
    return NULL;
}

static void maxout_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                            int batch)
{
    const Shape *s = node_out_shape(g, n);
    int64_t units = batch * s->d[0], k = n->a.k, plane = shape_numel(s) / s->d[0];
    for (int64_t u = 0; u < units; u++) {
        const int8_t *x = (const int8_t *)in[0] + u * k * plane;
        int8_t *y = (int8_t *)out + u * plane;
        for (int64_t p = 0; p < plane; p++) {
            int8_t max = x[p];
            for (int64_t j = 1; j < k; j++)
                max = x[j * plane + p] > max ? x[j * plane + p] : max;
            y[p] = max;
        }
    }
}

static void maxout_int8_emit(Emit *e, const Node *n)
{
    const Shape *s = node_out_shape(emit_graph(e), n);
    int64_t plane = shape_numel(s) / s->d[0];
    emit_line(e, "for (int u = 0; u < %lld; u++)", (long long)s->d[0]);
    emit_line(e, "for (int p = 0; p < %lld; p++) {", (long long)plane);
    emit_line(e, "const int8_t *x = x0 + u * %lld + p;", (long long)(n->a.k * plane));
    emit_line(e, "int8_t max = x[0];");
    emit_line(e, "for (int j = 1; j < %d; j++)", n->a.k);
    emit_line(e, "    max = x[j * %lld] > max ? x[j * %lld] : max;", (long long)plane,
              (long long)plane);
    emit_line(e, "y[u * %lld + p] = max;", (long long)plane);
    emit_line(e, "}");
}

const QuantOps maxout_int8 = {
    .flags = QUANT_SAME_SCALE,
    .check = maxout_int8_check,
    .run = maxout_int8_run,
    .emit = maxout_int8_emit,
};
