/* shape.c: shape inference. Takes a Graph in topological order whose input
 * tensor holds its per-sample shape; gives every activation its shape and
 * lets each node's shape rule (OpInfo.infer) declare its parameters and
 * resolve attributes ('same' padding, depthwise groups).
 *
 * After an error it goes on with the nodes that do not depend on the failed
 * one, so that one run reports every independent mistake; a node whose
 * inputs have no shape (rank 0) is skipped silently, its cause having been
 * reported already. */
#include "../cnnc.h"

#include <limits.h>

/* Activation and parameter sizes must fit an int64 (and every dimension an
 * int, which generated code and the attributes use) for the passes after
 * us. */
static bool check_size(const Graph *g, const Tensor *t, Loc loc)
{
    char buf[128];
    int64_t numel = 1;
    for (int i = 0; i < t->shape.rank; i++) {
        int64_t d = t->shape.d[i];
        if (d < 1 || d > INT_MAX) {
            diag_error(loc, "tensor '%s': dimension %d of shape %s is %s", t->name, i,
                       shape_str(&t->shape, buf, sizeof buf), d < 1 ? "below 1" : "too large");
            return false;
        }
        if (mul_overflows(numel, d, &numel)) {
            diag_error(loc, "tensor '%s': shape %s has too many elements", t->name,
                       shape_str(&t->shape, buf, sizeof buf));
            return false;
        }
    }
    return true;
}

static bool check_input(const Graph *g)
{
    if (g->input < 0 || g->input >= g->nt)
        internal_error("graph has no input");
    const Tensor *t = &g->t[g->input];
    char buf[128];
    if (t->shape.rank < 1 || t->shape.rank > 4) {
        diag_error(t->loc, "input '%s': shape %s is not C x H x W, C x L, C x D x H x W or F",
                   t->name,
                   shape_str(&t->shape, buf, sizeof buf));
        return false;
    }
    return check_size(g, t, t->loc);
}

static bool inputs_known(const Graph *g, const Node *n)
{
    for (int i = 0; i < n->nin; i++)
        if (g->t[n->in[i]].shape.rank == 0)
            return false;
    return true;
}

static bool infer_node(Graph *g, Node *n)
{
    const OpInfo *op = op_info(n->op);
    if (!op->infer) {
        diag_error(n->loc, "internal error: operator '%s' (layer '%s') has no shape rule",
                   op->name, n->name);
        return false;
    }
    int errors = diag_error_count();
    bool ok = op->infer(g, n);
    Tensor *out = &g->t[n->out];
    if (ok && out->shape.rank == 0) {
        diag_error(n->loc, "internal error: %s '%s': shape rule gave no shape", op->name, n->name);
        ok = false;
    } else if (!ok && diag_error_count() == errors) {
        diag_error(n->loc, "internal error: %s '%s': shape rule failed silently", op->name,
                   n->name);
    }
    ok = ok && check_size(g, out, n->loc);
    for (int i = 0; ok && i < n->nparam; i++)
        if (n->param[i] >= 0)
            ok = check_size(g, &g->t[n->param[i]], n->loc);
    if (!ok)
        out->shape.rank = 0; /* its consumers are skipped */
    return ok;
}

bool shape_infer(Graph *g)
{
    if (!check_input(g))
        return false;
    /* Shapes are recomputed from scratch, so that the pass may run again
     * after a transformation. */
    for (int i = 0; i < g->nn; i++)
        g->t[g->n[i].out].shape.rank = 0;
    bool ok = true;
    for (int i = 0; i < g->nn; i++) {
        Node *n = &g->n[i];
        if (n->nin < 1)
            internal_error("node '%s' has no input", n->name);
        if (inputs_known(g, n))
            ok &= infer_node(g, n);
        else
            ok = false;
    }
    return ok;
}
