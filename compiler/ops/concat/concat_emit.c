/* concat_emit.c: the forward emitter of concat (see concat.c): for each
 * index before the axis, each input's block (its axis length times the
 * cells after the axis) is copied whole, one memcpy. */
#include "../ops.h"

void concat_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= s->d[i];
    for (int i = axis + 1; i < s->rank; i++)
        inner *= s->d[i];
    int64_t row = s->d[axis] * inner, off = 0;
    emit_line(e, "for (int o = 0; o < %lld; o++) {", (long long)outer);
    for (int j = 0; j < n->nin; j++) {
        int64_t block = node_in_shape(g, n, j)->d[axis] * inner;
        emit_line(e, "memcpy(y + o * %lld + %lld, x%d + o * %lld, %lld * sizeof(float));",
                  (long long)row, (long long)off, j, (long long)block, (long long)block);
        off += block;
    }
    emit_line(e, "}");
}
