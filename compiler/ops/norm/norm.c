/* norm.c: normalisation within one sample, no running statistics (training
 * and inference compute alike).
 *
 *   layernorm  x seen as [O, N, I], N the product of the a.naxes axes from
 *              a.axis on: each of the O x I groups x[o, :, i] is normalised
 *              and gets gamma[n], beta[n] of the normalised axes' shape
 *              (nn.LayerNorm: the trailing axes, I = 1; ConvNeXt's
 *              LayerNorm2d: the channels of C x H x W, O = 1)
 *   groupnorm  x [C, S...] in a.groups groups of C/G consecutive channels:
 *              each group's (C/G) S values normalised, then gamma[c],
 *              beta[c] per channel (nn.GroupNorm; nn.InstanceNorm is
 *              G = C, written groups = -1 and resolved here)
 *
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta
 *
 * with the group's mean and biased variance (PyTorch's), in double here.
 * Gradient, per group, with xhat = (x - mean) / sigma and g = dL/dy gamma:
 *   dL/dx = (g - mean(g) - xhat mean(g xhat)) / sigma
 *   dL/dgamma += dL/dy xhat,  dL/dbeta += dL/dy   (over groups and batch)
 * Shape rule: one input; the axes (layernorm) in range, G dividing C
 * (groupnorm); with a.bias (affine) the parameters weight (gamma, ones) and
 * bias (beta, zeros) are declared, without it there are none (identity
 * affine); the output has the input's shape. */
#include "../ops.h"

#include <math.h>

enum { GAMMA, BETA };

NormGeom norm_geometry(const Graph *g, const Node *n)
{
    const Shape *s = node_in_shape(g, n, 0);
    NormGeom k = {1, 1, 1, 1, false};
    if (n->op == OP_GROUPNORM) {
        int64_t numel = shape_numel(s);
        k.outer = n->a.groups;
        k.n = numel / k.outer;
        k.span = numel / s->d[0];
        k.per_group = true;
        return k;
    }
    for (int d = 0; d < s->rank; d++) {
        bool in = d >= n->a.axis && d < n->a.axis + n->a.naxes;
        int64_t *part = d < n->a.axis ? &k.outer : in ? &k.n : &k.inner;
        *part *= s->d[d];
    }
    return k;
}

/* The affine parameters: ones and zeros at initialisation. */
static bool declare_affine(Graph *g, Node *n, const Shape *p)
{
    if (!n->a.bias)
        return true;
    bool ok = graph_param(g, n, GAMMA, "weight", T_PARAM, p, INIT_ONES);
    return graph_param(g, n, BETA, "bias", T_PARAM, p, INIT_ZEROS) && ok;
}

static bool check_eps(const Node *n)
{
    if (n->a.eps >= 0)
        return true;
    diag_error(n->loc, "%s '%s': eps %g is negative", op_info(n->op)->name, n->name,
               (double)n->a.eps);
    return false;
}

static bool infer_layernorm(Graph *g, Node *n)
{
    if (!check_arity(n, 1) || !check_eps(n))
        return false;
    Shape s = *node_in_shape(g, n, 0); /* a copy: graph_param grows g->t */
    char buf[128];
    if (n->a.axis < 0)
        n->a.axis += s.rank;
    if (n->a.naxes < 1 || n->a.axis < 0 || n->a.axis + n->a.naxes > s.rank) {
        diag_error(n->loc, "layernorm '%s': axes %d to %d are out of range for input %s",
                   n->name, n->a.axis, n->a.axis + n->a.naxes - 1, shape_str(&s, buf, sizeof buf));
        return false;
    }
    Shape p = shape_make(n->a.naxes, s.d + n->a.axis);
    g->t[n->out].shape = s;
    return declare_affine(g, n, &p);
}

static bool infer_groupnorm(Graph *g, Node *n)
{
    if (!check_arity(n, 1) || !check_eps(n))
        return false;
    Shape s = *node_in_shape(g, n, 0);
    char buf[128];
    if (n->a.groups == -1) /* instance norm: one group per channel */
        n->a.groups = (int)s.d[0];
    if (n->a.groups < 1 || s.d[0] % n->a.groups) {
        diag_error(n->loc, "groupnorm '%s': %d groups do not divide the %lld channels of input "
                   "%s", n->name, n->a.groups, (long long)s.d[0], shape_str(&s, buf, sizeof buf));
        return false;
    }
    Shape p = shape_make(1, s.d);
    g->t[n->out].shape = s;
    return declare_affine(g, n, &p);
}

/* Mean and 1/sigma of group (o, i) of one sample, in double. */
void norm_stats(const NormGeom *k, const float *x, int64_t o, int64_t i, double eps,
                double *mean, double *rstd)
{
    const float *xg = x + o * k->n * k->inner + i;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < k->n; j++)
        sum += xg[j * k->inner];
    *mean = sum / (double)k->n;
    for (int64_t j = 0; j < k->n; j++) {
        double d = xg[j * k->inner] - *mean;
        sq += d * d;
    }
    *rstd = 1 / sqrt(sq / (double)k->n + eps);
}

static void run_norm(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                     bool training)
{
    NormGeom k = norm_geometry(g, n);
    const float *gamma = node_param_data(g, n, GAMMA), *beta = node_param_data(g, n, BETA);
    int64_t size = k.outer * k.n * k.inner;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t o = 0; o < k.outer; o++)
            for (int64_t i = 0; i < k.inner; i++) {
                const float *x = in[0] + b * size;
                double mean, rstd;
                norm_stats(&k, x, o, i, n->a.eps, &mean, &rstd);
                for (int64_t j = 0; j < k.n; j++) {
                    int64_t at = (o * k.n + j) * k.inner + i, p = norm_param_index(&k, o, j);
                    double v = (x[at] - mean) * rstd;
                    if (gamma)
                        v = v * gamma[p] + beta[p];
                    out[b * size + at] = (float)v;
                }
            }
}

static void dump_layernorm(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " axes=%d..%d eps=%g%s", n->a.axis, n->a.axis + n->a.naxes - 1,
            (double)n->a.eps, n->a.bias ? "" : " affine=false");
}

static void dump_groupnorm(const Graph *g, const Node *n, FILE *out)
{
    fprintf(out, " groups=%d eps=%g%s", n->a.groups, (double)n->a.eps,
            n->a.bias ? "" : " affine=false");
}

const OpInfo op_layernorm = {
    .name = "layernorm",
    .traits = OP_TRAITS(LAYERNORM),
    .infer = infer_layernorm,
    .run = run_norm,
    .grad = norm_grad,
    .emit = norm_emit,
    .emit_grad = norm_emit_grad,
    .grad_reads = norm_grad_reads,
    .emit_train = norm_emit_train, /* gamma and beta are trainable */
    .dump = dump_layernorm,
    .onnx_export = layernorm_onnx_export,
    .folds = norm_folds,
    .unpermute = norm_unpermute,
};

const OpInfo op_groupnorm = {
    .name = "groupnorm",
    .traits = OP_TRAITS(GROUPNORM),
    .infer = infer_groupnorm,
    .run = run_norm,
    .grad = norm_grad,
    .emit = norm_emit,
    .emit_grad = norm_emit_grad,
    .grad_reads = norm_grad_reads,
    .emit_train = norm_emit_train,
    .dump = dump_groupnorm,
    .onnx_export = groupnorm_onnx_export,
    .folds = norm_folds,
    .unpermute = norm_unpermute,
};
