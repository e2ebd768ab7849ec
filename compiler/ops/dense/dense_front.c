/* dense_front.c: how the front ends write a dense (fully connected) layer.
 * Takes a layer statement (DSL), a Gemm node or a MatMul of a flat input by
 * a constant matrix (ONNX, through matmul_front.c); gives an OP_DENSE node
 * with its attributes and, from ONNX, its weight as PyTorch's [out, in].
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

/* ---- ONNX: Gemm, and MatMul of a flat input by a constant matrix ---- */

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

/* Constant c as n floats times scale, when it is one value per feature:
 * a scalar, or (of rank at most max_rank) 1 on every axis but the last,
 * which is n; NULL otherwise. */
static float *vector_of(const Const *c, int64_t n, float scale, int max_rank)
{
    bool fits = c->n == 1 && c->shape.rank <= max_rank;
    if (c->n == n && c->shape.rank >= 1 && c->shape.rank <= max_rank) {
        fits = true;
        for (int d = 0; d + 1 < c->shape.rank; d++)
            fits &= c->shape.d[d] == 1;
    }
    if (!fits)
        return NULL;
    float *v = xmalloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * c->f[c->n == 1 ? 0 : i];
    return v;
}

/* A quantized weight's integers (int8 models), into [out, in] order when
 * the ONNX weight was [in, out] (transposed): its per-channel scales must
 * run along the output features. */
static void attach_weight_quant(OnnxNode *l, int t, const Const *c, bool transposed, int64_t in,
                                int64_t outf)
{
    if (!c->q)
        return;
    int64_t *perm = NULL;
    if (transposed) {
        perm = xmalloc((size_t)(in * outf) * sizeof *perm);
        for (int64_t i = 0; i < outf; i++)
            for (int64_t j = 0; j < in; j++)
                perm[i * in + j] = j * outf + i;
    }
    onnx_attach_quant(l->o, t, c, transposed ? 1 : 0, perm);
    free(perm);
}

/* Gemm's C (of [M, N] broadcast, M the batch) as N floats times beta: a
 * per-feature vector, or [M, N] or [M, 1] with every row the same (a
 * static batch's copy of one bias); NULL after an error. */
static float *gemm_bias(OnnxNode *l, const OnnxValue *c, int64_t outf, float beta)
{
    const Const *k = &c->c;
    float *v = vector_of(k, outf, beta, 2);
    if (v)
        return v;
    char buf[64];
    if (k->shape.rank != 2 || (k->shape.d[1] != outf && k->shape.d[1] != 1)) {
        onnx_fail(l, "bias '%s' of shape %s does not broadcast to [N, %lld]", c->name,
                  shape_str(&k->shape, buf, sizeof buf), (long long)outf);
        return NULL;
    }
    int64_t cols = k->shape.d[1];
    for (int64_t i = cols; i < k->n; i++)
        if (k->f[i] != k->f[i % cols]) {
            onnx_fail_batch(l, "bias '%s' of shape %s differs from row to row: each sample "
                            "would get its own bias, and cnnc computes every sample alike",
                            c->name, shape_str(&k->shape, buf, sizeof buf));
            return NULL;
        }
    v = xmalloc((size_t)outf * sizeof *v);
    for (int64_t i = 0; i < outf; i++)
        v[i] = beta * k->f[cols == 1 ? 0 : i];
    return v;
}

/* Gemm in whole-tensor mode: A is the sample, a matrix [M, K] (transA: a
 * transpose before), times the constant B' = alpha B (transB: B^T) as a
 * matrix product, plus beta C broadcast NumPy's way as a constant
 * operand of an add (C may differ from row to row: there is no batch). */
static bool whole_gemm(OnnxNode *l, OnnxValue *a, const OnnxValue *b, const OnnxValue *c)
{
    bool ta = attr_int(l->node, "transA", 0) != 0, tb = attr_int(l->node, "transB", 0) != 0;
    float alpha = attr_float(l->node, "alpha", 1), beta = attr_float(l->node, "beta", 1);
    const Shape *bs = &b->c.shape;
    if (a->shape.rank != 2 || bs->rank != 2 || bs->d[tb] != a->shape.d[!ta])
        return onnx_fail(l, "needs A [M, K] and B [K, N] (after transA, transB)");
    OnnxValue at = {.name = l->out->name}, prod = {.name = l->out->name}, *x = a;
    if (ta) {
        Shape s = {2, {a->shape.d[1], a->shape.d[0]}};
        Node *t = onnx_add_node(l, OP_TRANSPOSE, "_transpose_a", &x, 1, &at, &s);
        t->a.perm[0] = 1;
        t->a.perm[1] = 0;
        x = &at;
    }
    int64_t k = bs->d[tb], n = bs->d[!tb];
    Shape ws = {2, {k, n}};
    float *w = xmalloc((size_t)(k * n) * sizeof *w);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < n; j++)
            w[i * n + j] = alpha * (tb ? b->c.f[j * k + i] : b->c.f[i * n + j]);
    char *name = tb || alpha != 1 ? xasprintf("%s.matrix", b->name) : xstrdup(b->name);
    int wt = onnx_make_param(l->o, name, b->c.init ? T_PARAM : T_CONST, &ws, w);
    free(name);
    free(w);
    Node *mm = onnx_add_node(l, OP_MATMUL, c ? "_product" : "", &x, 1, c ? &prod : l->out,
                             &x->shape);
    onnx_set_param(mm, 0, wt);
    if (!onnx_infer(l, mm, c ? &prod : l->out))
        return false;
    if (!c)
        return true;
    float *cv = xmalloc((size_t)(c->c.n ? c->c.n : 1) * sizeof *cv);
    for (int64_t i = 0; i < c->c.n; i++)
        cv[i] = beta * c->c.f[i];
    name = beta != 1 ? xasprintf("%s.scaled", c->name) : xstrdup(c->name);
    int ct = onnx_make_param(l->o, name, c->c.init ? T_PARAM : T_CONST, &c->c.shape, cv);
    free(name);
    free(cv);
    OnnxValue *p = &prod;
    Node *add = onnx_add_node(l, OP_ADD, "", &p, 1, l->out, &prod.shape);
    onnx_set_param(add, 0, ct);
    return onnx_infer(l, add, l->out);
}

