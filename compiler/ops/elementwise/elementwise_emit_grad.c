/* elementwise_emit_grad.c: training code of add and mul (elementwise_grad.c,
 * traingen).
 *
 *   add: every operand receives gy = dL/d(pre-activation) (the fused
 *        epilogue undone first); a broadcast operand B (ONNX Add(x, B))
 *        sums gy over the cells that read each of its cells.
 *   mul: dL/dx0 = dL/dy * x1 and dL/dx1 = dL/dy * x0; with B, dL/dx0 =
 *        dL/dy * B and dL/dB sums dL/dy * x0 over the cells that read B.
 *
 * Their training forward is their own (elementwise_emit_train): with a
 * trainable B (T_PARAM) it must read the state's copy, not the baked one
 * the inference function reads; a constant B is a table of the body.
 * B is read through a loop nest over the sample's dimensions with B's
 * strides as literals (0 along a broadcast axis), numpy's alignment as in
 * elementwise.c. */
#include "../ops.h"

#include <stdio.h>
#include <stdlib.h>

/* The node's operand B, or NULL. */
static const Tensor *operand(const Graph *g, const Node *n)
{
    return n->nparam > 0 && n->param[0] >= 0 ? &g->t[n->param[0]] : NULL;
}

/* Opens a loop nest over n samples and the sample's dimensions that
 * defines i (the element in the batch) and at (where it reads B; 0 without
 * B); the caller writes the body and closes it with emit_nest_end. */
static void emit_nest(Emit *e, const Shape *s, const Shape *b)
{
    int extra = b ? b->rank - s->rank : 0;
    int64_t stride[MAX_RANK], bstride = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        int bd = d + extra;
        stride[d] = 0;
        if (b && bd >= 0 && b->d[bd] != 1) {
            stride[d] = bstride;
            bstride *= b->d[bd];
        }
    }
    StrBuf at = {0}, idx = {0};
    sb_puts(&at, "0");
    sb_puts(&idx, "b");
    emit_line(e, "size_t b;");
    emit_line(e, "for (b = 0; b < (size_t)n; b++)");
    for (int d = 0; d < s->rank; d++) {
        emit_line(e, "for (size_t c%d = 0; c%d < %lld; c%d++)%s", d, d, (long long)s->d[d], d,
                  d + 1 == s->rank ? " {" : "");
        char *next = xasprintf("(%s) * %lld + c%d", idx.s, (long long)s->d[d], d);
        sb_free(&idx);
        sb_puts(&idx, next);
        free(next);
        if (stride[d])
            sb_printf(&at, " + c%d * %lld", d, (long long)stride[d]);
    }
    emit_line(e, "const size_t i = %s, at = %s;", idx.s, at.s);
    if (!b)
        emit_line(e, "(void)at;");
    sb_free(&at);
    sb_free(&idx);
}

static void emit_nest_end(Emit *e)
{
    emit_line(e, "}");
}

/* B as a C expression: the state's copy (p0), or a constant of the body. */
static const char *emit_operand_data(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Tensor *b = operand(g, n);
    if (b->kind == T_PARAM)
        return "p0";
    int64_t count = shape_numel(&b->shape);
    StrBuf v = {0};
    for (int64_t i = 0; i < count; i++)
        sb_printf(&v, "%s%s", i ? ", " : "", emit_float(e, b->data[i]));
    emit_line(e, "static const float B[%lld] = {%s}; /* %s */", (long long)count, v.s, b->name);
    sb_free(&v);
    return "B";
}

void elementwise_emit_train(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Tensor *b = operand(g, n);
    char op = n->op == OP_ADD ? '+' : '*';
    const char *B = b ? emit_operand_data(e, n) : NULL;
    emit_nest(e, node_out_shape(g, n), b ? &b->shape : NULL);
    StrBuf t = {0};
    sb_puts(&t, "x0[i]");
    for (int j = 1; j < n->nin; j++)
        sb_printf(&t, " %c x%d[i]", op, j);
    if (B)
        sb_printf(&t, " %c %s[at]", op, B);
    emit_line(e, "const float t = %s;", t.s);
    sb_free(&t);
    emit_line(e, "y[i] = %s;", emit_act(e, n->act, "t"));
    emit_nest_end(e);
}

void add_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long size = shape_numel(node_out_shape(g, n));
    emit_grad_epilogue(e, n, size);
    emit_line(e, "size_t k;");
    for (int j = 0; j < n->nin; j++)
        if (emit_grad_needs_dx(e, j)) {
            emit_line(e, "for (k = 0; k < (size_t)n * %lld; k++)", size);
            emit_line(e, "    dx%d[k] += dy[k];", j);
        }
    emit_line(e, "(void)k;");
    if (emit_grad_has_dp(e, 0)) {
        char count[32];
        snprintf(count, sizeof count, "%lld", (long long)shape_numel(&operand(g, n)->shape));
        emit_train_scratch(e, shape_numel(&operand(g, n)->shape));
        emit_line(e, "{");
        emit_pgrad_begin(e, 0, "gB", "0", count, 1, "ws");
        emit_line(e, "{");
        emit_nest(e, node_out_shape(g, n), &operand(g, n)->shape);
        emit_line(e, "gB[at] += dy[i];");
        emit_nest_end(e);
        emit_line(e, "}");
        emit_pgrad_end(e, 0, "gB", "0", count, 1);
        emit_line(e, "}");
    }
}

void mul_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long size = shape_numel(node_out_shape(g, n));
    if (!operand(g, n) && n->nin != 2) {
        emit_unsupported(e, n, "the backward pass of this form of mul yet");
        return;
    }
    if (!operand(g, n)) {
        emit_line(e, "size_t i;");
        for (int j = 0; j < 2; j++)
            if (emit_grad_needs_dx(e, j)) {
                emit_line(e, "for (i = 0; i < (size_t)n * %lld; i++)", size);
                emit_line(e, "    dx%d[i] += dy[i] * x%d[i];", j, 1 - j);
            }
        emit_line(e, "(void)i;");
        return;
    }
    bool dx = emit_grad_needs_dx(e, 0), dp = emit_grad_has_dp(e, 0);
    if (!dx && !dp)
        return;
    const char *B = emit_operand_data(e, n);
    char count[32];
    snprintf(count, sizeof count, "%lld", (long long)shape_numel(&operand(g, n)->shape));
    if (dp) { /* B as it was for dx: stepped after the whole batch */
        emit_train_scratch(e, shape_numel(&operand(g, n)->shape));
        emit_pgrad_begin(e, 0, "gB", "0", count, 1, "ws");
    }
    emit_line(e, "{");
    emit_nest(e, node_out_shape(g, n), &operand(g, n)->shape);
    if (dx)
        emit_line(e, "dx0[i] += dy[i] * %s[at];", B);
    if (dp)
        emit_line(e, "gB[at] += dy[i] * x0[i];");
    emit_nest_end(e);
    emit_line(e, "}");
    if (dp)
        emit_pgrad_end(e, 0, "gB", "0", count, 1);
}
