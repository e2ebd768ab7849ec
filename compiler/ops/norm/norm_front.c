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
#include <string.h>

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
    int rank = onnx_rank(l, x);
    if (onnx_sample_axis(l, axis) < 0) {
        onnx_fail_batch(l, "axis 0 normalises over the batch: cnnc keeps each sample apart");
        return NULL;
    }
    Node *n = onnx_add_node(l, OP_LAYERNORM, "", &x, 1, l->out, &x->shape);
    n->a.axis = onnx_sample_axis(l, axis);
    n->a.naxes = rank - axis;
    n->a.eps = eps;
    Shape p = shape_make(n->a.naxes, x->shape.d + n->a.axis);
    return set_affine(l, n, &p) && onnx_infer(l, n, l->out) ? n : NULL;
}

/* A node of its own for a LayerNormalization output past the first:
 * op over in[0..nin) into tmp (a temporary, or the output itself), act
 * its unary function. */
static OnnxValue *stat_step(OnnxNode *l, int op, Act act, OnnxValue **in, int nin,
                            const char *suffix, OnnxValue *tmp)
{
    Node *n = onnx_add_node(l, op, suffix, in, nin, tmp, &in[0]->shape);
    if (!n)
        return NULL;
    n->act = act;
    return onnx_infer(l, n, tmp) ? tmp : NULL;
}

/* A reduction in the mean over the normalised axes, keepdims (what
 * LayerNormalization's statistics keep). */
static OnnxValue *axes_mean(OnnxNode *l, OnnxValue *x, int axis, const char *suffix,
                            OnnxValue *out)
{
    Node *n = onnx_add_node(l, OP_REDUCE_MEAN, suffix, &x, 1, out, &x->shape);
    if (!n)
        return NULL;
    for (int a = onnx_sample_axis(l, axis); a < x->shape.rank; a++)
        n->a.reduce_axes |= 1u << a;
    n->a.keepdims = true;
    return onnx_infer(l, n, out) ? out : NULL;
}

/* LayerNormalization's optional outputs, the statistics training keeps:
 * Mean (output 1) over the normalised axes, and InvStdDev (output 2),
 * 1 / sqrt(mean((x - Mean)^2) + epsilon), both with those axes kept as 1.
 * They are nodes of their own beside the normalisation (which computes
 * them again), lowered only where something reads them. */
static bool layernorm_stats(OnnxNode *l, OnnxValue *x, int axis, float eps)
{
    OnnxValue *mean_out = l->nout > 1 && l->outs[1] && l->outs[1]->uses ? l->outs[1] : NULL;
    OnnxValue *inv_out = l->nout > 2 && l->outs[2] && l->outs[2]->uses ? l->outs[2] : NULL;
    if (!mean_out && !inv_out)
        return true;
    OnnxValue m = {.name = l->out->name}, d = {.name = l->out->name}, sq = {.name = l->out->name},
              var = {.name = l->out->name}, ve = {.name = l->out->name}, sd = {.name = l->out->name};
    OnnxValue *mean = axes_mean(l, x, axis, "_mean", mean_out ? mean_out : &m);
    if (!mean || !inv_out)
        return mean != NULL;
    Act none = {ACT_NONE, 0, 0};
    OnnxValue *xm[2] = {x, mean}, *dd[2];
    if (!stat_step(l, OP_SUB, none, xm, 2, "_dev", &d))
        return false;
    dd[0] = dd[1] = &d;
    OnnxValue *p = stat_step(l, OP_MUL, none, dd, 2, "_sq", &sq);
    p = p ? axes_mean(l, p, axis, "_var", &var) : NULL;
    Node *n = p ? onnx_add_node(l, OP_ADD, "_eps", &p, 1, &ve, &p->shape) : NULL;
    if (!n)
        return false;
    Shape one = shape_make(1, (int64_t[]){1});
    char *name = xasprintf("%s.epsilon", l->out->name);
    onnx_set_param(n, 0, onnx_make_param(l->o, name, T_CONST, &one, &eps));
    free(name);
    if (!onnx_infer(l, n, &ve))
        return false;
    p = &ve;
    p = stat_step(l, OP_SQRT, (Act){ACT_SQRT, 0, 0}, &p, 1, "_std", &sd);
    return p && stat_step(l, OP_RECIPROCAL, (Act){ACT_RECIPROCAL, 0, 0}, &p, 1, "_invstd",
                          inv_out);
}

static bool onnx_layernorm(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    int axis;
    if (!x || !onnx_norm_axis(l, attr_int(l->node, "axis", -1), onnx_rank(l, x), &axis))
        return false;
    float eps = attr_float(l->node, "epsilon", 1e-5f);
    return norm_onnx_layernorm(l, x, axis, eps) != NULL && layernorm_stats(l, x, axis, eps);
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
    {"LayerNormalization", "axis:i epsilon:f stash_type:i", onnx_layernorm, NULL,
     ONNX_MULTI_OUTPUT, "17"},
    {"InstanceNormalization", "epsilon:f consumed_inputs:is", onnx_instancenorm, NULL, ONNX_N_AXIS,
     "1 6"},
    {NULL},
};

/* ---- export ---- */

/* A float32 initializer of shape s holding `data` (NULL: all `fill`). */
static const char *init_named(OnnxOut *o, const char *base, const Shape *s, const float *data,
                              float fill)
{
    const char *name = onnx_out_fresh(o, base);
    int64_t count = shape_numel(s);
    float *v = xmalloc((size_t)(count ? count : 1) * sizeof *v);
    for (int64_t i = 0; i < count; i++)
        v[i] = data ? data[i] : fill;
    onnx_out_init_f32(o, name, s, v);
    free(v);
    return name;
}

