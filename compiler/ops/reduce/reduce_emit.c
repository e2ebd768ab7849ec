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

#include <stdio.h>

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

/* acc (+) v as C, for reduction op (OP_REDUCE_*). */
static const char *accumulate(Emit *e, int op, const char *acc)
{
    switch (op) {
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

static const char *initial(int op)
{
    return op == OP_REDUCE_MAX ? "-INFINITY" : "0.0f";
}

/* s (+)= v on GNU vectors: a sum (of squares with `square`) or the
 * maximum, NaN winning. */
static void vec_accumulate(Emit *e, bool max, bool square, const char *s, const char *v)
{
    if (!max) {
        emit_line(e, "%s += %s;", s, square ? emit_keep(e, xasprintf("%s * %s", v, v)) : v);
        return;
    }
    emit_line(e, "{");
    emit_line(e, "const cnnc_v8 v = %s;", v);
    emit_line(e, "const cnnc_v8i m = (v > %s) | (v != v);", s);
    emit_line(e, "%s = (cnnc_v8)(((cnnc_v8i)v & m) | ((cnnc_v8i)%s & ~m));", s, s);
    emit_line(e, "}");
}

void reduce_emit_row(Emit *e, int op, const char *r, const char *x, int64_t count)
{
    bool max = op == OP_REDUCE_MAX;
    emit_line(e, "{");
    emit_line(e, "int i = 0;");
    if (count >= 32) { /* 4 x 8 lanes of partial results, then the tail */
        emit_line(e, "#if defined(CNNC_V8_DEFINED)");
        emit_line(e, "cnnc_v8 s0 = (cnnc_v8){0} + %s, s1 = s0, s2 = s0, s3 = s0;", initial(op));
        emit_line(e, "for (; i + 32 <= %lld; i += 32) {", (long long)count);
        for (int j = 0; j < 4; j++) {
            char s[8], v[64];
            snprintf(s, sizeof s, "s%d", j);
            snprintf(v, sizeof v, "*(const cnnc_v8u *)(%s + i + %d)", x, 8 * j);
            vec_accumulate(e, max, op == OP_REDUCE_L2, s, v);
        }
        emit_line(e, "}");
        vec_accumulate(e, max, false, "s0", "s1");
        vec_accumulate(e, max, false, "s2", "s3");
        vec_accumulate(e, max, false, "s0", "s2");
        emit_line(e, "for (int l = 0; l < 8; l++) {");
        emit_line(e, "const float v = s0[l];");
        emit_line(e, "%s = %s;", r, accumulate(e, max ? op : OP_REDUCE_SUM, r));
        emit_line(e, "}");
        emit_line(e, "#endif");
    }
    emit_line(e, "for (; i < %lld; i++) {", (long long)count);
    emit_line(e, "const float v = %s[i];", x);
    emit_line(e, "%s = %s;", r, accumulate(e, op, r));
    emit_line(e, "}");
    emit_line(e, "}");
}

/* One register per output; the innermost dimension, reduced and
 * contiguous, a row in vectors. */
static void emit_per_output(Emit *e, const Node *n, const ReduceGeom *k)
{
    int inner = k->rank - 1;
    for (int i = 0; i < k->rank; i++)
        if (!k->reduced[i])
            open_loop(e, k, i);
    emit_line(e, "float r = %s;", initial(n->op));
    for (int i = 0; i < inner; i++)
        if (k->reduced[i])
            open_loop(e, k, i);
    ReduceGeom rows = *k; /* the innermost dimension's index stays 0 */
    rows.xst[inner] = 0;
    const char *x = inner < 0 ? "x0" : emit_keep(e, xasprintf("(x0 + %s)", reduce_offset(e, &rows, false)));
    reduce_emit_row(e, n->op, "r", x, inner < 0 ? 1 : k->dim[inner]);
    for (int i = 0; i < inner; i++)
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
    emit_line(e, "    y[o] = %s;", initial(n->op));
    for (int i = 0; i < k->rank; i++)
        open_loop(e, k, i);
    const char *yo = emit_keep(e, xasprintf("y[%s]", reduce_offset(e, k, true)));
    emit_line(e, "const float v = x0[%s];", reduce_offset(e, k, false));
    emit_line(e, "%s = %s;", yo, accumulate(e, n->op, yo));
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
