/* conv_int8_dw.c: the integer depthwise conv's generated kernel (one input
 * and one output channel per group; conv_int8.c holds the arithmetic), for
 * every profile. Takes a ConvQ; gives a layer body that runs channel by
 * channel:
 *
 * - The channel's plane is read where it lies, or, when the layer is padded
 *   or writes over its input (conv_writes_over_input), first copied into
 *   scratch with its border (the input's zero point, or reflected,
 *   replicated): one channel, never the whole padded input. The copy is
 *   what makes writing over the input safe: channel c's output starts at or
 *   below its input and ends before channel c + 1's input begins.
 * - Kernels three wide, undilated along rows, at column stride 1 or 2 (the
 *   3x3 layers of MobileNet and DS-CNN) take two output pixels a step. Their
 *   weights are packed at compile time a kernel row a word, the bytes
 *   w[r][0], w[r][1], w[r][2] and, in an even row's word, w[r+1][1]. Where
 *   the compiler targets Arm's DSP extension (__ARM_FEATURE_DSP: Cortex-M4,
 *   M7, M33), SXTB16 widens each word once per channel into the int16 pairs
 *   (w[r][0], w[r][2]) and (w[r][1], w[r+1][1]); a row's four input bytes
 *   are one load, SXTB16 splits them into the even and odd int16 pairs, and
 *   SMLAD and SMLAxy take two or one products an instruction. Elsewhere
 *   plain C multiplies the same weights, taken out of the words once per
 *   channel. Both sum the same products, which cannot overflow (conv_int8.c's
 *   bound), so they agree bit for bit.
 * - Other shapes: weights [C][KH*KW] as the plain loop reads them, the taps
 *   unrolled up to 5x5.
 * - On Helium (MVE: Cortex-M55) every shape takes four output pixels a step
 *   in the int32 lanes of a vector, a VMLA by each tap's weight (the same
 *   weights as above, as scalars), requantized by kit/qmath.c's cnnc_rq8x4,
 *   where every channel's shift allows the high-word rule (emit_mve_channel). */
#include "conv_int8.h"

#include <stdlib.h>

/* The condition of the DSP path: SXTB16 splits a word loaded little-endian. */
#define DSP_CONDITION \
    "defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && " \
    "defined(__ARM_FEATURE_SAT) && !defined(__ARM_BIG_ENDIAN)"
/* The MVE path's: kit/qmath.c's prelude (which cnnc_rq8x4 brings) defines
 * CNNC_MVE on a core with Helium. */
#define MVE_GUARD "#if defined(CNNC_MVE)"

bool conv_q_dw_fits(const ConvQ *q)
{
    return q->cg == 1 && q->fg == 1;
}

/* A kernel three wide, undilated along rows, at column stride 1 or 2. */
static bool three_wide(const ConvGeom *k)
{
    return k->kw == 3 && k->dw == 1 && (k->sw == 1 || k->sw == 2);
}

static bool has_pad(const ConvGeom *k)
{
    return k->pt || k->pl || k->pb || k->pr;
}

/* The three-wide packing (above): [C][KH] words. Caller frees. */
static int32_t *pack_three_wide(const ConvQ *q, int64_t *count)
{
    const ConvGeom *k = &q->k;
    *count = k->c * k->kh;
    int32_t *r = xmalloc((size_t)*count * sizeof *r);
    for (int64_t c = 0; c < k->c; c++)
        for (int y = 0; y < k->kh; y++) {
            const int8_t *w = q->w + c * q->taps + y * 3;
            int32_t next = y % 2 == 0 && y + 1 < k->kh ? w[4] : 0;
            r[c * k->kh + y] = (int32_t)((uint32_t)(uint8_t)w[0] | (uint32_t)(uint8_t)w[1] << 8 |
                                         (uint32_t)(uint8_t)w[2] << 16 |
                                         (uint32_t)(uint8_t)next << 24);
        }
    return r;
}

