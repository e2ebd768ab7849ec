/* conv_int8_emit.c: the integer conv's generated kernels (see conv_int8.c
 * for the arithmetic), plain C99 with every shape a literal and the
 * weights packed at compile time in the order the loops read them:
 *
 * - general: per group, output pixels two at a time, each one's receptive
 *   field gathered (im2col) into Cg*KH*KW contiguous bytes of scratch, then
 *   dotted with two filters' weight rows at a time ([F][Cg*KH*KW]):
 *   four int32 sums (cnnc_dot22, kit/qmath.c: AVX-512 VNNI or AVX2 where
 *   the compiler targets it, plain C else);
 * - pointwise (1x1, stride 1, unpadded; dense layers too): no gather, the
 *   weight rows [F][Cg] times the input's planes [Cg][H*W], two filters by
 *   sixteen pixels (cnnc_pw2x16: VNNI or AVX2 where the compiler targets
 *   it), then four, then one; a dense layer's one pixel by cnnc_dot22.
 *
 * Padding never reaches the loops: the input is first copied into scratch
 * with a border of the input's zero point (or reflected, replicated). These
 * are the host's kernels and the microcontrollers' for what the blocked
 * ones (conv_int8_blocked.c, Arm DSP's SMLAD) do not take; depthwise layers
 * have a kernel of their own on every profile (conv_int8_dw.c). */
#include "conv_int8.h"

#include <stdlib.h>

/* The requantization of output channel `f` (a C expression) of sum a. */
static const char *rq(Emit *e, const ConvQ *q, const char *a, const char *f)
{
    return emit_keep(e, xasprintf("cnnc_rq8(%s, MS[2 * (%s)], MS[2 * (%s) + 1], %ld, %ld, %ld)",
                                  a, f, f, (long)q->zy, (long)q->lo, (long)q->hi));
}

static bool padded(const ConvGeom *k)
{
    return k->pt || k->pl || k->pb || k->pr;
}

/* Copies pixel `p`'s receptive field from the group's planes xg into dst. */
static void emit_gather(Emit *e, const ConvQ *q, const char *dst, const char *p, int64_t hp,
                        int64_t wp)
{
    const ConvGeom *k = &q->k;
    emit_line(e, "{");
    emit_line(e, "const int8_t *xb = xg + (%s) / %lld * %lld + (%s) %% %lld * %d;", p,
              (long long)k->ow, (long long)(k->sh * wp), p, (long long)k->ow, k->sw);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)q->cg);
    emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
    if (k->dw == 1) {
        emit_line(e, "    memcpy(%s + (c * %d + ky) * %d, xb + c * %lld + ky * %lld, %d);", dst,
                  k->kh, k->kw, (long long)(hp * wp), (long long)(k->dh * wp), k->kw);
    } else {
        emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
        emit_line(e, "    %s[(c * %d + ky) * %d + kx] = xb[c * %lld + ky * %lld + kx * %d];", dst,
                  k->kh, k->kw, (long long)(hp * wp), (long long)(k->dh * wp), k->dw);
    }
    emit_line(e, "}");
}

/* nf (1 or 2) filters from f times the pixels gathered in c0, c1. */
static void emit_dot(Emit *e, const ConvQ *q, int nf)
{
    int64_t np = q->k.oh * q->k.ow;
    emit_line(e, "{");
    emit_line(e, "const int fo = g * %lld + f;", (long long)q->fg);
    emit_line(e, "const int8_t *w0 = W + fo * %lld%s;", (long long)q->kdim,
              nf > 1 ? emit_keep(e, xasprintf(", *w1 = w0 + %lld", (long long)q->kdim)) : "");
    emit_line(e, "int32_t a[4] = {B[fo], B[fo], B[fo%s], B[fo%s]};", nf > 1 ? " + 1" : "",
              nf > 1 ? " + 1" : "");
    emit_line(e, "cnnc_dot22(w0, %s, c0, c1, %lld, a);", nf > 1 ? "w1" : "w0",
              (long long)q->kdim);
    for (int i = 0; i < nf; i++) {
        const char *f = i ? "fo + 1" : "fo";
        emit_line(e, "y[(%s) * %lld + p] = %s;", f, (long long)np, rq(e, q, i ? "a[2]" : "a[0]", f));
        emit_line(e, "if (p + 1 < %lld)", (long long)np);
        emit_line(e, "    y[(%s) * %lld + p + 1] = %s;", f, (long long)np,
                  rq(e, q, i ? "a[3]" : "a[1]", f));
    }
    emit_line(e, "}");
}

