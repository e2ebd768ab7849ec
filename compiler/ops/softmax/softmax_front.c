/* softmax_front.c: how the front ends write softmax. Takes a layer
 * statement (DSL: over the channel axis; also what `activation=softmax`
 * adds after a layer) or a Softmax node (ONNX); gives an OP_SOFTMAX node
 * with its axis in the per-sample shape. */
#include "../ops.h"

static void dsl_softmax(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.axis = 0; /* the channel axis of the per-sample shape */
}

const DslKind softmax_dsl[] = {
    {"softmax", "softmax", OP_SOFTMAX, 0, "", "", dsl_softmax, NULL},
    {NULL},
};

/* ---- ONNX: Softmax (before opset 13, over the trailing axes as one) ---- */

static bool onnx_softmax(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    int rank = onnx_rank(l, x), lead = onnx_batch_axes(l->o);
    int64_t axis = attr_int(l->node, "axis", l->o->opset < 13 ? 1 : -1);
    if (axis < -rank || axis >= rank)
        return onnx_fail(l, "axis %lld is out of range", (long long)axis);
    axis = axis < 0 ? axis + rank : axis;
    if (axis < lead)
        return onnx_fail_batch(l, "softmax over the batch axis is not supported");
    if (l->o->opset >= 13 || axis == rank - 1) {
        Node *n = onnx_add_node(l, OP_SOFTMAX, "", &x, 1, l->out, &x->shape);
        n->a.axis = onnx_sample_axis(l, (int)axis);
        return true;
    }
    /* Before opset 13: over the trailing dims from axis on, as one. */
    Shape flat = {0};
    int64_t pre = 1, post = 1;
    for (int i = lead; i < axis; i++)
        pre *= x->shape.d[i - lead];
    for (int i = (int)axis; i < rank; i++)
        post *= x->shape.d[i - lead];
    if (pre > 1)
        flat.d[flat.rank++] = pre;
    flat.d[flat.rank++] = post;
    OnnxValue v1 = {.name = l->out->name}, v2 = {.name = l->out->name};
    if (!reshape_onnx_view(l, x, &flat, "_flat", &v1))
        return false;
    OnnxValue *p1 = &v1;
    Node *n = onnx_add_node(l, OP_SOFTMAX, "_softmax", &p1, 1, &v2, &flat);
    n->a.axis = flat.rank - 1;
    OnnxValue *p2 = &v2;
    return reshape_onnx_view(l, p2, &x->shape, "", l->out) != NULL;
}

const OnnxKind softmax_onnx[] = {
    {"Softmax", "axis:i", onnx_softmax, NULL, false, "1 11 13"},
    {NULL},
};

/* ---- export (opset 13's Softmax: over one axis) ---- */

bool softmax_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                         const char *out)
{
    onnx_attr_int(o, onnx_out_node(o, "Softmax", n->name, in, 1, out), "axis", n->a.axis + 1);
    return true;
}
