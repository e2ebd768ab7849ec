/* conv_pw_emit.c: the forward kernel of a 1x1, stride-1, unpadded
 * convolution, a GEMM along the pixels (see below). */
#include "conv_emit.h"

#include <stdlib.h>

/* ---- 1x1, stride 1, no padding: a GEMM along the pixels ----
 *
 * Y[f][p] = b[f] + sum_c W[f][c] X[c][p] with the pixels contiguous in X
 * and Y (NCHW): a block is PB output channels x PW pixels, the sums a%d
 * (one array of PW pixels per channel); per input channel, PW consecutive
 * inputs times each channel's weight (a broadcast). Loads and stores are
 * contiguous, where the channel-blocked kernel above would scatter its
 * stores over VB planes. Weights [G][Fg/PB][Cg][PB]. */
enum { PW = 16, PB = 6 };

bool conv_is_pointwise(const ConvPlan *p)
{
    const ConvGeom *k = &p->k;
    return k->kh == 1 && k->kw == 1 && k->sh == 1 && k->sw == 1 && !k->pt && !k->pl && !k->pb &&
           !k->pr && p->np >= PW;
}

static float *repack_pointwise(const ConvPlan *p, const float *w, int64_t *count)
{
    int64_t nfb = (p->fg + PB - 1) / PB;
    *count = (int64_t)p->k.groups * nfb * p->cg * PB;
    float *r = xcalloc((size_t)*count, sizeof *r);
    for (int64_t f = 0; f < p->k.f; f++) {
        int64_t g = f / p->fg, fb = f % p->fg / PB, v = f % p->fg % PB;
        for (int64_t c = 0; c < p->cg; c++)
            r[((g * nfb + fb) * p->cg + c) * PB + v] = w[f * p->cg + c];
    }
    return r;
}

/* The stores of the plain path: act(a<f>[i] (+ residual)) into channel f's
 * row. */
static void emit_pw_store(Emit *e, const ConvPlan *p, const Node *n, int pw, bool partial)
{
    for (int f = 0; f < PB; f++) {
        if (partial)
            emit_line(e, "if (%d < nv)", f);
        emit_line(e, "for (int i = 0; i < %d; i++) {", pw);
        char v[16], at[48];
        snprintf(v, sizeof v, "a%d[i]", f);
        snprintf(at, sizeof at, "%lld + q + i", (long long)(f * p->np));
        emit_line(e, "yb[%s] = %s;", at, emit_act(e, n->act, conv_pre_act(e, p, v, at)));
        emit_line(e, "}");
    }
}

/* The vector path's block: the residual and the activation on the sums'
 * vectors, then straight to the output rows. */
static void emit_pw_vec_block(Emit *e, const ConvPlan *p, const Node *n, bool partial)
{
    for (int f = 0; f < PB; f++)
        for (int j = 0; j < PW / 8; j++)
            emit_line(e, "cnnc_v8 s%d_%d = (cnnc_v8){0} + bb[%d];", f, j, f);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xr = xg + c * %lld + q;", (long long)p->np);
    emit_line(e, "const float *wc = wb + c * %d;", PB);
    for (int j = 0; j < PW / 8; j++)
        emit_line(e, "const cnnc_v8 x%d = *(const cnnc_v8u *)(xr + %d);", j, 8 * j);
    for (int f = 0; f < PB; f++)
        for (int j = 0; j < PW / 8; j++)
            emit_line(e, "s%d_%d += x%d * wc[%d];", f, j, j, f);
    emit_line(e, "}");
    for (int f = 0; f < PB; f++) {
        emit_line(e, partial ? "if (%d < nv) {" : "{ /* channel %d */", f);
        emit_line(e, "float *yr = yb + %lld + q;", (long long)(f * p->np));
        for (int j = 0; j < PW / 8; j++) {
            char v[16];
            snprintf(v, sizeof v, "s%d_%d", f, j);
            if (p->res)
                emit_line(e, "%s += *(const cnnc_v8u *)(rb + %lld + q + %d);", v,
                          (long long)(f * p->np), 8 * j);
            bool done = conv_emit_vec_act(e, n->act, v, 8);
            emit_line(e, "*(cnnc_v8u *)(yr + %d) = %s;", 8 * j, v);
            if (!done) {
                emit_line(e, "for (int i = %d; i < %d; i++) {", 8 * j, 8 * j + 8);
                emit_line(e, "const float t = yr[i];");
                emit_line(e, "yr[i] = %s;", emit_act(e, n->act, "t"));
                emit_line(e, "}");
            }
        }
        emit_line(e, "}");
    }
}

