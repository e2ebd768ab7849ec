/* elementwise_front.c: how the front ends write add and mul. Takes a layer
 * statement (DSL: add(a, b, ..., activation=...) of named layers) or an
 * Add, Sum, Sub, Mul or Div node (ONNX); gives an OP_ADD or OP_MUL node,
 * a constant operand as its parameter. */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_add(DslArgs *c, Node *n, const DslKind *k)
{
    act_dsl_activation(c, &n->act);
}

const DslKind elementwise_dsl[] = {
    {"add", "add", OP_ADD, 0, "*", "activation", dsl_add, NULL},
    {NULL},
};

/* ---- ONNX ---- */

/* Does constant shape c broadcast onto per-sample shape s (with an
 * optional leading batch dimension of 1)? */
static bool const_broadcasts(const Shape *c, const Shape *s)
{
    int extra = c->rank - s->rank;
    if (extra > 1 || (extra == 1 && c->d[0] != 1))
        return false;
    for (int i = 0; i < s->rank; i++) {
        int ci = i + extra;
        if (ci >= 0 && c->d[ci] != 1 && c->d[ci] != s->d[i])
            return false;
    }
    return true;
}

/* A constant operand of an elementwise node, made from c with
 * each value v turned into f(v) (Sub: -v, Div: 1/v). */
static int operand_param(OnnxNode *l, OnnxValue *c, char how)
{
    if (how == 0)
        return onnx_const_param(l->o, c, T_PARAM);
    float *d = xmalloc((size_t)(c->c.n ? c->c.n : 1) * sizeof *d);
    for (int64_t i = 0; i < c->c.n; i++)
        d[i] = how == '-' ? -c->c.f[i] : 1 / c->c.f[i];
    char *name = xasprintf("%s.%s", c->name, how == '-' ? "neg" : "recip");
    int t = onnx_make_param(l->o, name, T_CONST, &c->c.shape, d);
    free(name);
    free(d);
    return t;
}

/* Add, Sum, Sub, Mul, Div: activations of one shape, at most one constant. */
static bool onnx_binary(OnnxNode *l)
{
    const char *op = l->node->op_type;
    bool mul = strcmp(op, "Mul") == 0 || strcmp(op, "Div") == 0;
    char how = strcmp(op, "Sub") == 0 ? '-' : strcmp(op, "Div") == 0 ? '/' : 0;
    OnnxValue *acts[64], *c = NULL;
    int na = 0;
    if (l->nin > 64)
        return onnx_fail(l, "too many inputs");
    for (int i = 0; i < l->nin; i++) {
        OnnxValue *v = l->in[i];
        if (!v)
            return onnx_fail(l, "input %d is missing", i);
        if (v->kind == OV_ACT) {
            if (how && i > 0)
                return onnx_fail(l, "only a constant second operand is supported");
            acts[na++] = v;
        } else if (c || v->c.dtype != CONST_F32 || (how && i == 0)) {
            return onnx_fail(l, "constant operand '%s' is not supported here (one float32 constant, "
                        "second for Sub/Div)", v->name);
        } else {
            c = v;
        }
    }
    char s1[64], s2[64];
    for (int i = 1; i < na; i++)
        if (!shape_eq(&acts[i]->shape, &acts[0]->shape))
            return onnx_fail(l, "inputs of shapes %s and %s: broadcasting between activations is "
                        "not supported", shape_str(&acts[0]->shape, s1, sizeof s1),
                        shape_str(&acts[i]->shape, s2, sizeof s2));
    if (c && !const_broadcasts(&c->c.shape, &acts[0]->shape))
        return onnx_fail(l, "constant '%s' of shape %s does not broadcast to %s without growing it",
                    c->name, shape_str(&c->c.shape, s1, sizeof s1),
                    shape_str(&acts[0]->shape, s2, sizeof s2));
    if (na == 1 && !c) { /* Sum of one input */
        onnx_alias(l, acts[0]);
        return true;
    }
    if (mul && na + (c != NULL) != 2)
        return onnx_fail(l, "takes exactly two operands");
    if (!mul && c && how != '-' && na == 1 && dense_onnx_take_bias(l, acts[0], c))
        return true;
    Node *n = onnx_add_node(l, mul ? OP_MUL : OP_ADD, "", acts, na, l->out,
                       &acts[0]->shape);
    if (c)
        onnx_set_param(n, 0, operand_param(l, c, how));
    return true;
}

/* The NumPy broadcast of a and b, allocated in out. */
static bool const_alloc_broadcast(OnnxNode *l, Const *out, const Const *a, const Const *b, Shape *s)
{
    if (!shape_broadcast(&a->shape, &b->shape, s))
        return onnx_fail(l, "shapes do not broadcast");
    return const_alloc_grown(l, out, a->dtype, s, a->n + b->n);
}

static bool fold_arith(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 2))
        return false;
    const Const *a = &l->in[0]->c, *b = &l->in[1]->c;
    char op = l->node->op_type[0]; /* Add, Sub, Mul, Div */
    Shape s;
    if (a->dtype != b->dtype)
        return onnx_fail(l, "operands have different data types");
    if ((a->dtype == CONST_I64 && (!onnx_need_i64(l, a, "operand") ||
                                   !onnx_need_i64(l, b, "operand"))) ||
        !const_alloc_broadcast(l, out, a, b, &s))
        return false;
    int64_t idx[MAX_RANK];
    for (int64_t k = 0; k < out->n; k++) {
        const_unravel(&s, k, idx);
        int64_t ia = shape_broadcast_index(&a->shape, &s, idx), ib = shape_broadcast_index(&b->shape, &s, idx);
        if (a->dtype == CONST_F32) {
            float x = a->f[ia], y = b->f[ib];
            out->f[k] = op == 'A' ? x + y : op == 'S' ? x - y : op == 'M' ? x * y : x / y;
            continue;
        }
        int64_t x = a->i[ia], y = b->i[ib], r;
        bool bad = op == 'D' ? y == 0 || (x == INT64_MIN && y == -1)
                   : op == 'A' ? __builtin_add_overflow(x, y, &r)
                   : op == 'S' ? __builtin_sub_overflow(x, y, &r)
                               : __builtin_mul_overflow(x, y, &r);
        if (bad)
            return onnx_fail(l, "integer overflow or division by zero");
        out->i[k] = op == 'D' ? x / y : r;
    }
    return true;
}

const OnnxKind elementwise_onnx[] = {
    {"Add", "", onnx_binary, fold_arith, false},
    {"Sum", "", onnx_binary, NULL, false},
    {"Sub", "", onnx_binary, fold_arith, false},
    {"Mul", "", onnx_binary, fold_arith, false},
    {"Div", "", onnx_binary, fold_arith, false},
    {NULL},
};

/* ---- export: Add (Sum of three or more), Mul; a constant operand B as a
 * second input ---- */

bool elementwise_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                             const char *out)
{
    const char *inputs[ONNX_MAX_INPUTS];
    int k = 0;
    for (int j = 0; j < n->nin && k < ONNX_MAX_INPUTS - 1; j++)
        inputs[k++] = in[j];
    if (n->nparam > 0 && n->param[0] >= 0)
        inputs[k++] = g->t[n->param[0]].name;
    const char *op = n->op == OP_MUL ? "Mul" : k > 2 ? "Sum" : "Add";
    onnx_out_node(o, op, n->name, inputs, k, out);
    return true;
}
