/* emit_onnx.c: a Graph as an ONNX model. Takes the graph a pipeline step
 * left (`cnnc quantize`: the QDQ graph "calibrate" makes, which ONNX
 * Runtime runs; issue 18's `cnnc export` is meant to call it too); gives
 * OUT.onnx, written whole or not at all through kit/onnx_write.c. Each node
 * is written by its operator (OpInfo.onnx_write, beside the ONNX types the
 * family reads in its <family>_front.c), reading its inputs and parameters
 * by name; the values keep the IR's names, the input is float32 [N, ...]. */
#include "../cnnc.h"
#include "../kit/onnx_write.h"

#include <stdlib.h>

bool onnx_export_graph(const Graph *g, const char *path)
{
    OnnxWriter *w = onnx_writer_new(g->name ? g->name : "model");
    OnnxExport x = {w, g, xcalloc((size_t)g->nt + 1, sizeof *x.param)};
    onnx_writer_io(w, g->t[g->input].name, &g->t[g->input].shape, false);
    bool ok = true;
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        const OpInfo *op = op_info(n->op);
        if (!op->onnx_write) {
            diag_error(n->loc, "%s '%s': the operator has no ONNX form", op->name, n->name);
            ok = false;
        } else if (!op->onnx_write(&x, n)) {
            ok = false;
        }
    }
    onnx_writer_io(w, g->t[g->output].name, &g->t[g->output].shape, true);
    ok = ok && onnx_writer_save(w, path, ONNX_EXPORT_OPSET);
    for (int t = 0; t < g->nt; t++)
        free(x.param[t]);
    free(x.param);
    onnx_writer_free(w);
    return ok;
}
