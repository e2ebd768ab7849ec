/* plan.c: the static memory plan. Takes a shaped Graph; gives every
 * activation an offset in one arena (see cnnc.h for the rules).
 *
 * Aliasing first: a view's output is its input's storage, and an
 * elementwise node may write over an input that nobody reads afterwards.
 * Then packing, greedy by size (largest first, as TFLite's planner): each
 * buffer takes the lowest offset that no already placed buffer with an
 * overlapping lifetime covers. Time is the node index: node i reads its
 * inputs and writes its output at step i; the graph input is defined at
 * step -1 and the output is read at step nn (the copy-out). */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int id;             /* root tensor, or -(node+1) for a node's scratch */
    int64_t size;       /* floats, rounded up to the alignment */
    int first, last;    /* live over steps [first, last] */
    int64_t offset;
} Buf;

int64_t plan_round_up(int64_t n)
{
    return (n + PLAN_ALIGN_FLOATS - 1) / PLAN_ALIGN_FLOATS * PLAN_ALIGN_FLOATS;
}

/* Per tensor, the last step at which it is read (nn for the graph output,
 * -1 if never). Caller frees. */
static int *last_reads(const Graph *g)
{
    int *last = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *last);
    for (int t = 0; t < g->nt; t++)
        last[t] = t == g->output ? g->nn : -1;
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            if (last[g->n[i].in[j]] < i)
                last[g->n[i].in[j]] = i;
    return last;
}

/* The last step at which the storage of root r is read, through any of the
 * tensors [0, upto) that alias it. */
static int root_last_read(const Graph *g, const int *root, const int *last, int r, int upto)
{
    int l = -1;
    for (int t = 0; t < upto; t++)
        if (g->t[t].kind == T_ACT && root[t] == r && last[t] > l)
            l = last[t];
    return l;
}

void plan_alias(const Graph *g, Plan *p)
{
    int *last = last_reads(g);
    p->root = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *p->root);
    for (int t = 0; t < g->nt; t++)
        p->root[t] = t;
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        unsigned traits = op_info(n->op)->traits;
        if ((traits & OPT_VIEW) && n->nin == 1) {
            p->root[n->out] = p->root[n->in[0]];
            continue;
        }
        if (!(traits & OPT_ELEMENTWISE))
            continue;
        int64_t size = shape_numel(node_out_shape(g, n));
        for (int j = 0; j < n->nin; j++) {
            int r = p->root[n->in[j]];
            /* The caller's input is read-only; the output must outlive
             * the node; the input must die here (all its aliases too). */
            if (r == g->input || n->out == g->output)
                continue;
            if (shape_numel(&g->t[r].shape) != size ||
                tensor_dtype(&g->t[r]) != tensor_dtype(&g->t[n->out]))
                continue;
            if (root_last_read(g, p->root, last, r, g->nt) != i)
                continue;
            p->root[n->out] = r;
            break;
        }
    }
    free(last);
}

static int by_size_desc(const void *a, const void *b)
{
    const Buf *x = a, *y = b;
    if (x->size != y->size)
        return x->size > y->size ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id; /* deterministic */
}

static int by_first_use(const void *a, const void *b)
{
    const Buf *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    return by_size_desc(a, b);
}

static int by_area_desc(const void *a, const void *b)
{
    const Buf *x = a, *y = b;
    int64_t ax = x->size * (x->last - x->first + 1), ay = y->size * (y->last - y->first + 1);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return by_size_desc(a, b);
}

