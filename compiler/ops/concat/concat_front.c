/* concat_front.c: how the front ends write a concatenation. Takes a layer
 * statement (DSL: concat(a, b, ...) of named layers, over channels) or a
 * Concat node (ONNX, any axis but the batch, constant inputs among the
 * activations); gives an OP_CONCAT node, its constants as parameters. */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_concat(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.axis = 0; /* the channel axis of the per-sample shape */
}

const DslKind concat_dsl[] = {
    {"concat", "concat", OP_CONCAT, 0, "*", "", dsl_concat, NULL},
    {NULL},
};

/* ---- ONNX ---- */

/* Constant operand v of a Concat of activations of full rank `rank`: its
 * values per sample ([1, ...], or a static batch of equal copies; in
 * whole-tensor mode all of it) as a parameter; -1 after an error. */
static int const_operand(OnnxNode *l, const OnnxValue *v, int rank)
{
    const Const *c = &v->c;
    char buf[64];
    int lead = onnx_batch_axes(l->o);
    if (c->dtype != CONST_F32 || c->shape.rank != rank) {
        onnx_fail(l, "constant '%s' must be float32 of rank %d, like the activations", v->name,
                  rank);
        return -1;
    }
    int64_t per = !lead ? c->n : c->shape.d[0] ? c->n / c->shape.d[0] : 0;
    for (int64_t i = per; i < c->n; i++)
        if (c->f[i] != c->f[i % per]) {
            onnx_fail_batch(l, "constant '%s' of shape %s differs from sample to sample, and "
                            "cnnc computes every sample alike", v->name,
                            shape_str(&c->shape, buf, sizeof buf));
            return -1;
        }
    Shape s = shape_make(rank - lead, c->shape.d + lead);
    return onnx_make_param(l->o, v->name, c->init ? T_PARAM : T_CONST, &s, c->f);
}

static bool onnx_concat(OnnxNode *l)
{
    OnnxValue *xs[CONCAT_MAX_OPERANDS];
    int nx = 0, rank = 0;
    if (l->nin < 1 || l->nin > CONCAT_MAX_OPERANDS)
        return onnx_fail(l, "takes 1 to %d inputs", CONCAT_MAX_OPERANDS);
    for (int i = 0; i < l->nin; i++) {
        if (!l->in[i])
            return onnx_fail(l, "input %d is missing", i);
        if (l->in[i]->kind == OV_ACT) {
            xs[nx++] = l->in[i];
            rank = onnx_rank(l, l->in[i]);
        }
    }
    int64_t axis = attr_int(l->node, "axis", l->o->opset < 4 ? 1 : 0);
    axis = axis < 0 ? axis + rank : axis;
    if (axis < 0 || axis >= rank)
        return onnx_fail(l, "axis %lld is out of range", (long long)attr_int(l->node, "axis", 1));
    if (onnx_sample_axis(l, (int)axis) < 0)
        return onnx_fail_batch(l, "axis %lld is not supported (cnnc keeps the batch axis whole)",
                               (long long)attr_int(l->node, "axis", 1));
    if (nx == 1 && l->nin == 1) {
        onnx_alias(l, xs[0]);
        return true;
    }
    Node *n = onnx_add_node(l, OP_CONCAT, "", xs, nx, l->out, &xs[0]->shape);
    n->a.axis = onnx_sample_axis(l, (int)axis);
    for (int i = 0, slot = 0; i < l->nin; i++) {
        if (l->in[i]->kind == OV_ACT)
            continue;
        if (slot == 4)
            return onnx_fail(l, "more than 4 constant inputs");
        int t = const_operand(l, l->in[i], rank);
        if (t < 0)
            return false;
        onnx_set_param(n, slot++, t);
        n->a.const_at |= UINT64_C(1) << i;
    }
    return onnx_infer(l, n, l->out);
}

