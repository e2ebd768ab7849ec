/* prelu_grad.c: backward of prelu (prelu.c): dL/dx = dy (x > 0 ? 1 : a);
 * dL/da adds dy x over the cells with x <= 0 that read each slope, every
 * sample's. */
#include "../ops.h"

#include <stdlib.h>

void prelu_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Tensor *a = &g->t[n->param[0]];
    int64_t numel = shape_numel(node_in_shape(g, n, 0)), *at = prelu_slope_index(g, n);
    for (int b = 0; b < batch; b++)
        for (int64_t i = 0; i < numel; i++) {
            float v = in[0][b * numel + i], dy = dout[b * numel + i];
            if (din[0])
                din[0][b * numel + i] += v > 0 ? dy : dy * a->data[at[i]];
            if (dparam[0] && v <= 0)
                dparam[0][at[i]] += dy * v;
        }
    free(at);
}

/* Both gradients read x's sign (and dL/da x itself). */
void prelu_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)n;
    (void)gn;
    in[0] = true;
    *out = false;
}
