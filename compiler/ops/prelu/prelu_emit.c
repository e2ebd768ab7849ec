/* prelu_emit.c: prelu (prelu.c) in generated code: the forward, and the
 * training forward and backward, which read the state's copy of the slope
 * (p0; the inference function reads it baked into a table) and add its
 * gradient through the emit kit's parameter-gradient block. Loops as the
 * elementwise ops' (elt_nest): a slope per channel is a loop over the
 * channels around a loop over the plane that reads the channel's one value. */
#include "../ops.h"

#include <stdio.h>

/* The nest over x's cells, operand 0 x and operand 1 the slope. */
static EltNest nest_of(const Graph *g, const Node *n)
{
    const Shape *x = node_in_shape(g, n, 0);
    Shape ops[2] = {*x};
    prelu_view(&g->t[n->param[0]].shape, x, &ops[1]);
    return elt_nest(x, ops, 2);
}

void prelu_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Tensor *a = &g->t[n->param[0]];
    const char *A = emit_const(e, "slope", a->name, a->data, shape_numel(&a->shape));
    EltNest nest = nest_of(g, n);
    elt_nest_open(e, &nest);
    emit_line(e, "const float v = x0[%s];", elt_nest_at(e, &nest, 0));
    emit_line(e, "y[%s] = v > 0.0f ? v : %s[%s] * v;", elt_nest_at(e, &nest, 2), A,
              elt_nest_at(e, &nest, 1));
    elt_nest_close(e);
    elt_nest_free(&nest);
}

/* Opens the loops over the n samples and the sample's cells: v is x, and
 * c its cell's offset in the batch. */
static EltNest open_batch(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long size = shape_numel(node_in_shape(g, n, 0));
    EltNest nest = nest_of(g, n);
    emit_line(e, "size_t b;");
    emit_line(e, "for (b = 0; b < (size_t)n; b++) {");
    elt_nest_open(e, &nest);
    emit_line(e, "const size_t c = b * %lld + %s;", size, elt_nest_at(e, &nest, 0));
    emit_line(e, "const float v = x0[c];");
    return nest;
}

static void close_batch(Emit *e, EltNest *nest)
{
    elt_nest_close(e);
    emit_line(e, "}");
    elt_nest_free(nest);
}

void prelu_emit_train(Emit *e, const Node *n)
{
    const char *A = emit_train_param0(e, n, "A");
    EltNest nest = open_batch(e, n);
    emit_line(e, "y[c] = v > 0.0f ? v : %s[%s] * v;", A, elt_nest_at(e, &nest, 1));
    close_batch(e, &nest);
}

/* The slope's gradient is one block of its cells (emit_pgrad_begin),
 * stepped after the whole batch: dx reads the slope as it was. */
void prelu_emit_grad(Emit *e, const Node *n)
{
    bool dx = emit_grad_needs_dx(e, 0), dp = emit_grad_has_dp(e, 0);
    if (!dx && !dp)
        return;
    const char *A = dx ? emit_train_param0(e, n, "A") : NULL;
    int64_t cells = shape_numel(&emit_graph(e)->t[n->param[0]].shape);
    char rows[32];
    snprintf(rows, sizeof rows, "%lld", (long long)cells);
    emit_line(e, "{");
    if (dp)
        emit_pgrad_begin(e, 0, "ga", "0", rows, 1, emit_train_scratch(e, cells));
    EltNest nest = open_batch(e, n);
    const char *at = elt_nest_at(e, &nest, 1);
    if (dx)
        emit_line(e, "dx0[c] += v > 0.0f ? dy[c] : dy[c] * %s[%s];", A, at);
    if (dp)
        emit_line(e, "if (v <= 0.0f) ga[%s] += dy[c] * v;", at);
    close_batch(e, &nest);
    if (dp)
        emit_pgrad_end(e, 0, "ga", "0", rows, 1);
    emit_line(e, "}");
}
