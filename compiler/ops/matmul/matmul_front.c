/* matmul_front.c: how the front ends write matrix products. Takes a layer
 * statement (DSL: matmul(a, b) of two named layers) or a MatMul node
 * (ONNX); gives an OP_MATMUL node, or for a flat input times a constant
 * matrix a dense layer (dense_front.c).
 *
 * ONNX's MatMul broadcasts NumPy's way over whole tensors, the batch
 * included: cnnc takes the products that keep each sample apart. Two
 * activations need the same rank (so that batch meets batch), of at least
 * [N, rows, cols]; a constant aligns with the trailing axes, and its axes
 * reaching the batch must be 1. A flat activation [N, K] is itself a
 * matrix to ONNX: times a constant [K, P] it is a dense layer; as the
 * right operand, or against a 1-D or 3-D+ constant, its rows would be the
 * samples, which cnnc refuses.
 *
 *   DSL   matmul(a, b): per sample, torch.matmul of the two layers'
 *         outputs (each at least 2-D; leading axes broadcast). */
#include "../ops.h"

#include <stdlib.h>

static void dsl_matmul(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.const_left = false;
}

const DslKind matmul_dsl[] = {
    {"matmul", "matmul", OP_MATMUL, 0, "*", "", dsl_matmul, NULL},
    {NULL},
};

/* ---- ONNX ---- */

static bool batch_mixing(OnnxNode *l, const char *what)
{
    if (!onnx_batch_axes(l->o)) /* whole-tensor mode: no batch, an unsupported product */
        return onnx_fail(l, "%s: cnnc's matrix product takes operands of rank 2 or more",
                         what);
    return onnx_fail_batch(l, "%s: the product would mix the samples of the batch, which cnnc "
                           "computes apart", what);
}

/* The constant operand as a parameter: its full shape less leading axes
 * that reach the activation's batch axis (those must be 1). */
static int operand_param(OnnxNode *l, const OnnxValue *c, int act_rank)
{
    Shape s = c->c.shape;
    while (s.rank > act_rank) {
        if (s.d[0] != 1) {
            batch_mixing(l, "the constant operand reaches the batch axis");
            return -1;
        }
        s.rank--;
        for (int d = 0; d < s.rank; d++)
            s.d[d] = s.d[d + 1];
    }
    bool param = c->c.init || c->c.transpose_of;
    return onnx_make_param(l->o, c->name, param ? T_PARAM : T_CONST, &s, c->c.f);
}

static bool onnx_matmul(OnnxNode *l)
{
    if (!onnx_has_inputs(l, 2))
        return false;
    OnnxValue *a = l->in[0], *b = l->in[1];
    bool ca = a->kind == OV_CONST, cb = b->kind == OV_CONST;
    if ((ca && a->c.dtype != CONST_F32) || (cb && b->c.dtype != CONST_F32))
        return onnx_fail(l, "a constant operand must be float32");
    if (ca && cb)
        return onnx_fail(l, "both operands are constants");
    OnnxValue *x = ca ? b : a, *c = ca ? a : cb ? b : NULL;
    if (x->shape.rank == 1 && cb && b->c.shape.rank == 2) {
        if (b->c.shape.d[0] != x->shape.d[0])
            return onnx_fail(l, "'%s' has %lld rows for %lld input features", b->name,
                             (long long)b->c.shape.d[0], (long long)x->shape.d[0]);
        return dense_onnx_matmul(l, a, b);
    }
    if (x->shape.rank < 2 || (!c && a->shape.rank != b->shape.rank))
        return batch_mixing(l, onnx_batch_axes(l->o) ? "an operand of [N, K] is a matrix whose "
                                                       "rows are the samples"
                                                     : "a vector operand");
    if (c && c->c.shape.rank < 2)
        return batch_mixing(l, "a vector operand");
    OnnxValue *acts[2] = {a, b};
    Node *n = onnx_add_node(l, OP_MATMUL, "", c ? &x : acts, c ? 1 : 2, l->out, &x->shape);
    if (c) {
        int t = operand_param(l, c, x->shape.rank);
        if (t < 0)
            return false;
        onnx_set_param(n, 0, t);
        n->a.const_left = ca;
    }
    return onnx_infer(l, n, l->out);
}

const OnnxKind matmul_onnx[] = {
    {"MatMul", "", onnx_matmul, NULL, false, "1 9 13"},
    {NULL},
};

/* ---- export ---- */

/* MatMul (the constant operand an initializer of its own shape, which
 * broadcasts as the IR's does), then Add of the bias if any. */
bool matmul_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out)
{
    const char *ab[2] = {in[0], n->nin == 2 ? in[1] : g->t[n->param[0]].name};
    if (n->nin == 1 && n->a.const_left) {
        ab[0] = ab[1];
        ab[1] = in[0];
    }
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    char *base = xasprintf("%s_product", n->name);
    const char *product = bias ? onnx_out_fresh(o, base) : out;
    free(base);
    onnx_out_node(o, "MatMul", n->name, ab, 2, product);
    if (bias) {
        const char *add[2] = {product, g->t[n->param[1]].name};
        char *name = xasprintf("%s_bias", n->name);
        onnx_out_node(o, "Add", name, add, 2, out);
        free(name);
    }
    return true;
}