/* A group's filters: body for pairs (f, f + 1), then for the last one if
 * Fg is odd. */
static void emit_filter_pairs(Emit *e, const ConvQ *q,
                              void (*body)(Emit *e, const ConvQ *q, int nf))
{
    emit_line(e, "for (int f = 0; f + 1 < %lld; f += 2)", (long long)q->fg);
    body(e, q, 2);
    if (q->fg % 2) {
        emit_line(e, "{");
        emit_line(e, "const int f = %lld;", (long long)(q->fg - 1));
        body(e, q, 1);
        emit_line(e, "}");
    }
}

static void emit_general(Emit *e, const ConvQ *q, const char *X, const char *col)
{
    const ConvGeom *k = &q->k;
    int64_t hp = k->h + k->pt + k->pb, wp = k->w + k->pl + k->pr, np = k->oh * k->ow;
    emit_line(e, "for (int g = 0; g < %d; g++) {", k->groups);
    emit_line(e, "const int8_t *xg = %s + g * %lld;", X, (long long)(q->cg * hp * wp));
    emit_line(e, "for (int p = 0; p < %lld; p += 2) {", (long long)np);
    emit_line(e, "int8_t *c0 = %s, *c1 = %s + %lld;", col, col, (long long)q->kdim);
    emit_gather(e, q, "c0", "p", hp, wp);
    emit_line(e, "if (p + 1 < %lld)", (long long)np);
    emit_gather(e, q, "c1", "p + 1", hp, wp);
    emit_line(e, "else");
    emit_line(e, "    memcpy(c1, c0, %lld);", (long long)q->kdim);
    emit_filter_pairs(e, q, emit_dot);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* nf filters (from f) times four pixels (from p), or one (four 0). */
static void emit_pw_block(Emit *e, const ConvQ *q, int nf, bool four)
{
    int64_t np = q->k.oh * q->k.ow;
    int lanes = four ? 4 : 1;
    emit_line(e, "{");
    emit_line(e, "const int fo = g * %lld + f;", (long long)q->fg);
    emit_line(e, "int32_t a[%d][%d];", nf, lanes);
    emit_line(e, "for (int i = 0; i < %d; i++)", nf);
    emit_line(e, "for (int j = 0; j < %d; j++)", lanes);
    emit_line(e, "    a[i][j] = B[fo + i];");
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)q->cg);
    emit_line(e, "const int8_t *xc = x0 + (g * %lld + c) * %lld + p;", (long long)q->cg,
              (long long)np);
    emit_line(e, "for (int i = 0; i < %d; i++) {", nf);
    emit_line(e, "const int32_t u = W[(fo + i) * %lld + c];", (long long)q->cg);
    emit_line(e, "for (int j = 0; j < %d; j++)", lanes);
    emit_line(e, "    a[i][j] += xc[j] * u;");
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "for (int i = 0; i < %d; i++)", nf);
    emit_line(e, "for (int j = 0; j < %d; j++)", lanes);
    emit_line(e, "    y[(fo + i) * %lld + p + j] = %s;", (long long)np, rq(e, q, "a[i][j]", "fo + i"));
    emit_line(e, "}");
}

/* nf filters (from f) times sixteen pixels (from p): cnnc_pw2x16 (kit/qmath.c,
 * VNNI or AVX2 where the compiler targets it), the second filter the first again
 * when nf is 1. */
static void emit_pw_block16(Emit *e, const ConvQ *q, int nf)
{
    long long np = q->k.oh * q->k.ow, cg = q->cg;
    emit_line(e, "{");
    emit_line(e, "const int fo = g * %lld + f;", (long long)q->fg);
    emit_line(e, "int32_t a[32];");
    emit_line(e, "for (int j = 0; j < 16; j++) {");
    emit_line(e, "a[j] = B[fo];");
    emit_line(e, "a[16 + j] = B[fo + %d];", nf - 1);
    emit_line(e, "}");
    emit_line(e, "cnnc_pw2x16(W + fo * %lld, W + (fo + %d) * %lld, x0 + g * %lld + p, %lld, %lld, a);",
              cg, nf - 1, cg, cg * np, cg, np);
    emit_line(e, "for (int i = 0; i < %d; i++)", nf);
    emit_line(e, "for (int j = 0; j < 16; j++)");
    emit_line(e, "    y[(fo + i) * %lld + p + j] = %s;", np, rq(e, q, "a[16 * i + j]", "fo + i"));
    emit_line(e, "}");
}

