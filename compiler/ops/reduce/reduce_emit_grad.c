/* reduce_emit_grad.c: backward of the reductions in the training code
 * (reduce_grad.c's rules, traingen): per sample, per output cell (loops
 * over the kept dimensions), the cells it reduced (loops over the reduced
 * ones) receive dy's share; reduce_max counts the ties first, in a pass of
 * its own over the same cells, so that no buffer is needed. */
#include "../ops.h"

/* Opens (or, with close, closes) the loops over the reduced or the kept
 * dimensions. */
static void loops(Emit *e, const ReduceGeom *k, bool reduced, bool close)
{
    for (int i = 0; i < k->rank; i++)
        if (k->reduced[i] == reduced) {
            if (close)
                emit_line(e, "}");
            else
                emit_line(e, "for (int i%d = 0; i%d < %lld; i%d++) {", i, i, (long long)k->dim[i],
                          i);
        }
}

/* dL/dx at one cell, as C over xb[xo], yo (the output) and go (its dy). */
static const char *partial(Emit *e, const Node *n, int64_t count, const char *xo)
{
    switch (n->op) {
    case OP_REDUCE_MEAN:
        return emit_keep(e, xasprintf("go / %lld.0f", (long long)count));
    case OP_REDUCE_L2:
        return emit_keep(e, xasprintf("(yo == 0.0f ? 0.0f : go * xb[%s] / yo)", xo));
    case OP_REDUCE_MAX:
        return emit_keep(e, xasprintf("(xb[%s] == yo ? go / ties : 0.0f)", xo));
    default:
        return "go";
    }
}

void reduce_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    const Graph *g = emit_graph(e);
    ReduceGeom k = reduce_geometry(g, n);
    long long xn = shape_numel(node_in_shape(g, n, 0)), yn = shape_numel(node_out_shape(g, n));
    const char *xo = reduce_offset(e, &k, false), *yo = reduce_offset(e, &k, true);
    bool reads = n->op == OP_REDUCE_MAX || n->op == OP_REDUCE_L2; /* reduce_grad_reads */
    emit_line(e, "size_t b;");
    emit_line(e, "for (b = 0; b < (size_t)n; b++) {");
    if (reads)
        emit_line(e, "const float *xb = x0 + b * %lld, *yb = y + b * %lld;", xn, yn);
    emit_line(e, "const float *gb = dy + b * %lld;", yn);
    emit_line(e, "float *db = dx0 + b * %lld;", xn);
    loops(e, &k, false, false);
    emit_line(e, "const float go = gb[%s];", yo);
    if (reads)
        emit_line(e, "const float yo = yb[%s];", yo);
    if (n->op == OP_REDUCE_MAX) {
        emit_line(e, "float ties = 0.0f;");
        loops(e, &k, true, false);
        emit_line(e, "ties += xb[%s] == yo;", xo);
        loops(e, &k, true, true);
    }
    loops(e, &k, true, false);
    emit_line(e, "db[%s] += %s;", xo, partial(e, n, k.count, xo));
    loops(e, &k, true, true);
    loops(e, &k, false, true);
    emit_line(e, "}");
}
