/* transpose_grad.c: backward of transpose (transpose.c): each dL/dy
 * element goes back to the x element it copied (strided.c's scatter). */
#include "../ops.h"

void transpose_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                    const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    Strided st = transpose_strided(g, n);
    int64_t size = shape_numel(node_out_shape(g, n));
    for (int b = 0; b < batch; b++)
        strided_scatter_add(&st, dout + b * size, din[0] + b * size);
}
