/* concat_front.c: how the front ends write a concatenation. Takes a layer
 * statement (DSL: concat(a, b, ...) of named layers, over channels) or a
 * Concat node (ONNX, any axis but the batch); gives an OP_CONCAT node. */
#include "../ops.h"

static void dsl_concat(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.axis = 0; /* the channel axis of the per-sample shape */
}

const DslKind concat_dsl[] = {
    {"concat", "concat", OP_CONCAT, 0, "*", "", dsl_concat, NULL},
    {NULL},
};

/* ---- ONNX ---- */

static bool onnx_concat(OnnxNode *l)
{
    OnnxValue *xs[64];
    if (l->nin < 1 || l->nin > 64)
        return onnx_fail(l, "takes 1 to 64 inputs");
    for (int i = 0; i < l->nin; i++)
        if (!(xs[i] = onnx_act_in(l, i)))
            return false;
    int rank = xs[0]->shape.rank + 1;
    int64_t axis = attr_int(l->node, "axis", 1);
    axis = axis < 0 ? axis + rank : axis;
    if (axis <= 0 || axis >= rank)
        return onnx_fail(l, "axis %lld is not supported", (long long)attr_int(l->node, "axis", 1));
    Shape s = xs[0]->shape;
    for (int i = 1; i < l->nin; i++) {
        const Shape *si = &xs[i]->shape;
        bool ok = si->rank == s.rank;
        for (int d = 0; ok && d < s.rank; d++)
            ok = d == axis - 1 || si->d[d] == s.d[d];
        if (!ok)
            return onnx_fail(l, "inputs differ in shape outside the concatenation axis");
        s.d[axis - 1] += si->d[axis - 1];
    }
    if (l->nin == 1) {
        onnx_alias(l, xs[0]);
        return true;
    }
    Node *n = onnx_add_node(l, OP_CONCAT, "", xs, l->nin, l->out, &s);
    n->a.axis = (int)axis - 1;
    return true;
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
    {"Concat", "axis:i", onnx_concat, fold_concat, false},
    {NULL},
};

/* ---- export ---- */

bool concat_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                        const char *out)
{
    onnx_attr_int(o, onnx_out_node(o, "Concat", n->name, in, n->nin, out), "axis",
                  n->a.axis + 1);
    return true;
}
