/* surgery.c: graph surgery, which the fusion passes (passes/fuse_*.c) and
 * the operators' fold rules (each family's _fuse.c) share.
 *
 * A fusion is always "node p absorbs the node c that alone reads its
 * output": the pass rewrites p (attributes, epilogue, new folded constants)
 * and then bypasses c, so c's readers read p's output. Tensors left without
 * a user are pruned at the end of each pass, so that the dump, the planner
 * and the weight emitter never see them. A kept tensor (fuse_kept: the
 * graph output, a --freeze-until cut) is never the middle of a fusion:
 * fuse_sole_consumer finds no reader for it, so nothing downstream merges
 * with what made it. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

bool fuse_kept(const Graph *g, int t)
{
    return t == g->output || g->t[t].keep;
}

int fuse_sole_consumer(const Graph *g, int t)
{
    if (fuse_kept(g, t))
        return -1;
    int found = -1, reads = 0;
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            if (g->n[i].in[j] == t) {
                found = i;
                reads++;
            }
    return reads == 1 ? found : -1;
}

void fuse_remove(Graph *g, int id)
{
    free(g->n[id].name);
    free(g->n[id].in);
    memmove(&g->n[id], &g->n[id + 1], (size_t)(g->nn - id - 1) * sizeof *g->n);
    g->nn--;
    for (int i = id; i < g->nn; i++)
        g->t[g->n[i].out].producer = i;
}

void fuse_bypass(Graph *g, int id)
{
    int x = g->n[id].in[0], y = g->n[id].out;
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            if (g->n[i].in[j] == y)
                g->n[i].in[j] = x;
    if (g->output == y)
        g->output = x;
    g->t[x].keep |= g->t[y].keep;
    g->t[y].producer = -1;
    fuse_remove(g, id);
}

void fuse_dead_views(Graph *g)
{
    for (int i = g->nn - 1; i >= 0; i--) {
        const Node *n = &g->n[i];
        if ((op_info(n->op)->traits & OPT_VIEW) && !fuse_kept(g, n->out) &&
            graph_consumers(g, n->out, NULL, 0) == 0)
            fuse_remove(g, i);
    }
}

int fuse_new_const(Graph *g, const char *base, const char *suffix, const Shape *shape,
                   const float *data, Loc loc)
{
    char *name = xasprintf("%s.%s", base, suffix);
    for (int k = 2; graph_find_tensor(g, name) >= 0; k++) {
        free(name);
        name = xasprintf("%s.%s%d", base, suffix, k);
    }
    int id = graph_add_tensor(g, name, T_CONST, loc);
    free(name);
    size_t count = (size_t)shape_numel(shape);
    g->t[id].shape = *shape;
    g->t[id].data = xmalloc((count ? count : 1) * sizeof(float));
    memcpy(g->t[id].data, data, count * sizeof(float));
    return id;
}

/* Per tensor: whether the graph still refers to it. */
static bool *tensors_in_use(const Graph *g)
{
    bool *used = xcalloc((size_t)g->nt + 1, sizeof *used);
    used[g->input] = used[g->output] = true;
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        used[n->out] = true;
        for (int j = 0; j < n->nin; j++)
            used[n->in[j]] = true;
        for (int s = 0; s < n->nparam; s++)
            if (n->param[s] >= 0)
                used[n->param[s]] = true;
    }
    return used;
}

/* Every reference to a tensor renumbered through map. */
static void renumber_tensors(Graph *g, const int *map)
{
    g->input = map[g->input];
    g->output = map[g->output];
    for (int i = 0; i < g->nalias; i++)
        if (g->alias_of[i] >= 0)
            g->alias_of[i] = map[g->alias_of[i]];
    for (int i = 0; i < g->nn; i++) {
        Node *n = &g->n[i];
        n->out = map[n->out];
        for (int j = 0; j < n->nin; j++)
            n->in[j] = map[n->in[j]];
        for (int s = 0; s < n->nparam; s++)
            if (n->param[s] >= 0)
                n->param[s] = map[n->param[s]];
    }
}

void fuse_prune(Graph *g)
{
    bool *used = tensors_in_use(g);
    int t = 0;
    while (t < g->nt && used[t])
        t++;
    if (t == g->nt) { /* nothing to drop: the name index stays as it is */
        free(used);
        return;
    }
    int *map = xmalloc(((size_t)g->nt + 1) * sizeof *map);
    int kept = 0;
    for (t = 0; t < g->nt; t++) {
        if (!used[t]) {
            free(g->t[t].name);
            free(g->t[t].data);
            quant_free(g->t[t].q);
            map[t] = -1;
            continue;
        }
        map[t] = kept;
        g->t[kept++] = g->t[t];
    }
    g->nt = kept;
    graph_reindex_tensors(g);
    renumber_tensors(g, map);
    free(map);
    free(used);
}