static int by_offset(const void *a, const void *b)
{
    const Buf *x = *(const Buf *const *)a, *y = *(const Buf *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The lowest offset where b fits between the placed buffers live with it. */
static int64_t place(Buf *b, Buf *placed, int nplaced, Buf **tmp)
{
    int k = 0;
    for (int i = 0; i < nplaced; i++)
        if (placed[i].first <= b->last && b->first <= placed[i].last)
            tmp[k++] = &placed[i];
    qsort(tmp, (size_t)k, sizeof *tmp, by_offset);
    int64_t at = 0;
    for (int i = 0; i < k; i++) {
        if (tmp[i]->offset >= at + b->size)
            break;
        if (tmp[i]->offset + tmp[i]->size > at)
            at = tmp[i]->offset + tmp[i]->size;
    }
    return at;
}

static int64_t lower_bound(const Buf *bufs, int nb, int steps)
{
    int64_t best = 0;
    for (int s = -1; s <= steps; s++) {
        int64_t sum = 0;
        for (int i = 0; i < nb; i++)
            if (bufs[i].first <= s && s <= bufs[i].last)
                sum += bufs[i].size;
        if (sum > best)
            best = sum;
    }
    return best;
}

void plan_pack(const Graph *g, const int64_t *scratch, int64_t samples, Plan *p)
{
    int *lastr = last_reads(g);
    Buf *bufs = xmalloc((size_t)(g->nt + g->nn + 1) * sizeof *bufs);
    int nb = 0;
    for (int t = 0; t < g->nt; t++) {
        if (g->t[t].kind != T_ACT || p->root[t] != t || t == g->input)
            continue;
        int first = g->t[t].producer;
        int last = root_last_read(g, p->root, lastr, t, g->nt);
        if (last < first)
            last = first; /* written, never read: still needs its bytes */
        bufs[nb++] = (Buf){t, plan_round_up(tensor_floats(&g->t[t], samples)), first, last, 0};
    }
    for (int i = 0; scratch && i < g->nn; i++)
        if (scratch[i] > 0)
            bufs[nb++] = (Buf){-(i + 1), plan_round_up(scratch[i]), i, i, 0};
    /* Greedy placement is not optimal for every order; try a few and keep
     * the smallest arena (the first one on a tie: deterministic). */
    static int (*const orders[])(const void *, const void *) = {by_size_desc, by_area_desc,
                                                                 by_first_use};
    Buf **tmp = xmalloc((size_t)(nb + 1) * sizeof *tmp);
    Buf *best = xmalloc((size_t)(nb + 1) * sizeof *best);
    p->arena_floats = -1;
    for (size_t k = 0; k < sizeof orders / sizeof *orders; k++) {
        qsort(bufs, (size_t)nb, sizeof *bufs, orders[k]);
        int64_t size = 0;
        for (int i = 0; i < nb; i++) {
            bufs[i].offset = place(&bufs[i], bufs, i, tmp);
            if (bufs[i].offset + bufs[i].size > size)
                size = bufs[i].offset + bufs[i].size;
        }
        if (p->arena_floats < 0 || size < p->arena_floats) {
            p->arena_floats = size;
            memcpy(best, bufs, (size_t)nb * sizeof *bufs);
        }
    }
    memcpy(bufs, best, (size_t)nb * sizeof *bufs);
    free(best);
    p->bound_floats = lower_bound(bufs, nb, g->nn);
    p->offset = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *p->offset);
    p->scratch_offset = xmalloc((size_t)(g->nn ? g->nn : 1) * sizeof *p->scratch_offset);
    for (int t = 0; t < g->nt; t++)
        p->offset[t] = -1;
    for (int i = 0; i < g->nn; i++)
        p->scratch_offset[i] = -1;
    for (int i = 0; i < nb; i++) {
        if (bufs[i].id >= 0)
            p->offset[bufs[i].id] = bufs[i].offset;
        else
            p->scratch_offset[-bufs[i].id - 1] = bufs[i].offset;
    }
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_ACT)
            p->offset[t] = p->offset[p->root[t]];
    free(tmp);
    free(bufs);
    free(lastr);
}

void plan_free(Plan *p)
{
    free(p->root);
    free(p->offset);
    free(p->scratch_offset);
    memset(p, 0, sizeof *p);
}

int64_t plan_peak(const Graph *g, const Plan *p, int64_t samples, int *step, bool *live)
{
    int *lastr = last_reads(g);
    int64_t best = -1;
    *step = -1;
    for (int s = -1; s <= g->nn; s++) {
        int64_t sum = 0;
        for (int t = 0; t < g->nt; t++) {
            if (g->t[t].kind != T_ACT || p->root[t] != t || t == g->input)
                continue;
            int first = g->t[t].producer, last = root_last_read(g, p->root, lastr, t, g->nt);
            if (first <= s && s <= (last > first ? last : first))
                sum += plan_round_up(tensor_floats(&g->t[t], samples));
        }
        if (sum > best) {
            best = sum;
            *step = s;
        }
    }
    for (int t = 0; t < g->nt; t++) {
        int first = g->t[t].producer, last = root_last_read(g, p->root, lastr, t, g->nt);
        live[t] = g->t[t].kind == T_ACT && p->root[t] == t && t != g->input && first <= *step &&
                  *step <= (last > first ? last : first);
    }
    free(lastr);
    return best;
}
