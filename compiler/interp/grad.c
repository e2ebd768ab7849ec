/* grad.c: the reference backward pass. Takes a shaped Graph with data, a
 * batch of inputs and class labels; gives the mean softmax cross-entropy
 * and dLoss/dParameter for every trainable parameter (T_PARAM), the oracle
 * the generated training code is checked against (contract, `cnnc grad`).
 *
 * Reverse mode over the node list: interp_forward (training mode) keeps
 * every activation; the loss seeds dL/d(logits); nodes are then visited
 * last to first, each OpInfo.grad adding into the gradients of its inputs
 * and parameters. A tensor read by several nodes thus sums their
 * contributions before its producer runs (topological order guarantees
 * every consumer comes later in the list). Only activations downstream of
 * a parameter get a gradient buffer: the input's gradient is never needed.
 *
 * A model ending in softmax over its classes is differentiated fused with
 * the loss: loss = logsumexp(z) - z[y] on the softmax's input z, and
 * dL/dz = (softmax(z) - onehot(y)) / N, which stays exact where the
 * probabilities underflow. */
#include "../cnnc.h"
#include "npy.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The node whose input holds the logits when the model ends in a softmax
 * over the class axis, else -1. */
static int fused_softmax(const Graph *g)
{
    int p = g->t[g->output].producer;
    if (p < 0 || g->n[p].op != OP_SOFTMAX || g->n[p].a.axis != 0)
        return -1;
    return p;
}

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

static bool check_labels(const int32_t *labels, int batch, int64_t classes, Loc where)
{
    for (int i = 0; i < batch; i++)
        if (labels[i] < 0 || labels[i] >= classes) {
            diag_error(where, "label %d at index %d is outside [0, %lld)", (int)labels[i], i,
                       (long long)classes);
            return false;
        }
    return true;
}

/* The buffers (BatchNorm running statistics) as they were, to undo the
 * training-mode forward's update. */
static float **save_buffers(const Graph *g)
{
    float **saved = xcalloc((size_t)g->nt, sizeof *saved);
    for (int i = 0; i < g->nt; i++)
        if (g->t[i].kind == T_BUFFER && g->t[i].data) {
            size_t bytes = (size_t)shape_numel(&g->t[i].shape) * sizeof(float);
            saved[i] = xmalloc(bytes);
            memcpy(saved[i], g->t[i].data, bytes);
        }
    return saved;
}

static void restore_buffers(Graph *g, float **saved, bool restore)
{
    for (int i = 0; i < g->nt; i++) {
        if (saved[i] && restore)
            memcpy(g->t[i].data, saved[i], (size_t)shape_numel(&g->t[i].shape) * sizeof(float));
        free(saved[i]);
    }
    free(saved);
}

/* The forward, the logits and the loss: fills *a and returns the logits'
 * tensor id, or -1 after an error. */
static int forward_loss(Graph *g, const float *input, const int32_t *labels, int batch,
                        bool keep_stats, Loc labels_loc, Activations *a, double *loss, float **dz)
{
    int64_t k = loss_classes(g);
    if (k < 0 || !check_labels(labels, batch, k, labels_loc))
        return -1;
    float **saved = save_buffers(g);
    *a = interp_forward(g, input, batch, true);
    restore_buffers(g, saved, !keep_stats);
    if (!a->val)
        return -1;
    int sm = fused_softmax(g);
    int logits = sm >= 0 ? g->n[sm].in[0] : g->output;
    if (dz)
        *dz = xmalloc((size_t)(batch * k) * sizeof **dz);
    /* The runtime's loss, so that the generated training code and this
     * reference compute it with the same expressions. */
    *loss = cnnc_softmax_xent(a->val[logits], labels, batch, (int)k, dz ? *dz : NULL);
    return logits;
}

bool interp_loss(Graph *g, const float *input, const int32_t *labels, int batch,
                 Loc labels_loc, double *loss)
{
    Activations a = {0};
    int logits = forward_loss(g, input, labels, batch, false, labels_loc, &a, loss, NULL);
    interp_free(g, &a);
    return logits >= 0;
}

/* needs[t]: tensor t depends on a trainable parameter, so its gradient
 * flows somewhere useful. */
