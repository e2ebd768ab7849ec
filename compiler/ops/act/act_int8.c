/* act_int8.c: the standalone activations' integer form (docs/int8.md): a
 * table of the 256 int8 inputs,
 *
 *   T[x + 128] = quantize(act(dequantize(x, sx, zx)), sy, zy),
 *
 * computed once by the compiler in float and looked up by the kernels, so
 * sigmoid, tanh, elu, leaky_relu (and relu or clip with a scale change)
 * cost one load per element, and `cnnc run` and the generated code read the
 * same table. A clamp fused into a conv, dense or add needs no table: its
 * kernel saturates to the clamp's bounds (kit/qmath.c, q_bounds). */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <stdlib.h>

static void act_table(const Graph *g, const Node *n, int8_t t[256])
{
    const Quant *qx = g->t[n->in[0]].q, *qy = g->t[n->out].q;
    Act act = node_act(n);
    for (int x = -128; x < 128; x++)
        t[x + 128] = q_quantize(act_apply(act, q_dequantize(x, q_scale(qx), q_zero(qx))),
                                q_scale(qy), q_zero(qy));
}

static const char *act_int8_check(const Graph *g, const Node *n)
{
    return NULL;
}

static void act_int8_run(const Graph *g, const Node *n, const void *const *in, void *out,
                         int batch)
{
    int8_t t[256];
    act_table(g, n, t);
    const int8_t *x = in[0];
    int8_t *y = out;
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    for (int64_t i = 0; i < count; i++)
        y[i] = t[x[i] + 128];
}

static void act_int8_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    int8_t t[256];
    act_table(g, n, t);
    char *comment = xasprintf("%s: %s of each int8 input x, at x + 128", n->name,
                              act_name(node_act(n).kind));
    emit_line(e, "const int8_t *T = %s;", emit_const_i8(e, "table", comment, t, 256));
    free(comment);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)shape_numel(node_out_shape(g, n)));
    emit_line(e, "    y[i] = T[x0[i] + 128];");
}

const QuantOps act_int8 = {
    .check = act_int8_check,
    .run = act_int8_run,
    .emit = act_int8_emit,
};
