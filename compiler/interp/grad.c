/* grad.c: the reference backward pass. Takes a shaped Graph with data, a
 * batch of inputs and class labels; gives the mean softmax cross-entropy
 * and dLoss/dParameter for every trainable parameter, the oracle the
 * generated training code is checked against (contract, `cnnc grad`).
 *
 * It runs the Graph as autodiff (passes/autodiff.c) extended it, in order:
 * the forward nodes in training mode (interp_forward keeps every
 * activation), the loss node, then the backward nodes, each calling its
 * forward node's OpInfo.grad. Which gradients exist, which write comes
 * first (and zeroes the tensor) and which input the loss reads are the
 * IR's, not decided here. Plain rather than frugal: every gradient has its
 * own buffer for the whole run. */
#include "../cnnc.h"
#include "npy.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* The forward and the loss: fills *a and returns true, or false after an
 * error. dlogits (if not NULL) receives dLoss/dlogits. */
static bool forward_loss(Graph *g, const float *input, const int32_t *labels, int batch,
                         bool keep_stats, Loc labels_loc, Activations *a, double *loss,
                         float *dlogits)
{
    if (!autodiff(g) || !check_labels(labels, batch, g->bw->classes, labels_loc))
        return false;
    float **saved = save_buffers(g);
    *a = interp_forward(g, input, batch, true);
    restore_buffers(g, saved, !keep_stats);
    if (!a->val)
        return false;
    /* The runtime's loss, so that the generated training code and this
     * reference compute it with the same expressions. */
    *loss = cnnc_softmax_xent(a->val[g->bw->logits], labels, batch, (int)g->bw->classes, dlogits);
    return true;
}

bool interp_loss(Graph *g, const float *input, const int32_t *labels, int batch,
                 Loc labels_loc, double *loss)
{
    Activations a = {0};
    bool ok = forward_loss(g, input, labels, batch, false, labels_loc, &a, loss, NULL);
    interp_free(g, &a);
    return ok;
}

/* Floats of gradient tensor t: a batch of an activation's, or a
 * parameter's. */
static int64_t grad_floats(const Graph *g, int t, int batch)
{
    int of = g->t[t].grad_of;
    int64_t n = shape_numel(&g->t[t].shape);
    return g->t[of].kind == T_ACT ? n * batch : n;
}

/* The buffer of gradient tensor w->t, zeroed at its first write. */
static float *written(const Graph *g, float **gv, const GradWrite *w, int batch)
{
    if (w->t < 0)
        return NULL;
    if (w->first) {
        free(gv[w->t]);
        gv[w->t] = xcalloc((size_t)grad_floats(g, w->t, batch), sizeof(float));
    }
    return gv[w->t];
}

/* One backward node: its forward node's OpInfo.grad adds into the
 * gradients the node writes. */
static void run_backward_node(const Graph *g, const GradNode *gn, const Activations *a, float **gv)
{
    const Node *n = &g->n[gn->node];
    const float **in = xmalloc((size_t)(n->nin ? n->nin : 1) * sizeof *in);
    float **din = xmalloc((size_t)(n->nin ? n->nin : 1) * sizeof *din);
    float *dp[4];
    for (int j = 0; j < n->nin; j++) {
        in[j] = a->val[n->in[j]];
        din[j] = written(g, gv, &gn->dx[j], a->batch);
    }
    for (int s = 0; s < 4; s++)
        dp[s] = written(g, gv, &gn->dp[s], a->batch);
    op_info(n->op)->grad(g, n, in, a->val[n->out], gv[gn->dy], din, dp, a->batch);
    free(in);
    free(din);
}

bool interp_grad(Graph *g, const float *input, const int32_t *labels, int batch,
                 bool keep_stats, Loc labels_loc, Grads *out)
{
    out->loss = 0;
    out->dparam = NULL;
    if (!autodiff(g))
        return false;
    const Backward *bw = g->bw;
    float **gv = xcalloc((size_t)g->nt, sizeof *gv);
    Activations a = {0};
    float *dlogits = written(g, gv, &bw->dlogits, batch);
    bool ok = forward_loss(g, input, labels, batch, keep_stats, labels_loc, &a, &out->loss,
                           dlogits);
    for (int k = 0; ok && k < bw->nnode; k++)
        run_backward_node(g, &bw->node[k], &a, gv);
    interp_free(g, &a);
    if (ok) {
        out->dparam = xcalloc((size_t)g->nt, sizeof *out->dparam);
        for (int t = 0; t < bw->nfwd_tensors; t++) {
            if (g->t[t].kind != T_PARAM || g->t[t].frozen)
                continue;
            if (bw->grad[t] < 0) /* trainable, but no gradient reaches it: zero */
                out->dparam[t] = xcalloc((size_t)shape_numel(&g->t[t].shape), sizeof(float));
            else
                out->dparam[t] = gv[bw->grad[t]], gv[bw->grad[t]] = NULL;
        }
    }
    for (int t = 0; t < g->nt; t++)
        free(gv[t]);
    free(gv);
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
