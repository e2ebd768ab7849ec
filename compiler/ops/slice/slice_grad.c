/* slice_grad.c: backward of slice (slice.c): each dL/dy element is added
 * to the x element it copied; the elements not read get nothing. */
#include "../ops.h"

void slice_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    Strided st = slice_strided(g, n);
    int64_t xsize = shape_numel(node_in_shape(g, n, 0)), ysize = shape_numel(node_out_shape(g, n));
    for (int b = 0; b < batch; b++)
        strided_scatter_add(&st, dout + b * ysize, din[0] + b * xsize);
}
