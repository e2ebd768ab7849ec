/* reshape_grad.c: backward of the view operators (reshape.c: flatten,
 * reshape, dropout, identity). Their output is the input's values in the
 * same order, so dL/dx = dL/dy. Dropout is the identity when
 * differentiating (the contract's `grad`: reproducible and comparable). */
#include "../ops.h"

void view_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
               const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    int64_t count = batch * shape_numel(node_out_shape(g, n));
    for (int64_t i = 0; i < count; i++)
        din[0][i] += dout[i];
}
