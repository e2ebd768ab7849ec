/* plan.c: the static memory plan. Takes a shaped Graph; gives every
 * activation an offset in one arena (see cnnc.h for the rules).
 *
 * Aliasing first: a view's output is its input's storage, and an
 * elementwise node, or one whose operator says its kernels allow it (a
 * float depthwise conv), may write over an input that nobody reads
 * afterwards.
 * Then packing, greedy by size (largest first, as TFLite's planner): each
 * buffer takes the lowest offset that no already placed buffer with an
 * overlapping lifetime covers. Time is the node index: node i reads its
 * inputs and writes its output at step i; the graph input is defined at
 * step -1 and the output is read at step nn (the copy-out). */
#include "../cnnc.h"

#include <stdint.h>
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

/* Per root tensor, the last step at which its storage is read through
 * any activation aliased to it (-1 if never). Caller frees. */
static int *root_last_reads(const Graph *g, const int *root, const int *last)
{
    int *rl = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *rl);
    for (int t = 0; t < g->nt; t++)
        rl[t] = -1;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_ACT && last[t] > rl[root[t]])
            rl[root[t]] = last[t];
    return rl;
}

/* Merges tensor t into the storage of root r: r is then read until the
 * later of its own last read and t's (activations only; t is an output
 * nothing has aliased yet, so its own last read is all it brings). */
static void alias_to(const Graph *g, Plan *p, int *root_last, const int *last, int t, int r)
{
    p->root[t] = r;
    if (g->t[t].kind == T_ACT && last[t] > root_last[r])
        root_last[r] = last[t];
}

/* Whether node i's output may take root r's storage: the caller's input
 * is read-only, the graph output keeps storage of its own, r must die at
 * node i (through all its aliases) and hold the output's type. */
static bool may_take(const Graph *g, const int *root_last, int i, int r)
{
    const Node *n = &g->n[i];
    return r != g->input && n->out != g->output && root_last[r] == i &&
           tensor_dtype(&g->t[r]) == tensor_dtype(&g->t[n->out]);
}

/* The root an elementwise node i writes over: the first input of the
 * output's size (not a broadcast one) that may be taken; -1 if none. */
static int elementwise_target(const Graph *g, const Plan *p, const int *root_last, int i)
{
    const Node *n = &g->n[i];
    int64_t size = shape_numel(node_out_shape(g, n));
    for (int j = 0; j < n->nin; j++)
        if (shape_numel(&g->t[n->in[j]].shape) == size &&
            may_take(g, root_last, i, p->root[n->in[j]]))
            return p->root[n->in[j]];
    return -1;
}

/* The root node i's operator writes over (OpInfo.writes_over_input):
 * input 0's, when it may be taken, holds the whole output and no other
 * input reads the same storage; -1 if none. */
static int operator_target(const Graph *g, const Plan *p, const int *root_last, int i)
{
    const Node *n = &g->n[i];
    const OpInfo *info = op_info(n->op);
    if (!info->writes_over_input || n->nin < 1 || !info->writes_over_input(g, n))
        return -1;
    int r = p->root[n->in[0]];
    for (int j = 1; j < n->nin; j++)
        if (p->root[n->in[j]] == r)
            return -1;
    if (shape_numel(node_out_shape(g, n)) > shape_numel(&g->t[r].shape))
        return -1;
    return may_take(g, root_last, i, r) ? r : -1;
}

/* One pass in node order, each node's aliasing decided from what the
 * nodes before it aliased: root_last[r] is the last step at which root
 * r's storage is read through any tensor aliased to it so far. */
