/* conv_emit.c: the forward emitter of conv (see conv.c for the formula), and
 * the padded copy it shares with the pad layer.
 *
 * Direct convolution, register-blocked. Weights are repacked at compile time
 * as [G][Fg/VB][Cg][KH][KW][VB] (zeros past Fg), so that for each input
 * cell the loop reads VB consecutive weights: XB output pixels of one row
 * times VB output channels accumulate in XB local arrays of VB floats that
 * the compiler keeps in vector registers, the innermost loop contiguous
 * over output channels. With one filter per group (depthwise) the
 * block is XB pixels in one array and the loop runs along the pixels. A 1x1
 * conv is the same loop, a GEMM. The kernel's taps are unrolled when there
 * are few of them. Padding never reaches the hot loop: the input is first
 * copied into scratch with its borders filled (zeros, reflection or the
 * edge), so every window reads real memory. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

enum {
    MAX_ACC = 64,        /* XB * VB accumulators: 8 AVX registers */
    MAX_UNROLL_TAPS = 25 /* KH*KW up to 5x5 is unrolled */
};

void emit_pad_copy(Emit *e, const char *dst, const char *src, int64_t c, int64_t h, int64_t w,
                   const int pad[4], PadMode mode)
{
    int pt = pad[0], pl = pad[1], pb = pad[2], pr = pad[3];
    int64_t hp = h + pt + pb, wp = w + pl + pr;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)c);
    emit_line(e, "const float *xc = %s + c * %lld;", src, (long long)(h * w));
    emit_line(e, "float *pc = %s + c * %lld;", dst, (long long)(hp * wp));
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)h);
    emit_line(e, "float *d = pc + (r + %d) * %lld;", pt, (long long)wp);
    emit_line(e, "memcpy(d + %d, xc + r * %lld, %lld * sizeof(float));", pl, (long long)w,
              (long long)w);
    if (mode == PAD_ZEROS) {
        if (pl)
            emit_line(e, "memset(d, 0, %d * sizeof(float));", pl);
        if (pr)
            emit_line(e, "memset(d + %lld, 0, %d * sizeof(float));", (long long)(pl + w), pr);
    } else {
        for (int j = 0; j < pl; j++)
            emit_line(e, "d[%d] = d[%lld];", j, (long long)(pl + pad_source(j - pl, w, mode)));
        for (int j = 0; j < pr; j++)
            emit_line(e, "d[%lld] = d[%lld];", (long long)(pl + w + j),
                      (long long)(pl + pad_source(w + j, w, mode)));
    }
    emit_line(e, "}");
    if (mode == PAD_ZEROS) {
        if (pt)
            emit_line(e, "memset(pc, 0, %lld * sizeof(float));", (long long)(pt * wp));
        if (pb)
            emit_line(e, "memset(pc + %lld, 0, %lld * sizeof(float));",
                      (long long)((pt + h) * wp), (long long)(pb * wp));
    } else {
        for (int i = 0; i < pt; i++)
            emit_line(e, "memcpy(pc + %lld, pc + %lld, %lld * sizeof(float));",
                      (long long)(i * wp), (long long)((pt + pad_source(i - pt, h, mode)) * wp),
                      (long long)wp);
        for (int i = 0; i < pb; i++)
            emit_line(e, "memcpy(pc + %lld, pc + %lld, %lld * sizeof(float));",
                      (long long)((pt + h + i) * wp),
                      (long long)((pt + pad_source(h + i, h, mode)) * wp), (long long)wp);
    }
    emit_line(e, "}");
}

typedef struct {
    ConvGeom k;
    int64_t cg, fg;   /* input channels and filters per group */
    int vb, xb, nfb;  /* output-channel block, pixel block, blocks per group */
    int64_t hp, wp;   /* the (padded) input's height and width */
    const char *x;    /* the (padded) input */
} ConvPlan;

/* [G][Fg/VB][Cg][KH][KW][VB] from PyTorch's [F][Cg][KH][KW]. Caller frees. */
static float *repack_weight(const ConvPlan *p, const float *w, int64_t *count)
{
    int64_t taps = (int64_t)p->k.kh * p->k.kw;
    *count = (int64_t)p->k.groups * p->nfb * p->cg * taps * p->vb;
    float *r = xcalloc((size_t)*count, sizeof *r);
    for (int64_t f = 0; f < p->k.f; f++) {
        int64_t g = f / p->fg, fb = f % p->fg / p->vb, v = f % p->fg % p->vb;
        for (int64_t c = 0; c < p->cg; c++)
            for (int64_t t = 0; t < taps; t++)
                r[(((g * p->nfb + fb) * p->cg + c) * taps + t) * p->vb + v] =
                    w[(f * p->cg + c) * taps + t];
    }
    return r;
}

