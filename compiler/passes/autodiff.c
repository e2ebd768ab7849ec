/* autodiff.c: the backward pass as a graph transform. Takes a shaped Graph
 * (fused or not); gives g->bw (cnnc.h): the loss node, one backward node
 * per forward node that needs one, and the gradient tensors they write,
 * decided here once for the interpreter (interp/grad.c), the code
 * generator (emit/emit_train.c) and the memory planner (plan/plan.c).
 *
 * Which tensors get a gradient: a tensor needs one when it depends on a
 * trainable parameter that is not frozen (forward, node by node) and its
 * gradient reaches the loss (backward from the logits). A node gets a
 * backward node when its output's gradient exists; it writes dL/dx for
 * the inputs that need one and dL/dp for its trainable parameters. Views
 * (flatten, reshape, identity) get none: their output's gradient is their
 * input's storage, as their value is. Frozen parameters get no gradient,
 * and nothing upstream of a frozen part does unless something else there
 * is trainable.
 *
 * The loss: mean softmax cross-entropy over the batch on the logits; when
 * the model's last node may be absorbed (OpInfo.fuses_with_loss: a softmax
 * over the classes), the loss reads that node's input instead and the
 * softmax gets no backward node (dL/dz = (softmax(z) - onehot) / N stays
 * exact where a probability underflows).
 *
 * Accumulation is explicit: the writes of each gradient tensor are in
 * execution order, the first zeroes it (or overwrites it), the last ends
 * it; a parameter takes its optimizer step after its last write (inside
 * the node when it has one writer). */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

int64_t loss_classes(const Graph *g)
{
    const Shape *s = &g->t[g->output].shape;
    char buf[64];
    int64_t rest = 1;
    for (int i = 1; i < s->rank; i++)
        rest *= s->d[i];
    if (s->rank < 1 || rest != 1) {
        diag_error((Loc){g->file, 0, 0},
                   "the cross-entropy loss needs one score per class, but the model's output "
                   "'%s' has shape %s (add flatten/dense or a global pool)",
                   g->t[g->output].name, shape_str(s, buf, sizeof buf));
        return -1;
    }
    return s->d[0];
}

static bool trainable(const Graph *g, int t)
{
    return t >= 0 && tensor_trainable(&g->t[t]);
}

/* The node the loss absorbs (the model's last, when its operator says it
 * may be), else -1. */
static int fused_node(const Graph *g)
{
    int p = g->t[g->output].producer;
    if (p < 0)
        return -1;
    const OpInfo *op = op_info(g->n[p].op);
    return op->fuses_with_loss && op->fuses_with_loss(g, &g->n[p]) ? p : -1;
}

/* needs[t]: forward tensor t depends on a trainable parameter. */
static bool *depends_on_trainable(const Graph *g)
{
    bool *needs = xcalloc((size_t)(g->nt ? g->nt : 1), sizeof *needs);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        bool any = false;
        for (int s = 0; s < n->nparam; s++)
            any |= trainable(g, n->param[s]);
        for (int j = 0; j < n->nin; j++)
            any |= needs[n->in[j]];
        needs[n->out] = any;
    }
    return needs;
}

/* root[t]: the tensor whose storage (and gradient) t shares, through views. */
static int *view_roots(const Graph *g)
{
    int *root = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *root);
    for (int t = 0; t < g->nt; t++)
        root[t] = t;
    for (int i = 0; i < g->nn; i++)
        if (backward_is_view(g, &g->n[i]))
            root[g->n[i].out] = root[g->n[i].in[0]];
    return root;
}

/* The gradient tensor of forward tensor t (created on first use). */
static int grad_tensor(Graph *g, Backward *bw, int t)
{
    if (bw->grad[t] >= 0)
        return bw->grad[t];
    char *name = xasprintf("%s.grad", g->t[t].name);
    int id = graph_add_tensor(g, name, T_GRAD, g->t[t].loc);
    free(name);
    g->t[id].shape = g->t[t].shape;
    g->t[id].grad_of = t;
    bw->grad[t] = id;
    return id;
}

/* What the node's backward reads, from its operator (all by default). */
static void record_saved(const Graph *g, const Node *n, GradNode *gn)
{
    bool *in = xcalloc((size_t)n->nin, sizeof *in), out = true;
    const OpInfo *op = op_info(n->op);
    if (op->grad_reads)
        op->grad_reads(g, n, gn, in, &out);
    else
        for (int j = 0; j < n->nin; j++)
            in[j] = true;
    gn->saved = xmalloc((size_t)(n->nin + 1) * sizeof *gn->saved);
    for (int j = 0; j < n->nin; j++) {
        bool seen = false;
        for (int k = 0; k < gn->nsaved; k++)
            seen |= gn->saved[k] == n->in[j];
        if (in[j] && !seen)
            gn->saved[gn->nsaved++] = n->in[j];
    }
    if (out)
        gn->saved[gn->nsaved++] = n->out;
    free(in);
}