static bool onnx_gemm(OnnxNode *l)
{
    OnnxValue *a = onnx_act_in(l, 0), *b = a ? onnx_float_in(l, 1, false) : NULL;
    OnnxValue *c = b ? onnx_float_in(l, 2, true) : NULL;
    if (!b || (!c && l->nin > 2 && l->in[2]))
        return false;
    if (!onnx_batch_axes(l->o))
        return whole_gemm(l, a, b, c);
    if (attr_int(l->node, "transA", 0))
        return onnx_fail_batch(l, "attribute 'transA' = 1 is not supported (it mixes the "
                               "batch)");
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
    /* Before opset 7, C is required and without broadcast=1 has Y's shape;
     * with it, C broadcasts as NumPy's rules would (Gemm has no axis). */
    if (l->version < 7 && (!c || (!attr_int(l->node, "broadcast", 0) &&
                                  (c->c.shape.rank != 2 || c->c.shape.d[1] != outf))))
        return onnx_fail_version(l, c ? "without broadcast=1, C must have the output's shape "
                                        "[M, %lld]" : "C (input 2) is required before opset 7",
                                 (long long)outf);
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
    if (alpha == 1)
        attach_weight_quant(l, wt, &b->c, !tb, in, outf);
    Node *n = dense_node(l, a, wt, outf);
    if (c) {
        float *bias = gemm_bias(l, c, outf, beta);
        if (!bias)
            return false;
        Shape s = {1, {outf}};
        int bt = onnx_make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, &s, bias);
        if (beta == 1 && c->c.n == outf)
            onnx_attach_quant(l->o, bt, &c->c, c->c.shape.rank - 1, NULL);
        onnx_set_param(n, 1, bt);
        n->a.bias = true;
        free(bias);
    }
    return true;
}

bool dense_onnx_matmul(OnnxNode *l, OnnxValue *a, OnnxValue *b)
{
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
    attach_weight_quant(l, wt, &b->c, true, in, outf);
    dense_node(l, a, wt, outf);
    return true;
}

bool dense_onnx_take_bias(OnnxNode *l, OnnxValue *x, OnnxValue *c)
{
    Graph *g = l->o->g;
    int p = g->t[x->tensor].producer;
    if (p < 0 || x->uses != 1)
        return false;
    Node *n = &g->n[p];
    bool dense = n->op == OP_DENSE && !n->a.bias;
    bool matmul = n->op == OP_MATMUL && n->nin == 1 && !n->a.const_left &&
                  (n->nparam < 2 || n->param[1] < 0);
    if (!dense && !matmul)
        return false;
    int64_t units = x->shape.d[x->shape.rank - 1];
    float *bias = vector_of(&c->c, units, 1, onnx_rank(l, x));
    if (!bias)
        return false;
    Shape s = {1, {units}};
    onnx_set_param(n, 1, onnx_make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, &s, bias));
    n->a.bias = true;
    free(bias);
    onnx_alias(l, x);
    return true;
}

/* A QLinearMatMul's MatMul, between its dequantized operands: a flat
 * input times a constant [in, out] matrix. */
static bool flat_matmul(OnnxNode *l)
{
    OnnxValue *a = onnx_act_in(l, 0), *b = a ? onnx_float_in(l, 1, false) : NULL;
    if (!b)
        return false;
    if (a->shape.rank != 1 || b->c.shape.rank != 2 || b->c.shape.d[0] != a->shape.d[0])
        return onnx_fail(l, "only a flat input times a constant [in, out] matrix is supported");
    return dense_onnx_matmul(l, a, b);
}

/* QLinearMatMul (a, a_scale, a_zero_point, b, b_scale, b_zero_point,
 * y_scale, y_zero_point): the same MatMul between a dequantize of a and a
 * quantize into y, b's integers (per tensor or per output column) kept. */
static bool onnx_qlinear_matmul(OnnxNode *l)
{
    if (!onnx_has_inputs(l, 8) || !onnx_need_const(l, 3))
        return false;
    OnnxValue b = {.name = l->in[3]->name, .kind = OV_CONST};
    bool ok = onnx_dequantize_const(l, l->in[3], 4, 5, 1, &b.c);
    b.c.init = l->in[3]->c.init;
    OnnxValue *consts[1] = {&b};
    ok = ok && onnx_qlinear(l, 6, 7, consts, 1, flat_matmul);
    const_free(&b.c);
    return ok;
}

const OnnxKind dense_onnx[] = {
    {"Gemm", "alpha:f beta:f transA:i transB:i broadcast:i", onnx_gemm, NULL, false,
     "1 6 7 9 11 13"},
    {"QLinearMatMul", "", onnx_qlinear_matmul, NULL, false, "10"},
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
