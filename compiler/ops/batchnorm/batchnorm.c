/* batchnorm.c: batch normalisation per channel (nn.BatchNorm1d/2d, ONNX
 * BatchNormalization), with a fused epilogue act.
 *
 *   y = act(gamma[c] * (x - mean[c]) / sqrt(var[c] + eps) + beta[c])
 *
 * Inference uses the running statistics. Training uses the batch's: mean
 * and biased variance over the batch and every spatial position of channel
 * c (m values), and updates the running statistics as PyTorch does:
 *   running_mean = (1 - momentum) running_mean + momentum mean
 *   running_var  = (1 - momentum) running_var  + momentum var m / (m - 1)
 * (the unbiased variance; with m = 1 it is undefined, PyTorch refuses to
 * train, and the biased one, 0, is used here).
 *
 * Shape rule: one input [F], [C,L] or [C,H,W], C = d[0]; declares
 * weight (gamma, ones), bias (beta, zeros), running_mean (buffer, zeros),
 * running_var (buffer, ones), each [C]; the output has the input's shape. */
#include "../ops.h"

#include <math.h>

enum { GAMMA, BETA, MEAN, VAR };

static bool infer_batchnorm(Graph *g, Node *n)
{
    if (!check_arity(n, 1))
        return false;
    Shape s = *node_in_shape(g, n, 0); /* a copy: graph_param grows g->t */
    if (s.rank < 1) {
        diag_error(n->loc, "batchnorm '%s': input has no channel dimension", n->name);
        return false;
    }
    if (!(n->a.eps >= 0)) {
        diag_error(n->loc, "batchnorm '%s': eps %g is negative", n->name, (double)n->a.eps);
        return false;
    }
    Shape c = shape_make(1, &s.d[0]);
    bool ok = graph_param(g, n, GAMMA, "weight", T_PARAM, &c, INIT_ONES);
    ok = graph_param(g, n, BETA, "bias", T_PARAM, &c, INIT_ZEROS) && ok;
    ok = graph_param(g, n, MEAN, "running_mean", T_BUFFER, &c, INIT_ZEROS) && ok;
    ok = graph_param(g, n, VAR, "running_var", T_BUFFER, &c, INIT_ONES) && ok;
    g->t[n->out].shape = s;
    return ok;
}

static float *param(Graph *g, const Node *n, int slot)
{
    float *p = n->param[slot] >= 0 ? g->t[n->param[slot]].data : NULL;
    if (!p)
        internal_error("batchnorm '%s': parameter %d has no data", n->name, slot);
    return p;
}

/* Batch mean and biased variance of channel c: x is (batch, C, plane). */
static void batch_stats(const float *x, int batch, int64_t channels, int64_t plane, int64_t c,
                        double *mean, double *var)
{
    double sum = 0, sq = 0;
    for (int b = 0; b < batch; b++)
        for (int64_t p = 0; p < plane; p++)
            sum += x[(b * channels + c) * plane + p];
    *mean = sum / ((double)batch * plane);
    for (int b = 0; b < batch; b++)
        for (int64_t p = 0; p < plane; p++) {
            double d = x[(b * channels + c) * plane + p] - *mean;
            sq += d * d;
        }
    *var = sq / ((double)batch * plane);
}

static void run_batchnorm(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                          bool training)
{
    const Shape *s = node_out_shape(g, n);
    int64_t channels = s->d[0], plane = shape_numel(s) / channels;
    const float *gamma = param(g, n, GAMMA), *beta = param(g, n, BETA);
    float *running_mean = param(g, n, MEAN), *running_var = param(g, n, VAR);
    double momentum = n->a.momentum, m = (double)batch * plane;
    for (int64_t c = 0; c < channels; c++) {
        double mean = running_mean[c], var = running_var[c];
        if (training) {
            batch_stats(in[0], batch, channels, plane, c, &mean, &var);
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mean);
            running_var[c] = (float)((1 - momentum) * running_var[c] + momentum * unbiased);
        }
        double scale = gamma[c] / sqrt(var + n->a.eps);
        for (int b = 0; b < batch; b++) {
            const float *x = in[0] + (b * channels + c) * plane;
            float *y = out + (b * channels + c) * plane;
            for (int64_t p = 0; p < plane; p++)
                y[p] = act_apply(n->act, (float)((x[p] - mean) * scale + beta[c]));
        }
    }
}

static void dump_batchnorm(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " eps=%g momentum=%g", n->a.eps, n->a.momentum);
}

const OpInfo op_batchnorm = {
    .name = "batchnorm",
    .traits = OP_TRAITS(BATCHNORM),
    .infer = infer_batchnorm,
    .run = run_batchnorm,
    .grad = batchnorm_grad,
    .emit = batchnorm_emit,
    .emit_grad = batchnorm_emit_grad,
    .dump = dump_batchnorm,
    .folds = batchnorm_folds,
    .quant = &batchnorm_int8,
    .onnx_export = batchnorm_onnx_export,
    .grad_reads = batchnorm_grad_reads,
    .emit_train = batchnorm_emit_train,
};