/* The backward node of n, writing the gradients of the inputs that need
 * one (their storage's) and of its trainable parameters. */
static GradNode make_node(Graph *g, Backward *bw, int i, const bool *needs, const int *root,
                          bool *has)
{
    const Node *n = &g->n[i];
    GradNode gn = {.node = i, .dy = bw->grad[root[n->out]]};
    gn.dx = xmalloc((size_t)(n->nin ? n->nin : 1) * sizeof *gn.dx);
    for (int j = 0; j < n->nin; j++) {
        int r = root[n->in[j]];
        gn.dx[j] = (GradWrite){-1, false, false};
        if (needs[n->in[j]]) {
            gn.dx[j].t = grad_tensor(g, bw, r);
            has[r] = true;
        }
    }
    for (int s = 0; s < 4; s++) {
        gn.dp[s] = (GradWrite){-1, false, false};
        if (s < n->nparam && trainable(g, n->param[s]))
            gn.dp[s].t = grad_tensor(g, bw, n->param[s]);
    }
    record_saved(g, n, &gn);
    return gn;
}

/* The writes of backward node k: its inputs' gradients, then its
 * parameters'; NULL past the last. */
static GradWrite *write_at(const Graph *g, Backward *bw, int k, int slot)
{
    GradNode *gn = &bw->node[k];
    int nin = g->n[gn->node].nin;
    return slot < nin ? &gn->dx[slot] : slot < nin + 4 ? &gn->dp[slot - nin] : NULL;
}

/* first/last: the first and last write of each gradient tensor in
 * execution order (the loss's write of dL/dlogits comes first of all). */
static void mark_writes(const Graph *g, Backward *bw)
{
    int *first = xmalloc((size_t)g->nt * sizeof *first), *last = xmalloc((size_t)g->nt * sizeof *last);
    for (int t = 0; t < g->nt; t++)
        first[t] = last[t] = -1;
    if (bw->dlogits.t >= 0)
        first[bw->dlogits.t] = last[bw->dlogits.t] = 0;
    int seq = 1;
    for (int k = 0; k < bw->nnode; k++)
        for (int slot = 0; write_at(g, bw, k, slot); slot++, seq++) {
            int t = write_at(g, bw, k, slot)->t;
            if (t < 0)
                continue;
            if (first[t] < 0)
                first[t] = seq;
            last[t] = seq;
        }
    bw->dlogits.first = true;
    bw->dlogits.last = bw->dlogits.t >= 0 && last[bw->dlogits.t] == 0;
    seq = 1;
    for (int k = 0; k < bw->nnode; k++)
        for (int slot = 0; write_at(g, bw, k, slot); slot++, seq++) {
            GradWrite *w = write_at(g, bw, k, slot);
            w->first = w->t >= 0 && first[w->t] == seq;
            w->last = w->t >= 0 && last[w->t] == seq;
        }
    free(first);
    free(last);
}

/* Visits the forward nodes from the logits' producer back to the first,
 * giving a backward node to each whose output's gradient reaches the loss
 * and depends on a trainable parameter. */
static bool build_nodes(Graph *g, Backward *bw, const bool *needs, const int *root, bool *has)
{
    int cap = 0;
    for (int i = g->t[bw->logits].producer; i >= 0; i--) {
        const Node *n = &g->n[i];
        if (backward_is_view(g, n) || !needs[n->out] || !has[root[n->out]])
            continue;
        if (!op_info(n->op)->grad) {
            diag_error(n->loc, "%s '%s': this operator has no backward pass yet",
                       op_info(n->op)->name, n->name);
            return false;
        }
        grow_array(&bw->node, &cap, bw->nnode + 1, sizeof *bw->node);
        bw->node[bw->nnode++] = make_node(g, bw, i, needs, root, has);
    }
    return true;
}

bool autodiff(Graph *g)
{
    if (g->bw)
        return true;
    int64_t classes = loss_classes(g);
    if (classes < 0)
        return false;
    Backward *bw = xcalloc(1, sizeof *bw);
    bw->classes = classes;
    bw->fused = fused_node(g);
    bw->logits = bw->fused >= 0 ? g->n[bw->fused].in[0] : g->output;
    bw->nfwd_tensors = g->nt;
    bw->grad = xmalloc((size_t)(g->nt ? g->nt : 1) * sizeof *bw->grad);
    for (int t = 0; t < g->nt; t++)
        bw->grad[t] = -1;
    bw->dlogits.t = -1;
    bool *needs = depends_on_trainable(g), *has = xcalloc((size_t)(g->nt ? g->nt : 1), sizeof *has);
    int *root = view_roots(g);
    if (needs[bw->logits]) {
        bw->dlogits.t = grad_tensor(g, bw, root[bw->logits]);
        has[root[bw->logits]] = true;
    }
    bool ok = build_nodes(g, bw, needs, root, has);
    mark_writes(g, bw);
    free(needs);
    free(has);
    free(root);
    if (!ok) {
        backward_free(bw);
        return false;
    }
    g->bw = bw;
    return true;
}
