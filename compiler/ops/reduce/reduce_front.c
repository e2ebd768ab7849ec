/* reduce_front.c: how the front ends write the reductions. Takes a layer
 * statement (DSL: reduce_mean(axes=(1, 2), keepdims=true), axes of the
 * per-sample shape, negative ones from the end, all by default; keepdims
 * false by default, as PyTorch's keepdim) or a ReduceMean, ReduceMax,
 * ReduceSum or ReduceL2 node (ONNX: axes of the full shape, as an
 * attribute, for ReduceSum from opset 13 as input 1; keepdims 1 by
 * default); gives the node, its axes as a.reduce_axes. Axis 0 of an ONNX
 * tensor is the batch's: reducing it would mix samples, an error.
 * `cnnc export` writes the node back at opset 13: its axes shifted past the
 * batch, ReduceSum's as an input, the others' as an attribute. */
#include "../ops.h"

#include <stdio.h>
#include <string.h>

/* The keyword's value among the statement's arguments, or NULL. */
static const Value *raw_arg(const Arg *args, const char *key)
{
    for (const Arg *a = args; a; a = a->next)
        if (a->key && strcmp(a->key, key) == 0)
            return a->v;
    return NULL;
}

/* The axes (V_INT or a tuple of them) as a mask over a rank-`rank` shape;
 * reports bad and repeated ones (with c) or, without, ignores them. */
static unsigned axes_mask(DslArgs *c, const Value *v, int rank)
{
    const Arg one = {.v = (Value *)v};
    const Arg *items = v->kind == V_TUPLE ? v->items : &one;
    unsigned mask = 0;
    for (const Arg *a = items; a; a = v->kind == V_TUPLE ? a->next : NULL) {
        const Value *x = a->v;
        if (x->kind != V_INT || x->overflow || x->i < -rank || x->i >= rank) {
            char want[96];
            snprintf(want, sizeof want, "axes of the rank-%d sample, 0 to %d (or -%d to -1)", rank,
                     rank - 1, rank);
            if (c && rank)
                dsl_bad_value(c, "axes", x, want);
            continue;
        }
        int axis = (int)(x->i < 0 ? x->i + rank : x->i);
        if (c && (mask >> axis & 1))
            diag_error(x->loc, "%s: axis %d is given twice", c->what, axis);
        mask |= 1u << axis;
    }
    return mask;
}

static void dsl_reduce(DslArgs *c, Node *n, const DslKind *k)
{
    const Value *axes = dsl_get(c, "axes", false);
    if (axes && axes->kind != V_INT && axes->kind != V_TUPLE)
        dsl_bad_value(c, "axes", axes, "an axis or a tuple of axes");
    else if (c->rank)
        n->a.reduce_axes = axes ? axes_mask(c, axes, c->rank) : (1u << c->rank) - 1;
    dsl_get_bool(c, "keepdims", &n->a.keepdims);
}

static int reduce_rank(const Arg *args, int in_rank)
{
    const Value *axes = raw_arg(args, "axes"), *keep = raw_arg(args, "keepdims");
    if (keep && dsl_is_ident(keep, "true"))
        return in_rank;
    unsigned mask = (1u << in_rank) - 1;
    if (axes && (axes->kind == V_INT || axes->kind == V_TUPLE))
        mask = axes_mask(NULL, axes, in_rank);
    int left = in_rank;
    for (int i = 0; i < in_rank; i++)
        left -= mask >> i & 1;
    return left;
}

const DslKind reduce_dsl[] = {
    {"reduce_mean", "reduce_mean", OP_REDUCE_MEAN, 0, "", "axes keepdims", dsl_reduce, reduce_rank},
    {"reduce_max", "reduce_max", OP_REDUCE_MAX, 0, "", "axes keepdims", dsl_reduce, reduce_rank},
    {"reduce_sum", "reduce_sum", OP_REDUCE_SUM, 0, "", "axes keepdims", dsl_reduce, reduce_rank},
    {"reduce_l2", "reduce_l2", OP_REDUCE_L2, 0, "", "axes keepdims", dsl_reduce, reduce_rank},
    {NULL},
};

/* ---- ONNX ---- */