static void emit_consts(Emit *e, const Node *n, const ConvQ *q)
{
    const ConvGeom *k = &q->k;
    if (three_wide(k)) {
        int64_t count;
        int32_t *w = pack_three_wide(q, &count);
        char *wc = xasprintf("%s.weight: int8, zero point removed, a kernel row a word: the "
                             "bytes w[r][0], w[r][1], w[r][2], w[r+1][1] (an even row) or 0",
                             n->name);
        emit_line(e, "const int32_t *W = %s;", emit_const_i32(e, "weight", wc, w, count));
        free(w);
        free(wc);
    } else {
        char *wc = xasprintf("%s.weight: int8 [%lld][%lld], zero point removed", n->name,
                             (long long)k->c, (long long)q->taps);
        emit_line(e, "const int8_t *W = %s;", emit_const_i8(e, "weight", wc, q->w,
                                                            k->c * q->taps));
        free(wc);
    }
    conv_q_emit_bias_requant(e, n, q);
}

/* Whether every channel's shift is above 32, so that the requantization
 * needs only the high word of sum * m: kit/qmath.c's cnnc_rqhi, inline. */
static bool high_word_only(const ConvQ *q)
{
    int32_t least = 63;
    for (int64_t f = 0; f < q->k.f; f++)
        least = q->ms[2 * f + 1] < least ? q->ms[2 * f + 1] : least;
    return least > 32;
}

/* The channel's requantization constants: m and sh, and half if the high
 * word suffices (then sh is the shift less 32). */
static void emit_channel_requant(Emit *e, const ConvQ *q)
{
    if (high_word_only(q)) {
        emit_line(e, "const int32_t m = MS[2 * ch], sh = MS[2 * ch + 1] - 32;");
        emit_line(e, "const int32_t half = (int32_t)1 << (sh - 1);");
    } else {
        emit_line(e, "const int32_t m = MS[2 * ch], sh = MS[2 * ch + 1];");
    }
}

/* dst = sum requantized, as kit/qmath.c's cnnc_rq8 computes it: inline
 * from the high word where the shifts allow, saturated by cnnc_sat8 (one
 * SSAT) on the DSP extension (the bounds are within [-128, 127]), else by
 * comparisons. */
static void emit_store(Emit *e, const ConvQ *q, const char *sum, const char *dst, bool dsp)
{
    long zy = q->zy, lo = q->lo, hi = q->hi;
    if (!high_word_only(q)) {
        emit_line(e, "%s = cnnc_rq8(%s, m, sh, %ld, %ld, %ld);", dst, sum, zy, lo, hi);
        return;
    }
    emit_line(e, "{");
    emit_line(e, "int32_t v = (int32_t)(((int64_t)%s * m) >> 32);", sum);
    emit_line(e, "v = ((v + half) >> sh) + %ld;", zy);
    if (dsp) {
        emit_line(e, "v = cnnc_sat8(v);");
        if (lo > -128)
            emit_line(e, "v = v < %ld ? %ld : v;", lo, lo);
        if (hi < 127)
            emit_line(e, "v = v > %ld ? %ld : v;", hi, hi);
        emit_line(e, "%s = (int8_t)v;", dst);
    } else {
        emit_line(e, "%s = (int8_t)(v < %ld ? %ld : v > %ld ? %ld : v);", dst, lo, lo, hi, hi);
    }
    emit_line(e, "}");
}

/* Row r's weight words: ka<r> (w0, w2) and the pair word holding its w1,
 * with which half (b or t) holds it. */
static void row_words(int r, char *ka, char *kb, char *half)
{
    sprintf(ka, "ka%d", r);
    sprintf(kb, "kb%d", r / 2);
    *half = r % 2 ? 't' : 'b';
}

/* One pair of output pixels (xp at the first one's window) on the DSP
 * extension: per kernel row one load, two SXTB16, four or five products. */
