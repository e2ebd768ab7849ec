/* transpose_emit_grad.c: backward of transpose (transpose_grad.c,
 * traingen): per sample, dL/dy added back where the forward read. */
#include "../ops.h"

void transpose_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    const Graph *g = emit_graph(e);
    Strided st = transpose_strided(g, n);
    long long size = shape_numel(node_out_shape(g, n));
    emit_line(e, "for (int b = 0; b < n; b++) {");
    emit_line(e, "const float *gy = dy + (size_t)b * %lld;", size);
    emit_line(e, "float *gx = dx0 + (size_t)b * %lld;", size);
    emit_strided(e, &st, "gy", "gx", true);
    emit_line(e, "}");
}
