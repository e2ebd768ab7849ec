/* optim.c: one optimizer step over a Graph's trainable parameters, with
 * PyTorch's semantics (torch.optim.SGD, torch.optim.Adam, 1.13), the
 * reference for the generated training code.
 *
 *   SGD:  d = grad + wd * p
 *         buf = d (first step) or momentum * buf + d    (dampening 0)
 *         p  -= lr * (momentum != 0 ? buf : d)
 *   Adam: d = grad + wd * p        (L2 penalty in the gradient, not AdamW)
 *         m = b1 m + (1 - b1) d,  v = b2 v + (1 - b2) d^2
 *         p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * Parameter updates are float32 as in PyTorch; the step's scalars double. */
#include "../cnnc.h"

#include <math.h>
#include <stdlib.h>

void optim_init(OptimState *s, const Graph *g)
{
    s->m = xcalloc((size_t)g->nt, sizeof *s->m);
    s->v = xcalloc((size_t)g->nt, sizeof *s->v);
    s->step = 0;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM) {
            s->m[t] = xcalloc((size_t)shape_numel(&g->t[t].shape), sizeof(float));
            s->v[t] = xcalloc((size_t)shape_numel(&g->t[t].shape), sizeof(float));
        }
}

static void sgd(const TrainCfg *c, bool first, float *p, const float *grad, float *buf,
                int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        float d = grad[i] + c->weight_decay * p[i];
        if (c->momentum != 0) {
            buf[i] = first ? d : c->momentum * buf[i] + d;
            d = buf[i];
        }
        p[i] -= c->lr * d;
    }
}

static void adam(const TrainCfg *c, int64_t step, float *p, const float *grad, float *m,
                 float *v, int64_t count)
{
    double step_size = c->lr / (1 - pow(c->beta1, (double)step));
    double bc2_sqrt = sqrt(1 - pow(c->beta2, (double)step));
    for (int64_t i = 0; i < count; i++) {
        float d = grad[i] + c->weight_decay * p[i];
        m[i] = m[i] * c->beta1 + (1 - c->beta1) * d;
        v[i] = v[i] * c->beta2 + (1 - c->beta2) * d * d;
        float denom = (float)(sqrtf(v[i]) / bc2_sqrt) + c->eps;
        p[i] -= (float)(step_size * (m[i] / denom));
    }
}

void optim_step(Graph *g, const TrainCfg *cfg, OptimState *s, float *const *dparam)
{
    s->step++;
    for (int t = 0; t < g->nt; t++) {
        Tensor *x = &g->t[t];
        if (x->kind != T_PARAM || !dparam[t] || !x->data)
            continue;
        int64_t count = shape_numel(&x->shape);
        if (cfg->optim == OPT_ADAM)
            adam(cfg, s->step, x->data, dparam[t], s->m[t], s->v[t], count);
        else
            sgd(cfg, s->step == 1, x->data, dparam[t], s->m[t], count);
    }
}

void optim_free(const Graph *g, OptimState *s)
{
    for (int t = 0; t < g->nt; t++) {
        free(s->m[t]);
        free(s->v[t]);
    }
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
}
