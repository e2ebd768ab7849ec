/* concat_emit.c: the forward emitter of concat (see concat.c): for each
 * index before the axis, each operand's block (its axis length times the
 * cells after the axis) is copied whole, one memcpy; a constant's from its
 * array. */
#include "../ops.h"

#include <stdlib.h>

void concat_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    const Shape *s = node_out_shape(g, n);
    int axis = n->a.axis, ops = concat_operands(n);
    int64_t outer, inner;
    shape_split(s, axis, &outer, &inner);
    int64_t row = s->d[axis] * inner, off = 0;
    const char *src[CONCAT_MAX_OPERANDS];
    for (int i = 0; i < ops; i++) {
        int k;
        if (!concat_operand(n, i, &k)) {
            src[i] = emit_keep(e, xasprintf("x%d", k));
            continue;
        }
        const Tensor *c = &g->t[n->param[k]];
        char *what = xasprintf("%s, operand %d", c->name, i + 1);
        src[i] = emit_const(e, "operand", what, c->data, shape_numel(&c->shape));
        free(what);
    }
    emit_line(e, "for (int o = 0; o < %lld; o++) {", (long long)outer);
    for (int i = 0; i < ops; i++) {
        int64_t block = concat_shape(g, n, i)->d[axis] * inner;
        emit_line(e, "memcpy(y + o * %lld + %lld, %s + o * %lld, %lld * sizeof(float));",
                  (long long)row, (long long)off, src[i], (long long)block, (long long)block);
        off += block;
    }
    emit_line(e, "}");
}
