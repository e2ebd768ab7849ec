/* batchnorm_fuse.c: folds an inference BatchNorm into the layer before it
 * (pass "fuse-bn", passes/fuse_fold.c).
 *
 * Matches batchnorm(p(x)) where p is OPT_CHANNEL_AFFINE (conv, dense) with
 * no epilogue and the
 * batchnorm alone reads p's output. With s[f] = gamma[f] / sqrt(var[f] +
 * eps), per output channel (conv filter, dense unit) f:
 *   W'[f, ...] = W[f, ...] * s[f]
 *   b'[f]      = (b[f] - mean[f]) * s[f] + beta[f]     (b = 0 if no bias)
 * and p takes the batchnorm's epilogue. Legal because at inference
 * batchnorm is the per-channel affine map y = s*(x - mean) + beta with
 * constants (its running statistics), and conv/dense are linear in W and b
 * per output channel. The results are new constants "<p>+<bn>.weight" and
 * ".bias" (p's own parameters may be shared, and `cnnc weights` dumps the
 * originals from an unfused load).
 * Refuses: a --train build (BatchNorm uses the batch's statistics there);
 * p with an epilogue already (BN(act(z)) is not affine in z); p's output
 * read by anything else or being the graph output (that reader wants the
 * unnormalised value); any other producer. */
#include "../ops.h"

#include <math.h>
#include <stdlib.h>

enum { GAMMA, BETA, MEAN, VAR };

static bool foldable_producer(const Graph *g, const Node *bn, int *pid)
{
    int p = g->t[bn->in[0]].producer;
    if (p < 0)
        return false;
    const Node *n = &g->n[p];
    if (!(op_info(n->op)->traits & OPT_CHANNEL_AFFINE) || act_present(n->act))
        return false;
    if (fuse_sole_consumer(g, n->out) != bn - g->n)
        return false;
    *pid = p;
    return true;
}

static void fold(Graph *g, int p, const Node *bn)
{
    Node *n = &g->n[p];
    const float *gamma = node_param_data(g, bn, GAMMA), *beta = node_param_data(g, bn, BETA);
    const float *mean = node_param_data(g, bn, MEAN), *var = node_param_data(g, bn, VAR);
    const float *w = node_param_data(g, n, 0);
    const float *b = n->a.bias ? node_param_data(g, n, 1) : NULL;
    Shape ws = g->t[n->param[0]].shape;
    int64_t f = ws.d[0], per = shape_numel(&ws) / f;
    float *nw = xmalloc((size_t)(f * per) * sizeof *nw), *nb = xmalloc((size_t)f * sizeof *nb);
    for (int64_t c = 0; c < f; c++) {
        double s = gamma[c] / sqrt((double)var[c] + bn->a.eps);
        for (int64_t k = 0; k < per; k++)
            nw[c * per + k] = (float)(w[c * per + k] * s);
        nb[c] = (float)(((b ? b[c] : 0.0) - mean[c]) * s + beta[c]);
    }
    char *base = xasprintf("%s+%s", n->name, bn->name);
    Shape bs = shape_make(1, &f);
    int wid = fuse_new_const(g, base, "weight", &ws, nw, n->loc);
    int bid = fuse_new_const(g, base, "bias", &bs, nb, n->loc);
    n = &g->n[p]; /* (the node table did not move; the tensor table may have) */
    n->param[0] = wid;
    n->param[1] = bid;
    if (n->nparam < 2)
        n->nparam = 2;
    n->a.bias = true;
    n->act = bn->act;
    free(base);
    free(nw);
    free(nb);
}

static bool batchnorm_fold(Graph *g, int id, const LoadOptions *opt)
{
    int p;
    if (opt->train || !foldable_producer(g, &g->n[id], &p))
        return false;
    fold(g, p, &g->n[id]);
    return true;
}

const FoldRule batchnorm_folds[] = {
    {"fuse-bn", batchnorm_fold},
    {NULL, NULL},
};
