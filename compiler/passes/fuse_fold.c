/* fuse_fold.c: the fusion passes that fold one node into a neighbour
 * (fuse-transpose, fuse-norm, fuse-bn, fuse-math, fuse-bias, fuse-pad,
 * fuse-residual). Takes a Graph; gives it
 * with every foldable node folded away.
 *
 * The pass knows no operator: each operator declares the passes its nodes
 * fold in and how (OpInfo.folds, a FoldRule per pass; the rules, their
 * legality and why they are exact live beside the operator in
 * ops/<family>/<family>_fuse.c). A rule rewrites the neighbour (attributes,
 * epilogue, folded constants, inputs) and returns true; the pass then
 * bypasses the folded node, so its readers read what it read (for a
 * producer-side fold, the producer's output), and prunes the tensors left
 * without a user. */
#include "../cnnc.h"

#include <string.h>

static const FoldRule *rule_for(const Node *n, const char *pass)
{
    for (const FoldRule *r = op_info(n->op)->folds; r && r->pass; r++)
        if (strcmp(r->pass, pass) == 0)
            return r;
    return NULL;
}

bool fuse_fold(Graph *g, const char *pass, const LoadOptions *opt)
{
    for (int i = 0; i < g->nn; i++) {
        const FoldRule *r = rule_for(&g->n[i], pass);
        /* The rules are float arithmetic: integer layers keep their form. */
        if (!r || node_quantized(g, &g->n[i]) || !r->fold(g, i, opt))
            continue;
        fuse_bypass(g, i);
        i--;
    }
    fuse_prune(g);
    return true;
}

bool fuse_transpose(Graph *g, const LoadOptions *opt)
{
    return fuse_fold(g, "fuse-transpose", opt);
}

/* A folded GroupNorm export leaves its first reshape unread. */
bool fuse_norm(Graph *g, const LoadOptions *opt)
{
    bool ok = fuse_fold(g, "fuse-norm", opt);
    fuse_dead_views(g);
    fuse_prune(g);
    return ok;
}

bool fuse_batchnorm(Graph *g, const LoadOptions *opt)
{
    return fuse_fold(g, "fuse-bn", opt);
}

bool fuse_math(Graph *g, const LoadOptions *opt)
{
    return fuse_fold(g, "fuse-math", opt);
}

bool fuse_bias(Graph *g, const LoadOptions *opt)
{
    return fuse_fold(g, "fuse-bias", opt);
}

bool fuse_pad(Graph *g, const LoadOptions *opt)
{
    return fuse_fold(g, "fuse-pad", opt);
}

bool fuse_residual(Graph *g, const LoadOptions *opt)
{
    return fuse_fold(g, "fuse-residual", opt);
}
