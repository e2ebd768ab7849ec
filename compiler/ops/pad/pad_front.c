/* pad_front.c: how the front ends write explicit padding. Takes a layer
 * statement (DSL: pad(padding, mode=zeros|reflect|replicate)) or a Pad node
 * (ONNX); gives an OP_PAD node (fuse-pad folds it into a conv or pool where
 * that is exact). */
#include "../ops.h"

#include <stdlib.h>

#include <math.h>
#include <string.h>

static void dsl_pad(DslArgs *c, Node *n, const DslKind *k)
{
    dsl_get_padding(c, "padding", true, false, &n->a);
    int mode;
    if (dsl_get_word(c, "mode", "zeros reflect replicate", &mode))
        n->a.pad_mode = (PadMode)mode;
}

const DslKind pad_dsl[] = {
    {"pad", "pad", OP_PAD, -1, "padding", "padding mode", dsl_pad, NULL},
    {NULL},
};

/* ---- ONNX ---- */

static bool onnx_pad(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    int rank = x->shape.rank + 1;
    int64_t pads[2 * MAX_RANK];
    float value = 0;
    char buf[32];
    const char *mode = attr_string(l->node, "mode", "constant", buf, sizeof buf);
    if (l->o->opset < 11) {
        const int64_t *p;
        if (attr_ints(l->node, "pads", &p) != 2 * rank)
            return onnx_fail(l, "attribute 'pads' must have %d values", 2 * rank);
        memcpy(pads, p, (size_t)(2 * rank) * sizeof *pads);
        value = attr_float(l->node, "value", 0);
    } else {
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
            value = cv->c.n == 1 ? cv->c.f[0] : NAN;
        }
    }
    PadMode pm = strcmp(mode, "constant") == 0 ? PAD_ZEROS
                 : strcmp(mode, "reflect") == 0 ? PAD_REFLECT
                 : strcmp(mode, "edge") == 0    ? PAD_REPLICATE
                                                : (PadMode)-1;
    if ((int)pm < 0)
        return onnx_fail(l, "mode '%s' is not supported", mode);
    if (pm == PAD_ZEROS && value != 0)
        return onnx_fail(l, "constant padding with a value other than 0 is not supported");
    if (rank < 3 || rank > 4 || pads[0] || pads[1] || pads[rank] || pads[rank + 1])
        return onnx_fail(l, "only spatial padding of [N, C, L] or [N, C, H, W] is supported");
    bool any = false;
    for (int i = 0; i < 2 * rank; i++) {
        if (pads[i] < 0 || pads[i] > 1 << 20)
            return onnx_fail(l, "pad %lld is not supported", (long long)pads[i]);
        any |= pads[i] != 0;
    }
    if (!any) { /* PyTorch's zero Pad before AveragePool: nothing to do */
        onnx_alias(l, x);
        return true;
    }
    Shape s = x->shape;
    for (int i = 2; i < rank; i++)
        s.d[i - 1] += pads[i] + pads[rank + i];
    Node *n = onnx_add_node(l, OP_PAD, "", &x, 1, l->out, &s);
    n->a.pad_mode = pm;
    int off = 4 - rank; /* 1-D uses index 1 */
    for (int i = 2; i < rank; i++) {
        n->a.pad[off + i - 2] = (int)pads[i];
        n->a.pad[2 + off + i - 2] = (int)pads[rank + i];
    }
    return true;
}

const OnnxKind pad_onnx[] = {
    {"Pad", "mode:s pads:is value:f", onnx_pad, NULL, false},
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
    const char *inputs[2] = {x, pads_name};
    static const char *const modes[] = {"constant", "reflect", "edge"};
    onnx_attr_string(o, onnx_out_node(o, "Pad", name, inputs, 2, out ? out : name), "mode",
                     modes[n->a.pad_mode]);
    return out ? out : name;
}

bool pad_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                     const char *out)
{
    onnx_export_pad(o, g, n, in[0], out);
    return true;
}
