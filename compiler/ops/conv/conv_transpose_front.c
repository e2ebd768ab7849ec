/* conv_transpose_front.c: how the front ends write a transposed
 * convolution. Takes a layer statement (DSL) or a ConvTranspose node
 * (ONNX); gives an OP_CONV_TRANSPOSE node with its attributes (the shape
 * rule, conv_transpose.c, checks them against the input).
 *
 *   DSL   conv_transpose(FILTERS, kernel=K|KHxKW|KDxKHxKW, stride=1,
 *                        padding=P|PHxPW|(t, b, l, r), output_padding=0,
 *                        dilation=1, groups=1, bias=true, activation=..., init=...)
 *         conv_transpose1d, 2d and 3d insist on a 1-D, 2-D or 3-D input.
 *   ONNX  ConvTranspose (opsets 1 and 11): kernel_shape, strides,
 *         dilations, pads, output_padding, group, auto_pad, output_shape.
 *         output_shape overrides the pads: its total padding
 *           T = S*(I - 1) + OP + Keff - output_shape
 *         splits as opset 11 says (the odd cell at the start, at the end
 *         for SAME_UPPER; opset 1 the other way round); a negative T
 *         extends the output at its end, an output padding, which must stay
 *         below the stride or the dilation: an output_shape past that is
 *         one no padding gives, an error. auto_pad SAME_* aims at I*S
 *         cells (opset 1: I), the odd padding cell at the end for
 *         SAME_UPPER, at the start for SAME_LOWER. */
#include "../ops.h"

#include <string.h>

static void dsl_conv_transpose(DslArgs *c, Node *n, const DslKind *k)
{
    Attrs *a = &n->a;
    dsl_get_int(c, "filters", true, 1, &a->filters);
    dsl_get_window(c, "kernel", true, 1, a->kernel, &a->kernel_d);
    dsl_get_window(c, "stride", false, 1, a->stride, &a->stride_d);
    dsl_get_window(c, "dilation", false, 1, a->dilation, &a->dilation_d);
    dsl_get_window(c, "output_padding", false, 0, a->out_pad, &a->out_pad_d);
    dsl_get_padding(c, "padding", false, false, a);
    const Value *g = dsl_get(c, "groups", false);
    if (g && dsl_int_value(c, "groups", g, 1, &a->groups) && a->filters % a->groups != 0)
        diag_error(g->loc, "%s: filters (%d) must be divisible by groups (%d)", c->what,
                   a->filters, a->groups);
    dsl_get_bool(c, "bias", &a->bias);
    act_dsl_activation(c, &n->act);
    dsl_get_init(c, "init", &a->init);
}

#define CONVT_KEYS "filters kernel stride padding output_padding dilation groups bias activation init"

const DslKind conv_transpose_dsl[] = {
    {"conv_transpose", "conv_transpose", OP_CONV_TRANSPOSE, -1, "filters", CONVT_KEYS,
     dsl_conv_transpose, NULL},
    {"conv_transpose1d", "conv_transpose", OP_CONV_TRANSPOSE, 2, "filters", CONVT_KEYS,
     dsl_conv_transpose, NULL},
    {"conv_transpose2d", "conv_transpose", OP_CONV_TRANSPOSE, 3, "filters", CONVT_KEYS,
     dsl_conv_transpose, NULL},
    {"conv_transpose3d", "conv_transpose", OP_CONV_TRANSPOSE, 4, "filters", CONVT_KEYS,
     dsl_conv_transpose, NULL},
    {NULL},
};

/* ---- ONNX ---- */

/* The window attributes of spatial axis i, without the padding. */
typedef struct {
    int ns;
    int64_t k[3], s[3], d[3], op[3], pb[3], pe[3];
} ConvtAttrs;

static bool read_attrs(OnnxNode *l, const Shape *ws, int ns, ConvtAttrs *t)
{
    const int64_t *ks = NULL;
    int nk = attr_ints(l->node, "kernel_shape", &ks);
    for (int i = 0; i < nk; i++)
        if (nk != ns || ks[i] != ws->d[2 + i])
            return onnx_fail(l, "kernel_shape does not match the weight's shape");
    int64_t pads[6];
    t->ns = ns;
    for (int i = 0; i < ns; i++)
        t->k[i] = ws->d[2 + i];
    if (!onnx_spatial_ints(l, "strides", 1, t->s, ns) ||
        !onnx_spatial_ints(l, "dilations", 1, t->d, ns) ||
        !onnx_spatial_ints(l, "output_padding", 0, t->op, ns) ||
        !onnx_spatial_ints(l, "pads", 0, pads, 2 * ns))
        return false;
    for (int i = 0; i < ns; i++) {
        t->pb[i] = pads[i];
        t->pe[i] = pads[ns + i];
    }
    return true;
}

/* Axis i's padding for an output of `out` cells: the total split with the
 * odd cell at the start or not, or (negative) an output padding. */
static bool aim_output(OnnxNode *l, ConvtAttrs *t, int i, int64_t in, int64_t out,
                       bool odd_at_start, const char *what)
{
    int64_t keff = (t->k[i] - 1) * t->d[i] + 1, full = t->s[i] * (in - 1) + keff;
    int64_t total = full + t->op[i] - out;
    int64_t most = t->s[i] > t->d[i] ? t->s[i] - 1 : t->d[i] - 1;
    if (out < 1 || out - full > most)
        return onnx_fail(l, "%s %lld on spatial axis %d: no padding gives it (the full output "
                         "is %lld cells, and output padding adds at most %lld)", what,
                         (long long)out, i, (long long)full, (long long)most);
    if (total < 0) { /* past the full output: its end extended */
        t->pb[i] = t->pe[i] = 0;
        t->op[i] = out - full;
        return true;
    }
    t->pb[i] = odd_at_start ? total - total / 2 : total / 2;
    t->pe[i] = total - t->pb[i];
    return true;
}

