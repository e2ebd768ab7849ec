/* elementwise_front.c: how the front ends write add, sub, mul and div.
 * Takes a layer statement (DSL: add(a, b, ..., activation=...), sub(a, b),
 * mul(a, b), div(a, b) of named layers, broadcast NumPy-style) or an Add,
 * Sum, Sub, Mul or Div node (ONNX); gives an OP_ADD, OP_SUB, OP_MUL or
 * OP_DIV node, a constant operand as its parameter (x - c and x / c as
 * add(x, -c) and mul(x, 1/c), so that the bias and scale folds see them). */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_add(DslArgs *c, Node *n, const DslKind *k)
{
    act_dsl_activation(c, &n->act);
}

static void dsl_binary(DslArgs *c, Node *n, const DslKind *k)
{
}

const DslKind elementwise_dsl[] = {
    {"add", "add", OP_ADD, 0, "*", "activation", dsl_add, NULL},
    {"sub", "sub", OP_SUB, 0, "*", "", dsl_binary, NULL},
    {"mul", "mul", OP_MUL, 0, "*", "", dsl_binary, NULL},
    {"div", "div", OP_DIV, 0, "*", "", dsl_binary, NULL},
    {NULL},
};

/* ---- ONNX ---- */

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

static bool const_alloc_broadcast(OnnxNode *l, Const *out, const Const *a, const Const *b,
                                  Shape *s);

/* *sum (named after the node) += the float32 constant v, broadcast. */
static bool add_into(OnnxNode *l, OnnxValue *sum, const OnnxValue *v)
{
    Const r = {0};
    Shape s;
    if (!const_alloc_broadcast(l, &r, &sum->c, &v->c, &s)) {
        const_free(&r);
        return false;
    }
    int64_t idx[MAX_RANK];
    for (int64_t k = 0; k < r.n; k++) {
        const_unravel(&s, k, idx);
        r.f[k] = sum->c.f[shape_broadcast_index(&sum->c.shape, &s, idx)] +
                 v->c.f[shape_broadcast_index(&v->c.shape, &s, idx)];
    }
    const_free(&sum->c);
    sum->c = r;
    return true;
}

/* The node's operands: its activations (at most 64) and at most one
 * float32 constant, *c_first when that comes first; a Sum's several
 * constants added into *folded, which the caller frees. False after an
 * error. */
static bool split_operands(OnnxNode *l, OnnxValue **acts, int *na, OnnxValue **c, bool *c_first,
                           OnnxValue *folded)
{
    *na = 0;
    *c = NULL;
    if (l->nin > ONNX_MAX_INPUTS)
        return onnx_fail(l, "too many inputs");
    for (int i = 0; i < l->nin; i++) {
        OnnxValue *v = l->in[i];
        if (!v)
            return onnx_fail(l, "input %d is missing", i);
        if (v->kind == OV_ACT) {
            acts[(*na)++] = v;
            continue;
        }
        bool sum = strcmp(l->node->op_type, "Sum") == 0;
        if ((*c && !sum) || v->c.dtype != CONST_F32)
            return onnx_fail(l, "constant operand '%s' is not supported here (at most one "
                             "float32 constant)", v->name);
        if (*c && *c != folded) { /* a Sum's second constant: their sum from now on */
            *folded = (OnnxValue){.name = folded->name, .kind = OV_CONST};
            if (!const_reshaped(l, &(*c)->c, &(*c)->c.shape, &folded->c))
                return false;
            *c = folded;
        }
        if (*c && !add_into(l, folded, v))
            return false;
        if (!*c)
            *c = v;
        *c_first = *c_first || i == 0;
    }
    return true;
}

static bool lower_binary(OnnxNode *l, OnnxValue **acts, int na, OnnxValue *c, bool c_first);

/* ---- versions before NumPy broadcasting: Add, Sub, Mul and Div before
 * opset 7 (broadcast, axis), Sum before 8 (none at all) ---- */

/* v's full ONNX shape, an activation's batch dimension as -1 (any size);
 * in whole-tensor mode an activation's shape is its full shape. */
static Shape full_shape(const OnnxNode *l, const OnnxValue *v)
{
    if (v->kind == OV_CONST)
        return v->c.shape;
    if (l->o->whole)
        return v->shape;
    Shape s = {v->shape.rank + 1, {-1}};
    for (int i = 0; i < v->shape.rank; i++)
        s.d[i + 1] = v->shape.d[i];
    return s;
}

/* Equal shapes, an activation's batch matching any size. */
static bool same_shape(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i] && a->d[i] >= 0 && b->d[i] >= 0)
            return false;
    return true;
}

/* shape_str, an activation's batch as N. */
static const char *batch_shape_str(const Shape *s, char *buf, size_t size)
{
    if (s->rank == 0 || s->d[0] >= 0)
        return shape_str(s, buf, size);
    Shape rest = {s->rank - 1, {0}};
    for (int i = 1; i < s->rank; i++)
        rest.d[i - 1] = s->d[i];
    char tail[96];
    snprintf(buf, size, rest.rank ? "Nx%s" : "N", shape_str(&rest, tail, sizeof tail));
    return buf;
}