/* A dense layer's (one pixel) nf filters from f: cnnc_dot22 with the
 * pixel twice, its input contiguous. */
static void emit_vector_block(Emit *e, const ConvQ *q, int nf)
{
    long long cg = q->cg;
    emit_line(e, "{");
    emit_line(e, "const int fo = g * %lld + f;", (long long)q->fg);
    emit_line(e, "const int8_t *xg = x0 + g * %lld;", cg);
    emit_line(e, "int32_t a[4] = {B[fo], B[fo], B[fo + %d], B[fo + %d]};", nf - 1, nf - 1);
    emit_line(e, "cnnc_dot22(W + fo * %lld, W + (fo + %d) * %lld, xg, xg, %lld, a);", cg, nf - 1,
              cg, cg);
    for (int i = 0; i < nf; i++)
        emit_line(e, "y[fo + %d] = %s;", i, rq(e, q, i ? "a[2]" : "a[0]", i ? "fo + 1" : "fo"));
    emit_line(e, "}");
}

/* The filters of each group: pairs, then a last one if Fg is odd. */
static void emit_pw_filters(Emit *e, const ConvQ *q, int nf)
{
    int64_t np = q->k.oh * q->k.ow;
    if (np == 1) {
        emit_vector_block(e, q, nf);
        return;
    }
    emit_line(e, "{");
    emit_line(e, "int p = 0;");
    if (np >= 16) {
        emit_line(e, "for (; p + 16 <= %lld; p += 16)", (long long)np);
        emit_pw_block16(e, q, nf);
    }
    if (np >= 4) {
        emit_line(e, "for (; p + 4 <= %lld; p += 4)", (long long)np);
        emit_pw_block(e, q, nf, true);
    }
    if (np % 4) {
        emit_line(e, "for (; p < %lld; p++)", (long long)np);
        emit_pw_block(e, q, nf, false);
    }
    emit_line(e, "}");
}

static void emit_pointwise(Emit *e, const ConvQ *q)
{
    emit_line(e, "for (int g = 0; g < %d; g++) {", q->k.groups);
    emit_filter_pairs(e, q, emit_pw_filters);
    emit_line(e, "}");
}

void conv_q_emit_bias_requant(Emit *e, const Node *n, const ConvQ *q)
{
    int64_t f = q->k.f;
    char *bc = xasprintf("%s: int32 bias minus the input's zero point times the weights", n->name);
    char *mc = xasprintf("%s: per output channel (m, s), x * M = (x * m + 2^(s-1)) >> s", n->name);
    emit_line(e, "const int32_t *B = %s;", emit_const_i32(e, "bias", bc, q->b, f));
    emit_line(e, "const int32_t *MS = %s;", emit_const_i32(e, "requant", mc, q->ms, 2 * f));
    free(bc);
    free(mc);
}

static void emit_consts(Emit *e, const Node *n, const ConvQ *q)
{
    int64_t f = q->k.f;
    char *wc = xasprintf("%s.weight: int8 [%lld][%lld], zero point removed", n->name,
                         (long long)f, (long long)q->kdim);
    emit_line(e, "const int8_t *W = %s;", emit_const_i8(e, "weight", wc, q->w, f * q->kdim));
    free(wc);
    conv_q_emit_bias_requant(e, n, q);
}

void conv_q_emit(Emit *e, const Node *n, const ConvQ *q)
{
    const ConvGeom *k = &q->k;
    bool pointwise = q->taps == 1 && k->sh == 1 && k->sw == 1 && !padded(k);
    int64_t pad_bytes = 0;
    if (conv_q_blocked_fits(e, q)) {
        conv_q_emit_blocked(e, n, q);
        return;
    }
    if (conv_q_dw_fits(q)) {
        conv_q_emit_dw(e, n, q);
        return;
    }
    emit_consts(e, n, q);
    const char *X = "x0";
    if (padded(k) && !pointwise) {
        int64_t hp = k->h + k->pt + k->pb, wp = k->w + k->pl + k->pr;
        pad_bytes = (k->c * hp * wp + 3) / 4 * 4;
        X = "s";
        emit_pad_copy_typed(e, "s", "x0", k->c, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                            q->mode, "int8_t", (int)q->zx);
    }
    if (pointwise) {
        emit_pointwise(e, q);
    } else {
        char col[32];
        snprintf(col, sizeof col, "s + %lld", (long long)pad_bytes);
        emit_general(e, q, X, col);
        pad_bytes += 2 * q->kdim;
    }
    if (pad_bytes)
        emit_scratch(e, (pad_bytes + 3) / 4);
}
