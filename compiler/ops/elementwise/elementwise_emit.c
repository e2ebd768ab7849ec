/* elementwise_emit.c: forward emitters of add, sub, mul and div (see
 * elementwise.c), and the loop nest their training code shares.
 *
 * One loop per run of dimensions along which every operand and the output
 * are contiguous, each operand read at its own literal strides (0 along a
 * broadcast axis): [C,H,W] * [C,1,1] is a loop over C around a loop over
 * H*W that reads the channel's one value, which the C compiler
 * vectorises; operands of one shape make one flat loop. A constant B is a
 * table of its own values, never expanded. Elementwise, so the plan may run
 * them in place over an input of the output's size: each cell is read
 * before it is written. */
#include "../ops.h"

#include <stdlib.h>

EltNest elt_nest(const Shape *s, const Shape *ops, int count)
{
    EltNest nest = {.count = count, .st = xcalloc((size_t)(count + 1) * MAX_RANK, sizeof(int64_t))};
    int64_t st[MAX_RANK], stride = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        nest.st[count * MAX_RANK + i] = stride; /* y's own */
        stride *= s->d[i];
    }
    for (int k = 0; k < count; k++) {
        elt_strides(&ops[k], s, st);
        for (int i = 0; i < s->rank; i++)
            nest.st[k * MAX_RANK + i] = st[i];
    }
    /* Merge each dimension into the one kept before it where every
     * operand steps across both as across one; drop dimensions of 1. */
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == 1)
            continue;
        int r = nest.rank - 1;
        bool merge = r >= 0;
        for (int k = 0; k <= count && merge; k++)
            merge = nest.st[k * MAX_RANK + r] == nest.st[k * MAX_RANK + i] * s->d[i];
        if (!merge)
            r = nest.rank++;
        nest.dim[r] = merge ? nest.dim[r] * s->d[i] : s->d[i];
        for (int k = 0; k <= count; k++)
            nest.st[k * MAX_RANK + r] = nest.st[k * MAX_RANK + i];
    }
    return nest;
}

EltNest elt_node_nest(const Graph *g, const Node *n)
{
    int count = elt_count(n);
    Shape *ops = xmalloc((size_t)count * sizeof *ops);
    for (int k = 0; k < count; k++)
        ops[k] = elt_shape(g, n, k);
    EltNest nest = elt_nest(node_out_shape(g, n), ops, count);
    free(ops);
    return nest;
}

void elt_nest_free(EltNest *nest)
{
    free(nest->st);
}

void elt_nest_open(Emit *e, const EltNest *nest)
{
    for (int i = 0; i < nest->rank; i++)
        emit_line(e, "for (int i%d = 0; i%d < %lld; i%d++)%s", i, i, (long long)nest->dim[i], i,
                  i + 1 == nest->rank ? " {" : "");
    if (nest->rank == 0)
        emit_line(e, "{");
}

void elt_nest_close(Emit *e)
{
    emit_line(e, "}");
}

const char *elt_nest_at(Emit *e, const EltNest *nest, int k)
{
    StrBuf b = {0};
    for (int i = 0; i < nest->rank; i++) {
        int64_t st = nest->st[k * MAX_RANK + i];
        if (st == 1)
            sb_printf(&b, "%si%d", b.len ? " + " : "", i);
        else if (st)
            sb_printf(&b, "%si%d * %lld", b.len ? " + " : "", i, (long long)st);
    }
    return emit_keep(e, b.s ? b.s : xstrdup("0"));
}

const char *elt_nest_expr(Emit *e, const Node *n, const EltNest *nest, const char **arr)
{
    const char **cells = xmalloc((size_t)nest->count * sizeof *cells);
    for (int k = 0; k < nest->count; k++)
        cells[k] = emit_keep(e, xasprintf("%s[%s]", arr[k], elt_nest_at(e, nest, k)));
    StrBuf t = {0};
    elt_expr(n, cells, nest->count, &t);
    free(cells);
    return emit_keep(e, t.s);
}

/* Operand k as the C name of its array: x<j>, or B's table. */
static const char *operand_array(Emit *e, const Node *n, int k)
{
    int j = elt_input(n, k);
    if (j >= 0)
        return emit_keep(e, xasprintf("x%d", j));
    const Tensor *b = &emit_graph(e)->t[n->param[0]];
    char *what = xasprintf("%s, broadcast", b->name);
    const char *name = emit_const(e, "operand", what, b->data, shape_numel(&b->shape));
    free(what);
    return name;
}

void elementwise_emit(Emit *e, const Node *n)
{
    EltNest nest = elt_node_nest(emit_graph(e), n);
    const char **arr = xmalloc((size_t)nest.count * sizeof *arr);
    for (int k = 0; k < nest.count; k++)
        arr[k] = operand_array(e, n, k);
    elt_nest_open(e, &nest);
    emit_line(e, "const float t = %s;", elt_nest_expr(e, n, &nest, arr));
    emit_line(e, "y[%s] = %s;", elt_nest_at(e, &nest, nest.count), emit_act(e, n->act, "t"));
    elt_nest_close(e);
    free(arr);
    elt_nest_free(&nest);
}
