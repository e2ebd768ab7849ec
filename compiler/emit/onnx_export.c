/* onnx_export.c: `cnnc export MODEL -o OUT.onnx` (contract section 9).
 * Takes a Graph as written (after "init": no fusion, the DSL's layers and
 * parameter names); gives an ONNX model that ONNX Runtime runs to the same
 * outputs: the graph input and output with a symbolic batch, every
 * parameter and buffer an initializer under its own name (contract section
 * 5, so a viewer shows the DSL's names), each node written by its
 * operator's OpInfo.onnx_export and followed, when it has a fused
 * activation, by that activation's node. Opset 13 unless an operator needs
 * a later one. */
#include "../cnnc.h"
#include "../ops/ops.h"

#include <stdlib.h>

#define EXPORT_OPSET 13

static void add_initializers(OnnxOut *o, const Graph *g)
{
    for (int t = 0; t < g->nt; t++) {
        const Tensor *x = &g->t[t];
        if (x->kind != T_ACT && x->data)
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
