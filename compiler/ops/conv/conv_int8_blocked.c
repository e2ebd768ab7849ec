/* conv_int8_blocked.c: the integer conv's blocked kernels for the
 * microcontroller profiles (emit_scalar_kernels): general and pointwise
 * convolutions with at least two output pixels, and dense layers (a 1x1
 * conv over C x 1 x 1; ops/dense/dense_int8.c). Takes a ConvQ (conv_int8.c
 * holds the arithmetic); gives a layer body whose inner loop is cnnc_dot15
 * (kit/qmath.c): one filter by five output pixels, five int32 sums held in
 * registers, four k a step (cnnc_dot1 for a dense layer's one column).
 *
 * - The weights are packed at compile time as the loop reads them: per
 *   filter, per four k, one int32 word holding the bytes w[k], w[k+2],
 *   w[k+1], w[k+3] (K padded to a multiple of 4 with zeros). Arm's SXTB16
 *   of such a word gives the int16 lanes (w[k], w[k+1]), of the word
 *   rotated by 8 (w[k+2], w[k+3]).
 * - Each output pixel's receptive field is gathered (im2col) once as int16
 *   pairs (x[k], x[k+1]) in int32 words, so that SMLAD takes two products a
 *   word; the five pixels' words are interleaved two at a time, the order
 *   the loop reads them (LDRD). Zero padding is read virtually: a pixel
 *   whose window lies inside the input is gathered straight from it, a
 *   border pixel with the input's zero point where a tap leaves it (other
 *   padding modes, and windows of over 64 taps, from a padded copy in
 *   scratch, as the portable kernels make).
 * - Requantization takes the high word of acc * m, the zero point folded
 *   into its rounding term, and one SSAT (cnnc_sat8) where the core has it.
 * - On a core with the DSP extension (__ARM_FEATURE_DSP: Cortex-M4, M7,
 *   M33) the dot products run SXTB16 and SMLAD; elsewhere the same words
 *   are taken apart in plain C; on Helium (__ARM_FEATURE_MVE: Cortex-M55)
 *   VMOVLB/VMOVLT widen four words at once and VMLADAVA sums eight products
 *   an instruction (kit/qmath.c). All sum the same products, which cannot
 *   overflow (conv_int8.c checks the bound), so they agree bit for bit. */
#include "conv_int8.h"

#include <stdlib.h>

/* Receptive-field units of more elements than this are not unrolled: such
 * layers (kernels over 5x5) keep the portable kernel. */
enum { MAX_UNIT = 100 };

/* Output pixels a block: cnnc_dot15's five sums. */
enum { PIXELS = 5 };

static int64_t padded_k(const ConvQ *q)
{
    return (q->kdim + 3) / 4 * 4;
}

static bool has_pad(const ConvGeom *k)
{
    return k->pt || k->pl || k->pb || k->pr;
}

/* Whether the zero padding is read virtually (a border pixel's gather puts
 * the zero point where its taps leave the input) rather than from a padded
 * copy of the input in scratch: the copy would sit in the arena beside the
 * input, and cost its writes. Reflected or replicated padding keeps the
 * copy, as do windows of over 64 taps (the gather's mask is 64 bits). */
static bool virtual_pad(const ConvQ *q)
{
    return has_pad(&q->k) && q->mode == PAD_ZEROS && q->taps <= 64;
}

/* Channels per gathered unit: enough that a unit fills whole groups of
 * four k (two words of each pixel). */
static int64_t unit_channels(const ConvQ *q)
{
    return q->taps % 4 == 0 ? 1 : q->taps % 2 == 0 ? 2 : 4;
}

/* A dense layer (a 1x1 conv over C x 1 x 1): one column, cnnc_dot1. */
static bool is_vector(const ConvQ *q)
{
    const ConvGeom *k = &q->k;
    return k->groups == 1 && k->h == 1 && k->w == 1 && q->taps == 1 && !has_pad(k);
}

bool conv_q_blocked_fits(Emit *e, const ConvQ *q)
{
    bool depthwise = q->cg == 1 && q->fg == 1;
    bool pixels = q->k.oh * q->k.ow >= 2 && unit_channels(q) * q->taps <= MAX_UNIT;
    return emit_scalar_kernels(e) && !depthwise && (pixels || is_vector(q));
}

/* Filter f's weight k (zero beyond K). */
static int32_t weight_at(const ConvQ *q, int64_t f, int64_t k)
{
    return k < q->kdim ? q->w[f * q->kdim + k] : 0;
}

/* [F][Kp/4] words, each w[k], w[k+2], w[k+1], w[k+3] from its low byte
 * up. Caller frees. */
