/* conv_front.c: how the front ends write a convolution. Takes a layer
 * statement (DSL) or a Conv node (ONNX); gives an OP_CONV node with its
 * attributes (the shape rule, conv.c, checks them against the input).
 *
 *   DSL   conv(FILTERS, kernel=K|KHxKW, stride=1, padding=valid|same|P|(t, b, l, r),
 *              padding_mode=zeros|reflect|replicate, dilation=1, groups=1|depthwise,
 *              bias=true, activation=..., init=...)
 *         conv1d, conv2d and conv3d insist on a 1-D, 2-D or 3-D input (3-D:
 *         kernel=K|KDxKHxKW, padding=P|PDxPHxPW|(f, bk, t, b, l, r)). */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_conv(DslArgs *c, Node *n, const DslKind *k)
{
    Attrs *a = &n->a;
    dsl_get_int(c, "filters", true, 1, &a->filters);
    dsl_get_window(c, "kernel", true, 1, a->kernel, &a->kernel_d);
    dsl_get_window(c, "stride", false, 1, a->stride, &a->stride_d);
    dsl_get_window(c, "dilation", false, 1, a->dilation, &a->dilation_d);
    dsl_get_padding(c, "padding", false, true, a);
    int mode;
    if (dsl_get_word(c, "padding_mode", "zeros reflect replicate", &mode))
        a->pad_mode = (PadMode)mode;
    const Value *g = dsl_get(c, "groups", false);
    if (g && dsl_is_ident(g, "depthwise"))
        a->groups = -1; /* = input channels, resolved by the shape rule */
    else if (g && dsl_int_value(c, "groups", g, 1, &a->groups) && a->filters % a->groups != 0)
        diag_error(g->loc, "%s: filters (%d) must be divisible by groups (%d)", c->what,
                   a->filters, a->groups);
    dsl_get_bool(c, "bias", &a->bias);
    act_dsl_activation(c, &n->act);
    dsl_get_init(c, "init", &a->init);
}

#define CONV_KEYS "filters kernel stride padding padding_mode dilation groups bias activation init"

const DslKind conv_dsl[] = {
    {"conv", "conv", OP_CONV, -1, "filters", CONV_KEYS, dsl_conv, NULL},
    {"conv1d", "conv", OP_CONV, 2, "filters", CONV_KEYS, dsl_conv, NULL},
    {"conv2d", "conv", OP_CONV, 3, "filters", CONV_KEYS, dsl_conv, NULL},
    {"conv3d", "conv", OP_CONV, 4, "filters", CONV_KEYS, dsl_conv, NULL},
    {NULL},
};

/* ---- ONNX: Conv (1-D, 2-D and 3-D, with groups), and the window attributes
 * the pools share (kernel, strides, dilations, pads, auto_pad) ---- */

bool onnx_window(OnnxNode *l, const Shape *x, const int64_t *kernel, OnnxWindow *w)
{
    w->ns = x->rank - 1;
    if (w->ns < 1 || w->ns > 3)
        return onnx_fail(l, "input has %d spatial dimensions; 1, 2 or 3 are supported", w->ns);
    int64_t pads[6];
    if (!onnx_spatial_ints(l, "strides", 1, w->s, w->ns) ||
        !onnx_spatial_ints(l, "dilations", 1, w->d, w->ns) ||
        !onnx_spatial_ints(l, "pads", 0, pads, 2 * w->ns))
        return false;
    char buf[32];
    const char *ap = attr_string(l->node, "auto_pad", "NOTSET", buf, sizeof buf);
    for (int i = 0; i < w->ns; i++) {
        w->k[i] = kernel[i];
        int64_t in = x->d[1 + i], span = (w->k[i] - 1) * w->d[i] + 1;
        if (strcmp(ap, "NOTSET") == 0) {
            w->pb[i] = pads[i];
            w->pe[i] = pads[w->ns + i];
        } else if (strcmp(ap, "VALID") == 0) {
            w->pb[i] = w->pe[i] = 0;
        } else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
            int64_t out = (in + w->s[i] - 1) / w->s[i];
            int64_t total = (out - 1) * w->s[i] + span - in;
            total = total < 0 ? 0 : total;
            int64_t small = total / 2;
            w->pb[i] = ap[5] == 'U' ? small : total - small;
            w->pe[i] = total - w->pb[i];
        } else {
            return onnx_fail(l, "auto_pad '%s' is not supported", ap);
        }
    }
    return true;
}

