/* pad_front.c: how the front ends write explicit padding. Takes a layer
 * statement (DSL: pad(padding, mode=zeros|reflect|replicate, value=0)) or
 * a Pad node (ONNX, any opset: negative amounts crop, a slice first);
 * gives an OP_PAD node (fuse-pad folds it into a conv or pool where that is
 * exact and the value 0). */
#include "../ops.h"

#include <stdlib.h>
#include <string.h>

static void dsl_pad(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_get_padding(c, "padding", true, false, &n->a);
    int mode;
    if (dsl_get_word(c, "mode", "zeros reflect replicate", &mode))
        n->a.pad_mode = (PadMode)mode;
    const Value *v = dsl_get(c, "value", false);
    if (v && dsl_get_float(c, "value", false, DSL_ANY, &n->a.pad_value) &&
        n->a.pad_mode != PAD_ZEROS)
        diag_error(v->loc, "%s: value is for zeros (constant) padding, not %s", c->what,
                   n->a.pad_mode == PAD_REFLECT ? "reflect" : "replicate");
}

const DslKind pad_dsl[] = {
    {"pad", "pad", OP_PAD, -1, "padding", "padding mode value", dsl_pad, NULL},
    {NULL},
};

/* ---- ONNX ---- */

/* Pad's amounts (2 per axis of the full rank: begins, then ends) and
 * constant value: attributes before opset 11 (opset 1 calls the amounts
 * 'paddings'), inputs from then on. */
static bool pad_args(OnnxNode *l, int rank, int64_t *pads, float *value)
{
    *value = 0;
    if (l->o->opset < 11) {
        const int64_t *p;
        const char *name = l->o->opset < 2 ? "paddings" : "pads";
        if (attr_ints(l->node, name, &p) != 2 * rank)
            return onnx_fail(l, "attribute '%s' must have %d values", name, 2 * rank);
        memcpy(pads, p, (size_t)(2 * rank) * sizeof *pads);
        *value = attr_float(l->node, "value", 0);
        return true;
    }
    if (l->nin < 2 || !l->in[1] || l->in[1]->kind != OV_CONST ||
        l->in[1]->c.dtype != CONST_I64 || l->in[1]->c.n != 2 * rank)
        return onnx_fail(l, "pads must be a constant int64 tensor of %d values", 2 * rank);
    memcpy(pads, l->in[1]->c.i, (size_t)(2 * rank) * sizeof *pads);
    if (l->nin > 3 && l->in[3])
        return onnx_fail(l, "the axes input is not supported");
    if (l->nin > 2 && l->in[2]) {
        OnnxValue *cv = onnx_float_in(l, 2, false);
        if (!cv)
            return false;
        if (cv->c.n != 1)
            return onnx_fail(l, "constant_value must hold one value, not %lld", (long long)cv->c.n);
        *value = cv->c.f[0];
    }
    return true;
}

/* Negative amounts crop: a slice of x first, those amounts made 0. */
static OnnxValue *crop(OnnxNode *l, OnnxValue *x, int64_t *pads, OnnxValue *tmp)
{
    int rank = x->shape.rank + 1;
    bool any = false;
    for (int i = 1; i < rank; i++)
        any |= pads[i] < 0 || pads[rank + i] < 0;
    if (!any)
        return x;
    *tmp = (OnnxValue){.name = l->out->name};
    Node *n = onnx_add_node(l, OP_SLICE, "_crop", &x, 1, tmp, &x->shape);
    for (int i = 1; i < rank; i++) {
        n->a.start[i - 1] = pads[i] < 0 ? -pads[i] : 0;
        n->a.end[i - 1] = x->shape.d[i - 1] + (pads[rank + i] < 0 ? pads[rank + i] : 0);
        n->a.step[i - 1] = 1;
        pads[i] = pads[i] > 0 ? pads[i] : 0;
        pads[rank + i] = pads[rank + i] > 0 ? pads[rank + i] : 0;
    }
    return onnx_infer(l, n, tmp) ? tmp : NULL;
}