static int32_t *pack_weights(const ConvQ *q, int64_t *count)
{
    static const int order[4] = {0, 2, 1, 3};
    int64_t kq = padded_k(q) / 4;
    *count = q->k.f * kq;
    int32_t *r = xmalloc((size_t)*count * sizeof *r);
    for (int64_t f = 0; f < q->k.f; f++)
        for (int64_t kk = 0; kk < kq; kk++) {
            uint32_t word = 0;
            for (int b = 0; b < 4; b++)
                word |= (uint32_t)(uint8_t)weight_at(q, f, 4 * kk + order[b]) << (8 * b);
            r[f * kq + kk] = (int32_t)word;
        }
    return r;
}

/* Element i of a unit: its offset from the unit's first input element. */
static int64_t unit_offset(const ConvQ *q, int64_t i, int64_t wp, int64_t plane)
{
    const ConvGeom *k = &q->k;
    int64_t c = i / q->taps, t = i % q->taps;
    return c * plane + (t / k->kw) * k->dh * wp + (t % k->kw) * k->dw;
}

/* Word i of a pixel's column, from a group boundary: the PIXELS pixels'
 * columns are interleaved two words (four k) at a time. */
static int64_t word_slot(int64_t i)
{
    return i / 2 * (2 * PIXELS) + i % 2;
}

/* Element i of a unit: xb[its offset], or, in a border pixel's gather
 * (checked), the input's zero point where its tap falls in the padding. */
static char *element(const ConvQ *q, int64_t i, int64_t wp, int64_t plane, bool checked)
{
    long long a = unit_offset(q, i, wp, plane);
    if (!checked)
        return xasprintf("xb[%lld]", a);
    return xasprintf("(vm >> %lld & 1 ? xb[b + %lld] : %ld)", (long long)(i % q->taps), a,
                     (long)q->zx);
}

/* The words of elements [0, n) of a unit at xb, as int16 pairs from d (an
 * odd last element paired with 0). */
static void emit_words(Emit *e, const ConvQ *q, int64_t n, int64_t wp, int64_t plane,
                       bool checked)
{
    for (int64_t i = 0; i < n; i += 2) {
        char *lo = element(q, i, wp, plane, checked);
        char *hi = i + 1 < n ? element(q, i + 1, wp, plane, checked) : xasprintf("0");
        emit_line(e, "d[%lld] = cnnc_pk16(%s, %s);", (long long)word_slot(i / 2), lo, hi);
        free(lo);
        free(hi);
    }
}

/* A pixel's receptive field from xb (the group's first plane, or the
 * pixel's origin in it) into its slots of the columns from d: the units
 * of channels, then the last channels, fewer than a unit, then zeros. */
static void emit_unit_words(Emit *e, const ConvQ *q, int64_t wp, int64_t plane, bool checked)
{
    int64_t uc = unit_channels(q), unit = uc * q->taps;
    int64_t units = q->cg / uc, rest = q->cg % uc * q->taps;
    if (units) {
        emit_line(e, "for (int u = 0; u < %lld; u++, xb += %lld, d += %lld) {",
                  (long long)units, (long long)(uc * plane), (long long)word_slot(unit / 2));
        emit_words(e, q, unit, wp, plane, checked);
        emit_line(e, "}");
    }
    emit_words(e, q, rest, wp, plane, checked);
    for (int64_t i = (rest + 1) / 2; i < (padded_k(q) - units * unit) / 2; i++)
        emit_line(e, "d[%lld] = 0;", (long long)word_slot(i));
}

/* The taps of a border pixel at input row iy, column ix that fall inside
 * the input: bit t of vm. */
static void emit_valid_taps(Emit *e, const ConvGeom *k)
{
    emit_line(e, "uint64_t vm = 0, bit = 1;");
    emit_line(e, "for (int t = 0; t < %d; t++, bit <<= 1) {", k->kh * k->kw);
    emit_line(e, "const int ty = iy + t / %d * %d, tx = ix + t %% %d * %d;", k->kw, k->dh, k->kw,
              k->dw);
    emit_line(e, "if (ty >= 0 && ty < %lld && tx >= 0 && tx < %lld)", (long long)k->h,
              (long long)k->w);
    emit_line(e, "    vm |= bit;");
    emit_line(e, "}");
}

/* Gathers pixel `p`'s receptive field from the group's planes xg into its
 * slots of the columns at c (pixel j of the block). With virtual
 * padding xg is the unpadded input: a pixel whose window lies inside it
 * is gathered as from a padded copy, one on the border tap by tap. */
