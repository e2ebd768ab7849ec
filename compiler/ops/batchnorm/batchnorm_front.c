/* batchnorm_front.c: how the front ends write BatchNorm. Takes a layer
 * statement (DSL) or a BatchNormalization node (ONNX); gives an
 * OP_BATCHNORM node: eps, momentum (PyTorch's convention: the new batch's
 * share), the parameters gamma, beta and buffers running mean and var.
 *
 *   DSL   batchnorm(eps=1e-5, momentum=0.1, activation=...) */
#include "../ops.h"

static void dsl_batchnorm(DslArgs *c, Node *n, const DslKind *k)
{
    n->a.eps = 1e-5f;
    n->a.momentum = 0.1f;
    dsl_get_float(c, "eps", false, DSL_POSITIVE, &n->a.eps);
    dsl_get_float(c, "momentum", false, DSL_UNIT_CLOSED, &n->a.momentum);
    act_dsl_activation(c, &n->act);
}

const DslKind batchnorm_dsl[] = {
    {"batchnorm", "batchnorm", OP_BATCHNORM, 0, "", "eps momentum activation", dsl_batchnorm,
     NULL},
    {NULL},
};

/* ---- ONNX ---- */

static bool onnx_batchnorm(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    OnnxValue *p[4] = {NULL};
    for (int i = 0; i < 4; i++)
        if (!x || !(p[i] = onnx_float_in(l, 1 + i, false)))
            return false;
    if (l->node->n_output > 1 || attr_int(l->node, "training_mode", 0))
        return onnx_fail(l, "training mode is not supported");
    /* Before opset 9, spatial=0 asks for statistics per activation (of shape
     * [C, H, W]), which OP_BATCHNORM does not keep; is_test (before 7) is
     * not read: a compiled model runs inference, with the running
     * statistics, as one that declares is_test=0 would at export. */
    if (l->version < 9 && !attr_int(l->node, "spatial", 1))
        return onnx_fail_version(l, "spatial=0 (a mean and variance per activation, not per "
                                 "channel) is not supported");
    for (int i = 0; i < 4; i++)
        if (p[i]->c.shape.rank != 1 || p[i]->c.shape.d[0] != x->shape.d[0])
            return onnx_fail(l, "'%s' must have shape [%lld]", p[i]->name, (long long)x->shape.d[0]);
    Node *n = onnx_add_node(l, OP_BATCHNORM, "", &x, 1, l->out, &x->shape);
    n->a.eps = attr_float(l->node, "epsilon", 1e-5f);
    n->a.momentum = 1 - attr_float(l->node, "momentum", 0.9f); /* ONNX keeps 0.9 of the old */
    for (int i = 0; i < 4; i++)
        onnx_set_param(n, i, onnx_const_param(l->o, p[i], i < 2 ? T_PARAM : T_BUFFER));
    return true;
}

const OnnxKind batchnorm_onnx[] = {
    {"BatchNormalization",
     "epsilon:f momentum:f spatial:i training_mode:i consumed_inputs:is<6 is_test:i<7",
     onnx_batchnorm, NULL, ONNX_N_AXIS, "1 6 7 9 14 15"},
    {NULL},
};

/* ---- export: ONNX's momentum keeps the old statistics' share ---- */

bool batchnorm_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out)
{
    const char *inputs[5] = {in[0]};
    for (int i = 0; i < 4; i++)
        inputs[1 + i] = g->t[n->param[i]].name;
    Onnx__NodeProto *x = onnx_out_node(o, "BatchNormalization", n->name, inputs, 5, out);
    onnx_attr_float(o, x, "epsilon", n->a.eps);
    onnx_attr_float(o, x, "momentum", 1 - n->a.momentum);
    return true;
}
