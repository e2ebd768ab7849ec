/* maxout_emit_grad.c: backward of maxout (maxout_grad.c, traingen): dy of
 * unit u at pixel p goes to the first largest of its k inputs. */
#include "../ops.h"

void maxout_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    const Shape *s = node_out_shape(emit_graph(e), n);
    long long k = n->a.k, plane = shape_numel(s) / s->d[0];
    emit_line(e, "size_t u;");
    emit_line(e, "int p, j;");
    emit_line(e, "for (u = 0; u < (size_t)n * %lld; u++)", (long long)s->d[0]);
    emit_line(e, "for (p = 0; p < %lld; p++) {", plane);
    emit_line(e, "const float *x = x0 + u * %lld;", k * plane);
    emit_line(e, "int best = 0;");
    emit_line(e, "for (j = 1; j < %lld; j++)", k);
    emit_line(e, "    if (x[j * %lld + p] > x[best * %lld + p])", plane, plane);
    emit_line(e, "        best = j;");
    emit_line(e, "dx0[u * %lld + best * %lld + p] += dy[u * %lld + p];", k * plane, plane, plane);
    emit_line(e, "}");
}
