/* matmul_emit_grad.c: the training code of matmul (traingen): a forward
 * reading a trainable constant operand and bias from the state (p0, p1),
 * and matmul_grad.c's backward, plain loops over the n samples, the
 * parameters' gradients through the emit kit (emit_pgrad_begin/end). */
#include "../ops.h"

enum { CONST, BIAS };

/* Pointer declarations of one sample and product (s, t): at, bt, yt. */
static void product_ptrs(Emit *e, const Node *n, const MatmulGeom *k, bool grad)
{
    const Graph *g = emit_graph(e);
    bool two = n->nin == 2, left = !two && n->a.const_left;
    long long asize = left ? 0 : shape_numel(node_in_shape(g, n, 0));
    long long bsize = two ? shape_numel(node_in_shape(g, n, 1)) : left ? shape_numel(node_in_shape(g, n, 0)) : 0;
    long long ysize = k->count * k->m * k->n;
    emit_line(e, "for (int s = 0; s < n; s++)");
    emit_line(e, "for (int t = 0; t < %lld; t++) {", (long long)k->count);
    emit_line(e, "size_t oa = 0, ob = 0;");
    emit_line(e, "int r = t;");
    for (int d = k->nbatch - 1; d >= 0; d--) {
        emit_line(e, "oa += (size_t)(r %% %lld) * %lld;", (long long)k->batch[d],
                  (long long)(k->astride[d] * k->m * k->k));
        emit_line(e, "ob += (size_t)(r %% %lld) * %lld;", (long long)k->batch[d],
                  (long long)(k->bstride[d] * k->k * k->n));
        emit_line(e, "r /= %lld;", (long long)k->batch[d]);
    }
    emit_line(e, "(void)r;");
    const char *a = left ? "p0" : emit_keep(e, xasprintf("x0 + (size_t)s * %lld", asize));
    const char *b = !two && !left ? "p0"
                                  : emit_keep(e, xasprintf("x%d + (size_t)s * %lld", two, bsize));
    emit_line(e, "const float *at = %s + oa;", a);
    emit_line(e, "const float *bt = %s + ob;", b);
    if (!grad) {
        emit_line(e, "float *yt = y + (size_t)s * %lld + (size_t)t * %lld;", ysize,
                  (long long)(k->m * k->n));
        return;
    }
    emit_line(e, "const float *gt = dy + (size_t)s * %lld + (size_t)t * %lld;", ysize,
              (long long)(k->m * k->n));
    int ia = left ? -1 : 0, ib = two ? 1 : left ? 0 : -1;
    if (ia >= 0 && emit_grad_needs_dx(e, ia))
        emit_line(e, "float *da = dx0 + (size_t)s * %lld + oa;", asize);
    else if (left && emit_grad_has_dp(e, CONST))
        emit_line(e, "float *da = gc + oa;");
    else
        emit_line(e, "float *da = 0;");
    if (ib >= 0 && emit_grad_needs_dx(e, ib))
        emit_line(e, "float *db = dx%d + (size_t)s * %lld + ob;", ib, bsize);
    else if (ib < 0 && emit_grad_has_dp(e, CONST))
        emit_line(e, "float *db = gc + ob;");
    else
        emit_line(e, "float *db = 0;");
}

void matmul_emit_train(Emit *e, const Node *n)
{
    MatmulGeom k = matmul_geometry(emit_graph(e), n);
    bool bias = n->nparam > BIAS && n->param[BIAS] >= 0;
    product_ptrs(e, n, &k, false);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)k.m);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)k.n);
    emit_line(e, "double acc = %s;", bias ? "p1[j]" : "0");
    emit_line(e, "for (int q = 0; q < %lld; q++)", (long long)k.k);
    emit_line(e, "    acc += (double)at[i * %lld + q] * bt[q * %lld + j];", (long long)k.k,
              (long long)k.n);
    emit_line(e, "const float v = (float)acc;");
    emit_line(e, "yt[i * %lld + j] = %s;", (long long)k.n, emit_act(e, n->act, "v"));
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The floats of parameter slot, 0 when the node has none there. */
static int64_t param_count(Emit *e, const Node *n, int slot)
{
    return n->nparam > slot && n->param[slot] >= 0
               ? shape_numel(&emit_graph(e)->t[n->param[slot]].shape)
               : 0;
}

/* The gradients of the constant operand (gc) and the bias (gbias), each
 * one block of all its floats, in scratch where this node steps them. */
static void begin_pgrads(Emit *e, const Node *n)
{
    int64_t nc = param_count(e, n, CONST), nb = param_count(e, n, BIAS);
    bool dc = emit_grad_has_dp(e, CONST), db = emit_grad_has_dp(e, BIAS);
    char bias_at[48];
    snprintf(bias_at, sizeof bias_at, "ws + %lld", (long long)plan_round_up(nc));
    if (dc || db)
        emit_train_scratch(e, plan_round_up(nc) + nb);
    if (dc)
        emit_pgrad_begin(e, CONST, "gc", "0", "1", nc, "ws");
    if (db)
        emit_pgrad_begin(e, BIAS, "gbias", "0", "1", nb, bias_at);
}

static void end_pgrads(Emit *e, const Node *n)
{
    if (emit_grad_has_dp(e, CONST))
        emit_pgrad_end(e, CONST, "gc", "0", "1", param_count(e, n, CONST));
    if (emit_grad_has_dp(e, BIAS))
        emit_pgrad_end(e, BIAS, "gbias", "0", "1", param_count(e, n, BIAS));
}

/* The operands as they were: the constant is stepped after the loops. */
void matmul_emit_grad(Emit *e, const Node *n)
{
    MatmulGeom k = matmul_geometry(emit_graph(e), n);
    emit_grad_epilogue(e, n, k.count * k.m * k.n);
    begin_pgrads(e, n);
    product_ptrs(e, n, &k, true);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)k.m);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)k.n);
    emit_line(e, "const float v = gt[i * %lld + j];", (long long)k.n);
    if (emit_grad_has_dp(e, BIAS))
        emit_line(e, "gbias[j] += v;");
    emit_line(e, "for (int q = 0; q < %lld; q++) {", (long long)k.k);
    emit_line(e, "if (da)");
    emit_line(e, "    da[i * %lld + q] += v * bt[q * %lld + j];", (long long)k.k, (long long)k.n);
    emit_line(e, "if (db)");
    emit_line(e, "    db[q * %lld + j] += at[i * %lld + q] * v;", (long long)k.n, (long long)k.k);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "}");
    end_pgrads(e, n);
}
