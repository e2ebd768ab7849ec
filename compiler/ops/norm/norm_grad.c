/* norm_grad.c: backward of layernorm and groupnorm (norm.c). Per group of
 * N values, with the forward's statistics recomputed in double, xhat =
 * (x - mean) / sigma and g = dL/dy gamma:
 *   dL/dx = (g - mean(g) - xhat mean(g xhat)) / sigma
 * (mean and sigma depend on every value of the group), and the affine
 * parameters gather dL/dy xhat and dL/dy over every group and sample. */
#include "../ops.h"

enum { GAMMA, BETA };

/* One group (o, i) of one sample: its gradients, added into dx, dg, db. */
static void group_grad(const NormGeom *k, const float *x, const float *dy, const float *gamma,
                       double eps, int64_t o, int64_t i, float *dx, float *dg, float *db)
{
    double mean, rstd, sg = 0, sgx = 0;
    norm_stats(k, x, o, i, eps, &mean, &rstd);
    for (int64_t j = 0; j < k->n; j++) {
        int64_t at = (o * k->n + j) * k->inner + i, p = norm_param_index(k, o, j);
        double xhat = (x[at] - mean) * rstd, gj = dy[at] * (gamma ? gamma[p] : 1.0f);
        sg += gj;
        sgx += gj * xhat;
        if (dg)
            dg[p] += (float)(dy[at] * xhat);
        if (db)
            db[p] += dy[at];
    }
    if (!dx)
        return;
    for (int64_t j = 0; j < k->n; j++) {
        int64_t at = (o * k->n + j) * k->inner + i, p = norm_param_index(k, o, j);
        double xhat = (x[at] - mean) * rstd, gj = dy[at] * (gamma ? gamma[p] : 1.0f);
        dx[at] += (float)((gj - sg / (double)k->n - xhat * sgx / (double)k->n) * rstd);
    }
}

void norm_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
               const float *dout, float *const *din, float *const *dparam, int batch)
{
    NormGeom k = norm_geometry(g, n);
    const float *gamma = node_param_data(g, n, GAMMA);
    int64_t size = k.outer * k.n * k.inner;
    float *dg = gamma ? dparam[GAMMA] : NULL, *db = gamma ? dparam[BETA] : NULL;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t o = 0; o < k.outer; o++)
            for (int64_t i = 0; i < k.inner; i++)
                group_grad(&k, in[0] + b * size, dout + b * size, gamma, n->a.eps, o, i,
                           din[0] ? din[0] + b * size : NULL, dg, db);
}

/* The statistics are recomputed from the input: that alone is read. */
void norm_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)n;
    (void)gn;
    in[0] = true;
    *out = false;
}
