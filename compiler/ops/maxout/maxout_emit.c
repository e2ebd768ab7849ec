/* maxout_emit.c: the forward emitter of maxout (see maxout.c):
 * y[c, p] = max_j x[c*k + j, p], the k pieces compared in order. */
#include "../ops.h"

void maxout_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int64_t c = s->d[0], plane = shape_numel(s) / c;
    int k = n->a.k;
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)c);
    emit_line(e, "for (int p = 0; p < %lld; p++) {", (long long)plane);
    emit_line(e, "const float *xp = x0 + c * %lld + p;", (long long)(k * plane));
    emit_line(e, "float m = xp[0];");
    emit_line(e, "for (int j = 1; j < %d; j++)", k);
    emit_line(e, "    m = xp[j * %lld] > m ? xp[j * %lld] : m;", (long long)plane, (long long)plane);
    emit_line(e, "y[c * %lld + p] = m;", (long long)plane);
    emit_line(e, "}");
}
