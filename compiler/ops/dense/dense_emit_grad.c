/* dense_emit_grad.c: the dense layer's training code (traingen): forward
 * from the state's weights [out, in] and the backward of dense_grad.c,
 * sizes as literals, each a register-blocked matrix product over the batch
 * (conv_emit_grad.c's emit_mm_nn / emit_mm_nt):
 *   y  = x[n][in] W^T            dot products over contiguous rows
 *   dW += dy^T x                 sum over the batch
 *   dx += dy[n][out] W */
#include "../ops.h"

#include <stdio.h>

void dense_emit_train(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long in = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_line(e, "int b, u;");
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (u = 0; u < %lld; u++)", units);
    emit_line(e, "    y[(size_t)b * %lld + u] = %s;", units, bias ? "p1[u]" : "0.0f");
    emit_mm_nt(e, "y", "x0", "p0", "n", units, in, units, in, in);
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (b = 0; b < n * %lld; b++)", units);
        emit_line(e, "    y[b] = %s;", emit_act(e, n->act, "y[b]"));
    }
}

void dense_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long in = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    char us[32];
    snprintf(us, sizeof us, "%lld", units);
    emit_grad_epilogue(e, n, units);
    if (db) {
        emit_line(e, "int b, u;");
        emit_line(e, "for (b = 0; b < n; b++)");
        emit_line(e, "for (u = 0; u < %lld; u++)", units);
        emit_line(e, "    dp1[u] += dy[(size_t)b * %lld + u];", units);
    }
    if (dw)
        emit_mm_nn(e, "dp0", "dy", "x0", us, in, "n", in, 1, units, in);
    if (dx)
        emit_mm_nn(e, "dx0", "dy", "p0", "n", in, us, in, units, 1, in);
}
