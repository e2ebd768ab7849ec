/* backward.c: the IR's backward part (g->bw, cnnc.h), which the autodiff
 * pass (passes/autodiff.c) builds: which nodes are views in training (the
 * pass, the planner and the training emitter ask), and freeing, checking
 * and dumping it, as ir.c and dump.c do for the forward graph. */
#include "../cnnc.h"

#include <stdio.h>
#include <stdlib.h>

bool backward_is_view(const Graph *g, const Node *n)
{
    unsigned traits = op_info(n->op)->traits;
    (void)g;
    return (traits & OPT_VIEW) && !(traits & OPT_STOCHASTIC) && n->nin == 1;
}

int backward_view_root(const Graph *g, int t)
{
    while (g->t[t].producer >= 0 && backward_is_view(g, &g->n[g->t[t].producer]))
        t = g->n[g->t[t].producer].in[0];
    return t;
}

void backward_free(Backward *bw)
{
    if (!bw)
        return;
    for (int k = 0; k < bw->nnode; k++) {
        free(bw->node[k].dx);
        free(bw->node[k].saved);
    }
    free(bw->node);
    free(bw->grad);
    free(bw);
}

static void verify_write(const Graph *g, const GradWrite *w, const char *what)
{
    if (w->t >= 0 && (w->t >= g->nt || g->t[w->t].kind != T_GRAD))
        internal_error("backward: %s writes tensor %d, not a gradient", what, w->t);
}

void backward_verify(const Graph *g)
{
    const Backward *bw = g->bw;
    bool *written = xcalloc((size_t)g->nt, sizeof *written);
    verify_write(g, &bw->dlogits, "the loss");
    if (bw->dlogits.t >= 0)
        written[bw->dlogits.t] = true;
    for (int k = 0; k < bw->nnode; k++) {
        const GradNode *gn = &bw->node[k];
        if (gn->node < 0 || gn->node >= g->nn || (k > 0 && gn->node >= bw->node[k - 1].node))
            internal_error("backward node %d: forward node %d out of order", k, gn->node);
        const Node *n = &g->n[gn->node];
        if (gn->dy < 0 || !written[gn->dy])
            internal_error("backward of '%s': reads a gradient nobody wrote before", n->name);
        for (int j = 0; j < n->nin; j++)
            verify_write(g, &gn->dx[j], n->name);
        for (int s = 0; s < 4; s++)
            verify_write(g, &gn->dp[s], n->name);
        for (int j = 0; j < n->nin; j++)
            if (gn->dx[j].t >= 0)
                written[gn->dx[j].t] = true;
    }
    free(written);
}

/* ", += NAME" or ", NAME" (a first write), then " (then step)" after a
 * parameter's last. */
static void dump_write(const Graph *g, const GradWrite *w, bool *any, FILE *out)
{
    if (w->t < 0)
        return;
    fprintf(out, "%s%s%s", *any ? ", " : " -> ", w->first ? "" : "+= ", g->t[w->t].name);
    if (w->last && g->t[g->t[w->t].grad_of].kind == T_PARAM)
        fputs(" (then step)", out);
    *any = true;
}

void backward_dump(const Graph *g, FILE *out)
{
    const Backward *bw = g->bw;
    bool any = false;
    fprintf(out, "backward\n  loss: softmax cross-entropy of %s, %lld classes",
            g->t[bw->logits].name, (long long)bw->classes);
    if (bw->fused >= 0)
        fprintf(out, ", absorbing %s", g->n[bw->fused].name);
    dump_write(g, &bw->dlogits, &any, out);
    fputc('\n', out);
    for (int k = 0; k < bw->nnode; k++) {
        const GradNode *gn = &bw->node[k];
        const Node *n = &g->n[gn->node];
        fprintf(out, "  %s: dy %s", n->name, g->t[gn->dy].name);
        for (int i = 0; i < gn->nsaved; i++)
            fprintf(out, "%s%s", i ? ", " : ", reads ", g->t[gn->saved[i]].name);
        any = false;
        for (int j = 0; j < n->nin; j++)
            dump_write(g, &gn->dx[j], &any, out);
        for (int s = 0; s < 4; s++)
            dump_write(g, &gn->dp[s], &any, out);
        fputc('\n', out);
    }
    any = false;
    for (int t = 0; t < bw->nfwd_tensors; t++)
        if (tensor_frozen(&g->t[t])) {
            fprintf(out, "%s%s", any ? ", " : "  frozen: ", g->t[t].name);
            any = true;
        }
    if (any)
        fputc('\n', out);
}
