/* maxout_front.c: how the DSL writes maxout: maxout(K), the maximum over
 * each group of K consecutive channels; and how ONNX does, which has no
 * maxout: ReduceMax over the axis after the channels of an activation
 * reshaped to [N, C/K, K, ...] (what cnnc writes for one). */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_maxout(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_get_int(c, "k", true, 1, &n->a.k);
}

const DslKind maxout_dsl[] = {
    {"maxout", "maxout", OP_MAXOUT, 0, "k", "k", dsl_maxout, NULL},
    {NULL},
};

/* ONNX out, which has no maxout: Reshape to [N, C/k, k, rest...], then
 * ReduceMax over the pieces. */
bool maxout_write_onnx(OnnxExport *x, const Node *n)
{
    const Shape *s = &x->g->t[n->out].shape;
    int64_t dims[MAX_RANK + 2] = {-1, s->d[0], n->a.k};
    memcpy(dims + 3, s->d + 1, sizeof *dims * (size_t)(s->rank - 1));
    char *base = xasprintf("%s_pieces", n->name);
    const char *pieces = onnx_writer_fresh(x->w, base);
    free(base);
    onnx_writer_node(x->w, "Reshape",
                     (const char *[]){onnx_export_act(x, n->in[0]),
                                      onnx_export_i64(x, "shape", dims, s->rank + 2)},
                     2, pieces);
    Onnx__NodeProto *node = onnx_writer_node(x->w, "ReduceMax", &pieces, 1,
                                             onnx_export_act(x, n->out));
    onnx_attr_ints(x->w, node, "axes", (int64_t[]){2}, 1);
    onnx_attr_int(x->w, node, "keepdims", 0);
    return true;
}

/* ReduceMax(axes=[2], keepdims=0) on [N, A, K, rest...]: a view to
 * [A*K, rest...] and maxout(K), exactly (the pieces of unit a are channels
 * a*K .. a*K+K-1). Other reductions are not supported. */
static bool onnx_reduce_max(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    const int64_t *axes = NULL;
    if (!x)
        return false;
    int naxes = attr_ints(l->node, "axes", &axes);
    if (naxes != 1 || (axes[0] != 2 && axes[0] != 2 - (x->shape.rank + 1)) ||
        attr_int(l->node, "keepdims", 1) != 0 || x->shape.rank < 2)
        return onnx_fail(l, "only a maximum over axis 2 without keepdims (a maxout) is supported");
    Shape flat = x->shape;
    flat.d[0] *= flat.d[1];
    for (int i = 1; i + 1 < flat.rank; i++)
        flat.d[i] = flat.d[i + 1];
    flat.rank--;
    OnnxValue pieces = {.name = "pieces"};
    if (!reshape_onnx_view(l, x, &flat, "_pieces", &pieces))
        return false;
    OnnxValue *in = &pieces;
    Shape y = flat;
    y.d[0] = x->shape.d[0];
    Node *n = onnx_add_node(l, OP_MAXOUT, "", &in, 1, l->out, &y);
    if (n)
        n->a.k = (int)x->shape.d[1];
    return n != NULL;
}

const OnnxKind maxout_onnx[] = {
    {"ReduceMax", "axes:is keepdims:i", onnx_reduce_max, NULL, false},
    {NULL},
};
