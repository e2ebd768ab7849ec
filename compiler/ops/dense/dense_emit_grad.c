/* dense_emit_grad.c: the dense layer's training code (traingen): forward
 * from the state's weights [out, in] (frozen ones on a Cortex-M profile:
 * dense_mcu_emit.c's blocked array) and the backward of dense_grad.c,
 * sizes as literals, each a register-blocked matrix product over the batch
 * (the emit kit's emit_mm_nn / emit_mm_nt):
 *   y  = x[n][in] W^T            dot products over contiguous rows
 *   dx += dy[n][out] W           first, from the old weights
 *   dW  = dy^T x                 a block of rows at a time, summed over the
 *                                batch, then stepped by the optimizer, so
 *                                the layer's whole dW never exists */
#include "../ops.h"

#include <stdio.h>

/* The inference code's blocked weights (dense_mcu_emit.c) when they are
 * frozen: read there, they are in flash once; else NULL (read p0). */
static const char *frozen_blocked(Emit *e, const Node *n)
{
    return emit_scalar_kernels(e) ? emit_frozen_packed(e, n, 0) : NULL;
}

void dense_emit_train(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long in = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_line(e, "int b, u;");
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (u = 0; u < %lld; u++)", units);
    emit_line(e, "    y[(size_t)b * %lld + u] = %s;", units, bias ? "p1[u]" : "0.0f");
    const char *packed = frozen_blocked(e, n);
    if (packed)
        dense_emit_mcu_train_forward(e, n, packed);
    else
        emit_mm_nt(e, "y", "x0", "p0", "n", units, in, units, in, in);
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (b = 0; b < n * %lld; b++)", units);
        emit_line(e, "    y[b] = %s;", emit_act(e, n->act, "y[b]"));
    }
}

/* The weight and bias gradients of rows (units) [row, row + rows): the
 * block summed over the batch, then stepped (emit_pgrad_end). */
static void emit_row_block(Emit *e, const char *row, int64_t rows, long long in, long long units,
                           bool dw, bool db)
{
    char rs[32], gb[48];
    snprintf(rs, sizeof rs, "%lld", (long long)rows);
    snprintf(gb, sizeof gb, "ws + %lld", (long long)plan_round_up(rows * in));
    if (dw) {
        emit_pgrad_begin(e, 0, "gw", row, rs, in, "ws");
        emit_mm_nn(e, "gw", "dy + r0", "x0", rs, in, "n", in, 1, units, in);
        emit_pgrad_end(e, 0, "gw", row, rs, in);
    }
    if (db) {
        emit_pgrad_begin(e, 1, "gb", row, rs, 1, gb);
        emit_line(e, "for (b = 0; b < n; b++)");
        emit_line(e, "for (u = 0; u < %lld; u++)", (long long)rows);
        emit_line(e, "    gb[u] += dy[(size_t)b * %lld + r0 + u];", units);
        emit_pgrad_end(e, 1, "gb", row, rs, 1);
    }
}

/* Rows per block of the weight gradient: what the chunk size holds (at
 * most 32768 floats: the block stays in cache while it is stepped), a
 * divisor of the units where one is close. */
static int64_t block_rows(Emit *e, int64_t units, int64_t in)
{
    int64_t cap = emit_train_chunk(e) < 32768 ? emit_train_chunk(e) : 32768;
    int64_t most = cap / in < 1 ? 1 : cap / in > units ? units : cap / in;
    for (int64_t r = most; r * 2 >= most; r--)
        if (units % r == 0)
            return r;
    return most;
}

void dense_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long in = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    char us[32];
    snprintf(us, sizeof us, "%lld", units);
    emit_grad_epilogue(e, n, units);
    const char *packed = frozen_blocked(e, n);
    if (dx && packed)
        dense_emit_mcu_train_dx(e, n, packed);
    else if (dx) /* from the old weights, before any row is stepped */
        emit_mm_nn(e, "dx0", "dy", "p0", "n", in, us, in, units, 1, in);
    if (!dw && !db)
        return;
    int64_t rows = block_rows(e, units, in), full = units / rows * rows;
    emit_train_scratch(e, plan_round_up(rows * in) + rows);
    emit_line(e, "int r0, b, u;");
    emit_unused(e, "b");
    emit_unused(e, "u");
    emit_line(e, "for (r0 = 0; r0 < %lld; r0 += %lld) {", (long long)full, (long long)rows);
    emit_row_block(e, "r0", rows, in, units, dw, db);
    emit_line(e, "}");
    if (full < units) {
        emit_line(e, "{");
        emit_row_block(e, "r0", units - full, in, units, dw, db);
        emit_line(e, "}");
    }
}