static void emit_dsp_pair(Emit *e, const ConvQ *q, int64_t wp)
{
    const ConvGeom *k = &q->k;
    emit_line(e, "int32_t a0 = b, a1 = b, v, ev, od;");
    for (int r = 0; r < k->kh; r++) {
        char ka[16], kb[16], h;
        long long off = (long long)r * k->dh * wp;
        row_words(r, ka, kb, &h);
        emit_line(e, "memcpy(&v, xp + %lld, 4);", off);
        emit_line(e, "ev = __sxtb16(v); /* (x0, x2) */");
        emit_line(e, "od = cnnc_sxtb16_hi(v); /* (x1, x3) */");
        emit_line(e, "a0 = __smlad(%s, ev, a0);", ka);
        emit_line(e, "a0 = __smla%cb(%s, od, a0);", h, kb);
        if (k->sw == 1) { /* w0 x1 + w2 x3, w1 x2 */
            emit_line(e, "a1 = __smlad(%s, od, a1);", ka);
            emit_line(e, "a1 = __smla%ct(%s, ev, a1);", h, kb);
        } else { /* w0 x2, w1 x3, w2 x4 */
            emit_line(e, "a1 = __smlabt(%s, ev, a1);", ka);
            emit_line(e, "a1 = __smla%ct(%s, od, a1);", h, kb);
            emit_line(e, "a1 = __smlatb(%s, xp[%lld], a1);", ka, off + 4);
        }
    }
    emit_store(e, q, "a0", "yr[ox]", true);
    emit_store(e, q, "a1", "yr[ox + 1]", true);
}

/* A row's last pixel when the row's count is odd, on the DSP extension:
 * byte loads, no word past the row. */
static void emit_dsp_last(Emit *e, const ConvQ *q, int64_t wp)
{
    const ConvGeom *k = &q->k;
    emit_line(e, "{");
    emit_line(e, "const int8_t *xp = xr + %lld;", (long long)((k->ow - 1) * k->sw));
    emit_line(e, "int32_t a0 = b;");
    for (int r = 0; r < k->kh; r++) {
        char ka[16], kb[16], h;
        long long off = (long long)r * k->dh * wp;
        row_words(r, ka, kb, &h);
        emit_line(e, "a0 = __smlabb(%s, xp[%lld], a0);", ka, off);
        emit_line(e, "a0 = __smla%cb(%s, xp[%lld], a0);", h, kb, off + 1);
        emit_line(e, "a0 = __smlatb(%s, xp[%lld], a0);", ka, off + 2);
    }
    char *dst = xasprintf("yr[%lld]", (long long)(k->ow - 1));
    emit_store(e, q, "a0", dst, true);
    free(dst);
    emit_line(e, "}");
}

/* The output rows of one channel, the loop over pixel pairs inside. */
static void emit_rows_open(Emit *e, const ConvGeom *k, int64_t wp)
{
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k->oh);
    emit_line(e, "const int8_t *xr = xc + oy * %lld;", (long long)(k->sh * wp));
    emit_line(e, "int8_t *yr = yc + oy * %lld;", (long long)k->ow);
}

static void emit_dsp_three_wide(Emit *e, const ConvQ *q, int64_t wp)
{
    const ConvGeom *k = &q->k;
    emit_channel_requant(e, q);
    for (int r = 0; r < k->kh; r++)
        if (r % 2)
            emit_line(e, "const int32_t ka%d = __sxtb16(wc[%d]);", r, r);
        else
            emit_line(e, "const int32_t ka%d = __sxtb16(wc[%d]), kb%d = cnnc_sxtb16_hi(wc[%d]);",
                      r, r, r / 2, r);
    emit_rows_open(e, k, wp);
    if (k->ow >= 2) {
        emit_line(e, "for (int ox = 0; ox < %lld; ox += 2) {", (long long)(k->ow - 1));
        emit_line(e, "const int8_t *xp = xr + ox * %d;", k->sw);
        emit_dsp_pair(e, q, wp);
        emit_line(e, "}");
    }
    if (k->ow % 2)
        emit_dsp_last(e, q, wp);
    emit_line(e, "}");
}

/* The three-wide kernel's weights out of the words once per channel:
 * w<r>_<x>. */
static void emit_three_wide_weights(Emit *e, const ConvGeom *k)
{
    for (int r = 0; r < k->kh; r++)
        for (int x = 0; x < 3; x++)
            emit_line(e, "const int32_t w%d_%d = (int32_t)((uint32_t)wc[%d] << %d) >> 24;", r, x,
                      r, 24 - 8 * x);
}

/* The plain path of the three-wide kernel: its weights out of the words
 * (emit_three_wide_weights), then a multiply per tap. */