static bool fold_concat(OnnxNode *l, Const *out)
{
    if (!onnx_has_inputs(l, 1))
        return false;
    OnnxValue **in = l->in;
    int nin = l->nin;
    const Const *c0 = &in[0]->c;
    int axis, r = c0->shape.rank;
    if (!onnx_norm_axis(l, attr_int(l->node, "axis", 0), r, &axis))
        return false;
    Shape s = c0->shape;
    s.d[axis] = 0;
    for (int i = 0; i < nin; i++) {
        const Const *c = &in[i]->c;
        bool same = c->dtype == c0->dtype && c->shape.rank == r;
        for (int d = 0; same && d < r; d++)
            same = d == axis || c->shape.d[d] == s.d[d];
        if (!same)
            return onnx_fail(l, "inputs have different types or shapes");
        s.d[axis] += c->shape.d[axis];
    }
    if (!const_alloc(l, out, c0->dtype, &s))
        return false;
    int64_t outer, inner;
    shape_split(&s, axis, &outer, &inner);
    int64_t k = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int i = 0; i < nin; i++) {
            const Const *c = &in[i]->c;
            int64_t len = c->shape.d[axis] * inner;
            for (int64_t b = 0; b < len; b++)
                const_copy_elem(out, k++, c, a * len + b);
        }
    return true;
}

const OnnxKind concat_onnx[] = {
    {"Concat", "axis:i", onnx_concat, fold_concat, false, "1 4 11 13"},
    {NULL},
};

/* ---- export ---- */

/* A name from "<node>_<what>" not yet used, for a helper node or value. */
static const char *fresh(OnnxOut *o, const Node *n, const char *what)
{
    char *base = xasprintf("%s_%s", n->name, what);
    const char *name = onnx_out_fresh(o, base);
    free(base);
    return name;
}

/* Constant operand c of node n as [N, c's shape]: a [1, ...] initializer
 * expanded to the batch of x (Shape, Slice, Concat, Expand). */
static const char *batched(OnnxOut *o, const Node *n, const Tensor *c, const char *x)
{
    Shape one = {c->shape.rank + 1, {1}}, v = {1, {1}};
    memcpy(one.d + 1, c->shape.d, (size_t)c->shape.rank * sizeof *one.d);
    const char *c1 = onnx_out_fresh(o, c->name);
    onnx_out_init_f32(o, c1, &one, c->data);
    const char *shape = fresh(o, n, "shape"), *first = fresh(o, n, "batch");
    onnx_out_node(o, "Shape", fresh(o, n, "shape_of"), &x, 1, shape);
    const char *bounds[3] = {shape, fresh(o, n, "zero"), fresh(o, n, "one")};
    onnx_out_init_i64(o, bounds[1], &v, (int64_t[]){0});
    onnx_out_init_i64(o, bounds[2], &v, (int64_t[]){1});
    onnx_out_node(o, "Slice", fresh(o, n, "batch_of"), bounds, 3, first);
    Shape rest = {1, {c->shape.rank}};
    const char *dims[2] = {first, fresh(o, n, "dims")};
    onnx_out_init_i64(o, dims[1], &rest, c->shape.d);
    const char *to = fresh(o, n, "expand_to");
    onnx_attr_int(o, onnx_out_node(o, "Concat", fresh(o, n, "expand_shape"), dims, 2, to),
                  "axis", 0);
    const char *expand[2] = {c1, to}, *y = fresh(o, n, "expanded");
    onnx_out_node(o, "Expand", fresh(o, n, "expand"), expand, 2, y);
    return y;
}

bool concat_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out)
{
    int ops = concat_operands(n);
    const char *inputs[CONCAT_MAX_OPERANDS];
    for (int i = 0; i < ops; i++) {
        int k;
        inputs[i] = concat_operand(n, i, &k) ? batched(o, n, &g->t[n->param[k]], in[0]) : in[k];
    }
    onnx_attr_int(o, onnx_out_node(o, "Concat", n->name, inputs, ops, out), "axis",
                  n->a.axis + 1);
    return true;
}