static int reduce_op(const char *op_type)
{
    static const struct {
        const char *name;
        int op;
    } ops[] = {{"ReduceMean", OP_REDUCE_MEAN}, {"ReduceMax", OP_REDUCE_MAX},
               {"ReduceSum", OP_REDUCE_SUM}, {"ReduceL2", OP_REDUCE_L2}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strcmp(ops[i].name, op_type) == 0)
            return ops[i].op;
    internal_error("no reduction '%s'", op_type);
}

/* ONNX's axes (of x's full shape, batch first) as a per-sample mask. */
static bool onnx_axes(OnnxNode *l, const int64_t *axes, int count, int rank, unsigned *mask)
{
    *mask = 0;
    for (int i = 0; i < count; i++) {
        int a, sa;
        if (!onnx_norm_axis(l, axes[i], rank, &a))
            return false;
        if ((sa = onnx_sample_axis(l, a)) < 0)
            return onnx_fail_batch(l, "reducing axis 0, the batch, would mix the samples; only "
                                   "the axes after it are supported");
        if (*mask >> sa & 1)
            return onnx_fail(l, "axis %d is given twice", a);
        *mask |= 1u << sa;
    }
    return true;
}

static bool onnx_reduce(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    int64_t axes[MAX_RANK];
    bool sum = strcmp(l->node->op_type, "ReduceSum") == 0;
    int count = onnx_int_list(l, 1, "axes", sum ? 13 : 18, axes);
    if (count == -2)
        return false;
    if (count <= 0 && sum && l->o->opset >= 13 && attr_int(l->node, "noop_with_empty_axes", 0)) {
        onnx_alias(l, x);
        return true;
    }
    if (count <= 0 && onnx_batch_axes(l->o))
        return onnx_fail_batch(l, "no axes: reducing every axis, the batch's too, would mix the "
                               "samples; only the axes after the batch are supported");
    unsigned mask = (1u << x->shape.rank) - 1; /* no axes: every axis of the whole tensor */
    if (count > 0 && !onnx_axes(l, axes, count, onnx_rank(l, x), &mask))
        return false;
    Node *n = onnx_add_node(l, reduce_op(l->node->op_type), "", &x, 1, l->out, &x->shape);
    n->a.reduce_axes = mask;
    n->a.keepdims = attr_int(l->node, "keepdims", 1) != 0;
    return onnx_infer(l, n, l->out);
}

const OnnxKind reduce_onnx[] = {
    {"ReduceMean", "axes:is keepdims:i", onnx_reduce, NULL, false, "1 11 13"},
    {"ReduceMax", "axes:is keepdims:i", onnx_reduce, NULL, false, "1 11 12 13"},
    {"ReduceSum", "axes:is keepdims:i noop_with_empty_axes:i", onnx_reduce, NULL, false,
     "1 11 13"},
    {"ReduceL2", "axes:is keepdims:i", onnx_reduce, NULL, false, "1 11 13"},
    {NULL},
};

static const char *reduce_onnx_name(int op)
{
    return op == OP_REDUCE_MEAN ? "ReduceMean"
           : op == OP_REDUCE_MAX ? "ReduceMax"
           : op == OP_REDUCE_SUM ? "ReduceSum"
                                 : "ReduceL2";
}

bool reduce_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out)
{
    int64_t axes[MAX_RANK];
    int count = 0;
    for (int i = 0; i < node_in_shape(g, n, 0)->rank; i++)
        if (n->a.reduce_axes >> i & 1)
            axes[count++] = i + 1;
    const char *inputs[2] = {in[0], NULL};
    bool axes_input = n->op == OP_REDUCE_SUM; /* an input from opset 13 */
    if (axes_input) {
        Shape s = {1, {count}};
        inputs[1] = onnx_out_fresh(o, "axes");
        onnx_out_init_i64(o, inputs[1], &s, axes);
    }
    Onnx__NodeProto *x =
        onnx_out_node(o, reduce_onnx_name(n->op), n->name, inputs, axes_input ? 2 : 1, out);
    if (!axes_input)
        onnx_attr_ints(o, x, "axes", axes, count);
    onnx_attr_int(o, x, "keepdims", n->a.keepdims);
    return true;
}