static void emit_plain_three_wide(Emit *e, const ConvQ *q, int64_t wp)
{
    const ConvGeom *k = &q->k;
    emit_three_wide_weights(e, k);
    emit_rows_open(e, k, wp);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const int8_t *xp = xr + ox * %d;", k->sw);
    emit_line(e, "int32_t acc = b;");
    for (int r = 0; r < k->kh; r++) {
        long long off = (long long)r * k->dh * wp;
        emit_line(e, "acc += xp[%lld] * w%d_0 + xp[%lld] * w%d_1 + xp[%lld] * w%d_2;", off, r,
                  off + 1, r, off + 2, r);
    }
    emit_store(e, q, "acc", "yr[ox]", false);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* Any other shape: weights [C][KH*KW], the taps unrolled up to 5x5. */
static void emit_any(Emit *e, const ConvQ *q, int64_t wp)
{
    const ConvGeom *k = &q->k;
    emit_line(e, "const int8_t *wc = W + ch * %lld;", (long long)q->taps);
    emit_rows_open(e, k, wp);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const int8_t *xp = xr + ox * %d;", k->sw);
    emit_line(e, "int32_t acc = b;");
    if (q->taps <= 25) {
        for (int ky = 0; ky < k->kh; ky++)
            for (int kx = 0; kx < k->kw; kx++)
                emit_line(e, "acc += xp[%lld] * wc[%d];", (long long)(ky * k->dh * wp + kx * k->dw),
                          ky * k->kw + kx);
    } else {
        emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
        emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
        emit_line(e, "    acc += xp[ky * %lld + kx * %d] * wc[ky * %d + kx];",
                  (long long)(k->dh * wp), k->dw, k->kw);
    }
    emit_store(e, q, "acc", "yr[ox]", false);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* Whether the MVE path applies: its requantization (cnnc_rq8x4) is the
 * high-word rule's. */
static bool mve_fits(const ConvQ *q)
{
    return high_word_only(q);
}

/* The vector of a tap's inputs (at xp + offset) for four output pixels:
 * contiguous at column stride 1, else gathered at offsets `step`; in the
 * predicated last step of a row (pred), lanes past the row load nothing. */
static char *mve_taps(const ConvQ *q, const char *offset, bool pred)
{
    if (q->k.sw == 1)
        return xasprintf("vldrbq%s_s32(xp + %s%s)", pred ? "_z" : "", offset, pred ? ", p" : "");
    return xasprintf("vldrbq_gather_offset%s_s32(xp + %s, step%s)", pred ? "_z" : "", offset,
                     pred ? ", p" : "");
}

/* Four output pixels from column ox a vector, `vectors` of them (1 or 2:
 * the second shares the weights' loads), p the lanes stored: a VMLA by
 * each tap's weight into the int32 lanes of acc<i>, then cnnc_rq8x4. */
static void emit_mve_step(Emit *e, const ConvQ *q, int64_t wp, int vectors, bool pred)
{
    const ConvGeom *k = &q->k;
    emit_line(e, "const int8_t *xp = xr + ox * %d;", k->sw);
    for (int i = 0; i < vectors; i++)
        emit_line(e, "int32x4_t acc%d = vdupq_n_s32(b);", i);
    bool unroll = q->taps <= 25 || three_wide(k); /* three wide: the weights are named scalars */
    if (!unroll) {
        emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
        emit_line(e, "for (int kx = 0; kx < %d; kx++) {", k->kw);
        emit_line(e, "const int32_t wt = wc[ky * %d + kx];", k->kw);
    }
    for (int t = 0; t < (unroll ? q->taps : 1); t++) {
        int ky = t / k->kw, kx = t % k->kw;
        char *w = !unroll ? xasprintf("wt") : three_wide(k) ? xasprintf("w%d_%d", ky, kx)
                                                              : xasprintf("wc[%d]", t);
        for (int i = 0; i < vectors; i++) {
            char *off = unroll ? xasprintf("%lld", (long long)(ky * k->dh * wp + kx * k->dw +
                                                               4 * i * k->sw))
                               : xasprintf("ky * %lld + kx * %d + %d", (long long)(k->dh * wp),
                                           k->dw, 4 * i * k->sw);
            char *x = mve_taps(q, off, pred);
            emit_line(e, "acc%d = vmlaq_n_s32(acc%d, %s, %s);", i, i, x, w);
            free(off);
            free(x);
        }
        free(w);
    }
    if (!unroll)
        emit_line(e, "}");
    for (int i = 0; i < vectors; i++)
        emit_line(e, "cnnc_rq8x4(yr + ox + %d, acc%d, m, half, sh, %ld, %ld, %ld, %s);", 4 * i, i,
                  (long)q->zy, (long)q->lo, (long)q->hi, pred ? "p" : "(mve_pred16_t)0xffff");
}

/* One channel on Helium (MVE): output pixels in the int32 lanes of
 * vectors (exact: the sums cannot overflow, conv_int8.c's bound), eight a
 * step (two vectors share each weight's load), then four, then a row's
 * last ow % 4 in a step predicated by VCTP (apart: gcc puts a VPST before
 * each predicated load). Weights as scalars: the three-wide words taken
 * apart once per channel, else W's bytes. */
static void emit_mve_channel(Emit *e, const ConvQ *q, int64_t wp)
{
    const ConvGeom *k = &q->k;
    long long ow = k->ow, tail = k->ow % 4;
    if (three_wide(k))
        emit_three_wide_weights(e, k);
    else
        emit_line(e, "const int8_t *wc = W + ch * %lld;", (long long)q->taps);
    emit_channel_requant(e, q);
    if (k->sw > 1)
        emit_line(e, "const uint32x4_t step = vmulq_n_u32(vidupq_n_u32(0u, 1), %d);", k->sw);
    emit_rows_open(e, k, wp);
    if (ow >= 8) {
        emit_line(e, "for (int ox = 0; ox + 8 <= %lld; ox += 8) {", ow);
        emit_mve_step(e, q, wp, 2, false);
        emit_line(e, "}");
    }
    if (ow % 8 >= 4) {
        emit_line(e, "{");
        emit_line(e, "const int ox = %lld;", ow / 8 * 8);
        emit_mve_step(e, q, wp, 1, false);
        emit_line(e, "}");
    }
    if (tail) {
        emit_line(e, "{");
        emit_line(e, "const int ox = %lld;", ow - tail);
        emit_line(e, "const mve_pred16_t p = vctp32q(%lldu);", tail);
        emit_mve_step(e, q, wp, 1, true);
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

/* xc: channel ch's plane, where it lies or copied with its border into s;
 * its row pitch into *wp. Returns the scratch bytes. */
static int64_t emit_channel_source(Emit *e, const ConvQ *q, int64_t *wp)
{
    const ConvGeom *k = &q->k;
    int64_t hp = k->h + k->pt + k->pb;
    emit_line(e, "const int8_t *xin = x0 + ch * %lld;", (long long)(k->h * k->w));
    if (!has_pad(k) && !emit_in_place(e)) {
        *wp = k->w;
        emit_line(e, "const int8_t *xc = xin;");
        return 0;
    }
    *wp = k->w + k->pl + k->pr;
    emit_pad_copy_typed(e, "s", "xin", 1, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                        q->mode, "int8_t", (int)q->zx);
    emit_line(e, "const int8_t *xc = s;");
    return hp * *wp;
}

void conv_q_emit_dw(Emit *e, const Node *n, const ConvQ *q)
{
    const ConvGeom *k = &q->k;
    int64_t wp;
    emit_consts(e, n, q);
    emit_line(e, "for (int ch = 0; ch < %lld; ch++) {", (long long)k->c);
    int64_t scratch = (emit_channel_source(e, q, &wp) + 3) / 4 * 4;
    emit_line(e, "const int32_t b = B[ch];");
    emit_line(e, "int8_t *yc = y + ch * %lld;", (long long)(k->oh * k->ow));
    bool mve = mve_fits(q);
    if (three_wide(k))
        emit_line(e, "const int32_t *wc = W + ch * %d;", k->kh);
    if (mve) {
        emit_line(e, MVE_GUARD);
        emit_mve_channel(e, q, wp);
    }
    if (three_wide(k)) {
        emit_line(e, "%s" DSP_CONDITION, mve ? "#elif " : "#if ");
        emit_dsp_three_wide(e, q, wp);
        emit_line(e, "#else");
        emit_channel_requant(e, q);
        emit_plain_three_wide(e, q, wp);
        emit_line(e, "#endif");
    } else {
        if (mve)
            emit_line(e, "#else");
        emit_channel_requant(e, q);
        emit_any(e, q, wp);
        if (mve)
            emit_line(e, "#endif");
    }
    emit_line(e, "}");
    if (scratch)
        emit_scratch(e, scratch / 4);
}