static bool *needs_grad(const Graph *g)
{
    bool *needs = xcalloc((size_t)g->nt, sizeof *needs);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        bool any = false;
        for (int s = 0; s < n->nparam; s++)
            any |= n->param[s] >= 0 && g->t[n->param[s]].kind == T_PARAM;
        for (int j = 0; j < n->nin; j++)
            any |= needs[n->in[j]];
        needs[n->out] = any;
    }
    return needs;
}

static bool backward_node(const Graph *g, const Node *n, const Activations *a, float **dt,
                          float **dparam)
{
    const OpInfo *op = op_info(n->op);
    if (!op->grad) {
        diag_error(n->loc, "%s '%s': this operator has no backward pass yet", op->name, n->name);
        return false;
    }
    const float **in = xmalloc((size_t)n->nin * sizeof *in);
    float **din = xmalloc((size_t)n->nin * sizeof *din);
    float *dp[4] = {NULL, NULL, NULL, NULL};
    for (int j = 0; j < n->nin; j++) {
        in[j] = a->val[n->in[j]];
        din[j] = dt[n->in[j]];
    }
    for (int s = 0; s < n->nparam && s < 4; s++)
        if (n->param[s] >= 0)
            dp[s] = dparam[n->param[s]];
    op->grad(g, n, in, a->val[n->out], dt[n->out], din, dp, a->batch);
    free(in);
    free(din);
    return true;
}

/* Visits nodes last to first from dL/d(logits); the fused softmax, if
 * any, is already accounted for by the loss. */
static bool backward(const Graph *g, const Activations *a, int logits, float *dz, float **dparam)
{
    bool *needs = needs_grad(g);
    float **dt = xcalloc((size_t)g->nt, sizeof *dt);
    for (int t = 0; t < g->nt; t++)
        if (needs[t] && t != logits)
            dt[t] = xcalloc((size_t)(a->batch * shape_numel(&g->t[t].shape)), sizeof(float));
    dt[logits] = dz;
    int last = g->t[logits].producer;
    bool ok = true;
    for (int i = last; i >= 0 && ok; i--)
        if (needs[g->n[i].out])
            ok = backward_node(g, &g->n[i], a, dt, dparam);
    for (int t = 0; t < g->nt; t++)
        free(dt[t]);
    free(dt);
    free(needs);
    return ok;
}

bool interp_grad(Graph *g, const float *input, const int32_t *labels, int batch,
                 bool keep_stats, Loc labels_loc, Grads *out)
{
    out->loss = 0;
    out->dparam = xcalloc((size_t)g->nt, sizeof *out->dparam);
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM)
            out->dparam[t] = xcalloc((size_t)shape_numel(&g->t[t].shape), sizeof(float));
    Activations a = {0};
    float *dz = NULL;
    int logits = forward_loss(g, input, labels, batch, keep_stats, labels_loc, &a, &out->loss, &dz);
    bool ok = logits >= 0;
    if (ok && g->t[logits].producer >= 0)
        ok = backward(g, &a, logits, dz, out->dparam);
    else
        free(dz);
    interp_free(g, &a);
    if (!ok)
        grads_free(g, out);
    return ok;
}

void grads_free(const Graph *g, Grads *gr)
{
    if (gr->dparam)
        for (int t = 0; t < g->nt; t++)
            free(gr->dparam[t]);
    free(gr->dparam);
    gr->dparam = NULL;
}

static bool save_one(const char *path, const float *data, int rank, const int64_t *shape)
{
    char err[CNNC_NPY_ERR_SIZE];
    if (cnnc_npy_write_f32(path, data, rank, shape, err, sizeof err) == 0)
        return true;
    diag_error((Loc){path, 0, 0}, "%s", err);
    return false;
}

bool grads_save_dir(const Graph *g, const Grads *gr, const char *dir)
{
    if (!make_dirs(dir))
        return false;
    size_t n = strlen(dir) + sizeof "/loss.npy";
    char *path = xmalloc(n);
    snprintf(path, n, "%s/loss.npy", dir);
    float loss = (float)gr->loss;
    bool ok = save_one(path, &loss, 0, NULL);
    free(path);
    for (int t = 0; t < g->nt && ok; t++) {
        if (!gr->dparam[t])
            continue;
        size_t len = cnnc_npy_param_path(dir, g->t[t].name, NULL, 0);
        path = xmalloc(len + 1);
        cnnc_npy_param_path(dir, g->t[t].name, path, len + 1);
        ok = save_one(path, gr->dparam[t], g->t[t].shape.rank, g->t[t].shape.d);
        free(path);
    }
    return ok;
}
