/* matmul_emit.c: the forward emitter of matmul (matmul.c). Each product is
 * the register-blocked kernel the convolution's training code uses
 * (emit_mm_nn: a few rows of A times vectors of B's columns, accumulated
 * in registers over k), into y pre-filled with the bias (or zeros); the
 * epilogue follows. Leading axes are loops whose strides are literals, 0
 * along an operand's broadcast axes. A constant operand is an array in
 * the operand's own layout. */
#include "../ops.h"

#include <stdlib.h>

enum { CONST, BIAS };

/* The C expression of operand side (0 A, 1 B): an input or the constant. */
static const char *operand_expr(Emit *e, const Node *n, int side)
{
    if (n->nin == 2)
        return side ? "x1" : "x0";
    if ((side == 0) != n->a.const_left)
        return "x0";
    Graph *g = emit_graph(e);
    const Tensor *c = &g->t[n->param[CONST]];
    char *what = xasprintf("%s, as the %s operand", c->name, side ? "right" : "left");
    const char *C = emit_const(e, "operand", what, c->data, shape_numel(&c->shape));
    free(what);
    return C;
}

void matmul_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    MatmulGeom k = matmul_geometry(g, n);
    const char *A = operand_expr(e, n, 0), *B = operand_expr(e, n, 1);
    const float *bias = node_param_data(g, n, BIAS);
    const char *Bias = bias ? emit_const(e, "bias", n->name, bias, k.n) : NULL;
    long long mk = k.m * k.k, kn = k.k * k.n, mn = k.m * k.n;
    StrBuf ao = {0}, bo = {0}, yo = {0};
    sb_puts(&ao, "0");
    sb_puts(&bo, "0");
    sb_puts(&yo, "0");
    int64_t ystride = 1;
    for (int d = k.nbatch - 1; d >= 0; d--) {
        sb_printf(&ao, " + q%d * %lld", d, (long long)(k.astride[d] * mk));
        sb_printf(&bo, " + q%d * %lld", d, (long long)(k.bstride[d] * kn));
        sb_printf(&yo, " + q%d * %lld", d, (long long)(ystride * mn));
        ystride *= k.batch[d];
    }
    for (int d = 0; d < k.nbatch; d++)
        emit_line(e, "for (int q%d = 0; q%d < %lld; q%d++) {", d, d, (long long)k.batch[d], d);
    emit_line(e, "const float *at = %s + %s, *bt = %s + %s;", A, ao.s, B, bo.s);
    emit_line(e, "float *yt = y + %s;", yo.s);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)k.m);
    emit_line(e, "    for (int j = 0; j < %lld; j++)", (long long)k.n);
    emit_line(e, "        yt[i * %lld + j] = %s;", (long long)k.n, Bias ? emit_keep(e, xasprintf("%s[j]", Bias)) : "0.0f");
    char m[32], kk[32];
    snprintf(m, sizeof m, "%lld", (long long)k.m);
    snprintf(kk, sizeof kk, "%lld", (long long)k.k);
    emit_mm_nn(e, "yt", "at", "bt", m, k.n, kk, k.n, k.k, 1, k.n);
    if (act_present(n->act)) {
        emit_line(e, "for (int i = 0; i < %lld; i++) {", mn);
        emit_line(e, "const float v = yt[i];");
        emit_line(e, "yt[i] = %s;", emit_act(e, n->act, "v"));
        emit_line(e, "}");
    }
    for (int d = 0; d < k.nbatch; d++)
        emit_line(e, "}");
    sb_free(&ao);
    sb_free(&bo);
    sb_free(&yo);
}
