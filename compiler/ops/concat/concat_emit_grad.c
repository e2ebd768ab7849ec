/* concat_emit_grad.c: backward of concat (concat_grad.c, traingen): dy
 * cut along the axis into the inputs' gradients. */
#include "../ops.h"

void concat_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis;
    long long outer = 1, inner = 1, row = shape_numel(s);
    for (int d = 0; d < axis; d++)
        outer *= s->d[d];
    for (int d = axis + 1; d < s->rank; d++)
        inner *= s->d[d];
    emit_line(e, "size_t o;");
    emit_line(e, "int j;");
    emit_line(e, "for (o = 0; o < (size_t)n * %lld; o++) {", outer);
    long long at = 0;
    for (int i = 0; i < n->nin; i++) {
        long long chunk = node_in_shape(g, n, i)->d[axis] * inner;
        if (emit_grad_needs_dx(e, i)) {
            emit_line(e, "for (j = 0; j < %lld; j++)", chunk);
            emit_line(e, "    dx%d[o * %lld + j] += dy[o * %lld + %lld + j];", i, chunk,
                      row / outer, at);
        }
        at += chunk;
    }
    emit_line(e, "(void)j;");
    emit_line(e, "}");
}
