/* norm_emit_grad.c: the training code of layernorm and groupnorm
 * (traingen): a forward that reads gamma and beta from the state (p0, p1)
 * and the backward of norm_grad.c, both in double over each group of each
 * of the n samples, statistics recomputed from the input; gamma's and
 * beta's gradients go through the emit kit (emit_pgrad_begin/end). */
#include "../ops.h"

/* Opens the loops over samples and groups; xg, gy, gx (when wanted) point
 * at the group's first value, stepping `I`; mean and rstd computed. */
static void open_group(Emit *e, const Node *n, const NormGeom *k, bool grad)
{
    long long N = k->n, I = k->inner, size = k->outer * N * I;
    emit_line(e, "for (int b = 0; b < n; b++)");
    emit_line(e, "for (int o = 0; o < %lld; o++)", (long long)k->outer);
    emit_line(e, "for (int i = 0; i < %lld; i++) {", I);
    emit_line(e, "const size_t at = (size_t)b * %lld + (size_t)o * %lld + i;", size, N * I);
    emit_line(e, "const float *xg = x0 + at;");
    if (grad) {
        emit_line(e, "const float *gy = dy + at;");
        if (emit_grad_needs_dx(e, 0))
            emit_line(e, "float *gx = dx0 + at;");
    } else {
        emit_line(e, "float *yg = y + at;");
    }
    emit_line(e, "double mean = 0, sq = 0, rstd;");
    emit_line(e, "for (int j = 0; j < %lld; j++)", N);
    emit_line(e, "    mean += xg[j * %lld];", I);
    emit_line(e, "mean /= %lld;", N);
    emit_line(e, "for (int j = 0; j < %lld; j++)", N);
    emit_line(e, "    sq += (xg[j * %lld] - mean) * (xg[j * %lld] - mean);", I, I);
    emit_line(e, "rstd = 1 / sqrt(sq / %lld + %s);", N, emit_float(e, n->a.eps));
}

/* The parameter index of value j of group o, as C. */
static const char *param_index(Emit *e, const NormGeom *k)
{
    if (!k->per_group)
        return "j";
    return emit_keep(e, xasprintf("(o * %lld + j) / %lld", (long long)k->n, (long long)k->span));
}

static bool affine(const Node *n)
{
    return n->nparam > 0 && n->param[0] >= 0;
}

void norm_emit_train(Emit *e, const Node *n)
{
    NormGeom k = norm_geometry(emit_graph(e), n);
    const char *p = param_index(e, &k);
    open_group(e, n, &k, false);
    emit_line(e, "for (int j = 0; j < %lld; j++) {", (long long)k.n);
    emit_line(e, "double v = (xg[j * %lld] - mean) * rstd;", (long long)k.inner);
    if (affine(n))
        emit_line(e, "v = v * p0[%s] + p1[%s];", p, p);
    emit_line(e, "yg[j * %lld] = (float)v;", (long long)k.inner);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The floats of gamma (and of beta). */
static int64_t param_count(Emit *e, const Node *n)
{
    return shape_numel(&emit_graph(e)->t[n->param[0]].shape);
}

/* The gradients of gamma and beta (slots 0 and 1), each one block of all
 * its floats, in scratch where this node steps them itself. */
static void begin_pgrads(Emit *e, const Node *n, bool dg, bool db)
{
    if (!dg && !db) /* nothing trainable (no affine: no parameters at all) */
        return;
    int64_t count = param_count(e, n);
    char beta_at[48];
    snprintf(beta_at, sizeof beta_at, "ws + %lld", (long long)plan_round_up(count));
    emit_train_scratch(e, plan_round_up(count) + count);
    if (dg)
        emit_pgrad_begin(e, 0, "ggamma", "0", "1", count, "ws");
    if (db)
        emit_pgrad_begin(e, 1, "gbeta", "0", "1", count, beta_at);
}

static void end_pgrads(Emit *e, const Node *n, bool dg, bool db)
{
    if (dg)
        emit_pgrad_end(e, 0, "ggamma", "0", "1", param_count(e, n));
    if (db)
        emit_pgrad_end(e, 1, "gbeta", "0", "1", param_count(e, n));
}

void norm_emit_grad(Emit *e, const Node *n)
{
    NormGeom k = norm_geometry(emit_graph(e), n);
    long long N = k.n, I = k.inner;
    const char *p = param_index(e, &k);
    const char *gamma = affine(n) ? emit_keep(e, xasprintf("p0[%s]", p)) : "1.0f";
    bool dx = emit_grad_needs_dx(e, 0);
    bool dg = affine(n) && emit_grad_has_dp(e, 0), db = affine(n) && emit_grad_has_dp(e, 1);
    begin_pgrads(e, n, dg, db);
    open_group(e, n, &k, true);
    emit_line(e, "double sg = 0, sgx = 0;");
    emit_line(e, "for (int j = 0; j < %lld; j++) {", N);
    emit_line(e, "const double xhat = (xg[j * %lld] - mean) * rstd;", I);
    if (dx) {
        emit_line(e, "const double g = gy[j * %lld] * %s;", I, gamma);
        emit_line(e, "sg += g;");
        emit_line(e, "sgx += g * xhat;");
    }
    if (dg)
        emit_line(e, "ggamma[%s] += (float)(gy[j * %lld] * xhat);", p, I);
    if (db)
        emit_line(e, "gbeta[%s] += gy[j * %lld];", p, I);
    emit_unused(e, "xhat");
    emit_line(e, "}");
    emit_unused(e, "sg");
    emit_unused(e, "sgx");
    if (dx) { /* gamma as it was: stepped after the loops */
        emit_line(e, "for (int j = 0; j < %lld; j++) {", N);
        emit_line(e, "const double xhat = (xg[j * %lld] - mean) * rstd, g = gy[j * %lld] * %s;",
                  I, I, gamma);
        emit_line(e, "gx[j * %lld] += (float)((g - sg / %lld - xhat * sgx / %lld) * rstd);", I, N,
                  N);
        emit_line(e, "}");
    }
    emit_line(e, "}");
    end_pgrads(e, n, dg, db);
}