static bool old_shapes_differ(OnnxNode *l, const OnnxValue *a, const OnnxValue *b,
                              const char *why)
{
    Shape sa = full_shape(l, a), sb = full_shape(l, b);
    char ta[128], tb[128];
    return onnx_fail_version(l, "'%s' of shape %s and '%s' of %s: %s", a->name,
                             batch_shape_str(&sa, ta, sizeof ta), b->name,
                             batch_shape_str(&sb, tb, sizeof tb), why);
}

/* Version 1 or 6's B aligned with A: with broadcast=1, B's dimensions
 * match A's from `axis` on (by default A's last ones), or B holds one
 * value; B with as many trailing 1s as A has dimensions after them
 * broadcasts NumPy's way. Writes that B into *view (an activation must
 * need no trailing 1s). Without broadcast=1 the shapes must be equal. */
static bool align_old_operand(OnnxNode *l, OnnxValue *view)
{
    const OnnxValue *a = l->in[0], *b = l->in[1];
    Shape sa = full_shape(l, a), sb = full_shape(l, b);
    *view = *b;
    if (!attr_int(l->node, "broadcast", 0))
        return same_shape(&sa, &sb) ||
               old_shapes_differ(l, a, b, "without broadcast=1 the shapes must be equal");
    if (shape_numel(&sb) == 1 && b->kind == OV_CONST)
        return true; /* one value: NumPy broadcasts it as it is */
    int64_t axis = attr_int(l->node, "axis", sa.rank - sb.rank);
    if (sb.rank > sa.rank || axis < 0 || axis > sa.rank - sb.rank)
        return old_shapes_differ(l, a, b, "B's dimensions do not fit in A's at the axis");
    for (int i = 0; i < sb.rank; i++)
        if (sb.d[i] != sa.d[axis + i] && sb.d[i] >= 0 && sa.d[axis + i] >= 0)
            return old_shapes_differ(l, a, b, "B's dimensions do not match A's at the axis");
    int trailing = sa.rank - sb.rank - (int)axis;
    if (!trailing)
        return true;
    if (b->kind != OV_CONST)
        return old_shapes_differ(l, a, b, "an activation B aligned before A's last axes is not "
                                 "supported");
    for (int i = 0; i < trailing; i++)
        view->c.shape.d[view->c.shape.rank++] = 1;
    return true;
}

/* Sum before 8: every input of one shape. */
static bool old_sum_shapes(OnnxNode *l)
{
    for (int i = 1; i < l->nin; i++) {
        if (!l->in[0] || !l->in[i])
            return onnx_fail(l, "input %d is missing", l->in[0] ? i : 0);
        Shape s0 = full_shape(l, l->in[0]), si = full_shape(l, l->in[i]);
        if (!same_shape(&s0, &si))
            return old_shapes_differ(l, l->in[0], l->in[i], "Sum broadcasts from opset 8 on only");
    }
    return true;
}

static bool onnx_binary_numpy(OnnxNode *l);

/* Add, Sum, Sub, Mul, Div: activations and at most one constant, NumPy
 * broadcasting between them all (the shape rule checks it); the versions
 * before it, B (a constant) aligned at `axis` first. */
static bool onnx_binary(OnnxNode *l)
{
    bool sum = strcmp(l->node->op_type, "Sum") == 0;
    if (sum ? l->version >= 8 : l->version >= 7)
        return onnx_binary_numpy(l);
    if (sum)
        return old_sum_shapes(l) && onnx_binary_numpy(l);
    if (!onnx_has_inputs(l, 2))
        return false;
    OnnxValue view, *b = l->in[1];
    if (!align_old_operand(l, &view))
        return false;
    l->in[1] = &view;
    bool ok = onnx_binary_numpy(l);
    l->in[1] = b;
    return ok;
}

/* onnx_binary from NumPy's broadcasting on (Add, Sub, Mul, Div from
 * opset 7, Sum from 8): activations and at most one constant (a Sum's
 * several added into one), NumPy broadcasting between them all (the
 * shape rule checks it). */
static bool onnx_binary_numpy(OnnxNode *l)
{
    OnnxValue *acts[ONNX_MAX_INPUTS], *c, folded = {.name = NULL};
    int na;
    bool c_first = false;
    char *name = xasprintf("%s.constants", node_label(l->node));
    folded.name = name;
    bool ok = split_operands(l, acts, &na, &c, &c_first, &folded) &&
              lower_binary(l, acts, na, c, c_first);
    const_free(&folded.c);
    free(name);
    return ok;
}

/* Whether Pow's exponent (input 1) is more than one value, or computed:
 * a power node between two operands (from Pow-7, NumPy broadcasting). One
 * value is the pow activation's parameter, the act family's main Pow row. */
static bool tensor_exponent(const OnnxNode *l)
{
    return l->version >= 7 && l->nin >= 2 && l->in[1] &&
           !(l->in[1]->kind == OV_CONST && l->in[1]->c.n == 1);
}

