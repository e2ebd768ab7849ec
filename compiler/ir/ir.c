/* ir.c: building and querying the graph IR (see cnnc.h for its invariants). */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

int64_t shape_numel(const Shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->d[i];
    return n;
}

bool shape_broadcast(const Shape *a, const Shape *b, Shape *out)
{
    Shape s = {a->rank > b->rank ? a->rank : b->rank, {0}};
    for (int i = 0; i < s.rank; i++) {
        int ia = i - (s.rank - a->rank), ib = i - (s.rank - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return false;
        s.d[i] = da == 1 ? db : da;
    }
    *out = s;
    return true;
}

int64_t shape_broadcast_index(const Shape *x, const Shape *s, const int64_t *idx)
{
    int64_t at = 0, stride = 1;
    for (int i = x->rank - 1; i >= 0; i--) {
        int oi = i + s->rank - x->rank;
        if (x->d[i] != 1)
            at += idx[oi] * stride;
        stride *= x->d[i];
    }
    return at;
}

bool shape_eq(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return false;
    return true;
}

Shape shape_make(int rank, const int64_t *d)
{
    Shape s = {.rank = rank};
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

char *shape_str(const Shape *s, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    if (s->rank == 0)
        snprintf(buf, size, "scalar");
    for (int i = 0; i < s->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? "x%lld" : "%lld", (long long)s->d[i]);
    return buf;
}

void shape_chw(const Shape *s, int64_t *c, int64_t *h, int64_t *w)
{
    *c = s->rank > 0 ? s->d[0] : 1;
    *w = s->rank > 1 ? s->d[s->rank - 1] : 1;
    *h = 1;
    for (int i = 1; i < s->rank - 1; i++)
        *h *= s->d[i];
}

void shape_cdhw(const Shape *s, int64_t *c, int64_t *d, int64_t *h, int64_t *w)
{
    *d = s->rank > 3 ? s->d[1] : 1;
    shape_chw(s, c, h, w);
    *h /= *d;
}

Graph *graph_new(const char *file)
{
    Graph *g = xcalloc(1, sizeof *g);
    g->file = file;
    g->input = g->output = -1;
    return g;
}

void graph_free(Graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nt; i++) {
        free(g->t[i].name);
        free(g->t[i].data);
        quant_free(g->t[i].q);
    }
    for (int i = 0; i < g->nn; i++) {
        free(g->n[i].name);
        free(g->n[i].in);
    }
    free(g->t);
    free(g->n);
    name_map_free(&g->tensor_index);
    for (int i = 0; i < g->nalias; i++)
        free(g->alias[i]);
    free(g->alias);
    free(g->alias_of);
    backward_free(g->bw);
    free(g->name);
    free(g->mean);
    free(g->std);
    free(g);
}

int graph_add_tensor(Graph *g, const char *name, TensorKind kind, Loc loc)
{
    grow_array(&g->t, &g->tcap, g->nt + 1, sizeof *g->t);
    Tensor *t = &g->t[g->nt];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->kind = kind;
    t->producer = -1;
    t->loc = loc;
    int first;
    name_map_add(&g->tensor_index, t->name, g->nt, &first);
    return g->nt++;
}

void graph_add_alias(Graph *g, const char *name, int t)
{
    g->alias = xrealloc(g->alias, (size_t)(g->nalias + 1) * sizeof *g->alias);
    g->alias_of = xrealloc(g->alias_of, (size_t)(g->nalias + 1) * sizeof *g->alias_of);
    g->alias[g->nalias] = xstrdup(name);
    g->alias_of[g->nalias++] = t;
}

int graph_find_activation(const Graph *g, const char *name)
{
    int t = graph_find_tensor(g, name);
    if (t >= 0 && g->t[t].kind == T_ACT)
        return t;
    for (int i = 0; i < g->nalias; i++)
        if (g->alias_of[i] >= 0 && strcmp(g->alias[i], name) == 0)
            return g->alias_of[i];
    return -1;
}

const char *graph_activation_name(const Graph *g, int t)
{
    for (int i = 0; i < g->nalias; i++)
        if (g->alias_of[i] == t)
            return g->alias[i];
    return g->t[t].name;
}

int graph_find_tensor(const Graph *g, const char *name)
{
    int slot = name_map_slot(&g->tensor_index, name);
    return slot < 0 ? -1 : g->tensor_index.val[slot];
}

void graph_reindex_tensors(Graph *g)
{
    name_map_free(&g->tensor_index);
    int first;
    for (int t = 0; t < g->nt; t++)
        name_map_add(&g->tensor_index, g->t[t].name, t, &first);
}

int graph_add_node(Graph *g, int op, const char *name, Loc loc, const int *in, int nin)
{
    grow_array(&g->n, &g->ncap, g->nn + 1, sizeof *g->n);
    int id = g->nn++;
    Node *n = &g->n[id];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = xstrdup(name);
    n->loc = loc;
    n->in = xmalloc((size_t)(nin ? nin : 1) * sizeof *n->in);
    memcpy(n->in, in, (size_t)nin * sizeof *in);
    n->nin = nin;
    n->a.groups = 1;
    n->a.bias = true;
    for (int i = 0; i < 2; i++)
        n->a.kernel[i] = n->a.stride[i] = n->a.dilation[i] = 1;
    n->a.kernel_d = n->a.stride_d = n->a.dilation_d = 1;
    for (int i = 0; i < 4; i++)
        n->param[i] = -1;
    n->out = graph_add_tensor(g, name, T_ACT, loc);
    g->t[n->out].producer = id;
    return id;
}

bool graph_param(Graph *g, Node *n, int slot, const char *suffix, TensorKind kind,
                 const Shape *shape, InitKind init)
{
    char want[128], have[128];
    if (n->param[slot] >= 0) {
        Tensor *t = &g->t[n->param[slot]];
        t->bias = strcmp(suffix, "bias") == 0;
        if (!shape_eq(&t->shape, shape)) {
            diag_error(n->loc, "%s '%s': %s '%s' has shape %s, expected %s", op_info(n->op)->name,
                       n->name, suffix, t->name, shape_str(&t->shape, have, sizeof have),
                       shape_str(shape, want, sizeof want));
            return false;
        }
        return true;
    }
    char *name = xasprintf("%s.%s", n->name, suffix);
    int id = graph_add_tensor(g, name, kind, n->loc);
    free(name);
    g->t[id].shape = *shape;
    g->t[id].init = init;
    g->t[id].frozen = n->frozen && kind == T_PARAM;
    g->t[id].bias = strcmp(suffix, "bias") == 0;
    n->param[slot] = id;
    if (n->nparam <= slot)
        n->nparam = slot + 1;
    return true;
}

int graph_consumers(const Graph *g, int t, int *out, int max)
{
    int k = 0;
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            if (g->n[i].in[j] == t) {
                if (k < max)
                    out[k] = i;
                k++;
                break;
            }
    return k;
}

bool *graph_ancestors(const Graph *g, int t)
{
    bool *ancestor = xcalloc((size_t)g->nn + 1, sizeof *ancestor);
    bool *needed = xcalloc((size_t)g->nt + 1, sizeof *needed);
    needed[t] = true;
    for (int i = g->nn - 1; i >= 0; i--) {
        const Node *n = &g->n[i];
        if (!needed[n->out])
            continue;
        ancestor[i] = true;
        for (int j = 0; j < n->nin; j++)
            needed[n->in[j]] = true;
    }
    free(needed);
    return ancestor;
}

int64_t node_param_count(const Graph *g, const Node *n)
{
    int64_t count = 0;
    for (int i = 0; i < n->nparam; i++) {
        if (n->param[i] < 0)
            continue;
        const Tensor *t = &g->t[n->param[i]];
        if (t->kind == T_PARAM)
            count += shape_numel(&t->shape);
    }
    return count;
}

Act node_epilogue(const Node *n)
{
    return op_info(n->op)->traits & OPT_HAS_ACT ? n->act : (Act){ACT_NONE, 0, 0};
}

const OpInfo *op_info(int op)
{
    static const OpInfo *const table[OP_COUNT] = {
#define OP(ID, name, traits) [OP_##ID] = &op_##name,
#include "../ops.def"
#undef OP
    };
    if (op < 0 || op >= OP_COUNT)
        internal_error("bad operator %d", op);
    return table[op];
}

const Shape *node_in_shape(const Graph *g, const Node *n, int i)
{
    return &g->t[n->in[i]].shape;
}

const Shape *node_out_shape(const Graph *g, const Node *n)
{
    return &g->t[n->out].shape;
}

const float *node_param_data(const Graph *g, const Node *n, int slot)
{
    if (slot >= n->nparam || n->param[slot] < 0)
        return NULL;
    return g->t[n->param[slot]].data;
}

/* Kahn's algorithm, stable: among ready nodes, source order wins. */
/* A min-heap of node indices: Kahn's algorithm taking the lowest-index
 * ready node first keeps the source order wherever the edges allow. */
typedef struct {
    int *v, n;
} Heap;

static void heap_push(Heap *h, int x)
{
    int i = h->n++;
    for (; i > 0 && h->v[(i - 1) / 2] > x; i = (i - 1) / 2)
        h->v[i] = h->v[(i - 1) / 2];
    h->v[i] = x;
}

static int heap_pop(Heap *h)
{
    int top = h->v[0], x = h->v[--h->n], i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c])
            c++;
        if (x <= h->v[c])
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = x;
    return top;
}