bool onnx_window_out(OnnxNode *l, const OnnxWindow *w, const Shape *x, bool ceil_mode, Shape *out)
{
    *out = *x;
    for (int i = 0; i < w->ns; i++) {
        int64_t in = x->d[1 + i], span = (w->k[i] - 1) * w->d[i] + 1;
        int64_t room = in + w->pb[i] + w->pe[i] - span;
        if (room < 0)
            return onnx_fail(l, "the window (%lld) is larger than the padded input (%lld)",
                        (long long)span, (long long)(in + w->pb[i] + w->pe[i]));
        out->d[1 + i] = (ceil_mode ? (room + w->s[i] - 1) / w->s[i] : room / w->s[i]) + 1;
        /* PyTorch (and the IR): no window may start in the end padding. */
        if (ceil_mode && (out->d[1 + i] - 1) * w->s[i] >= in + w->pb[i])
            out->d[1 + i]--;
    }
    return true;
}

/* Window geometry into the IR's [H, W] arrays (1-D uses index 1) and its
 * depth fields. */
void onnx_window_attrs(Node *n, const OnnxWindow *w)
{
    for (int i = 0; i < w->ns; i++) {
        WindowAxis x = window_axis_attrs(&n->a, window_attr_axis(w->ns, i));
        *x.k = (int)w->k[i];
        *x.s = (int)w->s[i];
        *x.d = (int)w->d[i];
        *x.pb = (int)w->pb[i];
        *x.pe = (int)w->pe[i];
    }
}

static bool onnx_conv(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0), *w = x ? onnx_float_in(l, 1, false) : NULL;
    OnnxValue *b = w ? onnx_float_in(l, 2, true) : NULL;
    if (!w || (!b && l->nin > 2 && l->in[2]))
        return false;
    const Shape *xs = &x->shape, *ws = &w->c.shape;
    int64_t group = attr_int(l->node, "group", 1);
    char s1[64], s2[64];
    if (ws->rank != xs->rank + 1 || group < 1 || xs->d[0] % group ||
        ws->d[1] * group != xs->d[0] || ws->d[0] % group)
        return onnx_fail(l, "weight '%s' of shape %s does not fit input %s with group %lld",
                    w->name, shape_str(ws, s1, sizeof s1), shape_str(xs, s2, sizeof s2),
                    (long long)group);
    const int64_t *ks = NULL;
    int nk = attr_ints(l->node, "kernel_shape", &ks);
    for (int i = 0; i < nk; i++)
        if (nk != xs->rank - 1 || ks[i] != ws->d[2 + i])
            return onnx_fail(l, "kernel_shape does not match the weight's shape");
    if (b && (b->c.shape.rank != 1 || b->c.shape.d[0] != ws->d[0]))
        return onnx_fail(l, "bias '%s' must have shape [%lld]", b->name, (long long)ws->d[0]);
    OnnxWindow win;
    Shape out;
    if (!onnx_window(l, xs, ws->d + 2, &win) || !onnx_window_out(l, &win, xs, false, &out))
        return false;
    out.d[0] = ws->d[0];
    Node *n = onnx_add_node(l, OP_CONV, "", &x, 1, l->out, &out);
    onnx_window_attrs(n, &win);
    n->a.groups = (int)group;
    n->a.filters = (int)ws->d[0];
    n->a.bias = b != NULL;
    onnx_set_param(n, 0, onnx_const_param(l->o, w, T_PARAM));
    if (b)
        onnx_set_param(n, 1, onnx_const_param(l->o, b, T_PARAM));
    return true;
}