static void emit_gather(Emit *e, const ConvQ *q, const char *p, bool virt)
{
    const ConvGeom *k = &q->k;
    int64_t hp = k->h + k->pt + k->pb, wp = k->w + k->pl + k->pr;
    emit_line(e, "{");
    emit_line(e, "const int q = %s, oy = q / %lld, ox = q %% %lld;", p, (long long)k->ow,
              (long long)k->ow);
    emit_line(e, "int32_t *d = c + 2 * j;");
    if (!virt) {
        emit_line(e, "const int8_t *xb = xg + oy * %lld + ox * %d;", (long long)(k->sh * wp),
                  k->sw);
        emit_unit_words(e, q, wp, hp * wp, false);
        emit_line(e, "}");
        return;
    }
    int64_t plane = k->h * k->w;
    emit_line(e, "const int iy = oy * %d - %d, ix = ox * %d - %d;", k->sh, k->pt, k->sw, k->pl);
    emit_line(e, "if (iy >= 0 && iy <= %lld && ix >= 0 && ix <= %lld) {",
              (long long)(k->h - (k->kh - 1) * k->dh - 1), (long long)(k->w - (k->kw - 1) * k->dw - 1));
    emit_line(e, "const int8_t *xb = xg + iy * %lld + ix;", (long long)k->w);
    emit_unit_words(e, q, k->w, plane, false);
    emit_line(e, "} else {");
    emit_valid_taps(e, k);
    emit_line(e, "const int b = iy * %lld + ix;", (long long)k->w);
    emit_line(e, "const int8_t *xb = xg;");
    emit_unit_words(e, q, k->w, plane, true);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* Whether every output channel's shift s is in (32, 54]: then the
 * requantization needs only the high word of acc * m (cnnc_rqhi in
 * kit/qmath.c), and the zero point folds into its rounding term within
 * int32 (|h| < 2^30, |zy 2^(s-32)| <= 2^29). */
static bool inline_shifts(const ConvQ *q)
{
    for (int64_t f = 0; f < q->k.f; f++)
        if (q->ms[2 * f + 1] <= 32 || q->ms[2 * f + 1] > 54)
            return false;
    return true;
}

/* dst = the sum requantized: inline where the shifts allow (m, off, sh in
 * scope: off folds the rounding's half and the zero point, (h + half) >> sh
 * + zy = (h + half + zy 2^sh) >> sh), as qmath's rule reads (round(acc * M)
 * + zy, saturated), else cnnc_rq8 (fo in scope). */
static void emit_requant(Emit *e, const ConvQ *q, bool hi_word, const char *sum,
                         const char *dst)
{
    if (!hi_word) {
        emit_line(e, "%s = cnnc_rq8(%s, MS[2 * fo], MS[2 * fo + 1], %ld, %ld, %ld);", dst, sum,
                  (long)q->zy, (long)q->lo, (long)q->hi);
        return;
    }
    emit_line(e, "int32_t v = cnnc_sat8(((int32_t)(((int64_t)%s * m) >> 32) + off) >> sh);", sum);
    if (q->lo > -128)
        emit_line(e, "v = v < %ld ? %ld : v;", (long)q->lo, (long)q->lo);
    if (q->hi < 127)
        emit_line(e, "v = v > %ld ? %ld : v;", (long)q->hi, (long)q->hi);
    emit_line(e, "%s = (int8_t)v;", dst);
}

/* m, sh and off of output channel fo, for emit_requant. */
static void emit_requant_constants(Emit *e, const ConvQ *q, bool hi_word)
{
    if (hi_word) {
        emit_line(e, "const int32_t m = MS[2 * fo], sh = MS[2 * fo + 1] - 32;");
        emit_line(e, "const int32_t off = ((int32_t)1 << (sh - 1)) + %ld * ((int32_t)1 << sh);",
                  (long)q->zy);
    }
}

/* Every filter of group g times the block's columns at c, the sums into acc
 * ([filter][pixel]), then each filter's outputs. */
static void emit_filters(Emit *e, const ConvQ *q)
{
    int64_t kq = padded_k(q) / 4;
    long long np = q->k.oh * q->k.ow;
    bool hi_word = inline_shifts(q);
    emit_line(e, "cnnc_dot15(W + g * %lld, c, %lld, %lld, B + g * %lld, acc);",
              (long long)(q->fg * kq), (long long)kq, (long long)q->fg, (long long)q->fg);
    emit_line(e, "for (int f = 0; f < %lld; f++) {", (long long)q->fg);
    emit_line(e, "const int fo = g * %lld + f;", (long long)q->fg);
    emit_line(e, "const int32_t *a = acc + %d * f;", PIXELS);
    emit_requant_constants(e, q, hi_word);
    for (int j = 0; j < PIXELS; j++) {
        char *sum = xasprintf("a[%d]", j), *dst = xasprintf("y[fo * %lld + p + %d]", np, j);
        if (j && np % PIXELS) /* PIXELS at a time, the last pass short */
            emit_line(e, "if (p + %d < %lld) {", j, np);
        else
            emit_line(e, "{");
        emit_requant(e, q, hi_word, sum, dst);
        emit_line(e, "}");
        free(sum);
        free(dst);
    }
    emit_line(e, "}");
}

static void emit_consts(Emit *e, const Node *n, const ConvQ *q)
{
    int64_t count;
    int32_t *w = pack_weights(q, &count);
    char *wc = xasprintf("%s.weight: int8, zero point removed, four a word: per group, filter "
                         "pair and four k, each filter's w[k], w[k+2], w[k+1], w[k+3]",
                         n->name);
    char *bc = xasprintf("%s: int32 bias minus the input's zero point times the weights", n->name);
    char *mc = xasprintf("%s: per output channel (m, s), x * M = (x * m + 2^(s-1)) >> s", n->name);
    emit_line(e, "const int32_t *W = %s;", emit_const_i32(e, "weight", wc, w, count));
    emit_line(e, "const int32_t *B = %s;", emit_const_i32(e, "bias", bc, q->b, q->k.f));
    emit_line(e, "const int32_t *MS = %s;", emit_const_i32(e, "requant", mc, q->ms, 2 * q->k.f));
    free(w);
    free(wc);
    free(bc);
    free(mc);
}

/* A dense layer: its input widened once into int16 pairs, then each unit's
 * sum by cnnc_dot1 and requantized. */
static void emit_vector(Emit *e, const ConvQ *q)
{
    int64_t c = q->k.c, kq = padded_k(q) / 4;
    bool hi_word = inline_shifts(q);
    emit_line(e, "int32_t *c = (int32_t *)(void *)s;");
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)(c / 2));
    emit_line(e, "    c[i] = cnnc_pk16(x0[2 * i], x0[2 * i + 1]);");
    if (c % 2)
        emit_line(e, "c[%lld] = cnnc_pk16(x0[%lld], 0);", (long long)(c / 2), (long long)(c - 1));
    for (int64_t i = (c + 1) / 2; i < 2 * kq; i++)
        emit_line(e, "c[%lld] = 0;", (long long)i);
    emit_line(e, "for (int fo = 0; fo < %lld; fo++) {", (long long)q->k.f);
    emit_line(e, "const int32_t acc = cnnc_dot1(W + fo * %lld, c, %lld, B[fo]);", (long long)kq,
              (long long)kq);
    emit_requant_constants(e, q, hi_word);
    emit_requant(e, q, hi_word, "acc", "y[fo]");
    emit_line(e, "}");
    emit_scratch(e, 2 * kq);
}

