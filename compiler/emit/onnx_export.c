/* onnx_export.c: `cnnc export MODEL -o OUT.onnx` (contract section 9).
 * Takes a Graph as written (after "init": no fusion, the DSL's layers and
 * parameter names); gives an ONNX model that ONNX Runtime runs to the same
 * outputs: the graph input and output with a symbolic batch, every
 * parameter and buffer an initializer under its own name (contract section
 * 5, so a viewer shows the DSL's names), each node written by its
 * operator's OpInfo.onnx_export and followed, when it has a fused
 * activation, by that activation's node. Opset 13 unless an operator needs
 * a later one.
 *
 * `cnnc quantize` writes its QDQ graph (after "calibrate") the same way:
 * the quantize and dequantize nodes are the quant family's, and a
 * quantized parameter (int8 weights per output channel, an int32 bias) is
 * its integers as an initializer "<name>_quantized" behind a
 * DequantizeLinear whose output has the parameter's name, as ONNX
 * Runtime's quantizer writes them. */
#include "../cnnc.h"
#include "../ops/ops.h"

#include <stdlib.h>

#define EXPORT_OPSET 13

/* Parameter x's integers and their DequantizeLinear into x's name. */
static void add_quantized(OnnxOut *o, const Tensor *x)
{
    int dtype = x->q->dtype == DT_I32 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT32
                                      : ONNX__TENSOR_PROTO__DATA_TYPE__INT8;
    char *base = xasprintf("%s_quantized", x->name);
    const char *ints = onnx_out_fresh(o, base), *scale, *zero;
    onnx_out_init_int(o, ints, &x->shape, x->q->values, dtype);
    onnx_out_quant(o, x->name, x->q, dtype, &scale, &zero);
    const char *in[3] = {ints, scale, zero};
    Onnx__NodeProto *dq = onnx_out_node(o, "DequantizeLinear", base, in, 3, x->name);
    if (x->q->n > 1)
        onnx_attr_int(o, dq, "axis", 0);
    free(base);
}

static void add_initializers(OnnxOut *o, const Graph *g)
{
    for (int t = 0; t < g->nt; t++) {
        const Tensor *x = &g->t[t];
        if (x->kind != T_ACT && x->q && x->q->values)
            add_quantized(o, x);
        else if (x->kind != T_ACT && x->data)
            onnx_out_init_f32(o, x->name, &x->shape, x->data);
    }
}

/* Node n and its epilogue; false (reported) where there is no ONNX form. */
static bool export_node(OnnxOut *o, const Graph *g, const Node *n)
{
    const char *in[ONNX_MAX_INPUTS];
    for (int j = 0; j < n->nin && j < ONNX_MAX_INPUTS; j++)
        in[j] = g->t[n->in[j]].name;
    const char *out = g->t[n->out].name;
    Act epilogue = node_epilogue(n);
    char *pre = xasprintf("%s_pre_%s", n->name, act_name(epilogue.kind));
    const char *result = act_present(epilogue) ? onnx_out_fresh(o, pre) : out;
    free(pre);
    const OpInfo *op = op_info(n->op);
    bool ok = op->onnx_export && n->nin <= ONNX_MAX_INPUTS && op->onnx_export(o, g, n, in, result);
    if (ok && act_present(epilogue)) {
        char *name = xasprintf("%s_%s", n->name, act_name(epilogue.kind));
        ok = act_onnx_node(o, epilogue, name, result, out);
        free(name);
    }
    if (!ok)
        diag_error(n->loc, "%s '%s': cannot be written as ONNX", op->name, n->name);
    return ok;
}

bool onnx_export(const Graph *g, const char *path)
{
    OnnxOut *o = onnx_out_new(g->name ? g->name : "model", EXPORT_OPSET);
    onnx_out_io(o, true, g->t[g->input].name, &g->t[g->input].shape);
    add_initializers(o, g);
    bool ok = true;
    for (int i = 0; i < g->nn; i++)
        ok &= export_node(o, g, &g->n[i]);
    onnx_out_io(o, false, g->t[g->output].name, &g->t[g->output].shape);
    ok = ok && onnx_out_write(o, path);
    onnx_out_free(o);
    return ok;
}
