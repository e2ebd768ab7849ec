/* dense_emit_grad.c: the dense layer's training code (traingen): forward
 * from the state's weights [out, in] and the backward of dense_grad.c,
 * sizes as literals. */
#include "ops.h"

void dense_emit_train(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long in = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_line(e, "int b, u, i;");
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (u = 0; u < %lld; u++) {", units);
    emit_line(e, "const float *x = x0 + (size_t)b * %lld, *w = p0 + (size_t)u * %lld;", in, in);
    emit_line(e, "float acc = %s;", bias ? "p1[u]" : "0.0f");
    emit_line(e, "for (i = 0; i < %lld; i++)", in);
    emit_line(e, "    acc += w[i] * x[i];");
    emit_line(e, "y[(size_t)b * %lld + u] = %s;", units, emit_act(e, n->act, "acc"));
    emit_line(e, "}");
}

void dense_emit_grad(Emit *e, const Node *n)
{
    const Graph *g = emit_graph(e);
    long long in = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    emit_grad_epilogue(e, n, units);
    emit_line(e, "int b, u, i;");
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (u = 0; u < %lld; u++) {", units);
    emit_line(e, "const float gu = dy[(size_t)b * %lld + u];", units);
    emit_line(e, "const float *x = x0 + (size_t)b * %lld;", in);
    if (db)
        emit_line(e, "dp1[u] += gu;");
    if (dw) {
        emit_line(e, "for (i = 0; i < %lld; i++)", in);
        emit_line(e, "    dp0[(size_t)u * %lld + i] += gu * x[i];", in);
    }
    if (dx) {
        emit_line(e, "for (i = 0; i < %lld; i++)", in);
        emit_line(e, "    dx0[(size_t)b * %lld + i] += gu * p0[(size_t)u * %lld + i];", in, in);
    }
    emit_line(e, "(void)x;");
    emit_line(e, "}");
}
