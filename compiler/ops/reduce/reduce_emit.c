/* reduce_emit.c: forward emitter of the reductions (reduce.c), over
 * reduce_geometry's merged dimensions, strides as literals.
 *
 * When the innermost dimension is reduced (a mean over H x W), each output
 * is one register accumulated over its cells: loops over the kept
 * dimensions around loops over the reduced ones. When it is kept (a mean
 * over the channels of C x H x W), x is read in order and each row added
 * into y's row, a loop the C compiler vectorises. Either way an output's
 * cells are taken in row-major order, as the interpreter takes them. */
#include "../ops.h"

const char *reduce_offset(Emit *e, const ReduceGeom *k, bool y)
{
    StrBuf b = {0};
    for (int i = 0; i < k->rank; i++) {
        int64_t st = y ? k->yst[i] : k->xst[i];
        if (st == 1)
            sb_printf(&b, "%si%d", b.len ? " + " : "", i);
        else if (st)
            sb_printf(&b, "%si%d * %lld", b.len ? " + " : "", i, (long long)st);
    }
    return emit_keep(e, b.s ? b.s : xstrdup("0"));
}

static void open_loop(Emit *e, const ReduceGeom *k, int i)
{
    emit_line(e, "for (int i%d = 0; i%d < %lld; i%d++) {", i, i, (long long)k->dim[i], i);
}

/* acc = acc (+) v as C. */
static const char *accumulate(Emit *e, const Node *n, const char *acc)
{
    switch (n->op) {
    case OP_REDUCE_MAX:
        return emit_keep(e, xasprintf("v > %s || v != v ? v : %s", acc, acc));
    case OP_REDUCE_L2:
        return emit_keep(e, xasprintf("%s + v * v", acc));
    default:
        return emit_keep(e, xasprintf("%s + v", acc));
    }
}

/* The value from the accumulator, as C. */
static const char *finish(Emit *e, const Node *n, int64_t count, const char *acc)
{
    if (n->op == OP_REDUCE_MEAN)
        return emit_keep(e, xasprintf("%s / %lld.0f", acc, (long long)count));
    if (n->op == OP_REDUCE_L2)
        return emit_keep(e, xasprintf("sqrtf(%s)", acc));
    return acc;
}

static const char *initial(const Node *n)
{
    return n->op == OP_REDUCE_MAX ? "-INFINITY" : "0.0f";
}

/* One register per output. */
static void emit_per_output(Emit *e, const Node *n, const ReduceGeom *k)
{
    for (int i = 0; i < k->rank; i++)
        if (!k->reduced[i])
            open_loop(e, k, i);
    emit_line(e, "float r = %s;", initial(n));
    for (int i = 0; i < k->rank; i++)
        if (k->reduced[i])
            open_loop(e, k, i);
    emit_line(e, "const float v = x0[%s];", reduce_offset(e, k, false));
    emit_line(e, "r = %s;", accumulate(e, n, "r"));
    for (int i = 0; i < k->rank; i++)
        if (k->reduced[i])
            emit_line(e, "}");
    emit_line(e, "y[%s] = %s;", reduce_offset(e, k, true), finish(e, n, k->count, "r"));
    for (int i = 0; i < k->rank; i++)
        if (!k->reduced[i])
            emit_line(e, "}");
}

/* x in order, added into y. */
static void emit_in_order(Emit *e, const Node *n, const ReduceGeom *k, int64_t yn)
{
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)yn);
    emit_line(e, "    y[o] = %s;", initial(n));
    for (int i = 0; i < k->rank; i++)
        open_loop(e, k, i);
    const char *yo = emit_keep(e, xasprintf("y[%s]", reduce_offset(e, k, true)));
    emit_line(e, "const float v = x0[%s];", reduce_offset(e, k, false));
    emit_line(e, "%s = %s;", yo, accumulate(e, n, yo));
    for (int i = 0; i < k->rank; i++)
        emit_line(e, "}");
    if (n->op == OP_REDUCE_MEAN || n->op == OP_REDUCE_L2) {
        emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)yn);
        emit_line(e, "    y[o] = %s;", finish(e, n, k->count, "y[o]"));
    }
}

void reduce_emit(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    ReduceGeom k = reduce_geometry(g, n);
    if (k.rank == 0 || k.reduced[k.rank - 1])
        emit_per_output(e, n, &k);
    else
        emit_in_order(e, n, &k, shape_numel(node_out_shape(g, n)));
}