static float *repack_bias(const ConvPlan *p, const float *b, int64_t *count)
{
    *count = (int64_t)p->k.groups * p->nfb * p->vb;
    float *r = xcalloc((size_t)*count, sizeof *r);
    for (int64_t f = 0; b && f < p->k.f; f++)
        r[(f / p->fg * p->nfb + f % p->fg / p->vb) * p->vb + f % p->fg % p->vb] = b[f];
    return r;
}

/* a_i[v] += x_i(tap) * w(tap)[v] for the block's xb pixels i: one loop
 * over the VB output channels, so the vectoriser works along v (weights
 * contiguous, each pixel's input a broadcast). */
static void emit_tap(Emit *e, const ConvPlan *p, int xb, const char *xoff, const char *woff)
{
    if (p->vb == 1) { /* one filter per group (depthwise): along the pixels */
        emit_line(e, "for (int i = 0; i < %d; i++)", xb);
        emit_line(e, "    acc[i] += xr[%s + i * %d] * wc[%s];", xoff, p->k.sw, woff);
        return;
    }
    emit_line(e, "for (int v = 0; v < %d; v++) {", p->vb);
    emit_line(e, "const float w = wc[%s + v];", woff);
    for (int i = 0; i < xb; i++)
        emit_line(e, "a%d[v] += xr[%s + %d] * w;", i, xoff, i * p->k.sw);
    emit_line(e, "}");
}

/* One block of xb output pixels (at row oy, column ox) times VB filters,
 * each pixel's VB sums in its own array a0, a1, ... (registers). */
static void emit_block(Emit *e, const ConvPlan *p, const Node *n, int xb, bool partial)
{
    const ConvGeom *k = &p->k;
    if (p->vb == 1) {
        emit_line(e, "float acc[%d];", xb);
        emit_line(e, "for (int i = 0; i < %d; i++)", xb);
        emit_line(e, "    acc[i] = bb[0];");
    } else {
        for (int i = 0; i < xb; i++)
            emit_line(e, "float a%d[%d];", i, p->vb);
        emit_line(e, "for (int v = 0; v < %d; v++) {", p->vb);
        for (int i = 0; i < xb; i++)
            emit_line(e, "a%d[v] = bb[v];", i);
        emit_line(e, "}");
    }
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xr = xg + c * %lld + oy * %lld + ox * %d;",
              (long long)(p->hp * p->wp), (long long)(k->sh * p->wp), k->sw);
    emit_line(e, "const float *wc = wb + c * %d;", k->kh * k->kw * p->vb);
    if (k->kh * k->kw <= MAX_UNROLL_TAPS) {
        for (int ky = 0; ky < k->kh; ky++)
            for (int kx = 0; kx < k->kw; kx++) {
                char xo[32], wo[32];
                snprintf(xo, sizeof xo, "%lld", (long long)(ky * k->dh * p->wp + kx * k->dw));
                snprintf(wo, sizeof wo, "%d", (ky * k->kw + kx) * p->vb);
                emit_tap(e, p, xb, xo, wo);
            }
    } else {
        emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
        emit_line(e, "for (int kx = 0; kx < %d; kx++) {", k->kw);
        char xo[64], wo[64];
        snprintf(xo, sizeof xo, "ky * %lld + kx * %d", (long long)(k->dh * p->wp), k->dw);
        snprintf(wo, sizeof wo, "(ky * %d + kx) * %d", k->kw, p->vb);
        emit_tap(e, p, xb, xo, wo);
        emit_line(e, "}");
    }
    emit_line(e, "}");
    if (p->vb == 1) {
        emit_line(e, "for (int i = 0; i < %d; i++)", xb);
        emit_line(e, "    yb[oy * %lld + ox + i] = %s;", (long long)k->ow,
                  emit_act(e, n->act, "acc[i]"));
        return;
    }
    emit_line(e, "for (int v = 0; v < %s; v++) {", partial ? "nv" : "VB");
    emit_line(e, "float *yv = yb + v * %lld + oy * %lld + ox;", (long long)(k->oh * k->ow),
              (long long)k->ow);
    for (int i = 0; i < xb; i++) {
        char v[16];
        snprintf(v, sizeof v, "a%d[v]", i);
        emit_line(e, "yv[%d] = %s;", i, emit_act(e, n->act, v));
    }
    emit_line(e, "}");
}