static void alias_roots(const Graph *g, Plan *p, bool operator_in_place)
{
    int *last = last_reads(g);
    int *root_last = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *root_last);
    p->root = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *p->root);
    for (int t = 0; t < g->nt; t++) {
        p->root[t] = t;
        root_last[t] = g->t[t].kind == T_ACT ? last[t] : -1;
    }
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        unsigned traits = op_info(n->op)->traits;
        int r = (traits & OPT_VIEW) && n->nin == 1 ? p->root[n->in[0]]
                : traits & OPT_ELEMENTWISE         ? elementwise_target(g, p, root_last, i)
                : operator_in_place                ? operator_target(g, p, root_last, i)
                                                   : -1;
        if (r >= 0)
            alias_to(g, p, root_last, last, n->out, r);
    }
    free(root_last);
    free(last);
}

void plan_alias(const Graph *g, Plan *p)
{
    p->hidden = NULL; /* no fused blocks unless the emitter says so */
    p->read_until = NULL;
    alias_roots(g, p, true);
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

/* The placed buffers, indexed so that a buffer meets only those that can
 * matter: a short-lived one (at most SHORT_SPAN steps) in a list per first
 * step, a long-lived one in a list kept sorted by offset. A chain of layers
 * then packs in linear time. A graph where most buffers live long (training
 * keeps activations for backward) still compares each buffer with every
 * long one placed before it, since those really do overlap each other, but
 * it is a merge over a sorted list, not a sort per buffer. */
enum { SHORT_SPAN = 64 };

typedef struct {
    int lo;              /* the earliest step of any buffer */
    int *head;           /* per step: the last placed short buffer starting there, or -1 */
    int *next;           /* per buffer: the next short buffer of its step, or -1 */
    int *longs, nlong;   /* the placed long-lived buffers, by offset */
} PlacedIndex;

static PlacedIndex index_new(const Buf *bufs, int nb)
{
    int lo = 0, hi = 0;
    for (int i = 0; i < nb; i++) {
        lo = bufs[i].first < lo ? bufs[i].first : lo;
        hi = bufs[i].last > hi ? bufs[i].last : hi;
    }
    PlacedIndex x = {lo, xmalloc((size_t)(hi - lo + 1) * sizeof(int)),
                     xmalloc((size_t)(nb + 1) * sizeof(int)),
                     xmalloc((size_t)(nb + 1) * sizeof(int)), 0};
    for (int s = 0; s <= hi - lo; s++)
        x.head[s] = -1;
    return x;
}

static void index_free(PlacedIndex *x)
{
    free(x->head);
    free(x->next);
    free(x->longs);
}

static bool is_long(const Buf *b)
{
    return b->last - b->first >= SHORT_SPAN;
}

/* Files placed buffer i: a long one after the longs at or below its offset. */
static void index_add(PlacedIndex *x, const Buf *bufs, int i)
{
    if (is_long(&bufs[i])) {
        int lo = 0, hi = x->nlong;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (bufs[x->longs[mid]].offset <= bufs[i].offset)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(&x->longs[lo + 1], &x->longs[lo], (size_t)(x->nlong - lo) * sizeof(int));
        x->longs[lo] = i;
        x->nlong++;
        return;
    }
    x->next[i] = x->head[bufs[i].first - x->lo];
    x->head[bufs[i].first - x->lo] = i;
}

static bool live_together(const Buf *a, const Buf *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* The placed short buffers live at some step of b's lifetime, into tmp by
 * offset; how many. */
static int short_overlapping(const Buf *b, Buf *placed, const PlacedIndex *x, Buf **tmp)
{
    int k = 0;
    int from = b->first - SHORT_SPAN + 1 > x->lo ? b->first - SHORT_SPAN + 1 : x->lo;
    for (int s = from; s <= b->last; s++)
        for (int j = x->head[s - x->lo]; j >= 0; j = x->next[j])
            if (b->first <= placed[j].last)
                tmp[k++] = &placed[j];
    qsort(tmp, (size_t)k, sizeof *tmp, by_offset);
    return k;
}

/* The lowest offset where b fits between the placed buffers live with it:
 * the short ones and the long ones merged in offset order (the order of
 * equal offsets does not change the answer). */
static int64_t place(Buf *b, Buf *placed, const PlacedIndex *x, Buf **tmp)
{
    int k = short_overlapping(b, placed, x, tmp);
    int64_t at = 0;
    for (int i = 0, l = 0; i < k || l < x->nlong;) {
        const Buf *o;
        if (l < x->nlong && (i == k || placed[x->longs[l]].offset <= tmp[i]->offset))
            o = &placed[x->longs[l++]];
        else
            o = tmp[i++];
        if (o->offset >= at + b->size)
            break;
        if (live_together(o, b) && o->offset + o->size > at)
            at = o->offset + o->size;
    }
    return at;
}

/* The most floats live at once over steps [-1, steps], and the first step
 * where that many are (into *at, if given): a sweep over the steps, each
 * buffer adding its size where it starts and taking it off after its last
 * step. */
static int64_t live_peak(const Buf *bufs, int nb, int steps, int *at)
{
    int64_t *delta = xcalloc((size_t)steps + 3, sizeof *delta);
    for (int i = 0; i < nb; i++) {
        delta[bufs[i].first + 1] += bufs[i].size;
        delta[bufs[i].last + 2] -= bufs[i].size;
    }
    int64_t best = -1, sum = 0;
    for (int s = -1; s <= steps; s++) {
        sum += delta[s + 1];
        if (sum > best) {
            best = sum;
            if (at)
                *at = s;
        }
    }
    free(delta);
    return best;
}

/* The buffers of the inference arena's root activations (the graph input
 * is the caller's), each live from its producer to its last read through
 * any alias; returns how many. */
static int activation_bufs(const Graph *g, const Plan *p, int64_t samples, Buf *bufs)
{
    int *lastr = last_reads(g), *root_last = root_last_reads(g, p->root, lastr);
    int nb = 0;
    for (int t = 0; t < g->nt; t++)
        if (p->read_until && p->read_until[t] > root_last[p->root[t]])
            root_last[p->root[t]] = p->read_until[t];
    for (int t = 0; t < g->nt; t++) {
        if (g->t[t].kind != T_ACT || p->root[t] != t || t == g->input ||
            (p->hidden && p->hidden[t]))
            continue;
        int first = g->t[t].producer;
        int last = root_last[t];
        if (last < first)
            last = first; /* written, never read: still needs its bytes */
        bufs[nb++] = (Buf){t, plan_round_up(tensor_floats(&g->t[t], samples)), first, last, 0};
    }
    free(root_last);
    free(lastr);
    return nb;
}

/* Places bufs (lowest offset first, several orders, the smallest arena
 * kept: the first one on a tie); returns the arena's floats and leaves
 * the winning offsets in bufs. */
static int64_t pack(Buf *bufs, int nb)
{
    /* Greedy placement is not optimal for every order; try a few and keep
     * the smallest arena (the first one on a tie: deterministic). */
    static int (*const orders[])(const void *, const void *) = {by_size_desc, by_area_desc,
                                                                 by_first_use};
    Buf **tmp = xmalloc((size_t)(nb + 1) * sizeof *tmp);
    Buf *best = xmalloc((size_t)(nb + 1) * sizeof *best);
    int64_t arena = -1;
    for (size_t k = 0; k < sizeof orders / sizeof *orders; k++) {
        qsort(bufs, (size_t)nb, sizeof *bufs, orders[k]);
        int64_t size = 0;
        PlacedIndex placed = index_new(bufs, nb);
        for (int i = 0; i < nb; i++) {
            bufs[i].offset = place(&bufs[i], bufs, &placed, tmp);
            index_add(&placed, bufs, i);
            if (bufs[i].offset + bufs[i].size > size)
                size = bufs[i].offset + bufs[i].size;
        }
        index_free(&placed);
        if (arena < 0 || size < arena) {
            arena = size;
            memcpy(best, bufs, (size_t)nb * sizeof *bufs);
        }
    }
    memcpy(bufs, best, (size_t)nb * sizeof *bufs);
    free(best);
    free(tmp);
    return arena;
}

/* Offsets from the placed buffers: tensors (ids >= 0) and per-step
 * scratch (ids -(step + 1)); aliases take their root's. */
static void set_offsets(const Graph *g, const Buf *bufs, int nb, int nsteps, Plan *p)
{
    p->offset = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *p->offset);
    p->scratch_offset = xmalloc((size_t)(nsteps ? nsteps : 1) * sizeof *p->scratch_offset);
    for (int t = 0; t < g->nt; t++)
        p->offset[t] = -1;
    for (int i = 0; i < nsteps; i++)
        p->scratch_offset[i] = -1;
    for (int i = 0; i < nb; i++) {
        if (bufs[i].id >= 0)
            p->offset[bufs[i].id] = bufs[i].offset;
        else
            p->scratch_offset[-bufs[i].id - 1] = bufs[i].offset;
    }
    for (int t = 0; t < g->nt; t++)
        if (p->root[t] != t)
            p->offset[t] = p->offset[p->root[t]];
}

void plan_pack(const Graph *g, const int64_t *scratch, int64_t samples, Plan *p)
{
    Buf *bufs = xmalloc((size_t)(g->nt + g->nn + 1) * sizeof *bufs);
    int nb = activation_bufs(g, p, samples, bufs);
    for (int i = 0; scratch && i < g->nn; i++)
        if (scratch[i] > 0)
            bufs[nb++] = (Buf){-(i + 1), plan_round_up(scratch[i]), i, i, 0};
    p->arena_floats = pack(bufs, nb);
    p->bound_floats = live_peak(bufs, nb, g->nn, NULL);
    set_offsets(g, bufs, nb, g->nn, p);
    free(bufs);
}

/* ---- the training plan: forward, loss and backward over one arena ---- */

/* Extends b's lifetime to step s. */
static void live_at(Buf *b, int s)
{
    if (b->first > s)
        b->first = s;
    if (b->last < s)
        b->last = s;
}

/* A parameter's gradient written by one node only: that node steps the
 * parameter as it goes and keeps no full gradient in the arena. */
static bool sole_writer(const Graph *g, int t)
{
    const Backward *bw = g->bw;
    for (int k = 0; k < bw->nnode; k++)
        for (int s = 0; s < 4; s++)
            if (bw->node[k].dp[s].t == t)
                return bw->node[k].dp[s].first && bw->node[k].dp[s].last;
    return true;
}

/* The bytes of each storage root, and when it is live: the forward writes
 * and reads, the loss (logits, the graph output for P_train_forward's copy,
 * dL/dlogits), and each backward node's dy, saved tensors and writes. */
static void train_lifetimes(const Graph *g, const int *root, int64_t batch, Buf *by_root)
{
    const Backward *bw = g->bw;
    int loss = g->nn;
    for (int t = 0; t < g->nt; t++)
        by_root[t] = (Buf){t, 0, INT32_MAX, -1, 0};
    for (int i = 0; i < g->nn; i++) {
        for (int j = 0; j < g->n[i].nin; j++)
            live_at(&by_root[root[g->n[i].in[j]]], i);
        live_at(&by_root[root[g->n[i].out]], i);
    }
    live_at(&by_root[root[g->output]], loss);
    live_at(&by_root[root[bw->logits]], loss);
    if (bw->dlogits.t >= 0)
        live_at(&by_root[bw->dlogits.t], loss);
    for (int k = 0; k < bw->nnode; k++) {
        const GradNode *gn = &bw->node[k];
        const Node *n = &g->n[gn->node];
        int step = loss + 1 + k;
        live_at(&by_root[gn->dy], step);
        for (int i = 0; i < gn->nsaved; i++)
            live_at(&by_root[root[gn->saved[i]]], step);
        for (int j = 0; j < n->nin; j++)
            if (gn->dx[j].t >= 0)
                live_at(&by_root[gn->dx[j].t], step);
        for (int s = 0; s < 4; s++)
            if (gn->dp[s].t >= 0)
                live_at(&by_root[gn->dp[s].t], step);
    }
    for (int t = 0; t < g->nt; t++) {
        const Tensor *x = &g->t[t];
        bool act = x->kind == T_ACT || (x->kind == T_GRAD && g->t[x->grad_of].kind == T_ACT);
        if (root[t] != t || t == g->input || by_root[t].last < 0)
            by_root[t].size = 0;
        else if (act) /* an int8 backbone's activations: a byte an element */
            by_root[t].size = plan_round_up(tensor_floats(x, batch));
        else if (x->kind == T_GRAD && !sole_writer(g, t))
            by_root[t].size = plan_round_up(shape_numel(&x->shape));
    }
}

void plan_train(const Graph *g, const int64_t *scratch, int64_t batch, Plan *p)
{
    int nsteps = g->nn + 1 + g->bw->nnode;
    p->root = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *p->root);
    for (int t = 0; t < g->nt; t++)
        p->root[t] = t;
    for (int i = 0; i < g->nn; i++)
        if (backward_is_view(g, &g->n[i]))
            p->root[g->n[i].out] = p->root[g->n[i].in[0]];
    Buf *by_root = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *by_root);
    Buf *bufs = xmalloc((size_t)(g->nt + nsteps + 1) * sizeof *bufs);
    int nb = 0;
    train_lifetimes(g, p->root, batch, by_root);
    for (int t = 0; t < g->nt; t++)
        if (by_root[t].size > 0)
            bufs[nb++] = by_root[t];
    for (int i = 0; i < nsteps; i++)
        if (scratch[i] > 0)
            bufs[nb++] = (Buf){-(i + 1), plan_round_up(scratch[i]), i, i, 0};
    p->arena_floats = pack(bufs, nb);
    p->bound_floats = live_peak(bufs, nb, nsteps, NULL);
    set_offsets(g, bufs, nb, nsteps, p);
    free(bufs);
    free(by_root);
}