/* One block of pw pixels at q; a full block (PW) also has the vector path. */
static void emit_pw_block(Emit *e, const ConvPlan *p, const Node *n, int pw, bool partial)
{
    if (pw == PW) {
        emit_line(e, "#if defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT)");
        emit_pw_vec_block(e, p, n, partial);
        emit_line(e, "#else");
    }
    for (int f = 0; f < PB; f++)
        emit_line(e, "float a%d[%d];", f, pw);
    emit_line(e, "for (int i = 0; i < %d; i++) {", pw);
    for (int f = 0; f < PB; f++)
        emit_line(e, "a%d[i] = bb[%d];", f, f);
    emit_line(e, "}");
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xr = xg + c * %lld + q;", (long long)p->np);
    emit_line(e, "const float *wc = wb + c * %d;", PB);
    emit_line(e, "for (int i = 0; i < %d; i++) {", pw);
    emit_line(e, "const float xv = xr[i];");
    for (int f = 0; f < PB; f++)
        emit_line(e, "a%d[i] += xv * wc[%d];", f, f);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_pw_store(e, p, n, pw, partial);
    if (pw == PW)
        emit_line(e, "#endif");
}

void conv_emit_pointwise(Emit *e, const ConvPlan *p, const Node *n)
{
    Graph *g = emit_graph(e);
    const ConvGeom *k = &p->k;
    int64_t nw, nb, nfb = (p->fg + PB - 1) / PB;
    ConvPlan bp = *p; /* the bias in blocks of PB */
    bp.vb = PB;
    bp.nfb = (int)nfb;
    float *w = repack_pointwise(p, node_param_data(g, n, 0), &nw);
    float *b = conv_repack_bias(&bp, n->a.bias ? node_param_data(g, n, 1) : NULL, &nb);
    char *wcomment = xasprintf("%s.weight [%lld,%lld,1,1] as [G=%d][F/G/PB=%lld][C/G=%lld][PB=%d]",
                               n->name, (long long)k->f, (long long)p->cg, k->groups,
                               (long long)nfb, (long long)p->cg, PB);
    char *bcomment = xasprintf(n->a.bias ? "%s.bias, in blocks of PB" : "%s: no bias (zeros)",
                               n->name);
    const char *W = emit_const(e, "weight", wcomment, w, nw);
    const char *B = emit_const(e, "bias", bcomment, b, nb);
    free(wcomment);
    free(bcomment);
    free(w);
    free(b);
    emit_line(e, "/* 1x1: a GEMM along the pixels, blocks of %d channels x %d pixels */", PB, PW);
    emit_line(e, "for (int gi = 0; gi < %d; gi++)", k->groups);
    emit_line(e, "for (int fb = 0; fb < %lld; fb++) {", (long long)nfb);
    emit_line(e, "const float *wb = %s + (gi * %lld + fb) * %lld;", W, (long long)nfb,
              (long long)(p->cg * PB));
    emit_line(e, "const float *bb = %s + (gi * %lld + fb) * %d;", B, (long long)nfb, PB);
    emit_line(e, "const float *xg = x0 + gi * %lld;", (long long)(p->cg * p->np));
    char *off = xasprintf("(gi * %lld + fb * %d) * %lld", (long long)p->fg, PB, (long long)p->np);
    conv_emit_out_ptrs(e, p, off);
    free(off);
    bool partial = p->fg % PB != 0;
    if (partial)
        emit_line(e, "int nv = %lld - fb * %d;", (long long)p->fg, PB);
    emit_line(e, "int q = 0;");
    emit_line(e, "for (; q + %d <= %lld; q += %d) {", PW, (long long)p->np, PW);
    emit_pw_block(e, p, n, PW, partial);
    emit_line(e, "}");
    if (p->np % PW) {
        emit_line(e, "{");
        emit_pw_block(e, p, n, (int)(p->np % PW), partial);
        emit_line(e, "}");
    }
    emit_line(e, "}");
}