static ConvPlan conv_plan(Emit *e, const Node *n)
{
    ConvPlan p = {.k = conv_geometry(emit_graph(e), n)};
    p.cg = p.k.c / p.k.groups;
    p.fg = p.k.f / p.k.groups;
    p.vb = p.fg >= 16 ? 16 : p.fg >= 8 ? 8 : (int)p.fg;
    p.xb = MAX_ACC / p.vb < 8 ? MAX_ACC / p.vb : 8;
    if (p.xb > p.k.ow)
        p.xb = (int)p.k.ow;
    p.nfb = (int)((p.fg + p.vb - 1) / p.vb);
    p.hp = p.k.h + p.k.pt + p.k.pb;
    p.wp = p.k.w + p.k.pl + p.k.pr;
    p.x = "x0";
    return p;
}

void conv_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    ConvPlan p = conv_plan(e, n);
    const ConvGeom *k = &p.k;
    int64_t nw, nb;
    float *w = repack_weight(&p, node_param_data(g, n, 0), &nw);
    float *b = repack_bias(&p, n->a.bias ? node_param_data(g, n, 1) : NULL, &nb);
    char *wcomment = xasprintf("%s.weight [%lld,%lld,%d,%d] as [G=%d][F/G/VB=%d][C/G=%lld][%d][%d][VB=%d]",
                               n->name, (long long)k->f, (long long)p.cg, k->kh, k->kw, k->groups,
                               p.nfb, (long long)p.cg, k->kh, k->kw, p.vb);
    char *bcomment = xasprintf(n->a.bias ? "%s.bias, in blocks of VB" : "%s: no bias (zeros)",
                               n->name);
    const char *W = emit_const(e, "weight", wcomment, w, nw);
    const char *B = emit_const(e, "bias", bcomment, b, nb);
    free(wcomment);
    free(bcomment);
    free(w);
    free(b);
    if (k->pt || k->pl || k->pb || k->pr) {
        p.x = emit_scratch(e, k->c * p.hp * p.wp);
        emit_line(e, "/* the input with its padding, so windows need no bounds checks */");
        emit_pad_copy(e, p.x, "x0", k->c, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                      n->a.pad_mode);
    }
    emit_line(e, "enum { VB = %d }; /* output channels per block */", p.vb);
    emit_line(e, "for (int gi = 0; gi < %d; gi++)", k->groups);
    emit_line(e, "for (int fb = 0; fb < %d; fb++) {", p.nfb);
    emit_line(e, "const float *wb = %s + (gi * %d + fb) * %lld;", W, p.nfb,
              (long long)(p.cg * k->kh * k->kw * p.vb));
    emit_line(e, "const float *bb = %s + (gi * %d + fb) * VB;", B, p.nfb);
    emit_line(e, "const float *xg = %s + gi * %lld;", p.x, (long long)(p.cg * p.hp * p.wp));
    emit_line(e, "float *yb = y + (gi * %lld + fb * VB) * %lld;", (long long)p.fg,
              (long long)(k->oh * k->ow));
    bool partial = p.fg % p.vb != 0;
    if (partial)
        emit_line(e, "int nv = %lld - fb * VB < VB ? %lld - fb * VB : VB;", (long long)p.fg,
                  (long long)p.fg);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k->oh);
    emit_line(e, "int ox = 0;");
    emit_line(e, "for (; ox + %d <= %lld; ox += %d) {", p.xb, (long long)k->ow, p.xb);
    emit_block(e, &p, n, p.xb, partial);
    emit_line(e, "}");
    if (k->ow % p.xb) { /* the row's last pixels: one narrower block */
        emit_line(e, "{");
        emit_block(e, &p, n, (int)(k->ow % p.xb), partial);
        emit_line(e, "}");
    }
    emit_line(e, "}");
    emit_line(e, "}");
}