/* The readers of each tensor as one array: readers[first[t] .. first[t+1]). */
static int *reader_lists(const Graph *g, int **first_out)
{
    int *first = xcalloc((size_t)g->nt + 2, sizeof *first);
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            first[g->n[i].in[j] + 2]++;
    for (int t = 0; t < g->nt; t++)
        first[t + 2] += first[t + 1];
    int *readers = xmalloc(((size_t)first[g->nt + 1] + 1) * sizeof *readers);
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++)
            readers[first[g->n[i].in[j] + 1]++] = i;
    *first_out = first; /* first[t] now starts tensor t's readers */
    return readers;
}

bool graph_toposort(Graph *g)
{
    int *first, *readers = reader_lists(g, &first);
    int *waiting = xcalloc((size_t)g->nn + 1, sizeof *waiting); /* unready inputs */
    Heap ready = {xmalloc(((size_t)g->nn + 1) * sizeof(int)), 0};
    Node *sorted = xmalloc(((size_t)g->nn + 1) * sizeof *sorted);
    int placed = 0;
    for (int i = 0; i < g->nn; i++) {
        for (int j = 0; j < g->n[i].nin; j++)
            waiting[i] += g->t[g->n[i].in[j]].producer >= 0;
        if (!waiting[i])
            heap_push(&ready, i);
    }
    while (ready.n) {
        int i = heap_pop(&ready), out = g->n[i].out;
        sorted[placed++] = g->n[i];
        for (int k = first[out]; k < first[out + 1]; k++)
            if (--waiting[readers[k]] == 0)
                heap_push(&ready, readers[k]);
    }
    bool ok = placed == g->nn;
    if (!ok) {
        for (int i = 0; i < g->nn; i++)
            if (waiting[i]) {
                diag_error(g->n[i].loc, "layer '%s' is part of a cycle", g->n[i].name);
                break;
            }
    } else {
        memcpy(g->n, sorted, (size_t)g->nn * sizeof *sorted);
        for (int i = 0; i < g->nn; i++)
            g->t[g->n[i].out].producer = i;
    }
    free(sorted);
    free(ready.v);
    free(waiting);
    free(readers);
    free(first);
    return ok;
}

void graph_verify(const Graph *g)
{
    if (g->input < 0 || g->input >= g->nt || g->output < 0 || g->output >= g->nt)
        internal_error("graph has no input or output");
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (n->out < 0 || n->out >= g->nt || g->t[n->out].producer != i)
            internal_error("node '%s': output not linked", n->name);
        for (int j = 0; j < n->nin; j++) {
            int t = n->in[j];
            if (t < 0 || t >= g->nt || g->t[t].kind != T_ACT)
                internal_error("node '%s': input %d is not an activation", n->name, j);
            if (g->t[t].producer >= i)
                internal_error("node '%s': not in topological order", n->name);
        }
    }
    if (g->bw)
        backward_verify(g);
}
