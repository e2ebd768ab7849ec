/* elementwise_emit_grad.c: backward of add and mul between activations
 * (elementwise_grad.c, traingen). A trainable broadcast operand is not
 * generated (emit_train.c reports it). */
#include "ops.h"

void add_emit_grad(Emit *e, const Node *n)
{
    long long size = shape_numel(node_out_shape(emit_graph(e), n));
    emit_grad_epilogue(e, n, size);
    emit_line(e, "size_t i;");
    for (int j = 0; j < n->nin; j++)
        if (emit_grad_needs_dx(e, j)) {
            emit_line(e, "for (i = 0; i < (size_t)n * %lld; i++)", size);
            emit_line(e, "    dx%d[i] += dy[i];", j);
        }
    emit_line(e, "(void)i;");
}

void mul_emit_grad(Emit *e, const Node *n)
{
    long long size = shape_numel(node_out_shape(emit_graph(e), n));
    if (n->nin != 2) {
        emit_unsupported(e, n, "the backward pass of mul by a constant yet");
        return;
    }
    emit_line(e, "size_t i;");
    for (int j = 0; j < 2; j++)
        if (emit_grad_needs_dx(e, j)) {
            emit_line(e, "for (i = 0; i < (size_t)n * %lld; i++)", size);
            emit_line(e, "    dx%d[i] += dy[i] * x%d[i];", j, 1 - j);
        }
    emit_line(e, "(void)i;");
}
