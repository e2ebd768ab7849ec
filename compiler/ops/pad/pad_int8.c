/* pad_int8.c: the pad layer's integer form (docs/int8.md): the same copy
 * as pad.c's, the zero border being the zero point (the real 0). Values
 * move unchanged, so the output keeps the input's scale and zero point
 * (else the layer stays float). */
#include "../ops.h"
#include "../../kit/qmath.h"

static const char *pad_int8_check(const Graph *g, const Node *n)
{
    const Quant *a = g->t[n->in[0]].q, *b = g->t[n->out].q;
    if (q_scale(a) != q_scale(b) || q_zero(a) != q_zero(b))
        return "its input and output scales differ (a pad keeps the scale)";
    return NULL;
}

static void pad_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                         int batch)
{
    int64_t c, h, w, oh, ow;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    shape_chw(node_out_shape(g, n), &c, &oh, &ow);
    int top = node_in_shape(g, n, 0)->rank == 3 ? n->a.pad[0] : 0, left = n->a.pad[1];
    int8_t zero = (int8_t)q_zero(g->t[n->in[0]].q);
    for (int64_t plane = 0; plane < batch * c; plane++) {
        const int8_t *x = (const int8_t *)in[0] + plane * h * w;
        int8_t *y = (int8_t *)out + plane * oh * ow;
        for (int64_t i = 0; i < oh; i++) {
            int64_t si = pad_source(i - top, h, n->a.pad_mode);
            for (int64_t j = 0; j < ow; j++) {
                int64_t sj = pad_source(j - left, w, n->a.pad_mode);
                y[i * ow + j] = si < 0 || sj < 0 ? zero : x[si * w + sj];
            }
        }
    }
}

static void pad_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    int64_t c, h, w;
    shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
    int pad[4] = {n->a.pad[0], n->a.pad[1], n->a.pad[2], n->a.pad[3]};
    if (node_in_shape(g, n, 0)->rank != 3)
        pad[0] = pad[2] = 0; /* 1-D: left and right only */
    emit_pad_copy_typed(e, "y", "x0", c, h, w, pad, n->a.pad_mode, "int8_t",
                        (int)q_zero(g->t[n->in[0]].q));
}

const QuantOps pad_int8 = {
    .flags = QUANT_SAME_SCALE,
    .check = pad_int8_check,
    .run = pad_int8_run,
    .emit = pad_int8_emit,
};
