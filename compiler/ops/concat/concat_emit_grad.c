/* concat_emit_grad.c: backward of concat (concat_grad.c, traingen): dy
 * cut along the axis into the operands' gradients (a trainable constant's
 * through the emit kit, emit_pgrad_begin/end); the training forward. */
#include "../ops.h"

#include <stdlib.h>

/* Where constant k's gradient block starts in scratch: after those
 * before it, each rounded up. */
static int64_t const_scratch_at(const Graph *g, const Node *n, int k)
{
    int64_t at = 0;
    for (int j = 0; j < k; j++)
        at += plan_round_up(shape_numel(&g->t[n->param[j]].shape));
    return at;
}

/* The trainable constants' gradients gcK, one block of all its floats
 * each, in scratch where this node steps them itself. */
static void begin_pgrads(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    for (int k = 0; k < n->nparam; k++) {
        if (!emit_grad_has_dp(e, k))
            continue;
        char *name = xasprintf("gc%d", k);
        char *at = xasprintf("ws + %lld", (long long)const_scratch_at(g, n, k));
        emit_train_scratch(e, const_scratch_at(g, n, k + 1));
        emit_pgrad_begin(e, k, name, "0", "1", shape_numel(&g->t[n->param[k]].shape), at);
        free(name);
        free(at);
    }
}

static void end_pgrads(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    for (int k = 0; k < n->nparam; k++) {
        if (!emit_grad_has_dp(e, k))
            continue;
        char *name = xasprintf("gc%d", k);
        emit_pgrad_end(e, k, name, "0", "1", shape_numel(&g->t[n->param[k]].shape));
        free(name);
    }
}

void concat_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis, ops = concat_operands(n);
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    long long row = shape_numel(s) / outer, at = 0;
    begin_pgrads(e, n);
    emit_line(e, "size_t o;");
    emit_line(e, "int j;");
    emit_line(e, "for (o = 0; o < (size_t)n * %lld; o++) {", (long long)outer);
    for (int i = 0; i < ops; i++) {
        int k;
        bool c = concat_operand(n, i, &k);
        long long chunk = concat_shape(g, n, i)->d[axis] * inner;
        if (c ? emit_grad_has_dp(e, k) : emit_grad_needs_dx(e, k)) {
            emit_line(e, "for (j = 0; j < %lld; j++)", chunk);
            if (c)
                emit_line(e, "    gc%d[o %% %lld * %lld + j] += dy[o * %lld + %lld + j];", k,
                          (long long)outer, chunk, row, at);
            else
                emit_line(e, "    dx%d[o * %lld + j] += dy[o * %lld + %lld + j];", k, chunk, row,
                          at);
        }
        at += chunk;
    }
    emit_line(e, "(void)j;");
    emit_line(e, "}");
    end_pgrads(e, n);
}

/* The training forward: the inference copy over n samples, a constant
 * read from the state (p<slot>), where training moves it. */
void concat_emit_train(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis, ops = concat_operands(n);
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    long long row = shape_numel(s) / outer, at = 0;
    emit_line(e, "for (size_t o = 0; o < (size_t)n * %lld; o++) {", (long long)outer);
    for (int i = 0; i < ops; i++) {
        int k;
        bool c = concat_operand(n, i, &k);
        long long chunk = concat_shape(g, n, i)->d[axis] * inner;
        if (c)
            emit_line(e, "memcpy(y + o * %lld + %lld, p%d + o %% %lld * %lld, %lld * sizeof(float));",
                      row, at, k, (long long)outer, chunk, chunk);
        else
            emit_line(e, "memcpy(y + o * %lld + %lld, x%d + o * %lld, %lld * sizeof(float));", row,
                      at, k, chunk, chunk);
        at += chunk;
    }
    emit_line(e, "}");
}
