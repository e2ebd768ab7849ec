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
 * Parameter updates are float32 as in PyTorch; the step's scalars double.
 * The arithmetic is the runtime's cnnc_optim_step (runtime/train.c), which
 * the generated training code calls too: one implementation for both; this
 * file keeps the per-tensor state of a Graph. */
#include "../cnnc.h"
#include "train.h"

#include <stdlib.h>

void optim_init(OptimState *s, const Graph *g)
{
    s->nt = g->nt;
    s->m = xcalloc((size_t)g->nt, sizeof *s->m);
    s->v = xcalloc((size_t)g->nt, sizeof *s->v);
    s->step = 0;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM) {
            s->m[t] = xcalloc((size_t)shape_numel(&g->t[t].shape), sizeof(float));
            s->v[t] = xcalloc((size_t)shape_numel(&g->t[t].shape), sizeof(float));
        }
}

/* The runtime's CnncOptim for the model's train section. */
static CnncOptim runtime_optim(const TrainCfg *c)
{
    return (CnncOptim){
        .kind = c->optim == OPT_ADAM ? CNNC_ADAM : CNNC_SGD,
        .lr = c->lr,
        .momentum = c->momentum,
        .weight_decay = c->weight_decay,
        .beta1 = c->beta1,
        .beta2 = c->beta2,
        .eps = c->eps,
    };
}

void optim_step(Graph *g, const TrainCfg *cfg, OptimState *s, float *const *dparam)
{
    CnncOptim o = runtime_optim(cfg);
    s->step++;
    for (int t = 0; t < s->nt; t++) {
        Tensor *x = &g->t[t];
        if (x->kind != T_PARAM || !dparam[t] || !x->data)
            continue;
        cnnc_optim_step(&o, s->step, x->data, dparam[t], s->m[t], s->v[t],
                        (size_t)shape_numel(&x->shape));
    }
}

void optim_free(const Graph *g, OptimState *s)
{
    (void)g;
    for (int t = 0; t < s->nt; t++) {
        free(s->m[t]);
        free(s->v[t]);
    }
    free(s->m);
    free(s->v);
    s->m = s->v = NULL;
}