/* QLinearConv (x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale,
 * y_zero_point, B): the same Conv between a dequantize of x and a quantize
 * into y, its int8/uint8 weights (per tensor or per output channel) and
 * int32 bias (at x_scale * w_scale) dequantized with their integers kept,
 * which the step "quantize" turns back into one integer layer. */
static bool onnx_qlinear_conv(OnnxNode *l)
{
    if (!onnx_has_inputs(l, 8) || !onnx_need_const(l, 3))
        return false;
    OnnxValue w = {.name = l->in[3]->name, .kind = OV_CONST}, b = {.kind = OV_CONST};
    bool ok = onnx_dequantize_const(l, l->in[3], 4, 5, 0, &w.c);
    w.c.init = l->in[3]->c.init;
    bool bias = ok && l->nin > 8 && l->in[8];
    if (bias) {
        b.name = l->in[8]->name;
        ok = onnx_qlinear_bias(l, 8, 1, w.c.q, w.c.shape.d[0], &b.c);
    }
    OnnxValue *consts[2] = {&w, &b};
    ok = ok && onnx_qlinear(l, 6, 7, consts, bias ? 2 : 1, onnx_conv);
    const_free(&w.c);
    const_free(&b.c);
    return ok;
}

#define CONV_ATTRS "auto_pad:s dilations:is group:i kernel_shape:is pads:is strides:is"

const OnnxKind conv_onnx[] = {
    {"Conv", CONV_ATTRS, onnx_conv, NULL, ONNX_N_AXIS, "1 11"},
    {"QLinearConv", CONV_ATTRS, onnx_qlinear_conv, NULL, ONNX_N_AXIS, "10"},
    {NULL},
};

/* ---- export (cnnc export): the window as ONNX attributes ---- */

void onnx_export_window(OnnxOut *o, Onnx__NodeProto *x, const Graph *g, const Node *n,
                        bool dilations)
{
    int ns = node_in_shape(g, n, 0)->rank - 1;
    int64_t k[3], s[3], d[3], pads[6];
    for (int i = 0; i < ns; i++) {
        WindowAxis w = window_axis_attrs((Attrs *)&n->a, window_attr_axis(ns, i));
        k[i] = *w.k;
        s[i] = *w.s;
        d[i] = *w.d;
        pads[i] = *w.pb;
        pads[ns + i] = *w.pe;
    }
    onnx_attr_ints(o, x, "kernel_shape", k, ns);
    onnx_attr_ints(o, x, "strides", s, ns);
    if (dilations)
        onnx_attr_ints(o, x, "dilations", d, ns);
    onnx_attr_ints(o, x, "pads", pads, 2 * ns);
}

/* Conv; reflect or replicate padding as a Pad node first. */
bool conv_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                      const char *out)
{
    const char *x = in[0];
    Node plain = *n;
    if (n->a.pad_mode != PAD_ZEROS && !window_unpadded(n) && window_is_3d(g, n))
        return false; /* the Pad layer is 1-D and 2-D */
    if (n->a.pad_mode != PAD_ZEROS && !window_unpadded(n)) {
        x = onnx_export_pad(o, g, n, x, NULL);
        memset(plain.a.pad, 0, sizeof plain.a.pad);
    }
    const char *inputs[3] = {x, g->t[n->param[0]].name, n->a.bias ? g->t[n->param[1]].name : ""};
    Onnx__NodeProto *c = onnx_out_node(o, "Conv", n->name, inputs, n->a.bias ? 3 : 2, out);
    onnx_export_window(o, c, g, &plain, true);
    onnx_attr_int(o, c, "group", n->a.groups);
    return n->nin == 1;
}