/* ONNX's Pow with a tensor exponent: a power node, NumPy broadcasting. */
static bool onnx_power(OnnxNode *l)
{
    OnnxValue *e = l->nin > 1 ? l->in[1] : NULL;
    if (!e || e->kind != OV_CONST || e->c.dtype == CONST_F32)
        return onnx_binary_numpy(l);
    /* An integer exponent (Pow's T1 may be int32 or int64) as floats. */
    OnnxValue as_float = {.name = e->name, .kind = OV_CONST};
    if (!const_alloc(l, &as_float.c, CONST_F32, &e->c.shape))
        return false;
    for (int64_t k = 0; k < e->c.n; k++)
        as_float.c.f[k] = (float)e->c.i[k];
    l->in[1] = &as_float;
    bool ok = onnx_binary_numpy(l);
    l->in[1] = e;
    const_free(&as_float.c);
    return ok;
}

/* onnx_binary's node, from its operands. */
static bool lower_binary(OnnxNode *l, OnnxValue **acts, int na, OnnxValue *c, bool c_first)
{
    const char *op = l->node->op_type;
    bool sub = strcmp(op, "Sub") == 0, div = strcmp(op, "Div") == 0;
    bool sum = strcmp(op, "Sum") == 0 || strcmp(op, "Add") == 0;
    if (na == 0) /* Sum has no fold: a Sum of constants only */
        return onnx_fail(l, "supported only with an operand computed from the model's input");
    if (na == 1 && !c && sum) { /* Sum of one input */
        onnx_alias(l, acts[0]);
        return true;
    }
    if (!sum && na + (c != NULL) != 2)
        return onnx_fail(l, "takes exactly two operands");
    /* x - c and x / c: an add of -c, a product with 1/c; c - x and c / x
     * keep the constant first. */
    char how = c && !c_first ? (sub ? '-' : div ? '/' : 0) : 0;
    int kind = OP_MUL;
    if (strcmp(op, "Pow") == 0)
        kind = OP_POWER;
    else if (sum || how == '-')
        kind = OP_ADD;
    else if (sub || (div && how != '/'))
        kind = sub ? OP_SUB : OP_DIV;
    if (kind == OP_ADD && c && na == 1 && dense_onnx_take_bias(l, acts[0], c))
        return true;
    if (c && onnx_batch_axes(l->o) && c->c.shape.rank > acts[0]->shape.rank &&
        c->c.shape.d[c->c.shape.rank - acts[0]->shape.rank - 1] != 1)
        return onnx_fail_batch(l, "constant '%s' reaches the batch axis: beyond the "
                               "activations' dimensions it may have a batch dimension of 1 "
                               "only (each sample would get its own operand)", c->name);
    Node *n = onnx_add_node(l, kind, "", acts, na, l->out, &acts[0]->shape);
    if (!n)
        return false;
    n->a.const_first = c && c_first && (kind == OP_SUB || kind == OP_DIV || kind == OP_POWER);
    if (c)
        onnx_set_param(n, 0, operand_param(l, c, how));
    return onnx_infer(l, n, l->out);
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
    OnnxValue view;
    if (!onnx_has_inputs(l, 2) || (l->version < 7 && !align_old_operand(l, &view)))
        return false;
    const Const *a = &l->in[0]->c, *b = l->version < 7 ? &view.c : &l->in[1]->c;
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
    {"Add", "axis:i<7 broadcast:i<7 consumed_inputs:is<6", onnx_binary, fold_arith, false,
     "1 6 7 13 14"},
    {"Sum", "consumed_inputs:is<6", onnx_binary, NULL, false, "1 6 8 13"},
    {"Sub", "axis:i<7 broadcast:i<7 consumed_inputs:is<6", onnx_binary, fold_arith, false,
     "1 6 7 13 14"},
    {"Mul", "axis:i<7 broadcast:i<7 consumed_inputs:is<6", onnx_binary, fold_arith, false,
     "1 6 7 13 14"},
    {"Div", "axis:i<7 broadcast:i<7 consumed_inputs:is<6", onnx_binary, fold_arith, false,
     "1 6 7 13 14"},
    {NULL},
};

const OnnxShare elementwise_onnx_shares[] = {
    {tensor_exponent, {"Pow", .lower = onnx_power}},
    {NULL},
};

/* ---- export: Add (Sum of three or more), Sub, Mul, Div; a constant operand
 * B as an input in its place (first for B - x and B / x) ---- */

bool elementwise_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                             const char *out)
{
    static const char *const names[] = {[OP_ADD] = "Add", [OP_SUB] = "Sub", [OP_MUL] = "Mul",
                                        [OP_DIV] = "Div", [OP_POWER] = "Pow"};
    const char *inputs[ONNX_MAX_INPUTS];
    int count = elt_count(n);
    if (count > ONNX_MAX_INPUTS)
        return false;
    for (int k = 0; k < count; k++) {
        int j = elt_input(n, k);
        inputs[k] = j >= 0 ? in[j] : g->t[n->param[0]].name;
    }
    const char *op = n->op == OP_ADD && count > 2 ? "Sum" : names[n->op];
    onnx_out_node(o, op, n->name, inputs, count, out);
    return true;
}
