/* prelu_front.c: how the front ends write prelu. Takes a layer statement
 * (DSL: prelu(slope=0.25, shared=false), one slope per channel unless
 * shared, each starting at `slope`, PyTorch's nn.PReLU) or a PRelu node
 * (ONNX: its slope a constant input, trainable when an initializer);
 * gives the node, the slope as its parameter. ONNX aligns a slope with the
 * input's last dimensions: a one-dimensional slope of several values on an
 * input of two or more dimensions per sample is the last axis's, so it is
 * given its aligned shape here ([1, ..., K]; prelu.c reads [K] as the
 * channels'). `cnnc export` writes a PRelu node whose slope, where it is one
 * per channel of a C x ... sample, is reshaped to [C, 1, ...] first: ONNX
 * aligns it with the last axes. */
#include "../ops.h"

#include <stdlib.h>

static void dsl_prelu(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.prelu_slope = 0.25f;
    dsl_get_float(c, "slope", false, DSL_ANY, &n->a.prelu_slope);
    dsl_get_bool(c, "shared", &n->a.prelu_shared);
}

const DslKind prelu_dsl[] = {
    {"prelu", "prelu", OP_PRELU, 0, "", "slope shared", dsl_prelu, NULL},
    {NULL},
};

/* Before opset 7 a slope is one value or has X's shape: there is no rule
 * for any other (from 7 on, NumPy's from X's last axis). */
static bool old_slope_fits(const OnnxValue *x, const Shape *s)
{
    if (shape_numel(s) == 1)
        return true;
    int skip = s->rank == x->shape.rank + 1 && s->d[0] == 1; /* X's batch as 1 */
    if (s->rank - skip != x->shape.rank)
        return false;
    for (int i = 0; i < x->shape.rank; i++)
        if (s->d[i + skip] != x->shape.d[i])
            return false;
    return true;
}

static bool onnx_prelu(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0), *a = x ? onnx_float_in(l, 1, false) : NULL;
    if (!a)
        return false;
    char buf[64];
    if (l->version < 7 && !old_slope_fits(x, &a->c.shape))
        return onnx_fail_version(l, "slope '%s' of shape %s is neither one value nor the "
                                 "input's shape (NumPy broadcasting came in opset 7)", a->name,
                                 shape_str(&a->c.shape, buf, sizeof buf));
    Shape s = a->c.shape;
    if (onnx_batch_axes(l->o) && s.rank > x->shape.rank && s.d[s.rank - x->shape.rank - 1] != 1)
        return onnx_fail_batch(l, "slope '%s' differs along the batch axis: each sample would "
                               "get its own slope, and cnnc computes every sample alike",
                               a->name);
    if (s.rank == 1 && s.d[0] > 1 && x->shape.rank > 1) {
        s.rank = x->shape.rank;
        for (int i = 0; i < s.rank; i++)
            s.d[i] = i + 1 < s.rank ? 1 : a->c.shape.d[0];
    }
    Node *n = onnx_add_node(l, OP_PRELU, "", &x, 1, l->out, &x->shape);
    onnx_set_param(n, 0, onnx_make_param(l->o, a->name, a->c.init ? T_PARAM : T_CONST, &s,
                                         a->c.f));
    return onnx_infer(l, n, l->out);
}

const OnnxKind prelu_onnx[] = {
    {"PRelu", "consumed_inputs:is<6", onnx_prelu, NULL, false, "1 6 7 9 16"},
    {NULL},
};

bool prelu_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                       const char *out)
{
    const Tensor *a = &g->t[n->param[0]];
    Shape view;
    prelu_view(&a->shape, node_in_shape(g, n, 0), &view);
    const char *inputs[2] = {in[0], a->name};
    if (!shape_eq(&view, &a->shape)) {
        Shape dims = {1, {view.rank}};
        inputs[1] = onnx_out_fresh(o, "prelu_slope_shape");
        onnx_out_init_i64(o, inputs[1], &dims, view.d);
        const char *reshape_in[2] = {a->name, inputs[1]};
        char *name = xasprintf("%s_slope", n->name);
        inputs[1] = onnx_out_fresh(o, name);
        onnx_out_node(o, "Reshape", name, reshape_in, 2, inputs[1]);
        free(name);
    }
    onnx_out_node(o, "PRelu", n->name, inputs, 2, out);
    return true;
}
