/* dense_front.c: how the front ends write a dense (fully connected) layer.
 * Takes a layer statement (DSL) or a Gemm/MatMul node (ONNX); gives an
 * OP_DENSE node with its attributes and, from ONNX, its weight as
 * PyTorch's [out, in].
 *
 *   DSL   dense(UNITS, bias=true, activation=..., init=...): a flat input. */
#include "../ops.h"

#include <stdlib.h>

static void dsl_dense(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_get_int(c, "units", true, 1, &n->a.filters);
    dsl_get_bool(c, "bias", &n->a.bias);
    act_dsl_activation(c, &n->act);
    dsl_get_init(c, "init", &n->a.init);
}

static int flat_rank(const Arg *args, int in_rank)
{
    return 1;
}

const DslKind dense_dsl[] = {
    {"dense", "dense", OP_DENSE, 1, "units", "units bias activation init", dsl_dense, flat_rank},
    {NULL},
};

/* ---- ONNX: Gemm and MatMul of a flat input by a constant matrix ---- */

/* A dense layer y = W x (+ bias) with W [out, in] given. */
static Node *dense_node(OnnxNode *l, OnnxValue *x, int weight, int64_t out_features)
{
    Shape out = {1, {out_features}};
    Node *n = onnx_add_node(l, OP_DENSE, "", &x, 1, l->out, &out);
    n->a.filters = (int)out_features;
    n->a.bias = false;
    onnx_set_param(n, 0, weight);
    return n;
}

/* Broadcasts constant c (scalar, [n] or [1, n]) to n floats times scale;
 * NULL if its shape does not fit. */
static float *vector_of(const Const *c, int64_t n, float scale)
{
    bool fits = c->n == 1 || (c->n == n && (c->shape.rank == 1 ||
                                            (c->shape.rank == 2 && c->shape.d[0] == 1)));
    if (!fits)
        return NULL;
    float *v = xmalloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * c->f[c->n == 1 ? 0 : i];
    return v;
}

static bool onnx_gemm(OnnxNode *l)
{
    OnnxValue *a = onnx_act_in(l, 0), *b = a ? onnx_float_in(l, 1, false) : NULL;
    OnnxValue *c = b ? onnx_float_in(l, 2, true) : NULL;
    if (!b || (!c && l->nin > 2 && l->in[2]))
        return false;
    if (attr_int(l->node, "transA", 0))
        return onnx_fail(l, "attribute 'transA' = 1 is not supported (it mixes the batch)");
    bool tb = attr_int(l->node, "transB", 0) != 0;
    float alpha = attr_float(l->node, "alpha", 1), beta = attr_float(l->node, "beta", 1);
    const Shape *bs = &b->c.shape;
    int64_t in = a->shape.d[0];
    if (a->shape.rank != 1)
        return onnx_fail(l, "input must be flat (one dimension per sample), got rank %d",
                    a->shape.rank);
    if (bs->rank != 2 || bs->d[tb ? 1 : 0] != in)
        return onnx_fail(l, "weight '%s' does not fit %lld input features", b->name, (long long)in);
    int64_t outf = bs->d[tb ? 0 : 1];
    Shape ws = {2, {outf, in}};
    float *w = xmalloc((size_t)(outf * in) * sizeof *w);
    for (int64_t i = 0; i < outf; i++)
        for (int64_t j = 0; j < in; j++)
            w[i * in + j] = alpha * (tb ? b->c.f[i * in + j] : b->c.f[j * outf + i]);
    /* Transpose(weight) + Gemm/MatMul: the original weight, by its name. */
    const char *name = !tb && b->c.transpose_of ? b->c.transpose_of : b->name;
    bool param = b->c.init || b->c.transpose_of;
    int wt = onnx_make_param(l->o, name, param ? T_PARAM : T_CONST, &ws, w);
    free(w);
    Node *n = dense_node(l, a, wt, outf);
    if (c) {
        float *bias = vector_of(&c->c, outf, beta);
        if (!bias)
            return onnx_fail(l, "bias '%s' must broadcast to [%lld] without the batch", c->name,
                        (long long)outf);
        Shape s = {1, {outf}};
        onnx_set_param(n, 1, onnx_make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, &s, bias));
        n->a.bias = true;
        free(bias);
    }
    return true;
}

static bool onnx_matmul(OnnxNode *l)
{
    OnnxValue *a = onnx_act_in(l, 0), *b = a ? onnx_float_in(l, 1, false) : NULL;
    if (!b)
        return false;
    if (a->shape.rank != 1 || b->c.shape.rank != 2 || b->c.shape.d[0] != a->shape.d[0])
        return onnx_fail(l, "only a flat input times a constant [in, out] matrix is supported");
    int64_t in = b->c.shape.d[0], outf = b->c.shape.d[1];
    Shape ws = {2, {outf, in}};
    float *w = xmalloc((size_t)(outf * in) * sizeof *w);
    for (int64_t i = 0; i < outf; i++)
        for (int64_t j = 0; j < in; j++)
            w[i * in + j] = b->c.f[j * outf + i];
    const char *name = b->c.transpose_of ? b->c.transpose_of : b->name;
    bool param = b->c.init || b->c.transpose_of;
    int wt = onnx_make_param(l->o, name, param ? T_PARAM : T_CONST, &ws, w);
    free(w);
    dense_node(l, a, wt, outf);
    return true;
}

bool dense_onnx_take_bias(OnnxNode *l, OnnxValue *x, OnnxValue *c)
{
    Graph *g = l->o->g;
    int p = g->t[x->tensor].producer;
    if (p < 0 || x->uses != 1 || g->n[p].op != OP_DENSE || g->n[p].a.bias)
        return false;
    Node *n = &g->n[p];
    float *bias = vector_of(&c->c, n->a.filters, 1);
    if (!bias)
        return false;
    Shape s = {1, {n->a.filters}};
    onnx_set_param(n, 1, onnx_make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, &s, bias));
    n->a.bias = true;
    free(bias);
    onnx_alias(l, x);
    return true;
}

const OnnxKind dense_onnx[] = {
    {"Gemm", "alpha:f beta:f transA:i transB:i broadcast:i", onnx_gemm, NULL, false},
    {"MatMul", "", onnx_matmul, NULL, false},
    {NULL},
};

/* ---- export: Gemm(x, W, b) with W as PyTorch's [out, in] (transB) ---- */

bool dense_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out)
{
    const char *inputs[3] = {in[0], g->t[n->param[0]].name, n->a.bias ? g->t[n->param[1]].name : ""};
    Onnx__NodeProto *x = onnx_out_node(o, "Gemm", n->name, inputs, n->a.bias ? 3 : 2, out);
    onnx_attr_int(o, x, "transB", 1);
    return true;
}
