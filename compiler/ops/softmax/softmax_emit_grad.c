/* softmax_emit_grad.c: backward of a softmax inside the network
 * (softmax_grad.c, traingen): dx = y * (dy - sum(dy * y)) along the axis.
 * A final softmax over the classes is fused with the loss instead. */
#include "../ops.h"

void softmax_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    const Shape *s = node_out_shape(emit_graph(e), n);
    long long outer = 1, len = s->d[n->a.axis], inner = 1;
    for (int i = 0; i < n->a.axis; i++)
        outer *= s->d[i];
    for (int i = n->a.axis + 1; i < s->rank; i++)
        inner *= s->d[i];
    emit_line(e, "size_t o;");
    emit_line(e, "int k, i;");
    emit_line(e, "for (o = 0; o < (size_t)n * %lld; o++)", outer);
    emit_line(e, "for (k = 0; k < %lld; k++) {", inner);
    emit_line(e, "const size_t base = o * %lld + k;", len * inner);
    emit_line(e, "double dot = 0;");
    emit_line(e, "for (i = 0; i < %lld; i++)", len);
    emit_line(e, "    dot += (double)dy[base + i * %lld] * y[base + i * %lld];", inner, inner);
    emit_line(e, "for (i = 0; i < %lld; i++)", len);
    emit_line(e, "    dx0[base + i * %lld] += (float)(y[base + i * %lld] * (dy[base + i * %lld] - dot));",
              inner, inner, inner);
    emit_line(e, "}");
}
