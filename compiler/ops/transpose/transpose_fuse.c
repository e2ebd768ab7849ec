/* transpose_fuse.c: transposes that cancel (pass "fuse-transpose",
 * passes/fuse_fold.c), for the channels-last stretches torch code writes
 * inside channel-first networks (ConvNeXt: permute -> LayerNorm -> Linear
 * -> GELU -> Linear -> permute back).
 *
 * Matches a transpose t (x -> x' = transpose(x, p)) whose output starts a
 * region: every node reading x' or a region tensor is either a transpose
 * by the inverse permutation (an exit) or a node that can compute in x's
 * layout instead, its other operands region tensors too; no region tensor
 * is the graph output. Then every region node is rewritten for x's layout
 * (OpInfo.unpermute: a layernorm's axes follow the permutation, a matmul
 * by a constant on the channel axis becomes a 1x1 convolution; an
 * elementwise node without parameters, or with one-element ones, needs
 * nothing), every region tensor takes x's layout (its shape un-permuted),
 * t is bypassed and each exit becomes a view of its input's own shape,
 * which fuse-views removes. Legal because each region value, read back
 * through the inverse permutation, is what the rewritten node computes.
 * Also: a transpose that moves only axes of size 1 moves no data, and
 * becomes a reshape (a view).
 * Refuses: a --train build (the rewritten parameters would not train),
 * any node of the region that cannot change layout, a region tensor read
 * outside it or being the output, an exit by another permutation. */
#include "../ops.h"

#include <stdlib.h>

enum { MAX_REGION = 64 };

typedef struct {
    int node[MAX_REGION], nnode;
    int exit[MAX_REGION], nexit;
} Region;

static bool in_list(const int *list, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* Node r is a transpose undoing perm p (its rank r). */
static bool undoes(const Graph *g, const Node *r, const int *p, int rank)
{
    if (r->op != OP_TRANSPOSE)
        return false;
    for (int k = 0; k < rank; k++)
        if (p[r->a.perm[k]] != k)
            return false;
    return true;
}

/* Whether node n can compute in the un-permuted layout (and, with apply,
 * makes it so). */
static bool can_unpermute(Graph *g, Node *n, const int *p, bool apply)
{
    const OpInfo *op = op_info(n->op);
    if (op->unpermute)
        return op->unpermute(g, n, p, apply);
    if (!(op->traits & OPT_ELEMENTWISE))
        return false;
    for (int s = 0; s < n->nparam; s++) /* one value broadcasts alike in any layout */
        if (n->param[s] >= 0 && shape_numel(&g->t[n->param[s]].shape) != 1)
            return false;
    return true;
}

/* The region from transpose t, or false when it does not close. */
static bool find_region(Graph *g, const Node *t, Region *r)
{
    int rank = node_out_shape(g, t)->rank, tensors[MAX_REGION + 1], nt = 0;
    tensors[nt++] = t->out;
    r->nnode = r->nexit = 0;
    for (int k = 0; k < nt; k++) { /* the region grows as its tensors are read */
        if (fuse_kept(g, tensors[k]))
            return false;
        for (int i = 0; i < g->nn; i++) {
            Node *n = &g->n[i];
            if (!in_list(n->in, n->nin, tensors[k]) || in_list(r->node, r->nnode, i) ||
                in_list(r->exit, r->nexit, i))
                continue;
            if (undoes(g, n, t->a.perm, rank) && r->nexit < MAX_REGION) {
                r->exit[r->nexit++] = i;
                continue;
            }
            if (nt > MAX_REGION || r->nnode == MAX_REGION || node_out_shape(g, n)->rank != rank ||
                !can_unpermute(g, n, t->a.perm, false))
                return false;
            r->node[r->nnode++] = i;
            tensors[nt++] = n->out;
        }
    }
    for (int i = 0; i < r->nnode; i++) { /* every operand from the region */
        const Node *n = &g->n[r->node[i]];
        for (int j = 0; j < n->nin; j++)
            if (!in_list(tensors, nt, n->in[j]))
                return false;
    }
    return r->nexit > 0;
}

static int by_index(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Shape s in the layout before perm p: d[p[k]] = s.d[k]. */
static Shape unpermuted(const Shape *s, const int *p)
{
    Shape u = {s->rank, {0}};
    for (int k = 0; k < s->rank; k++)
        u.d[p[k]] = s->d[k];
    return u;
}

static bool cancel(Graph *g, int id)
{
    const Node *t = &g->n[id];
    Region r;
    if (!find_region(g, t, &r))
        return false;
    int p[MAX_RANK];
    for (int k = 0; k < MAX_RANK; k++)
        p[k] = t->a.perm[k];
    qsort(r.node, (size_t)r.nnode, sizeof *r.node, by_index); /* inputs first */
    for (int i = 0; i < r.nnode; i++) {
        Node *n = &g->n[r.node[i]];
        can_unpermute(g, n, p, true);
        g->t[n->out].shape = unpermuted(&g->t[n->out].shape, p);
    }
    for (int i = 0; i < r.nexit; i++) {
        Node *x = &g->n[r.exit[i]];
        node_become_reshape(x, node_out_shape(g, x)); /* fuse-views drops it */
    }
    return true;
}

static bool transpose_fold(Graph *g, int id, const LoadOptions *opt)
{
    Node *n = &g->n[id];
    Strided st = transpose_strided(g, n);
    if (st.rank == 1 && st.xs[0] == 1) { /* moves only axes of size 1: a relabelling */
        node_become_reshape(n, node_out_shape(g, n));
        return false; /* it stays, as a view */
    }
    return !opt->train && cancel(g, id);
}

const FoldRule transpose_folds[] = {
    {"fuse-transpose", transpose_fold},
    {NULL, NULL},
};