void plan_free(Plan *p)
{
    free(p->root);
    free(p->offset);
    free(p->scratch_offset);
    free(p->hidden);
    free(p->read_until);
    memset(p, 0, sizeof *p);
}

int64_t plan_peak(const Graph *g, const Plan *p, int64_t samples, int *step, bool *live)
{
    Buf *bufs = xmalloc((size_t)(g->nt + 1) * sizeof *bufs);
    int nb = activation_bufs(g, p, samples, bufs);
    int64_t best = live_peak(bufs, nb, g->nn, step);
    for (int t = 0; t < g->nt; t++)
        live[t] = false;
    for (int i = 0; i < nb; i++)
        live[bufs[i].id] = bufs[i].first <= *step && *step <= bufs[i].last;
    free(bufs);
    return best;
}

/* ---- the layer-wise liveness bound (cnnc info) ---- */

/* What running the graph one layer at a time needs at least: at every step
 * the sum of the activations live there, where a layer's output has bytes
 * of its own apart from its inputs (views and elementwise layers excepted:
 * they share storage by nature), with no scratch. Going below it takes
 * what one layer at a time cannot: a layer writing over its input
 * (in-place depthwise) or a fused block whose middle tensor never exists. */
int64_t plan_layer_bound(const Graph *g, int64_t samples)
{
    Plan p = {0};
    alias_roots(g, &p, false);
    Buf *bufs = xmalloc((size_t)(g->nt + 1) * sizeof *bufs);
    int nb = activation_bufs(g, &p, samples, bufs);
    int64_t floats = live_peak(bufs, nb, g->nn, NULL);
    free(bufs);
    plan_free(&p);
    return floats;
}
