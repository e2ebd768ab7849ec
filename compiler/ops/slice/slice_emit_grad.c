/* slice_emit_grad.c: backward of slice (slice_grad.c, traingen): per
 * sample, dL/dy added into dL/dx where the forward read. */
#include "../ops.h"

void slice_emit_grad(Emit *e, const Node *n)
{
    if (!emit_grad_needs_dx(e, 0))
        return;
    const Graph *g = emit_graph(e);
    Strided st = slice_strided(g, n);
    long long xsize = shape_numel(node_in_shape(g, n, 0)), ysize = shape_numel(node_out_shape(g, n));
    emit_line(e, "for (int b = 0; b < n; b++) {");
    emit_line(e, "const float *gy = dy + (size_t)b * %lld;", ysize);
    emit_line(e, "float *gx = dx0 + (size_t)b * %lld;", xsize);
    emit_strided(e, &st, "gy", "gx", true);
    emit_line(e, "}");
}
