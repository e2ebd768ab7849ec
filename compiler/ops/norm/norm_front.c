/* norm_front.c: how the front ends write layer, group and instance
 * normalisation. Takes a layer statement (DSL) or a LayerNormalization or
 * InstanceNormalization node (ONNX); gives an OP_LAYERNORM or OP_GROUPNORM
 * node with its parameters. Torch's decomposed LayerNorm (opsets before
 * 17) is norm_pattern.c's; its GroupNorm (Reshape, InstanceNormalization,
 * Reshape, Mul, Add) becomes one node in the fuse-norm step (norm_fuse.c).
 *
 *   DSL   layernorm(axes=-1, eps=1e-5, affine=true): over the given
 *         consecutive per-sample axes (an integer or a tuple; -1 the last,
 *         0 the channels: ConvNeXt's LayerNorm2d), nn.LayerNorm's weight
 *         and bias of their shape
 *         groupnorm(groups, eps=1e-5, affine=true): nn.GroupNorm
 *         instancenorm(eps=1e-5, affine=false): nn.InstanceNorm1d/2d
 *         (no running statistics, PyTorch's default) */
#include "../ops.h"

#include <stdlib.h>

static void dsl_common(DslArgs *c, Node *n, bool affine)
{
    n->a.eps = 1e-5f;
    n->a.bias = affine;
    dsl_get_float(c, "eps", false, DSL_NONNEG, &n->a.eps);
    dsl_get_bool(c, "affine", &n->a.bias);
}

static void dsl_layernorm(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_common(c, n, true);
    int axes[MAX_RANK], na = dsl_get_int_list(c, "axes", false, -MAX_RANK, MAX_RANK - 1, axes,
                                              MAX_RANK);
    n->a.axis = -1;
    n->a.naxes = 1;
    if (na < 1)
        return;
    for (int i = 0; i < na; i++) {
        if (c->rank && (axes[i] < -c->rank || axes[i] >= c->rank)) {
            diag_error(dsl_get(c, "axes", false)->loc, "%s: axis %d is out of range for a "
                       "rank-%d input", c->what, axes[i], c->rank);
            return;
        }
        if (axes[i] < 0 && c->rank)
            axes[i] += c->rank;
    }
    for (int i = 1; i < na; i++)
        if (axes[i] != axes[i - 1] + 1) {
            diag_error(dsl_get(c, "axes", false)->loc, "%s: axes must be consecutive and in "
                       "order, like (1, 2)", c->what);
            return;
        }
    n->a.axis = axes[0];
    n->a.naxes = na;
}

static void dsl_groupnorm(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_common(c, n, true);
    dsl_get_int(c, "groups", true, 1, &n->a.groups);
}

static void dsl_instancenorm(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_common(c, n, false);
    n->a.groups = -1; /* one per channel: the shape rule resolves it */
}

const DslKind norm_dsl[] = {
    {"layernorm", "layernorm", OP_LAYERNORM, 0, "", "axes eps affine", dsl_layernorm, NULL},
    {"groupnorm", "groupnorm", OP_GROUPNORM, 0, "groups", "groups eps affine", dsl_groupnorm,
     NULL},
    {"instancenorm", "instancenorm", OP_GROUPNORM, -1, "", "eps affine", dsl_instancenorm, NULL},
    {NULL},
};

/* ---- ONNX ---- */

/* Constant c as a parameter of shape s (same count; leading 1s dropped). */
static int affine_param(OnnxNode *l, OnnxValue *c, const Shape *s)
{
    Shape cs = c->c.shape;
    while (cs.rank > s->rank && cs.d[0] == 1) {
        cs.rank--;
        for (int d = 0; d < cs.rank; d++)
            cs.d[d] = cs.d[d + 1];
    }
    if (!shape_eq(&cs, s)) {
        char want[64], have[64];
        onnx_fail(l, "'%s' has shape %s, expected %s", c->name,
                  shape_str(&c->c.shape, have, sizeof have), shape_str(s, want, sizeof want));
        return -1;
    }
    return onnx_make_param(l->o, c->name, c->c.init ? T_PARAM : T_CONST, s, c->c.f);
}

/* The node's gamma (input 1; none: no affine) and beta (input 2, zeros
 * when absent). */
static bool set_affine(OnnxNode *l, Node *n, const Shape *p)
{
    if (l->nin < 2 || !l->in[1]) {
        n->a.bias = false;
        return true;
    }
    OnnxValue *gamma = onnx_float_in(l, 1, false), *beta = onnx_float_in(l, 2, true);
    if (!gamma || (!beta && l->nin > 2 && l->in[2]))
        return false;
    int tg = affine_param(l, gamma, p), tb = -1;
    if (tg < 0)
        return false;
    if (beta) {
        tb = affine_param(l, beta, p);
    } else {
        float *zero = xcalloc((size_t)shape_numel(p), sizeof *zero);
        char *name = xasprintf("%s.bias", n->name);
        tb = onnx_make_param(l->o, name, T_CONST, p, zero);
        free(name);
        free(zero);
    }
    if (tb < 0)
        return false;
    onnx_set_param(n, 0, tg);
    onnx_set_param(n, 1, tb);
    return true;
}

Node *norm_onnx_layernorm(OnnxNode *l, OnnxValue *x, int axis, float eps)
{
    int rank = x->shape.rank + 1;
    if (axis == 0) {
        onnx_fail(l, "axis 0 normalises over the batch: cnnc keeps each sample apart");
        return NULL;
    }
    Node *n = onnx_add_node(l, OP_LAYERNORM, "", &x, 1, l->out, &x->shape);
    n->a.axis = axis - 1;
    n->a.naxes = rank - axis;
    n->a.eps = eps;
    Shape p = shape_make(n->a.naxes, x->shape.d + n->a.axis);
    return set_affine(l, n, &p) && onnx_infer(l, n, l->out) ? n : NULL;
}

static bool onnx_layernorm(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    int axis;
    if (!x || !onnx_norm_axis(l, attr_int(l->node, "axis", -1), x->shape.rank + 1, &axis))
        return false;
    return norm_onnx_layernorm(l, x, axis, attr_float(l->node, "epsilon", 1e-5f)) != NULL;
}

static bool onnx_instancenorm(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    if (x->shape.rank < 2)
        return onnx_fail(l, "needs an input [N, C, D1, ...], got rank %d", x->shape.rank + 1);
    Node *n = onnx_add_node(l, OP_GROUPNORM, "", &x, 1, l->out, &x->shape);
    n->a.groups = (int)x->shape.d[0];
    n->a.eps = attr_float(l->node, "epsilon", 1e-5f);
    Shape p = shape_make(1, x->shape.d);
    return set_affine(l, n, &p) && onnx_infer(l, n, l->out);
}

const OnnxKind norm_onnx[] = {
    {"LayerNormalization", "axis:i epsilon:f stash_type:i", onnx_layernorm, NULL, false},
    {"InstanceNormalization", "epsilon:f consumed_inputs:is", onnx_instancenorm, NULL, false},
    {NULL},
};
