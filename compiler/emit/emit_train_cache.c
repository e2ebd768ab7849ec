/* emit_train_cache.c: where a training build's feature cache may cut the
 * model (docs/training.md, "Feature caching"). Takes the fused Graph of a
 * --train build, its backward planned (frozen parameters marked by
 * --freeze-until or the DSL's `freeze`); gives the frozen part (the nodes
 * P_train_features runs), the cut (the one tensor through which the rest
 * reads it), or the reason why no cache can stand in for the frozen part.
 *
 * The frozen part is every node computed from the input without a
 * trainable parameter that some frozen parameter's layer depends on: the
 * backbone, up to its last frozen layer (passes/freeze.c's freeze_part).
 * Caching its output is the same training only if the part computes each
 * sample alone and the same way at every step, and if the rest reads it
 * through the cut alone:
 * - a node reading running statistics (BatchNorm) normalises with the
 *   batch's statistics in a step, so a sample's features depend on its
 *   batch (and the step updates the statistics);
 * - a stochastic node (Dropout) draws a new mask at every step;
 * - a later layer reading another tensor of the part, or the input (a
 *   connection across the cut), needs more than the cut's values. */
#include "emit.h"

#include <stdlib.h>

/* Why node i of the part cannot be run once per sample, or NULL. */
static char *unrepeatable(const Graph *g, int i)
{
    const Node *n = &g->n[i];
    const char *op = op_info(n->op)->name;
    if (op_info(n->op)->traits & OPT_STOCHASTIC)
        return xasprintf("%s '%s' is in the frozen part: it draws a new mask at every step, so "
                         "its output cannot be computed once",
                         op, n->name);
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0 && g->t[n->param[s]].kind == T_BUFFER)
            return xasprintf("%s '%s' is in the frozen part: a training step normalises with "
                             "each batch's statistics, so a sample's features depend on its batch",
                             op, n->name);
    return NULL;
}

/* The first node outside the part that reads tensor t (by its storage). */
static int first_reader(const Graph *g, const bool *part, int t)
{
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; !part[i] && j < g->n[i].nin; j++)
            if (backward_view_root(g, g->n[i].in[j]) == t)
                return i;
    return -1;
}

/* The cut: the one tensor of the part (or the input) that the other nodes
 * read; NULL, or the refusal when there are several. The --freeze-until
 * tensor (kept through fusion) is the cut among them, else the latest;
 * any other is read across the cut. */
static char *choose_cut(const Graph *g, const bool *part, int *cut)
{
    int across = -1;
    *cut = -1;
    for (int t = 0; t < g->nt; t++) {
        int p = g->t[t].producer;
        if (backward_view_root(g, t) != t || !(t == g->input || (p >= 0 && part[p])) ||
            first_reader(g, part, t) < 0)
            continue;
        if (t == g->input)
            return xasprintf("layer '%s' reads the model's input, which the frozen part's "
                             "features do not hold",
                             g->n[first_reader(g, part, t)].name);
        bool better = *cut < 0 || g->t[t].keep ||
                      (!g->t[*cut].keep && p > g->t[*cut].producer);
        if (*cut >= 0)
            across = better ? *cut : t;
        if (better)
            *cut = t;
    }
    if (across < 0)
        return NULL;
    return xasprintf("layer '%s' reads '%s' of the frozen part besides the cut '%s' (a "
                     "connection across the cut): the cut's features alone cannot stand in "
                     "for the frozen part",
                     g->n[first_reader(g, part, across)].name, graph_activation_name(g, across),
                     graph_activation_name(g, *cut));
}

/* The one layer (views aside) outside the part reading tensor t, or -1. */
static int sole_reader(const Graph *g, const bool *part, int t)
{
    int reader = -1;
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; !part[i] && !backward_is_view(g, &g->n[i]) && j < g->n[i].nin; j++)
            if (backward_view_root(g, g->n[i].in[j]) == t) {
                if (reader >= 0 && reader != i)
                    return -1;
                reader = i;
            }
    return reader;
}

/* Moves the cut past the layers without parameters that alone read it
 * (a pool, an activation after the last frozen layer): they compute each
 * sample alone, the cache holds their smaller or final output, and no step
 * runs them again. */
static void extend_cut(const Graph *g, FeatureCut *fc)
{
    for (;;) {
        int r = sole_reader(g, fc->part, fc->cut);
        if (r < 0 || g->n[r].nin != 1 || g->n[r].nparam > 0 ||
            (op_info(g->n[r].op)->traits & OPT_STOCHASTIC) ||
            backward_view_root(g, g->n[r].out) == backward_view_root(g, g->output))
            return;
        fc->part[r] = true;
        fc->cut = backward_view_root(g, g->n[r].out);
    }
}

void feature_cut_find(const Graph *g, FeatureCut *fc)
{
    fc->part = freeze_part(g);
    fc->cut = -1;
    fc->refusal = NULL;
    bool any = false;
    for (int i = 0; i < g->nn; i++)
        any |= fc->part[i];
    if (!any) {
        fc->refusal = xasprintf("the model has no frozen part that the input alone feeds "
                                "(compile with --freeze-until TENSOR, or `freeze` its first "
                                "layers in the DSL)");
        return;
    }
    for (int i = 0; i < g->nn && !fc->refusal; i++)
        if (fc->part[i])
            fc->refusal = unrepeatable(g, i);
    if (!fc->refusal)
        fc->refusal = choose_cut(g, fc->part, &fc->cut);
    if (!fc->refusal && (fc->cut < 0 || fc->cut == backward_view_root(g, g->output)))
        fc->refusal = xasprintf("the model's output depends on no trained layer");
    if (fc->refusal)
        fc->cut = -1;
    else
        extend_cut(g, fc);
}

void feature_cut_free(FeatureCut *fc)
{
    free(fc->part);
    free(fc->refusal);
    fc->part = NULL;
    fc->refusal = NULL;
}
