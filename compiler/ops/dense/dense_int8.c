/* dense_int8.c: dense's integer form (docs/int8.md): a 1x1 conv over an
 * IN x 1 x 1 input (ops/conv/conv_int8.c), so the same arithmetic,
 *
 *   y[u] = clamp(zy + round((b'[u] + sum_i x[i] * w[u, i]) * M[u]), lo, hi),
 *
 * with int8 weights per output unit, and the same pointwise kernel (weight
 * rows [UNITS][IN] dotted with the input, two units at a time). */
#include "../conv/conv_int8.h"

/* A dense layer's geometry as a conv's. */
static ConvGeom dense_geometry(const Graph *g, const Node *n)
{
    return (ConvGeom){.c = node_in_shape(g, n, 0)->d[0], .h = 1, .w = 1,
                      .f = node_out_shape(g, n)->d[0], .oh = 1, .ow = 1,
                      .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1};
}

static const char *dense_int8_check(const Graph *g, const Node *n)
{
    ConvGeom k = dense_geometry(g, n);
    ConvQ q;
    const char *why = conv_q_make(g, n, &k, &q);
    conv_q_free(&q);
    return why;
}

static void dense_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                           int batch)
{
    ConvGeom k = dense_geometry(g, n);
    ConvQ q;
    if (conv_q_make(g, n, &k, &q))
        internal_error("dense '%s': integer form refused after check", n->name);
    conv_q_run(&q, in[0], out, batch);
    conv_q_free(&q);
}

static void dense_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    ConvGeom k = dense_geometry(g, n);
    ConvQ q;
    if (conv_q_make(g, n, &k, &q))
        internal_error("dense '%s': integer form refused after check", n->name);
    conv_q_emit(e, n, &q);
    conv_q_free(&q);
}

const QuantOps dense_int8 = {
    .flags = QUANT_WEIGHTS,
    .check = dense_int8_check,
    .run = dense_int8_run,
    .emit = dense_int8_emit,
};
