/* elementwise_emit.c: forward emitters of add and mul (see elementwise.c).
 * Elementwise, so the plan may run them in place: each cell is read before
 * it is written. A constant operand B that varies along one run of
 * consecutive dimensions (a per-channel bias, a scalar, a full tensor) is
 * read as B[k] in a loop nest outer x len x inner; any other broadcast is
 * expanded to the sample's shape at compile time. */
#include "../ops.h"

#include <stdlib.h>

/* B's broadcast as outer x len x inner (B[k] for the middle index); false
 * when B varies along non-adjacent dimensions. */
static bool broadcast_run(const Shape *b, const Shape *s, int64_t *outer, int64_t *len,
                          int64_t *inner)
{
    int extra = b->rank - s->rank, first = -1, last = -1;
    for (int i = 0; i < s->rank; i++) {
        int bi = i + extra;
        if (bi >= 0 && b->d[bi] != 1) {
            if (first < 0)
                first = i;
            else if (last != i - 1)
                return false;
            last = i;
        }
    }
    *outer = *len = *inner = 1;
    for (int i = 0; i < s->rank; i++) {
        if (first < 0 || i > last)
            *inner *= s->d[i];
        else if (i < first)
            *outer *= s->d[i];
        else
            *len *= s->d[i];
    }
    if (first < 0) { /* a scalar */
        *outer = *inner;
        *inner = 1;
    }
    return true;
}

/* The constant operand, B[k] over a loop nest (o, k, j); writes the nest's
 * sizes. */
static const char *emit_operand(Emit *e, const Node *n, int64_t *outer, int64_t *len,
                                int64_t *inner)
{
    Graph *g = emit_graph(e);
    const Tensor *bt = &g->t[n->param[0]];
    const Shape *s = node_out_shape(g, n);
    char *what = xasprintf("%s, broadcast", bt->name);
    const char *name;
    if (broadcast_run(&bt->shape, s, outer, len, inner)) {
        name = emit_const(e, "operand", what, bt->data, *len);
    } else { /* expanded: element e of the sample reads B at its own index */
        int64_t numel = shape_numel(s);
        float *full = xmalloc((size_t)numel * sizeof *full);
        int extra = bt->shape.rank - s->rank;
        for (int64_t i = 0; i < numel; i++) {
            int64_t rest = i, at = 0, stride = 1;
            for (int d = s->rank - 1; d >= 0; d--) {
                int bd = d + extra;
                int64_t coord = rest % s->d[d];
                rest /= s->d[d];
                if (bd >= 0 && bt->shape.d[bd] != 1) {
                    at += coord * stride;
                    stride *= bt->shape.d[bd];
                }
            }
            full[i] = bt->data[at];
        }
        name = emit_const(e, "operand", what, full, numel);
        free(full);
        *outer = 1;
        *len = numel;
        *inner = 1;
    }
    free(what);
    return name;
}

static void emit_binary(Emit *e, const Node *n, bool add)
{
    Graph *g = emit_graph(e);
    bool has_b = n->nparam > 0 && n->param[0] >= 0;
    int64_t outer = 1, len = shape_numel(node_out_shape(g, n)), inner = 1;
    const char *B = has_b ? emit_operand(e, n, &outer, &len, &inner) : NULL;
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)outer);
    emit_line(e, "for (int k = 0; k < %lld; k++)", (long long)len);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)inner);
    emit_line(e, "int i = (o * %lld + k) * %lld + j;", (long long)len, (long long)inner);
    StrBuf sum = {0};
    sb_puts(&sum, "x0[i]");
    for (int j = 1; j < n->nin; j++)
        sb_printf(&sum, " %c x%d[i]", add ? '+' : '*', j);
    if (B)
        sb_printf(&sum, " %c %s[k]", add ? '+' : '*', B);
    emit_line(e, "float t = %s;", sum.s);
    sb_free(&sum);
    emit_line(e, "y[i] = %s;", emit_act(e, n->act, "t"));
    emit_line(e, "}");
}

void add_emit(Emit *e, const Node *n)
{
    emit_binary(e, n, true);
}

void mul_emit(Emit *e, const Node *n)
{
    emit_binary(e, n, false);
}
