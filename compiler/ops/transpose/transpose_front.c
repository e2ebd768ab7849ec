/* transpose_front.c: how the front ends write a transpose. Takes a layer
 * statement (DSL) or a Transpose node (ONNX: of an activation, the batch
 * axis kept first; of a constant, evaluated at load time); gives an
 * OP_TRANSPOSE node with its per-sample permutation, no node for the
 * identity permutation, or a constant.
 *
 *   DSL   transpose(perm): perm a tuple of the per-sample axes, (1, 2, 0)
 *         for C x H x W -> H x W x C (torch's x.permute(0, 2, 3, 1)). */
#include "../ops.h"

static void dsl_transpose(DslArgs *c, Node *n, const DslKind *k)
{
    int perm[MAX_RANK];
    const Value *v = dsl_get(c, "perm", true);
    int np = dsl_get_int_list(c, "perm", true, 0, MAX_RANK - 1, perm, MAX_RANK);
    if (np < 0)
        return;
    if (c->rank && np != c->rank) {
        diag_error(v->loc, "%s: perm has %d entr%s for a rank-%d input", c->what, np,
                   np == 1 ? "y" : "ies", c->rank);
        return;
    }
    for (int i = 0; i < np; i++)
        n->a.perm[i] = perm[i];
}

const DslKind transpose_dsl[] = {
    {"transpose", "transpose", OP_TRANSPOSE, 0, "perm", "perm", dsl_transpose, NULL},
    {NULL},
};

/* ---- ONNX ---- */

/* The perm attribute of a rank-r tensor (default: reversed) into p. */
static bool onnx_perm(OnnxNode *l, int r, int *p)
{
    const int64_t *perm;
    int np = attr_ints(l->node, "perm", &perm);
    bool seen[MAX_RANK] = {false};
    if (np >= 0 && np != r)
        return onnx_fail(l, "perm has %d entries for rank %d", np, r);
    for (int d = 0; d < r; d++) {
        int64_t v = np >= 0 ? perm[d] : r - 1 - d;
        if (v < 0 || v >= r || seen[v])
            return onnx_fail(l, "perm is not a permutation of 0..%d", r - 1);
        seen[v] = true;
        p[d] = (int)v;
    }
    return true;
}

static bool onnx_transpose(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    int r = x ? onnx_rank(l, x) : 0, p[MAX_RANK], lead = onnx_batch_axes(l->o);
    if (!x || !onnx_perm(l, r, p))
        return false;
    if (lead && p[0] != 0)
        return onnx_fail_batch(l, "perm moves the batch axis (perm[0] is %d): cnnc keeps each "
                               "sample apart, the batch first", p[0]);
    bool identity = true;
    Shape s = {x->shape.rank, {0}};
    for (int k = lead; k < r; k++) {
        identity &= p[k] == k;
        s.d[k - lead] = x->shape.d[p[k] - lead];
    }
    if (identity) {
        onnx_alias(l, x);
        return true;
    }
    Node *n = onnx_add_node(l, OP_TRANSPOSE, "", &x, 1, l->out, &s);
    for (int k = lead; k < r; k++)
        n->a.perm[k - lead] = p[k] - lead;
    return true;
}

static bool fold_transpose(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    const OnnxValue *xv = l->in[0];
    const Const *x = &xv->c;
    int r = x->shape.rank, p[MAX_RANK];
    if (!onnx_perm(l, r, p))
        return false;
    Shape s = {r, {0}};
    for (int d = 0; d < r; d++)
        s.d[d] = x->shape.d[p[d]];
    if (!const_alloc(l, out, x->dtype, &s))
        return false;
    int64_t xs[MAX_RANK], idx[MAX_RANK];
    const_strides(&x->shape, xs);
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        int64_t at = 0;
        for (int d = 0; d < r; d++)
            at += idx[d] * xs[p[d]];
        const_copy_elem(out, k, x, at);
    }
    /* Transpose(weight) + MatMul: PyTorch's Linear without bias. */
    if (r == 2 && x->init && p[0] == 1)
        out->transpose_of = xv->name;
    return true;
}

const OnnxKind transpose_onnx[] = {
    {"Transpose", "perm:is", onnx_transpose, fold_transpose, false, "1 13"},
    {NULL},
};

/* ---- export ---- */

bool transpose_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out)
{
    int rank = node_in_shape(g, n, 0)->rank;
    int64_t perm[MAX_RANK + 1] = {0};
    for (int k = 0; k < rank; k++)
        perm[k + 1] = n->a.perm[k] + 1;
    onnx_attr_ints(o, onnx_out_node(o, "Transpose", n->name, in, 1, out), "perm", perm, rank + 1);
    return true;
}
