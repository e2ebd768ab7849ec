/* batchnorm_emit_grad.c: BatchNorm's training code (traingen). Forward:
 * mode 0 normalises with the running statistics (p2, p3); modes 1 and 2
 * with the batch's (biased variance, in double, as batchnorm.c), and mode
 * 2 (a training step) also moves the running statistics as PyTorch does
 * (unbiased variance). Backward: batchnorm_grad.c's formulas. */
#include "../ops.h"

/* Opens the per-channel loop and computes mean and inv_std of channel c. */
static void emit_stats(Emit *e, long long ch, long long plane)
{
    emit_line(e, "int b, c, p;");
    emit_line(e, "for (c = 0; c < %lld; c++) {", ch);
    emit_line(e, "double sum = 0, sq = 0, mean, var;");
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "    for (p = 0; p < %lld; p++)", plane);
    emit_line(e, "        sum += x0[((size_t)b * %lld + c) * %lld + p];", ch, plane);
    emit_line(e, "mean = sum / ((double)n * %lld);", plane);
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "    for (p = 0; p < %lld; p++) {", plane);
    emit_line(e, "        double d = x0[((size_t)b * %lld + c) * %lld + p] - mean;", ch, plane);
    emit_line(e, "        sq += d * d;");
    emit_line(e, "    }");
    emit_line(e, "var = sq / ((double)n * %lld);", plane);
}

void batchnorm_emit_train(Emit *e, const Node *n)
{
    const Shape *s = node_out_shape(emit_graph(e), n);
    long long ch = s->d[0], plane = shape_numel(s) / ch;
    emit_stats(e, ch, plane);
    emit_line(e, "if (mode == 0) {");
    emit_line(e, "mean = p2[c];");
    emit_line(e, "var = p3[c];");
    emit_line(e, "} else if (mode == 2) {");
    emit_line(e, "double m = (double)n * %lld, unbiased = m > 1 ? var * m / (m - 1) : var;", plane);
    emit_line(e, "p2[c] = (float)((1 - %s) * p2[c] + %s * mean);", emit_float(e, n->a.momentum),
              emit_float(e, n->a.momentum));
    emit_line(e, "p3[c] = (float)((1 - %s) * p3[c] + %s * unbiased);", emit_float(e, n->a.momentum),
              emit_float(e, n->a.momentum));
    emit_line(e, "}");
    emit_line(e, "{");
    emit_line(e, "double scale = p0[c] / sqrt(var + %s);", emit_float(e, n->a.eps));
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "    for (p = 0; p < %lld; p++) {", plane);
    emit_line(e, "        size_t i = ((size_t)b * %lld + c) * %lld + p;", ch, plane);
    emit_line(e, "        float v = (float)((x0[i] - mean) * scale + p1[c]);");
    emit_line(e, "        y[i] = %s;", emit_act(e, n->act, "v"));
    emit_line(e, "    }");
    emit_line(e, "}");
    emit_line(e, "}");
}

void batchnorm_emit_grad(Emit *e, const Node *n)
{
    const Shape *s = node_out_shape(emit_graph(e), n);
    long long ch = s->d[0], plane = shape_numel(s) / ch;
    bool dg = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    char chs[32], beta_at[48];
    snprintf(chs, sizeof chs, "%lld", ch);
    snprintf(beta_at, sizeof beta_at, "ws + %lld", (long long)plan_round_up(ch));
    emit_grad_epilogue(e, n, ch * plane);
    if (dg || db)
        emit_train_scratch(e, plan_round_up(ch) + ch);
    if (dg)
        emit_pgrad_begin(e, 0, "ggamma", "0", chs, 1, "ws");
    if (db)
        emit_pgrad_begin(e, 1, "gbeta", "0", chs, 1, beta_at);
    emit_stats(e, ch, plane);
    emit_line(e, "{");
    emit_line(e, "double m = (double)n * %lld, inv_std = 1 / sqrt(var + %s), gsum = 0, gxhat = 0;",
              plane, emit_float(e, n->a.eps));
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "    for (p = 0; p < %lld; p++) {", plane);
    emit_line(e, "        size_t i = ((size_t)b * %lld + c) * %lld + p;", ch, plane);
    emit_line(e, "        gsum += dy[i];");
    emit_line(e, "        gxhat += dy[i] * (x0[i] - mean) * inv_std;");
    emit_line(e, "    }");
    if (dg)
        emit_line(e, "ggamma[c] += (float)gxhat;");
    if (db)
        emit_line(e, "gbeta[c] += (float)gsum;");
    if (emit_grad_needs_dx(e, 0)) { /* gamma as it was: stepped after the loop */
        emit_line(e, "for (b = 0; b < n; b++)");
        emit_line(e, "    for (p = 0; p < %lld; p++) {", plane);
        emit_line(e, "        size_t i = ((size_t)b * %lld + c) * %lld + p;", ch, plane);
        emit_line(e, "        double xhat = (x0[i] - mean) * inv_std;");
        emit_line(e, "        dx0[i] += (float)(p0[c] * inv_std * (dy[i] - gsum / m - xhat * gxhat / m));");
        emit_line(e, "    }");
    }
    emit_line(e, "(void)m;");
    emit_line(e, "}");
    emit_line(e, "}");
    if (dg)
        emit_pgrad_end(e, 0, "ggamma", "0", chs, 1);
    if (db)
        emit_pgrad_end(e, 1, "gbeta", "0", chs, 1);
}
