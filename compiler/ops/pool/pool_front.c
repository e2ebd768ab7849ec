/* pool_front.c: how the front ends write the pools. Takes a layer statement
 * (DSL) or a MaxPool, AveragePool or Global*Pool node (ONNX); gives a maxpool, avgpool or global pool node with
 * its attributes (pool.c's shape rule checks them against the input).
 *
 *   DSL   maxpool(SIZE, stride=SIZE, padding=0, ceil_mode=false)
 *         avgpool(SIZE, stride=SIZE, padding=0, ceil_mode=false, count_include_pad=true)
 *         (1d/2d/3d variants insist on the input's rank; 3-D: SIZE is K or
 *         KDxKHxKW), global_avgpool, global_maxpool */
#include "../ops.h"

#include <string.h>

static void dsl_pool(DslArgs *c, Node *n, const DslKind *k)
{
    Attrs *a = &n->a;
    if (!dsl_get_window(c, "size", true, 1, a->kernel, &a->kernel_d))
        return;
    if (!dsl_get_window(c, "stride", false, 1, a->stride, &a->stride_d)) {
        memcpy(a->stride, a->kernel, sizeof a->stride);
        a->stride_d = a->kernel_d;
    }
    dsl_get_padding(c, "padding", false, false, a);
    dsl_get_bool(c, "ceil_mode", &a->ceil_mode);
    a->count_include_pad = true;
    if (n->op == OP_AVGPOOL)
        dsl_get_bool(c, "count_include_pad", &a->count_include_pad);
    /* PyTorch's rule: a window must see at least one real cell. */
    for (int i = 0; i < 6; i++) {
        int p = i < 4 ? a->pad[i] : a->pad_d[i - 4], k = i < 4 ? a->kernel[i % 2] : a->kernel_d;
        if (p > k / 2) {
            diag_error(dsl_get(c, "padding", false)->loc,
                       "%s: padding (%d) must be at most half the window (%d)", c->what, p, k);
            break;
        }
    }
}

#define MAXPOOL_KEYS "size stride padding ceil_mode"
#define AVGPOOL_KEYS "size stride padding ceil_mode count_include_pad"

const DslKind pool_dsl[] = {
    {"maxpool", "maxpool", OP_MAXPOOL, -1, "size", MAXPOOL_KEYS, dsl_pool, NULL},
    {"maxpool1d", "maxpool", OP_MAXPOOL, 2, "size", MAXPOOL_KEYS, dsl_pool, NULL},
    {"maxpool2d", "maxpool", OP_MAXPOOL, 3, "size", MAXPOOL_KEYS, dsl_pool, NULL},
    {"maxpool3d", "maxpool", OP_MAXPOOL, 4, "size", MAXPOOL_KEYS, dsl_pool, NULL},
    {"avgpool", "avgpool", OP_AVGPOOL, -1, "size", AVGPOOL_KEYS, dsl_pool, NULL},
    {"avgpool1d", "avgpool", OP_AVGPOOL, 2, "size", AVGPOOL_KEYS, dsl_pool, NULL},
    {"avgpool2d", "avgpool", OP_AVGPOOL, 3, "size", AVGPOOL_KEYS, dsl_pool, NULL},
    {"avgpool3d", "avgpool", OP_AVGPOOL, 4, "size", AVGPOOL_KEYS, dsl_pool, NULL},
    {"global_avgpool", "global_avgpool", OP_GLOBAL_AVGPOOL, -1, "", "", NULL, NULL},
    {"global_maxpool", "global_maxpool", OP_GLOBAL_MAXPOOL, -1, "", "", NULL, NULL},
    {NULL},
};

/* ---- ONNX ---- */

