/* softmax_emit.c: the forward emitter of softmax (see softmax.c): along the
 * axis, y = e^(x - max) / sum e^(x - max), the max taken first so that no
 * exponential overflows. The loop nest is outer x len x inner with the
 * axis in the middle; inner is 1 for a classifier's [K] output. */
#include "../ops.h"

void softmax_emit(Emit *e, const Node *n)
{
    const Shape *s = node_out_shape(emit_graph(e), n);
    int64_t outer = 1, len = s->d[n->a.axis], inner = 1;
    for (int i = 0; i < n->a.axis; i++)
        outer *= s->d[i];
    for (int i = n->a.axis + 1; i < s->rank; i++)
        inner *= s->d[i];
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)outer);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)inner);
    emit_line(e, "const float *xl = x0 + o * %lld + j;", (long long)(len * inner));
    emit_line(e, "float *yl = y + o * %lld + j;", (long long)(len * inner));
    emit_line(e, "float m = xl[0], sum = 0.0f;");
    emit_line(e, "for (int k = 1; k < %lld; k++)", (long long)len);
    emit_line(e, "    m = xl[k * %lld] > m ? xl[k * %lld] : m;", (long long)inner, (long long)inner);
    emit_line(e, "for (int k = 0; k < %lld; k++) {", (long long)len);
    emit_line(e, "yl[k * %lld] = expf(xl[k * %lld] - m);", (long long)inner, (long long)inner);
    emit_line(e, "sum += yl[k * %lld];", (long long)inner);
    emit_line(e, "}");
    emit_line(e, "for (int k = 0; k < %lld; k++)", (long long)len);
    emit_line(e, "    yl[k * %lld] /= sum;", (long long)inner);
    emit_line(e, "}");
}
