/* dense_grad.c: backward of the fully connected layer (dense.c).
 *
 * With gy = dL/d(pre-activation), (N, UNITS), x (N, IN), W (UNITS, IN):
 *   dL/dW = gy^T x,   dL/db = sum over the batch of gy,   dL/dx = gy W. */
#include "../ops.h"

#include <stdlib.h>

void dense_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                const float *dout, float *const *din, float *const *dparam, int batch)
{
    int64_t nin = node_in_shape(g, n, 0)->d[0], units = node_out_shape(g, n)->d[0];
    float *tmp = epilogue_grad(n, out, dout, batch * units);
    const float *dy = tmp ? tmp : dout; /* (N, UNITS) */
    const float *wt = node_param_data(g, n, 0);
    float *dw = dparam[0], *db = dparam[1], *dx = din[0];
    for (int64_t b = 0; b < batch; b++) {
        const float *x = in[0] + b * nin; /* (IN) */
        float *dxb = dx ? dx + b * nin : NULL;
        for (int64_t u = 0; u < units; u++) {
            float gu = dy[b * units + u];
            if (db)
                db[u] += gu;
            const float *wu = wt + u * nin;
            float *dwu = dw ? dw + u * nin : NULL;
            for (int64_t i = 0; i < nin; i++) {
                if (dwu)
                    dwu[i] += gu * x[i];
                if (dxb)
                    dxb[i] += gu * wu[i];
            }
        }
    }
    free(tmp);
}

/* dL/dW needs the input; a fused activation's derivative, the output. */
void dense_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    in[0] = gn->dp[0].t >= 0;
    *out = n->act.kind != ACT_NONE;
}