/* output_shape (overriding the pads) or auto_pad into the padding. */
static bool resolve_padding(OnnxNode *l, const Shape *xs, ConvtAttrs *t)
{
    char buf[32];
    const char *ap = attr_string(l->node, "auto_pad", "NOTSET", buf, sizeof buf);
    bool upper = strcmp(ap, "SAME_UPPER") == 0, lower = strcmp(ap, "SAME_LOWER") == 0;
    if (!upper && !lower && strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0)
        return onnx_fail(l, "auto_pad '%s' is not supported", ap);
    const int64_t *os = NULL;
    int nos = attr_ints(l->node, "output_shape", &os);
    if (nos >= 0 && nos != t->ns && nos != t->ns + 2)
        return onnx_fail(l, "output_shape has %d values, expected %d", nos, t->ns);
    bool opset1 = l->o->opset < 11;
    for (int i = 0; i < t->ns; i++) {
        int64_t in = xs->d[1 + i];
        if (nos >= 0) {
            /* opset 11: the odd cell at the start unless SAME_UPPER; opset 1 the reverse */
            if (!aim_output(l, t, i, in, os[nos - t->ns + i], upper == opset1, "output_shape"))
                return false;
        } else if (upper || lower) {
            if (!aim_output(l, t, i, in, opset1 ? in : in * t->s[i], lower, "auto_pad"))
                return false;
        } else if (strcmp(ap, "VALID") == 0) {
            t->pb[i] = t->pe[i] = 0;
        }
    }
    return true;
}

static bool onnx_conv_transpose(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0), *w = x ? onnx_float_in(l, 1, false) : NULL;
    OnnxValue *b = w ? onnx_float_in(l, 2, true) : NULL;
    if (!w || (!b && l->nin > 2 && l->in[2]))
        return false;
    const Shape *xs = &x->shape, *ws = &w->c.shape;
    int64_t group = attr_int(l->node, "group", 1);
    char s1[64], s2[64];
    if (ws->rank != xs->rank + 1 || xs->rank < 2 || xs->rank > 4 || group < 1 ||
        ws->d[0] != xs->d[0] || xs->d[0] % group || ws->d[1] * group > INT32_MAX)
        return onnx_fail(l, "weight '%s' of shape %s does not fit input %s with group %lld",
                         w->name, shape_str(ws, s1, sizeof s1), shape_str(xs, s2, sizeof s2),
                         (long long)group);
    int64_t filters = ws->d[1] * group;
    if (b && (b->c.shape.rank != 1 || b->c.shape.d[0] != filters))
        return onnx_fail(l, "bias '%s' must have shape [%lld]", b->name, (long long)filters);
    ConvtAttrs t;
    if (!read_attrs(l, ws, xs->rank - 1, &t) || !resolve_padding(l, xs, &t))
        return false;
    Node *n = onnx_add_node(l, OP_CONV_TRANSPOSE, "", &x, 1, l->out, &x->shape);
    if (!n)
        return false;
    for (int i = 0; i < t.ns; i++) {
        WindowAxis a = window_axis_attrs(&n->a, window_attr_axis(t.ns, i));
        *a.k = (int)t.k[i];
        *a.s = (int)t.s[i];
        *a.d = (int)t.d[i];
        *a.pb = (int)t.pb[i];
        *a.pe = (int)t.pe[i];
        *a.op = (int)t.op[i];
    }
    n->a.groups = (int)group;
    n->a.filters = (int)filters;
    n->a.bias = b != NULL;
    onnx_set_param(n, 0, onnx_const_param(l->o, w, T_PARAM));
    if (b)
        onnx_set_param(n, 1, onnx_const_param(l->o, b, T_PARAM));
    return onnx_infer(l, n, l->out);
}

const OnnxKind conv_transpose_onnx[] = {
    {"ConvTranspose", "auto_pad:s dilations:is group:i kernel_shape:is output_padding:is "
                      "output_shape:is pads:is strides:is", onnx_conv_transpose, NULL, ONNX_N_AXIS, "1 11"},
    {NULL},
};

/* ---- export (cnnc export) ---- */

bool conv_transpose_onnx_export(OnnxOut *o, const Graph *g, const Node *n,
                                const char *const *in, const char *out)
{
    const char *inputs[3] = {in[0], g->t[n->param[0]].name,
                             n->a.bias ? g->t[n->param[1]].name : ""};
    Onnx__NodeProto *c = onnx_out_node(o, "ConvTranspose", n->name, inputs, n->a.bias ? 3 : 2,
                                       out);
    onnx_export_window(o, c, g, n, true);
    int ns = node_in_shape(g, n, 0)->rank - 1;
    int64_t op[3];
    for (int i = 0; i < ns; i++)
        op[i] = *window_axis_attrs((Attrs *)&n->a, window_attr_axis(ns, i)).op;
    onnx_attr_ints(o, c, "output_padding", op, ns);
    onnx_attr_int(o, c, "group", n->a.groups);
    return true;
}
