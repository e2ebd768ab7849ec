/* concat_emit_grad.c: backward of concat (concat_grad.c, traingen): dy
 * cut along the axis into the operands' gradients. */
#include "../ops.h"

void concat_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis, ops = concat_operands(n);
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    long long row = shape_numel(s) / outer, at = 0;
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
                emit_line(e, "    dp%d[o %% %lld * %lld + j] += dy[o * %lld + %lld + j];", k,
                          (long long)outer, chunk, row, at);
            else
                emit_line(e, "    dx%d[o * %lld + j] += dy[o * %lld + %lld + j];", k, chunk, row,
                          at);
        }
        at += chunk;
    }
    emit_line(e, "(void)j;");
    emit_line(e, "}");
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
