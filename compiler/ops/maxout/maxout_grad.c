/* maxout_grad.c: backward of maxout (maxout.c): dL/dy[c, p] goes to the
 * piece x[c*k + j, p] that was the maximum, the first on ties (the
 * forward's strict '>' keeps the first). */
#include "../ops.h"

void maxout_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                 const float *dout, float *const *din, float *const *dparam, int batch)
{
    if (!din[0])
        return;
    const Shape *s = node_out_shape(g, n);
    int64_t units = batch * s->d[0], k = n->a.k, plane = shape_numel(s) / s->d[0];
    for (int64_t u = 0; u < units; u++) {
        const float *x = in[0] + u * k * plane; /* (k, plane) */
        float *dx = din[0] + u * k * plane;     /* (k, plane) */
        for (int64_t p = 0; p < plane; p++) {
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++)
                if (x[j * plane + p] > x[best * plane + p])
                    best = j;
            dx[best * plane + p] += dout[u * plane + p];
        }
    }
}

/* The maximum of each group is found again in the input. */
void maxout_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)n;
    (void)gn;
    in[0] = true;
    *out = false;
}
