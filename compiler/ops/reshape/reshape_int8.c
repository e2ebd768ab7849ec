/* reshape_int8.c: the views' integer form (flatten, reshape, dropout,
 * identity; docs/int8.md). A view's output is its input reinterpreted, so
 * it keeps the input's scale and zero point (else it stays float, between a
 * dequantize and a quantize); it has no code of its own, and the
 * interpreter copies the bytes. */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <string.h>

static const char *view_int8_check(const Graph *g, const Node *n)
{
    const Quant *a = g->t[n->in[0]].q, *b = g->t[n->out].q;
    if (q_scale(a) != q_scale(b) || q_zero(a) != q_zero(b))
        return "its input and output scales differ (a view keeps the scale)";
    return NULL;
}

static void view_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                          int batch)
{
    memcpy(out, in[0], (size_t)batch * (size_t)shape_numel(node_out_shape(g, n)));
}

const QuantOps view_int8 = {
    .flags = QUANT_SAME_SCALE,
    .check = view_int8_check,
    .run = view_int8_run,
};
