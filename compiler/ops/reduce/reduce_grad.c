/* reduce_grad.c: backward of the reductions (reduce.c). Each cell of x
 * receives from its output cell o:
 *   reduce_sum  dy[o];  reduce_mean  dy[o] / count;
 *   reduce_l2   dy[o] x / y[o] (0 where y[o] is 0: PyTorch's norm backward);
 *   reduce_max  dy[o] / k where x equals y[o], k the cells that do
 *               (PyTorch's amax backward: ties share the gradient evenly). */
#include "../ops.h"

#include <stdlib.h>

/* Per output cell of one sample, how many of its cells hold the maximum. */
static float *ties(const float *x, const float *y, const int64_t *at, int64_t xn, int64_t yn)
{
    float *k = xcalloc((size_t)(yn ? yn : 1), sizeof *k);
    for (int64_t e = 0; e < xn; e++)
        k[at[e]] += x[e] == y[at[e]];
    return k;
}

void reduce_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    ReduceGeom k = reduce_geometry(g, n);
    int64_t xn = shape_numel(node_in_shape(g, n, 0)), yn = shape_numel(node_out_shape(g, n));
    int64_t *at = reduce_offsets(&k, xn);
    for (int b = 0; b < batch; b++) {
        const float *x = in[0] + b * xn, *y = out + b * yn, *dy = dout + b * yn;
        float *dx = din[0] + b * xn;
        float *tie = n->op == OP_REDUCE_MAX ? ties(x, y, at, xn, yn) : NULL;
        for (int64_t e = 0; e < xn; e++) {
            int64_t o = at[e];
            switch (n->op) {
            case OP_REDUCE_SUM: dx[e] += dy[o]; break;
            case OP_REDUCE_MEAN: dx[e] += dy[o] / (float)k.count; break;
            case OP_REDUCE_L2: dx[e] += y[o] == 0 ? 0.0f : dy[o] * x[e] / y[o]; break;
            default: dx[e] += x[e] == y[o] ? dy[o] / tie[o] : 0.0f;
            }
        }
        free(tie);
    }
    free(at);
}

/* reduce_max and reduce_l2 read x and y; the sum and the mean, nothing. */
void reduce_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)gn;
    in[0] = *out = n->op == OP_REDUCE_MAX || n->op == OP_REDUCE_L2;
}