static bool onnx_pool(OnnxNode *l)
{
    bool avg = strcmp(l->node->op_type, "AveragePool") == 0;
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    const int64_t *ks = NULL;
    int nk = attr_ints(l->node, "kernel_shape", &ks);
    if (nk != x->shape.rank - 1)
        return onnx_fail(l, "kernel_shape must have %d values", x->shape.rank - 1);
    for (int i = 0; i < nk; i++)
        if (ks[i] < 1 || ks[i] > 1 << 20)
            return onnx_fail(l, "bad kernel_shape");
    OnnxWindow win;
    Shape out;
    bool ceil_mode = attr_int(l->node, "ceil_mode", 0) != 0;
    if (!onnx_window(l, &x->shape, ks, &win) || !onnx_window_out(l, &win, &x->shape, ceil_mode, &out))
        return false;
    for (int i = 0; i < win.ns; i++) {
        /* End padding no window reaches changes nothing: PyTorch's opset 9
         * export of ceil_mode pads the end by up to a stride more. */
        int64_t in = x->shape.d[1 + i], span = (win.k[i] - 1) * win.d[i] + 1;
        int64_t reached = (out.d[1 + i] - 1) * win.s[i] + span - win.pb[i] - in;
        if (win.pe[i] > reached)
            win.pe[i] = reached < 0 ? 0 : reached;
        if (win.pb[i] >= win.k[i] || win.pe[i] >= win.k[i])
            return onnx_fail(l, "padding must be smaller than the kernel");
    }
    Node *n = onnx_add_node(l, avg ? OP_AVGPOOL : OP_MAXPOOL, "", &x, 1, l->out, &out);
    onnx_window_attrs(n, &win);
    n->a.ceil_mode = ceil_mode;
    n->a.count_include_pad = avg && attr_int(l->node, "count_include_pad", 0) != 0;
    return true;
}

static bool onnx_global_pool(OnnxNode *l)
{
    OnnxValue *x = onnx_act_in(l, 0);
    if (!x)
        return false;
    if (x->shape.rank < 2)
        return onnx_fail(l, "input must have spatial dimensions");
    Shape out = x->shape;
    for (int i = 1; i < out.rank; i++)
        out.d[i] = 1;
    bool avg = strcmp(l->node->op_type, "GlobalAveragePool") == 0;
    onnx_add_node(l, avg ? OP_GLOBAL_AVGPOOL : OP_GLOBAL_MAXPOOL, "", &x, 1, l->out, &out);
    return true;
}

const OnnxKind pool_onnx[] = {
    {"MaxPool", "auto_pad:s ceil_mode:i dilations:is kernel_shape:is pads:is storage_order:i "
                "strides:is", onnx_pool, NULL, ONNX_N_AXIS, "1 8 10 11 12"},
    {"AveragePool", "auto_pad:s ceil_mode:i count_include_pad:i kernel_shape:is pads:is "
                    "strides:is", onnx_pool, NULL, ONNX_N_AXIS, "1 7 10 11"},
    {"GlobalAveragePool", "", onnx_global_pool, NULL, ONNX_N_AXIS, "1"},
    {"GlobalMaxPool", "", onnx_global_pool, NULL, ONNX_N_AXIS, "1"},
    {NULL},
};

/* ---- export ---- */

bool pool_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                      const char *out)
{
    bool max = n->op == OP_MAXPOOL;
    Onnx__NodeProto *p = onnx_out_node(o, max ? "MaxPool" : "AveragePool", n->name, in, 1, out);
    onnx_export_window(o, p, g, n, max);
    onnx_attr_int(o, p, "ceil_mode", n->a.ceil_mode);
    if (!max)
        onnx_attr_int(o, p, "count_include_pad", n->a.count_include_pad);
    return true;
}

bool global_pool_onnx_export(OnnxOut *o, const Graph *g, const Node *n, const char *const *in,
                             const char *out)
{
    onnx_out_node(o, n->op == OP_GLOBAL_MAXPOOL ? "GlobalMaxPool" : "GlobalAveragePool", n->name,
                  in, 1, out);
    return true;
}