void conv_q_emit_blocked(Emit *e, const Node *n, const ConvQ *q)
{
    const ConvGeom *k = &q->k;
    if (is_vector(q)) {
        emit_consts(e, n, q);
        emit_vector(e, q);
        return;
    }
    int64_t hp = k->h + k->pt + k->pb, wp = k->w + k->pl + k->pr, np = k->oh * k->ow;
    int64_t pad_bytes = 0, words = padded_k(q) / 2;
    bool virt = virtual_pad(q);
    emit_consts(e, n, q);
    const char *X = "x0";
    if (virt) {
        hp = k->h;
        wp = k->w;
    } else if (has_pad(k)) {
        pad_bytes = (k->c * hp * wp + 3) / 4 * 4;
        X = "s";
        emit_pad_copy_typed(e, "s", "x0", k->c, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                            q->mode, "int8_t", (int)q->zx);
    }
    emit_line(e, "int32_t *c = (int32_t *)(void *)(s + %lld), *acc = c + %lld;",
              (long long)pad_bytes, (long long)(PIXELS * words));
    emit_line(e, "for (int g = 0; g < %d; g++) {", k->groups);
    emit_line(e, "const int8_t *xg = %s + g * %lld;", X, (long long)(q->cg * hp * wp));
    emit_line(e, "for (int p = 0; p < %lld; p += %d) {", (long long)np, PIXELS);
    /* past the last pixel, a slot repeats it: in range, its sums not stored */
    emit_line(e, "for (int j = 0; j < %d; j++) {", PIXELS);
    emit_gather(e, q, np % PIXELS ? emit_keep(e, xasprintf("p + j < %lld ? p + j : %lld", (long long)np,
                                                      (long long)(np - 1)))
                             : "p + j",
                virt);
    emit_line(e, "}");
    emit_filters(e, q);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_scratch(e, pad_bytes / 4 + PIXELS * words + PIXELS * q->fg);
}
