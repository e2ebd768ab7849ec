/* elementwise_emit_grad.c: training code of add, sub, mul and div
 * (elementwise_grad.c, traingen).
 *
 * With g = dL/dy (for add, the fused epilogue undone first), operand k
 * receives g * dy/dx_k: add 1; sub 1, -1; mul the other operand; div 1/b
 * and -a/b^2, added into each cell it was read from, so that a broadcast
 * operand sums over the axes it was broadcast along (and B over the batch).
 *
 * Their training forward is their own (elementwise_emit_train): with a
 * trainable B (T_PARAM) it must read the state's copy, not the baked one
 * the inference function reads; a constant B is a table of the body.
 * Both walk elt_nest's loops inside a loop over the n samples. */
#include "../ops.h"

#include <stdio.h>
#include <stdlib.h>

/* Operand k's array for sample b: x<j> + b * its size, the state's p0, or
 * B's table. */
static const char *operand_array(Emit *e, const Node *n, int k)
{
    const Graph *g = emit_graph(e);
    int j = elt_input(n, k);
    if (j >= 0)
        return emit_keep(e, xasprintf("(x%d + b * %lld)", j,
                                      (long long)shape_numel(node_in_shape(g, n, j))));
    return emit_train_param0(e, n, "B");
}

const char *emit_train_param0(Emit *e, const Node *n, const char *name)
{
    const Tensor *t = &emit_graph(e)->t[n->param[0]];
    if (t->kind == T_PARAM || t->kind == T_BUFFER)
        return "p0";
    int64_t count = shape_numel(&t->shape);
    StrBuf v = {0};
    for (int64_t i = 0; i < count; i++)
        sb_printf(&v, "%s%s", i ? ", " : "", emit_float(e, t->data[i]));
    emit_line(e, "static const float %s[%lld] = {%s}; /* %s */", name, (long long)count, v.s,
              t->name);
    sb_free(&v);
    return name;
}

/* Each operand's array (the caller frees the list). */
static const char **operand_arrays(Emit *e, const Node *n, int count)
{
    const char **arr = xmalloc((size_t)count * sizeof *arr);
    for (int k = 0; k < count; k++)
        arr[k] = operand_array(e, n, k);
    return arr;
}

/* Opens the loop over the samples around elt_nest's loops. */
static void open_loops(Emit *e, const EltNest *nest)
{
    emit_line(e, "size_t b;");
    emit_line(e, "for (b = 0; b < (size_t)n; b++) {");
    elt_nest_open(e, nest);
}

static void close_loops(Emit *e)
{
    elt_nest_close(e);
    emit_line(e, "}");
}

void elementwise_emit_train(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    EltNest nest = elt_node_nest(g, n);
    const char **arr = operand_arrays(e, n, nest.count);
    int64_t size = shape_numel(node_out_shape(g, n));
    open_loops(e, &nest);
    emit_line(e, "const float t = %s;", elt_nest_expr(e, n, &nest, arr));
    emit_line(e, "y[b * %lld + %s] = %s;", (long long)size, elt_nest_at(e, &nest, nest.count),
              emit_act(e, n->act, "t"));
    close_loops(e);
    free(arr);
    elt_nest_free(&nest);
}

/* B's gradient as one block of its cells (emit_pgrad_begin), gB, in a
 * scope that pgrad_end closes after stepping it; rows gets their count. */
static void pgrad_begin(Emit *e, const Node *n, char *rows, size_t size)
{
    int64_t cells = shape_numel(&emit_graph(e)->t[n->param[0]].shape);
    snprintf(rows, size, "%lld", (long long)cells);
    emit_line(e, "{");
    emit_pgrad_begin(e, 0, "gB", "0", rows, 1, emit_train_scratch(e, cells));
}

static void pgrad_end(Emit *e, const char *rows)
{
    emit_pgrad_end(e, 0, "gB", "0", rows, 1);
    emit_line(e, "}");
}

/* g * dy/dx_k as C, the operands read through arr at their offsets. */
static const char *emit_partial(Emit *e, const Node *n, const EltNest *nest, const char **arr,
                                int k)
{
    if (n->op == OP_ADD || (n->op == OP_SUB && k == 0))
        return "g";
    if (n->op == OP_SUB)
        return "-g";
    const char *a = emit_keep(e, xasprintf("%s[%s]", arr[0], elt_nest_at(e, nest, 0)));
    const char *b = emit_keep(e, xasprintf("%s[%s]", arr[1], elt_nest_at(e, nest, 1)));
    if (n->op == OP_MUL)
        return emit_keep(e, xasprintf("g * %s", k == 0 ? b : a));
    if (n->op == OP_POWER && k == 0) /* masked as elementwise_grad.c's power_partial */
        return emit_keep(e, xasprintf("(%s == 0.0f ? 0.0f : g * %s * powf(%s, %s - 1.0f))", b, b,
                                      a, b));
    if (n->op == OP_POWER)
        return emit_keep(e, xasprintf("(%s == 0.0f && %s >= 0.0f ? 0.0f : g * powf(%s, %s) * "
                                      "logf(%s))", a, b, a, b, a));
    if (k == 0)
        return emit_keep(e, xasprintf("g / %s", b));
    return emit_keep(e, xasprintf("-g * %s / (%s * %s)", a, b, b));
}

void elementwise_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    int64_t size = shape_numel(node_out_shape(g, n));
    emit_grad_epilogue(e, n, size);
    EltNest nest = elt_node_nest(g, n);
    bool any = false;
    for (int k = 0; k < nest.count; k++) {
        int j = elt_input(n, k);
        any |= j >= 0 ? emit_grad_needs_dx(e, j) : emit_grad_has_dp(e, 0);
    }
    if (any) {
        /* add's and sub's partials read no operand: no table of B either */
        bool reads = n->op == OP_MUL || n->op == OP_DIV || n->op == OP_POWER;
        const char **arr = reads ? operand_arrays(e, n, nest.count) : NULL;
        bool dp = emit_grad_has_dp(e, 0);
        char rows[32];
        if (dp) /* B as it was for dx: stepped after the whole batch */
            pgrad_begin(e, n, rows, sizeof rows);
        open_loops(e, &nest);
        emit_line(e, "const float g = dy[b * %lld + %s];", (long long)size,
                  elt_nest_at(e, &nest, nest.count));
        for (int k = 0; k < nest.count; k++) {
            int j = elt_input(n, k);
            const char *at = elt_nest_at(e, &nest, k), *d = emit_partial(e, n, &nest, arr, k);
            if (j >= 0 && emit_grad_needs_dx(e, j))
                emit_line(e, "dx%d[b * %lld + %s] += %s;", j,
                          (long long)shape_numel(node_in_shape(g, n, j)), at, d);
            else if (j < 0 && dp)
                emit_line(e, "gB[%s] += %s;", at, d);
        }
        close_loops(e);
        if (dp)
            pgrad_end(e, rows);
        free(arr);
    }
    elt_nest_free(&nest);
}