static const char *fresh_for(OnnxOut *o, const Node *n, const char *what)
{
    char *base = xasprintf("%s_%s", n->name, what);
    const char *name = onnx_out_fresh(o, base);
    free(base);
    return name;
}

static void transpose_node(OnnxOut *o, const Node *n, const char *what, const char *x,
                           const int64_t *perm, int rank, const char *y)
{
    onnx_attr_ints(o, onnx_out_node(o, "Transpose", fresh_for(o, n, what), &x, 1, y), "perm",
                   perm, rank);
}

/* LayerNormalization (opset 17) over the trailing axes; normalised axes
 * elsewhere are moved last around it by two Transposes. */
bool layernorm_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out)
{
    onnx_out_need_opset(o, 17);
    const Shape *s = node_in_shape(g, n, 0);
    int r = s->rank + 1, a = n->a.axis + 1, k = n->a.naxes;
    Shape ps = shape_make(k, s->d + n->a.axis);
    const char *inputs[3] = {in[0], "", ""};
    if (n->a.bias) {
        inputs[1] = g->t[n->param[0]].name;
        inputs[2] = g->t[n->param[1]].name;
    } else {
        inputs[1] = init_named(o, "ones", &ps, NULL, 1);
    }
    const char *y = out;
    int64_t perm[MAX_RANK + 1], back[MAX_RANK + 1];
    if (a + k != r) { /* [batch, the other axes, the normalised ones] */
        int m = 0;
        for (int d = 0; d < r; d++)
            if (d < a || d >= a + k)
                perm[m++] = d;
        for (int d = a; d < a + k; d++)
            perm[m++] = d;
        for (int d = 0; d < r; d++)
            back[perm[d]] = d;
        inputs[0] = fresh_for(o, n, "last");
        transpose_node(o, n, "to_last", in[0], perm, r, inputs[0]);
        y = fresh_for(o, n, "normalised");
        a = r - k;
    }
    Onnx__NodeProto *x = onnx_out_node(o, "LayerNormalization", n->name, inputs, 3, y);
    onnx_attr_int(o, x, "axis", a);
    onnx_attr_float(o, x, "epsilon", n->a.eps);
    if (y != out)
        transpose_node(o, n, "back", y, back, r, out);
    return true;
}

/* [C] data as [C, 1, ...] of rank `rank` (per channel of [N, C, ...]). */
static const char *per_channel(OnnxOut *o, const char *base, const float *data, int64_t c,
                               int rank)
{
    Shape s = {rank, {c, 1, 1, 1, 1, 1}};
    return init_named(o, base, &s, data, 0);
}

/* InstanceNormalization where the groups are the channels of a [C, S...]
 * sample; else torch's form: Reshape to [N, G, -1], InstanceNormalization
 * of unit scale, Reshape back, Mul by gamma and Add beta per channel. */
bool groupnorm_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                           const char *out)
{
    const Shape *s = node_in_shape(g, n, 0);
    int64_t c = s->d[0], groups = n->a.groups;
    const float *gamma = node_param_data(g, n, 0), *beta = node_param_data(g, n, 1);
    bool direct = groups == c && s->rank >= 2;
    Shape gs = {1, {direct ? c : groups}};
    const char *inputs[3] = {in[0], NULL, NULL};
    if (direct && gamma) {
        inputs[1] = g->t[n->param[0]].name;
        inputs[2] = g->t[n->param[1]].name;
    } else {
        inputs[1] = init_named(o, "ones", &gs, NULL, 1);
        inputs[2] = init_named(o, "zeros", &gs, NULL, 0);
    }
    if (!direct) {
        int64_t to[3] = {0, groups, -1};
        Shape ts = {1, {3}};
        const char *shape = onnx_out_fresh(o, "shape");
        onnx_out_init_i64(o, shape, &ts, to);
        const char *rin[2] = {in[0], shape};
        inputs[0] = fresh_for(o, n, "groups");
        onnx_out_node(o, "Reshape", fresh_for(o, n, "to_groups"), rin, 2, inputs[0]);
    }
    bool tail = !direct;
    const char *y = tail ? fresh_for(o, n, "normalised") : out;
    onnx_attr_float(o, onnx_out_node(o, "InstanceNormalization", n->name, inputs, 3, y),
                    "epsilon", n->a.eps);
    if (!tail)
        return true;
    int64_t back[MAX_RANK + 1] = {0};
    memcpy(back + 1, s->d, (size_t)s->rank * sizeof *back);
    Shape bs = {1, {s->rank + 1}};
    const char *shape = onnx_out_fresh(o, "shape");
    onnx_out_init_i64(o, shape, &bs, back);
    const char *rin[2] = {y, shape};
    const char *z = gamma ? fresh_for(o, n, "plain") : out;
    onnx_out_node(o, "Reshape", fresh_for(o, n, "back"), rin, 2, z);
    if (!gamma)
        return true;
    const char *scaled = fresh_for(o, n, "scaled");
    const char *mul[2] = {z, per_channel(o, "gamma", gamma, c, s->rank)};
    onnx_out_node(o, "Mul", fresh_for(o, n, "mul"), mul, 2, scaled);
    const char *add[2] = {scaled, per_channel(o, "beta", beta, c, s->rank)};
    onnx_out_node(o, "Add", fresh_for(o, n, "add"), add, 2, out);
    return true;
}