static bool onnx_pad(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0), cropped;
    int rank = x ? x->shape.rank + 1 : 0;
    int64_t pads[2 * MAX_RANK];
    float value;
    char buf[32];
    const char *mode = attr_string(l->node, "mode", "constant", buf, sizeof buf);
    if (!x || !pad_args(l, rank, pads, &value))
        return false;
    PadMode pm = strcmp(mode, "constant") == 0 ? PAD_ZEROS
                 : strcmp(mode, "reflect") == 0 ? PAD_REFLECT
                 : strcmp(mode, "edge") == 0    ? PAD_REPLICATE
                                                : (PadMode)-1;
    if ((int)pm < 0)
        return onnx_fail(l, "mode '%s' is not supported", mode);
    if (pads[0] || pads[rank])
        return onnx_fail(l, "pads the batch axis: cnnc keeps each sample apart");
    for (int i = 0; i < 2 * rank; i++)
        if (pads[i] < -(1 << 20) || pads[i] > 1 << 20)
            return onnx_fail(l, "pad %lld is not supported", (long long)pads[i]);
    if (!(x = crop(l, x, pads, &cropped)))
        return false;
    bool any = false;
    for (int i = 0; i < 2 * rank; i++)
        any |= pads[i] != 0;
    if (!any) { /* PyTorch's zero Pad before AveragePool, a crop: nothing more to do */
        onnx_alias(l, x);
        return true;
    }
    if (rank < 3 || rank > 4 || pads[1] || pads[rank + 1])
        return onnx_fail(l, "only spatial padding of [N, C, L] or [N, C, H, W] is supported");
    Shape s = x->shape;
    for (int i = 2; i < rank; i++)
        s.d[i - 1] += pads[i] + pads[rank + i];
    Node *n = onnx_add_node(l, OP_PAD, "", &x, 1, l->out, &s);
    n->a.pad_mode = pm;
    n->a.pad_value = pm == PAD_ZEROS ? value : 0;
    int off = 4 - rank; /* 1-D uses index 1 */
    for (int i = 2; i < rank; i++) {
        n->a.pad[off + i - 2] = (int)pads[i];
        n->a.pad[2 + off + i - 2] = (int)pads[rank + i];
    }
    return true;
}

const OnnxKind pad_onnx[] = {
    {"Pad", "mode:s pads:is paddings:is value:f", onnx_pad, NULL, ONNX_N_AXIS, "1 2 11 13"},
    {NULL},
};

/* ---- export ---- */

/* A Pad node of n's padding and mode over x writing `out` (NULL: a fresh
 * "<node>_pad", for conv's reflect and replicate modes); returns its output. */
const char *onnx_export_pad(OnnxOut *o, const Graph *g, const Node *n, const char *x,
                            const char *out)
{
    int rank = node_in_shape(g, n, 0)->rank + 1, off = 4 - rank;
    int64_t pads[2 * (MAX_RANK + 1)] = {0};
    for (int i = 2; i < rank; i++) {
        pads[i] = n->a.pad[off + i - 2];
        pads[rank + i] = n->a.pad[2 + off + i - 2];
    }
    Shape ps = {1, {2 * rank}};
    const char *pads_name = onnx_out_fresh(o, "pads");
    onnx_out_init_i64(o, pads_name, &ps, pads);
    char *base = xasprintf("%s_pad", n->name);
    const char *name = out ? n->name : onnx_out_fresh(o, base);
    free(base);
    const char *inputs[3] = {x, pads_name, NULL};
    if (n->a.pad_value != 0) { /* constant_value: a scalar */
        Shape scalar = {0};
        inputs[2] = onnx_out_fresh(o, "value");
        onnx_out_init_f32(o, inputs[2], &scalar, &n->a.pad_value);
    }
    static const char *const modes[] = {"constant", "reflect", "edge"};
    onnx_attr_string(o, onnx_out_node(o, "Pad", name, inputs, inputs[2] ? 3 : 2, out ? out : name),
                     "mode", modes[n->a.pad_mode]);
    return out ? out : name;
}

bool pad_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                     const char *out)
{
    onnx_export_pad(o, g, n, in[0], out);
    return true;
}
