/* batchnorm_grad.c: training-mode backward of batch normalisation
 * (batchnorm.c), which the forward ran with the batch's statistics.
 *
 * Per channel c over its m = N * plane values, with xhat = (x - mean) /
 * sqrt(var + eps) (var biased, as the forward normalises) and gy =
 * dL/d(pre-activation):
 *   dL/dgamma = sum gy * xhat,   dL/dbeta = sum gy,
 *   dL/dx     = gamma / sqrt(var + eps) * (gy - mean(gy) - xhat * mean(gy * xhat)),
 * the last because mean and var depend on every x of the channel. The
 * statistics are recomputed from the input, in double. */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>

enum { GAMMA, BETA };

void batchnorm_grad(const Graph *g, const Node *n, const float *const *in, const float *out,
                    const float *dout, float *const *din, float *const *dparam, int batch)
{
    const Shape *s = node_out_shape(g, n);
    int64_t channels = s->d[0], plane = shape_numel(s) / channels;
    double m = (double)batch * plane;
    float *tmp = epilogue_grad(n, out, dout, batch * channels * plane);
    const float *dy = tmp ? tmp : dout; /* (N, C, plane) */
    const float *gamma = node_param_data(g, n, GAMMA);
    for (int64_t c = 0; c < channels; c++) {
        double sum = 0, sq = 0;
        for (int b = 0; b < batch; b++)
            for (int64_t p = 0; p < plane; p++)
                sum += in[0][(b * channels + c) * plane + p];
        double mean = sum / m;
        for (int b = 0; b < batch; b++)
            for (int64_t p = 0; p < plane; p++) {
                double d = in[0][(b * channels + c) * plane + p] - mean;
                sq += d * d;
            }
        double inv_std = 1 / sqrt(sq / m + n->a.eps);
        double gsum = 0, gxhat = 0;
        for (int b = 0; b < batch; b++)
            for (int64_t p = 0; p < plane; p++) {
                int64_t i = (b * channels + c) * plane + p;
                gsum += dy[i];
                gxhat += dy[i] * (in[0][i] - mean) * inv_std;
            }
        if (dparam[GAMMA])
            dparam[GAMMA][c] += (float)gxhat;
        if (dparam[BETA])
            dparam[BETA][c] += (float)gsum;
        if (!din[0])
            continue;
        double scale = gamma[c] * inv_std;
        for (int b = 0; b < batch; b++)
            for (int64_t p = 0; p < plane; p++) {
                int64_t i = (b * channels + c) * plane + p;
                double xhat = (in[0][i] - mean) * inv_std;
                din[0][i] += (float)(scale * (dy[i] - gsum / m - xhat * gxhat / m));
            }
    }
    free(tmp);
}

/* The statistics are recomputed from the input. */
void batchnorm_grad_reads(const Graph *g, const Node *n, const GradNode *gn, bool *in, bool *out)
{
    (void)g;
    (void)gn;
    in[0] = true;
    *out = n->act.kind != ACT_NONE;
}
