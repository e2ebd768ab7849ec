/* conv_emit.c: the forward emitter of conv (see conv.c for the formula), and
 * the padded copy it shares with the pad layer.
 *
 * The kernels, every shape a literal, weights repacked at compile time
 * into the order the loops read them:
 * - the general one, register-blocked: VB output channels (16 or 8) times
 *   XB output pixels (6 or 12) of sums held in registers, the input-channel
 *   loop outermost inside the block and all kernel taps inside it; weights
 *   [G][Fg/VB][Cg][KH][KW][VB]. The block's pixels run along the flattened
 *   output plane, each with its own input pointer, so small planes (7x7)
 *   waste no lanes;
 * - 1x1, stride 1, unpadded: a GEMM along the pixels (contiguous loads and
 *   stores), up to 12 channels x a run of pixels per block (conv_pw_emit.c);
 * - one filter per group (depthwise): the input copied into stride-phase
 *   planes, vectors along the flattened output plane (conv_dw_emit.c);
 * - few input channels (Cg <= 4): output pixels of a row along the vector
 *   times 16 filters, contiguous stores (emit_conv_rows);
 * - 1x1 with a stride: the pixels read copied dense, then the 1x1 GEMM.
 * Each hot loop exists three times: GNU vector extensions of 16 floats
 * where the target has AVX-512 (cnnc_v16, CNNC_V16_DEFINED) and of 8
 * (cnnc_v8), the sums named vector variables so gcc and clang keep them in
 * registers, and plain C99 arrays with a loop over the lanes, which the
 * compilers vectorise as they can; -DCNNC_NO_V16 and -DCNNC_NO_VECTOR_EXT
 * select the narrower ones. Padding never reaches the hot loop: the input
 * is first copied into scratch with its borders filled (zeros, reflection
 * or the edge). */
#include "conv_emit.h"

#include <stdlib.h>
#include <string.h>

enum {
    MAX_ACC = 64 /* plain path, VB < 8: XB * VB sums */
};

void emit_pad_copy_typed(Emit *e, const char *dst, const char *src, int64_t c, int64_t h,
                         int64_t w, const int pad[4], PadMode mode, const char *type, int fill)
{
    int pt = pad[0], pl = pad[1], pb = pad[2], pr = pad[3];
    int64_t hp = h + pt + pb, wp = w + pl + pr;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)c);
    emit_line(e, "const %s *xc = %s + c * %lld;", type, src, (long long)(h * w));
    emit_line(e, "%s *pc = %s + c * %lld;", type, dst, (long long)(hp * wp));
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)h);
    emit_line(e, "%s *d = pc + (r + %d) * %lld;", type, pt, (long long)wp);
    emit_line(e, "memcpy(d + %d, xc + r * %lld, %lld * sizeof(%s));", pl, (long long)w,
              (long long)w, type);
    if (mode == PAD_ZEROS) {
        if (pl)
            emit_line(e, "memset(d, %d, %d * sizeof(%s));", fill, pl, type);
        if (pr)
            emit_line(e, "memset(d + %lld, %d, %d * sizeof(%s));", (long long)(pl + w), fill, pr,
                      type);
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
            emit_line(e, "memset(pc, %d, %lld * sizeof(%s));", fill, (long long)(pt * wp), type);
        if (pb)
            emit_line(e, "memset(pc + %lld, %d, %lld * sizeof(%s));", (long long)((pt + h) * wp),
                      fill, (long long)(pb * wp), type);
    } else {
        for (int i = 0; i < pt; i++)
            emit_line(e, "memcpy(pc + %lld, pc + %lld, %lld * sizeof(%s));", (long long)(i * wp),
                      (long long)((pt + pad_source(i - pt, h, mode)) * wp), (long long)wp, type);
        for (int i = 0; i < pb; i++)
            emit_line(e, "memcpy(pc + %lld, pc + %lld, %lld * sizeof(%s));",
                      (long long)((pt + h + i) * wp),
                      (long long)((pt + pad_source(h + i, h, mode)) * wp), (long long)wp, type);
    }
    emit_line(e, "}");
}

void emit_pad_copy(Emit *e, const char *dst, const char *src, int64_t c, int64_t h, int64_t w,
                   const int pad[4], PadMode mode)
{
    emit_pad_copy_typed(e, dst, src, c, h, w, pad, mode, "float", 0);
}

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

float *conv_repack_bias(const ConvPlan *p, const float *b, int64_t *count)
{
    *count = (int64_t)p->k.groups * p->nfb * p->vb;
    float *r = xcalloc((size_t)*count, sizeof *r);
    for (int64_t f = 0; b && f < p->k.f; f++)
        r[(f / p->fg * p->nfb + f % p->fg / p->vb) * p->vb + f % p->fg % p->vb] = b[f];
    return r;
}

void conv_emit_consts(Emit *e, const Node *n, char *wcomment, const float *w, int64_t nw,
                      const char *bias_note, const float *b, int64_t nb, const char **W,
                      const char **B)
{
    char *bcomment = n->a.bias ? xasprintf("%s.bias%s", n->name, bias_note)
                               : xasprintf("%s: no bias (zeros)", n->name);
    float *zeros = b ? NULL : xcalloc((size_t)nb, sizeof *zeros);
    *W = emit_const(e, "weight", wcomment, w, nw);
    *B = emit_const(e, "bias", bcomment, b ? b : zeros, nb);
    free(zeros);
    free(wcomment);
    free(bcomment);
}

/* Calls tap(e, p, arg, xoff, woff) for every kernel tap: unrolled (literal
 * offsets) up to emit_unroll_taps, else inside ky/kx loops. arg is what the
 * tap needs of its block: the pixel count (int) for the 8-float and plain
 * kernels, the V16Block for the 16-float one. */
typedef void TapFn(Emit *e, const ConvPlan *p, const void *arg, const char *xoff,
                   const char *woff);

static void emit_taps(Emit *e, const ConvPlan *p, const void *arg, TapFn *tap)
{
    const ConvGeom *k = &p->k;
    if (k->kh * k->kw <= emit_unroll_taps(e)) {
        for (int ky = 0; ky < k->kh; ky++)
            for (int kx = 0; kx < k->kw; kx++) {
                char xo[32], wo[32];
                snprintf(xo, sizeof xo, "%lld", (long long)(ky * k->dh * p->wp + kx * k->dw));
                snprintf(wo, sizeof wo, "%d", (ky * k->kw + kx) * p->vb);
                tap(e, p, arg, xo, wo);
            }
        return;
    }
    emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (int kx = 0; kx < %d; kx++) {", k->kw);
    char xo[64], wo[64];
    snprintf(xo, sizeof xo, "ky * %lld + kx * %d", (long long)(k->dh * p->wp), k->dw);
    snprintf(wo, sizeof wo, "(ky * %d + kx) * %d", k->kw, p->vb);
    tap(e, p, arg, xo, wo);
    emit_line(e, "}");
}

/* ---- VB filters x XB output pixels, the pixels anywhere in the plane ----
 *
 * The block's pixels are consecutive in the flattened output plane, so a
 * block may span rows (a 7x7 output is 8 blocks of 6 and one of 1, not 7
 * rows of 6 + 1); each pixel i reads the input through its own pointer xi,
 * set once per block. Per input channel and tap: VB weights (contiguous)
 * times each pixel's input value (a broadcast), added into pixel i's VB
 * sums. */

/* Plain C: a%d[VB] arrays, one loop over v, which gcc and clang vectorise. */
static void emit_plain_tap(Emit *e, const ConvPlan *p, const void *arg, const char *xoff,
                           const char *woff)
{
    int xb = *(const int *)arg;
    emit_line(e, "for (int v = 0; v < %d; v++) {", p->vb);
    emit_line(e, "const float w = wc[%s + v];", woff);
    for (int i = 0; i < xb; i++)
        emit_line(e, "a%d[v] += x%d[xc + %s] * w;", i, i, xoff);
    emit_line(e, "}");
}

/* GNU vector extensions: the sums are VB/8 variables of 8 floats per
 * pixel, s<pixel>_<j>, held in registers across the channel loop. */
static void emit_vec_tap(Emit *e, const ConvPlan *p, const void *arg, const char *xoff,
                         const char *woff)
{
    int xb = *(const int *)arg;
    emit_line(e, "{");
    for (int j = 0; j < p->vb / 8; j++)
        emit_line(e, "const cnnc_v8 w%d = *(const cnnc_v8u *)(wc + %s + %d);", j, woff, 8 * j);
    for (int i = 0; i < xb; i++) {
        emit_line(e, "{");
        emit_line(e, "const float xv = x%d[xc + %s];", i, xoff);
        for (int j = 0; j < p->vb / 8; j++)
            emit_line(e, "s%d_%d += w%d * xv;", i, j, j);
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

static void emit_channel_loop(Emit *e, const ConvPlan *p, int xb, TapFn *tap)
{
    const ConvGeom *k = &p->k;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *wc = wb + c * %d;", k->kh * k->kw * p->vb);
    emit_line(e, "const int xc = c * %lld;", (long long)(p->hp * p->wp));
    emit_taps(e, p, &xb, tap);
    emit_line(e, "}");
}

void conv_emit_out_ptrs(Emit *e, const ConvPlan *p, const char *off)
{
    emit_line(e, "float *yb = %s + %s;", p->y, off);
    if (p->res)
        emit_line(e, "const float *rb = %s + %s;", p->r ? p->r : "x1", off);
}

const char *conv_pre_act(Emit *e, const ConvPlan *p, const char *a, const char *i)
{
    return p->res ? emit_keep(e, xasprintf("(%s + rb[%s])", a, i)) : a;
}

/* The block's stores: a<i>[v] (plus the residual) to channel v's plane, act
 * applied unless `raw`. */
static void emit_block_store(Emit *e, const ConvPlan *p, const Node *n, int xb, bool partial,
                             bool raw)
{
    emit_line(e, "for (int v = 0; v < %s; v++) {", partial ? "nv" : "VB");
    emit_line(e, "const int yo = v * %lld + q;", (long long)p->np);
    for (int i = 0; i < xb; i++) {
        char v[16], at[16];
        snprintf(v, sizeof v, "a%d[v]", i);
        snprintf(at, sizeof at, "yo + %d", i);
        const char *pre = conv_pre_act(e, p, v, at);
        emit_line(e, "yb[yo + %d] = %s;", i, raw ? pre : emit_act(e, n->act, pre));
    }
    emit_line(e, "}");
}

/* One block of xb pixels starting at flattened output pixel q. */
static void emit_block(Emit *e, const ConvPlan *p, const Node *n, int xb, bool partial)
{
    const ConvGeom *k = &p->k;
    for (int i = 0; i < xb; i++)
        emit_line(e, "const float *x%d = xg + (q + %d) / %lld * %lld + (q + %d) %% %lld * %d;", i,
                  i, (long long)k->ow, (long long)(k->sh * p->wp), i, (long long)k->ow, k->sw);
    for (int i = 0; i < xb; i++)
        emit_line(e, "float a%d[%d];", i, p->vb);
    if (p->vec) {
        emit_line(e, "#if defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT)");
        emit_line(e, "{");
        for (int i = 0; i < xb; i++)
            for (int j = 0; j < p->vb / 8; j++)
                emit_line(e, "cnnc_v8 s%d_%d = *(const cnnc_v8u *)(bb + %d);", i, j, 8 * j);
        emit_channel_loop(e, p, xb, emit_vec_tap);
        bool raw = true;
        for (int i = 0; i < xb; i++)
            for (int j = 0; j < p->vb / 8; j++) {
                char v[16];
                snprintf(v, sizeof v, "s%d_%d", i, j);
                raw = !p->res && act_emit_vec(e, n->act, v, 8) && raw;
                emit_line(e, "*(cnnc_v8u *)(a%d + %d) = %s;", i, 8 * j, v);
            }
        emit_line(e, "}");
        emit_block_store(e, p, n, xb, partial, raw);
        emit_line(e, "#else");
    }
    emit_line(e, "for (int v = 0; v < %d; v++) {", p->vb);
    for (int i = 0; i < xb; i++)
        emit_line(e, "a%d[v] = bb[v];", i);
    emit_line(e, "}");
    emit_channel_loop(e, p, xb, emit_plain_tap);
    emit_block_store(e, p, n, xb, partial, false);
    if (p->vec)
        emit_line(e, "#endif");
}

static void emit_block_loops(Emit *e, const ConvPlan *p, const Node *n, bool partial)
{
    int64_t tail = p->np % p->xb;
    emit_line(e, "int q = 0;");
    emit_line(e, "for (; q + %d <= %lld; q += %d) {", p->xb, (long long)p->np, p->xb);
    emit_block(e, p, n, p->xb, partial);
    emit_line(e, "}");
    if (tail) { /* the plane's last pixels: one narrower block */
        emit_line(e, "{");
        emit_block(e, p, n, (int)tail, partial);
        emit_line(e, "}");
    }
}

/* ---- 16-float path (AVX-512): NB x 16 filters times an R x XB patch ----
 *
 * Only where the target has AVX-512 (CNNC_V16_DEFINED) and VB is 16: the
 * weights are the same constant as the other paths read. A block is NB
 * adjacent filter blocks (2: 32 channels, the second block's weights a
 * constant distance further) times a patch of R output rows by XB columns,
 * NB * R * XB zmm sums. All the patch's inputs sit at literal offsets from
 * one pointer (row r, column i at r*SH*WP + i*SW): with one pointer per
 * pixel, as the flattened 8-float blocks have, 12 pixels would not fit the
 * general registers. Per input channel and tap: NB weight loads and R * XB
 * broadcasts for NB * R * XB FMAs. */

/* Sums per block: 24 of the 32 zmm registers. At 28 (2 x 14 pixels) gcc
 * spilled sums in the hot loop (a broadcast serving both filter blocks
 * needs a register of its own) and a 3x3 layer ran at 165 GFLOP/s instead
 * of 205. */
enum { V16_SUMS = 24 };

typedef struct {
    int nb, r, xb; /* filter blocks of 16, rows, columns */
} V16Block;

static void emit_v16_tap(Emit *e, const ConvPlan *p, const void *arg, const char *xoff,
                         const char *woff)
{
    const V16Block *b = arg;
    int64_t wstride = p->cg * p->k.kh * p->k.kw * 16;
    emit_line(e, "{");
    for (int j = 0; j < b->nb; j++)
        emit_line(e, "const cnnc_v16 w%d = *(const cnnc_v16u *)(wc + %lld + %s);", j,
                  (long long)(j * wstride), woff);
    for (int r = 0; r < b->r; r++)
        for (int i = 0; i < b->xb; i++) {
            int64_t o = r * p->k.sh * p->wp + i * p->k.sw;
            for (int j = 0; j < b->nb; j++)
                emit_line(e, "s%d_%d_%d += w%d * xc[%s + %lld];", r, i, j, j, xoff,
                          (long long)o);
        }
    emit_line(e, "}");
}

/* The stores of filter block fb + j: the sums (act applied in registers
 * unless there is a residual to add first) through a[pixel][16] to each
 * channel's plane, q the patch's first output pixel. */
static void emit_v16_store(Emit *e, const ConvPlan *p, const Node *n, const V16Block *b, int j)
{
    int npix = b->r * b->xb;
    emit_line(e, "{");
    emit_line(e, "float a[%d][16];", npix);
    bool raw = true;
    for (int r = 0; r < b->r; r++)
        for (int i = 0; i < b->xb; i++) {
            char v[32];
            snprintf(v, sizeof v, "s%d_%d_%d", r, i, j);
            raw = !p->res && act_emit_vec(e, n->act, v, 16) && raw;
            emit_line(e, "*(cnnc_v16u *)a[%d] = %s;", r * b->xb + i, v);
        }
    char *off = xasprintf("(gi * %lld + (fb + %d) * 16) * %lld", (long long)p->fg, j,
                          (long long)p->np);
    conv_emit_out_ptrs(e, p, off);
    free(off);
    if (p->fg % 16)
        emit_line(e, "const int nv = %lld - (fb + %d) * 16 < 16 ? %lld - (fb + %d) * 16 : 16;",
                  (long long)p->fg, j, (long long)p->fg, j);
    emit_line(e, "for (int v = 0; v < %s; v++) {", p->fg % 16 ? "nv" : "16");
    emit_line(e, "const int yo = v * %lld + q;", (long long)p->np);
    for (int r = 0; r < b->r; r++)
        for (int i = 0; i < b->xb; i++) {
            char v[32], at[32];
            snprintf(v, sizeof v, "a[%d][v]", r * b->xb + i);
            snprintf(at, sizeof at, "yo + %lld", (long long)(r * p->k.ow + i));
            const char *pre = conv_pre_act(e, p, v, at);
            emit_line(e, "yb[%s] = %s;", at, raw ? pre : emit_act(e, n->act, pre));
        }
    emit_line(e, "}");
    emit_line(e, "}");
}

/* One block at output row oy, column ox (C expressions). */
static void emit_v16_block(Emit *e, const ConvPlan *p, const Node *n, const V16Block *b,
                           const char *oy, const char *ox)
{
    const ConvGeom *k = &p->k;
    emit_line(e, "{");
    emit_line(e, "const int q = (%s) * %lld + (%s);", oy, (long long)k->ow, ox);
    emit_line(e, "const float *xr = xg + (%s) * %lld + (%s) * %d;", oy,
              (long long)(k->sh * p->wp), ox, k->sw);
    for (int r = 0; r < b->r; r++)
        for (int i = 0; i < b->xb; i++)
            for (int j = 0; j < b->nb; j++)
                emit_line(e, "cnnc_v16 s%d_%d_%d = *(const cnnc_v16u *)(bb + %d);", r, i, j,
                          16 * j);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *wc = wb + c * %d;", k->kh * k->kw * 16);
    emit_line(e, "const float *xc = xr + c * %lld;", (long long)(p->hp * p->wp));
    emit_taps(e, p, b, emit_v16_tap); /* p->vb is 16 */
    emit_line(e, "}");
    for (int j = 0; j < b->nb; j++)
        emit_v16_store(e, p, n, b, j);
    emit_line(e, "}");
}

/* The columns of rows oy .. oy + r - 1: blocks of xb, then the rest. */
static void emit_v16_row(Emit *e, const ConvPlan *p, const Node *n, V16Block b, const char *oy)
{
    int64_t ow = p->k.ow, tail = ow % b.xb;
    emit_line(e, "for (int ox = 0; ox + %d <= %lld; ox += %d)", b.xb, (long long)ow, b.xb);
    emit_v16_block(e, p, n, &b, oy, "ox");
    if (tail) {
        char ox[32];
        snprintf(ox, sizeof ox, "%lld", (long long)(ow - tail));
        b.xb = (int)tail;
        emit_v16_block(e, p, n, &b, oy, ox);
    }
}

/* The block of nb filter blocks: a row split evenly into blocks of at
 * most V16_SUMS / nb columns, rows stacked while the sums fit (a 7x7
 * plane, nb 1: 3 rows of 7). */
static V16Block v16_block(const ConvPlan *p, int nb)
{
    int64_t oh = p->k.oh, ow = p->k.ow, maxpix = V16_SUMS / nb;
    int64_t cols = (ow + maxpix - 1) / maxpix;
    V16Block b = {.nb = nb, .xb = (int)((ow + cols - 1) / cols)};
    b.r = (int)(maxpix / b.xb < oh ? maxpix / b.xb : oh);
    return b;
}

/* The output plane of b's filter blocks from fb. */
static void emit_v16_plane(Emit *e, const ConvPlan *p, const Node *n, V16Block b)
{
    int64_t oh = p->k.oh;
    emit_line(e, "const float *bb = bias + (gi * %d + fb) * 16;", p->nfb);
    emit_line(e, "const float *wb = weight + (gi * %d + fb) * %lld;", p->nfb,
              (long long)(p->cg * p->k.kh * p->k.kw * 16));
    emit_line(e, "for (int oy = 0; oy + %d <= %lld; oy += %d)", b.r, (long long)oh, b.r);
    emit_line(e, "{");
    emit_v16_row(e, p, n, b, "oy");
    emit_line(e, "}");
    if (oh % b.r) {
        char oy[32];
        snprintf(oy, sizeof oy, "%lld", (long long)(oh - oh % b.r));
        b.r = (int)(oh % b.r);
        emit_line(e, "{");
        emit_v16_row(e, p, n, b, oy);
        emit_line(e, "}");
    }
}

/* Groups, then filter blocks two at a time (an odd last one alone), or
 * one at a time where that holds more sums per block: narrow planes, whose
 * rows stack deeper under 16 filters (7x7: 21 sums, against 14 for 32
 * filters x 7 pixels; 188 against 176 GFLOP/s on a 512-channel layer). */
static void emit_v16_loops(Emit *e, const ConvPlan *p, const Node *n, const char *W,
                           const char *B)
{
    V16Block one = v16_block(p, 1), two = v16_block(p, 2);
    bool pairs = p->nfb >= 2 && two.nb * two.r * two.xb >= one.r * one.xb;
    emit_line(e, "for (int gi = 0; gi < %d; gi++) {", p->k.groups);
    emit_line(e, "const float *weight = %s, *bias = %s;", W, B);
    emit_line(e, "const float *xg = %s + gi * %lld;", p->x, (long long)(p->cg * p->hp * p->wp));
    if (pairs) {
        emit_line(e, "for (int fb = 0; fb + 2 <= %d; fb += 2) {", p->nfb);
        emit_v16_plane(e, p, n, two);
        emit_line(e, "}");
    }
    int first = pairs ? p->nfb / 2 * 2 : 0;
    if (first < p->nfb) {
        emit_line(e, "for (int fb = %d; fb < %d; fb++) {", first, p->nfb);
        emit_v16_plane(e, p, n, one);
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

/* ---- Few input channels: output pixels along the vector ----
 *
 * With Cg <= ROWS_MAX_CG (an image's 3 channels) the channel-blocked
 * kernel's reduction (Cg * KH * KW) is short next to its epilogue, which
 * scatters each sum vector over 16 output planes (resnet18's 7x7 stem ran
 * at 66% of peak, a 3x3 layer on a 3-channel 32x32 image at 13 GFLOP/s).
 * Here a vector holds consecutive output pixels of one row instead, the
 * sums are ROWS_PB filters x one vector, and every store is a contiguous
 * vector. The input is read with stride 1 along the row: for stride SW > 1
 * it is first split into SW column-phase planes (phase a holds the padded
 * columns a, a + SW, ...; tap kx reads phase kx*DW % SW from column
 * ox + kx*DW / SW). Per input channel and tap: one vector load and
 * ROWS_PB broadcasts (memory operands of the FMAs). Measured on the stem
 * (AVX-512): 16 filters x 16 pixels 1.5 ms, 12 filters x 32 pixels 1.75,
 * the general kernel 1.8. The filter blocks are the outer loop, so that a
 * block's weights stay in L1. A row's last vector is moved back to end at
 * the row's end (it rewrites the same values, so a fused residual, which
 * would be added twice, keeps to the general kernel). Weights
 * [G][ceil(Fg/PB)][Cg][KH][KW][PB], the last block only Fg % PB wide. */
enum { ROWS_PB = 16, ROWS_MAX_CG = 4 };

static bool conv_use_rows(const ConvPlan *p)
{
    return p->cg <= ROWS_MAX_CG && p->k.ow >= 16 && p->fg >= 8 && !p->res;
}

static int64_t rows_wq(const ConvPlan *p)
{
    return (p->wp + p->k.sw - 1) / p->k.sw;
}

static float *repack_rows(const ConvPlan *p, const float *w, int64_t *count)
{
    int64_t taps = (int64_t)p->k.kh * p->k.kw;
    *count = p->k.groups * p->fg * p->cg * taps;
    float *r = xcalloc((size_t)*count, sizeof *r);
    for (int64_t f = 0; f < p->k.f; f++) {
        int64_t g = f / p->fg, fb = f % p->fg / ROWS_PB, v = f % p->fg % ROWS_PB;
        int64_t nf = p->fg - fb * ROWS_PB < ROWS_PB ? p->fg - fb * ROWS_PB : ROWS_PB;
        for (int64_t c = 0; c < p->cg; c++)
            for (int64_t t = 0; t < taps; t++)
                r[(g * p->fg + fb * ROWS_PB) * p->cg * taps + (c * taps + t) * nf + v] =
                    w[(f * p->cg + c) * taps + t];
    }
    return r;
}

/* One block: filters f0 .. f1 - 1 of the nf from fb * PB, times a vector
 * of `lanes` output pixels from (oy, ox) (0: a plain C array of 8). */
static void emit_rows_block(Emit *e, const ConvPlan *p, const Node *n, int nf, int f0, int f1,
                            int lanes, const char *fb)
{
    const ConvGeom *k = &p->k;
    int64_t wq = rows_wq(p), taps = (int64_t)k->kh * k->kw;
    emit_line(e, "{");
    emit_line(e, "const float *wb = weight + gi * %lld + (%s) * %lld;",
              (long long)(p->fg * p->cg * taps), fb, (long long)(ROWS_PB * p->cg * taps));
    emit_line(e, "const float *bb = bias + gi * %lld + (%s) * %d;", (long long)p->fg, fb, ROWS_PB);
    if (lanes) {
        for (int f = f0; f < f1; f++)
            emit_line(e, "cnnc_v%d s%d = (cnnc_v%d){0} + bb[%d];", lanes, f, lanes, f);
    } else {
        emit_line(e, "float a[%d][8];", f1 - f0);
        emit_line(e, "for (int f = 0; f < %d; f++)", f1 - f0);
        emit_line(e, "    for (int l = 0; l < 8; l++)");
        emit_line(e, "        a[f][l] = bb[%d + f];", f0);
    }
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)p->cg);
    emit_line(e, "for (int ky = 0; ky < %d; ky++) {", k->kh);
    emit_line(e, "const float *xk = xr + c * %lld + ky * %lld;", (long long)(k->sw * p->hp * wq),
              (long long)(k->dh * wq));
    emit_line(e, "const float *wk = wb + (c * %d + ky) * %d;", k->kh, k->kw * nf);
    for (int kx = 0; kx < k->kw; kx++) {
        int64_t col = (int64_t)kx * k->dw;
        int64_t xo = col % k->sw * p->hp * wq + col / k->sw;
        emit_line(e, "{");
        if (lanes) {
            emit_line(e, "const cnnc_v%d xv = *(const cnnc_v%du *)(xk + %lld);", lanes, lanes,
                      (long long)xo);
            for (int f = f0; f < f1; f++)
                emit_line(e, "s%d += xv * wk[%d];", f, kx * nf + f);
        } else {
            emit_line(e, "for (int f = 0; f < %d; f++)", f1 - f0);
            emit_line(e, "    for (int l = 0; l < 8; l++)");
            emit_line(e, "        a[f][l] += xk[%lld + l] * wk[%d + f];", (long long)xo,
                      kx * nf + f0);
        }
        emit_line(e, "}");
    }
    emit_line(e, "}");
    emit_line(e, "float *yb = y + (gi * %lld + (%s) * %d) * %lld + oy * %lld + ox;",
              (long long)p->fg, fb, ROWS_PB, (long long)p->np, (long long)k->ow);
    if (!lanes) {
        emit_line(e, "for (int f = 0; f < %d; f++)", f1 - f0);
        emit_line(e, "    for (int l = 0; l < 8; l++)");
        emit_line(e, "        yb[(%d + f) * %lld + l] = %s;", f0, (long long)p->np,
                  emit_act(e, n->act, "a[f][l]"));
    }
    for (int f = f0; f < f1 && lanes; f++) {
        char v[16], vl[24];
        snprintf(v, sizeof v, "s%d", f);
        snprintf(vl, sizeof vl, "s%d[l]", f);
        if (act_emit_vec(e, n->act, v, lanes)) {
            emit_line(e, "*(cnnc_v%du *)(yb + %lld) = %s;", lanes, (long long)(f * p->np), v);
        } else {
            emit_line(e, "for (int l = 0; l < %d; l++)", lanes);
            emit_line(e, "    yb[%lld + l] = %s;", (long long)(f * p->np), emit_act(e, n->act, vl));
        }
    }
    emit_line(e, "}");
}

/* Filters fb * PB .. + nf over every output row, in vectors of `lanes`
 * pixels (0: plain C, 8); a filter block's weights stay in L1. The 16
 * filters' sums are 16 of AVX-512's 32 registers, a half of AVX2's 16. */
static void emit_rows_plane(Emit *e, const ConvPlan *p, const Node *n, const char *X, int nf,
                            int lanes, const char *fb)
{
    const ConvGeom *k = &p->k;
    int64_t wq = rows_wq(p), run = lanes ? lanes : 8;
    int maxf = lanes == 16 ? ROWS_PB : 8;
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k->oh);
    emit_line(e, "for (int ox = 0;; ox += %lld) {", (long long)run);
    emit_line(e, "if (ox > %lld)", (long long)(k->ow - run));
    emit_line(e, "    ox = %lld;", (long long)(k->ow - run));
    emit_line(e, "const float *xr = %s + gi * %lld + oy * %lld + ox;", X,
              (long long)(p->cg * k->sw * p->hp * wq), (long long)(k->sh * wq));
    for (int f0 = 0; f0 < nf; f0 += maxf)
        emit_rows_block(e, p, n, nf, f0, f0 + maxf < nf ? f0 + maxf : nf, lanes, fb);
    emit_line(e, "if (ox == %lld)", (long long)(k->ow - run));
    emit_line(e, "    break;");
    emit_line(e, "}");
}

static void emit_rows_loops(Emit *e, const ConvPlan *p, const Node *n, const char *X, int lanes)
{
    int full = (int)(p->fg / ROWS_PB), last = (int)(p->fg % ROWS_PB);
    emit_line(e, "for (int gi = 0; gi < %d; gi++) {", p->k.groups);
    if (full) {
        emit_line(e, "for (int fb = 0; fb < %d; fb++)", full);
        emit_rows_plane(e, p, n, X, ROWS_PB, lanes, "fb");
    }
    if (last) {
        char fb[16];
        snprintf(fb, sizeof fb, "%d", full);
        emit_rows_plane(e, p, n, X, last, lanes, fb);
    }
    emit_line(e, "}");
}

/* The padded input's column phases (above), from X (pitch wp) into
 * dst: [C][SW][HP][WQ], zeros past the padded row's end. */
static void emit_phase_split(Emit *e, const ConvPlan *p, const char *dst, const char *X)
{
    int64_t wq = rows_wq(p);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)p->k.c);
    emit_line(e, "for (int a = 0; a < %d; a++)", p->k.sw);
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)p->hp);
    emit_line(e, "const float *src = %s + (c * %lld + r) * %lld + a;", X, (long long)p->hp,
              (long long)p->wp);
    emit_line(e, "float *d = %s + ((c * %d + a) * %lld + r) * %lld;", dst, p->k.sw,
              (long long)p->hp, (long long)wq);
    emit_line(e, "for (int j = 0; j < %lld; j++)", (long long)wq);
    emit_line(e, "    d[j] = j * %d + a < %lld ? src[j * %d] : 0.0f;", p->k.sw, (long long)p->wp,
              p->k.sw);
    emit_line(e, "}");
}

static void emit_conv_rows(Emit *e, const ConvPlan *p, const Node *n)
{
    Graph *g = emit_graph(e);
    const ConvGeom *k = &p->k;
    int64_t nw, nb, phase = k->sw > 1 ? k->c * k->sw * p->hp * rows_wq(p) : 0;
    float *w = repack_rows(p, node_param_data(g, n, 0), &nw);
    float *b = xcalloc((size_t)k->f, sizeof *b);
    if (n->a.bias)
        memcpy(b, node_param_data(g, n, 1), (size_t)k->f * sizeof *b);
    nb = k->f;
    char *wcomment = xasprintf("%s.weight [%lld,%lld,%d,%d] as [G=%d][F/G/%d][C/G=%lld][%d][%d][%d]",
                               n->name, (long long)k->f, (long long)p->cg, k->kh, k->kw,
                               k->groups, ROWS_PB, (long long)p->cg, k->kh, k->kw, ROWS_PB);
    const char *W, *B;
    conv_emit_consts(e, n, wcomment, w, nw, "", b, nb, &W, &B);
    free(w);
    free(b);
    const char *X = "x0";
    bool padded = k->pt || k->pl || k->pb || k->pr;
    if (phase || padded)
        emit_scratch(e, phase + (padded ? k->c * p->hp * p->wp : 0));
    if (padded) {
        X = phase ? emit_keep(e, xasprintf("(s + %lld)", (long long)phase)) : "s";
        emit_line(e, "/* the input with its padding, so windows need no bounds checks */");
        emit_pad_copy(e, X, "x0", k->c, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                      n->a.pad_mode);
    }
    if (phase) {
        emit_line(e, "/* the input's column phases: every tap reads a contiguous run */");
        emit_phase_split(e, p, "s", X);
        X = "s";
    }
    emit_line(e, "const float *weight = %s, *bias = %s;", W, B);
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    emit_rows_loops(e, p, n, X, 16);
    emit_line(e, "#elif defined(CNNC_V8_DEFINED)");
    emit_rows_loops(e, p, n, X, 8);
    emit_line(e, "#else");
    emit_rows_loops(e, p, n, X, 0);
    emit_line(e, "#endif");
}

/* ---- 1x1, strided, unpadded: the read pixels, then the GEMM ----
 *
 * resnet's downsampling convs (1x1, stride 2) read one input pixel in
 * four. The channel-blocked kernel ran them at 100-125 GFLOP/s; copying
 * the pixels they read into a dense C x OH x OW plane (a quarter of the
 * input) turns them into the stride-1 GEMM of conv_pw_emit.c, which reads
 * that plane as its input. */
static bool conv_emit_subsampled(Emit *e, const ConvPlan *p, const Node *n)
{
    const ConvGeom *k = &p->k;
    if (k->kh != 1 || k->kw != 1 || (k->sh == 1 && k->sw == 1) || k->pt || k->pl || k->pb ||
        k->pr)
        return false;
    ConvPlan q = *p;
    q.k.h = q.hp = k->oh;
    q.k.w = q.wp = k->ow;
    q.k.sh = q.k.sw = 1;
    q.x = "s";
    if (!conv_is_pointwise(&q))
        return false;
    emit_scratch(e, k->c * k->oh * k->ow);
    emit_line(e, "/* the pixels the strided 1x1 conv reads, as a dense plane */");
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k->c);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k->oh);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++)", (long long)k->ow);
    emit_line(e, "    s[(c * %lld + oy) * %lld + ox] = x0[(c * %lld + oy * %d) * %lld + ox * %d];",
              (long long)k->oh, (long long)k->ow, (long long)k->h, k->sh, (long long)k->w, k->sw);
    conv_emit_pointwise(e, &q, n);
    return true;
}

ConvPlan conv_plan(const Graph *g, const Node *n)
{
    ConvPlan p = {.k = conv_geometry(g, n)};
    p.cg = p.k.c / p.k.groups;
    p.fg = p.k.f / p.k.groups;
    p.vb = p.fg >= 16 ? 16 : p.fg >= 8 ? 8 : (int)p.fg;
    p.vec = p.vb % 8 == 0;
    /* Sums in registers: 6 x 16 or 12 x 8 is 12 AVX registers, leaving 4
     * of 16 for the weights and the broadcast input. */
    p.xb = p.vec ? 96 / p.vb : MAX_ACC / p.vb < 8 ? MAX_ACC / p.vb : 8;
    p.np = p.k.oh * p.k.ow;
    if (p.xb > p.np)
        p.xb = (int)p.np;
    p.nfb = (int)((p.fg + p.vb - 1) / p.vb);
    p.hp = p.k.h + p.k.pt + p.k.pb;
    p.wp = p.k.w + p.k.pl + p.k.pr;
    p.x = "x0";
    p.y = "y";
    p.res = n->nin > 1;
    return p;
}

/* Whether a 1x1 stride-1 layer goes to the channel-blocked kernel instead
 * of the pixel GEMM: on planes under 256 pixels with 256+ input channels
 * the GEMM's weight block (Cg x 12) falls out of L1 for every 32-pixel
 * run, and on a 7x7 plane its vectors of 16 pixels waste a quarter of the
 * lanes. Measured on mobilenet_v2 (AVX-512): 14x14, Cg 384-576: 148-170
 * against 180-193 GFLOP/s; 7x7: 103-120 against 115-134; but 14x14, Cg
 * 64-96: 140 against 130, so small Cg keeps to the GEMM. */
static bool pointwise_to_general(const ConvPlan *p)
{
    return p->np < 256 && (p->cg >= 256 || p->np <= 64) && p->fg >= 16;
}

/* In place (OpInfo.writes_over_input): a float 2-D layer with one filter
 * per group, which every profile sends to a kernel that copies a group's
 * input channels into scratch before writing its output (the phase planes
 * and the padded rows of conv_dw_emit.c; conv_mcu_emit.c's padded copy,
 * made for an unpadded layer too when it runs in place), except 1x1
 * stride-1 unpadded ones, which the pointwise GEMM reads in place; an int8
 * one with one input channel per group too (conv_int8_dw.c's kernel copies
 * each channel, bordered, when it runs in place). Group
 * g's output (Oh x Ow) must end before group g + 1's input (Cg x H x W)
 * begins, and the copy of one group must be smaller than the output it
 * saves, so that the arena never grows where the copy is extra. */
bool conv_writes_over_input(const Graph *g, const Node *n)
{
    if (window_is_3d(g, n))
        return false;
    ConvPlan p = conv_plan(g, n);
    if (node_quantized(g, n) && p.cg != 1)
        return false;
    const ConvGeom *k = &p.k;
    bool pointwise = k->kh == 1 && k->kw == 1 && k->sh == 1 && k->sw == 1 && !k->pt && !k->pl &&
                     !k->pb && !k->pr;
    int64_t group_in = p.cg * k->h * k->w;
    return p.fg == 1 && !pointwise && p.np <= group_in && group_in < k->f * p.np;
}

int conv_mcu_block(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    if (window_is_3d(g, n) || !emit_scalar_kernels(e))
        return 0;
    ConvPlan p = conv_plan(g, n);
    if (conv_use_winograd(&p, n, !emit_options(e)->no_winograd))
        return 0;
    return conv_mcu_filters_per_block(&p);
}

void conv_emit(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    if (window_is_3d(g, n)) {
        conv_emit_volume(e, n);
        return;
    }
    ConvPlan p = conv_plan(g, n);
    const ConvGeom *k = &p.k;
    bool winograd = conv_use_winograd(&p, n, !emit_options(e)->no_winograd);
    if (emit_scalar_kernels(e) && !winograd) {
        conv_emit_mcu(e, &p, n);
        return;
    }
    if (conv_is_pointwise(&p) && !pointwise_to_general(&p)) {
        conv_emit_pointwise(e, &p, n);
        return;
    }
    if (p.fg == 1) {
        conv_emit_depthwise(e, &p, n);
        return;
    }
    if (winograd) {
        conv_emit_winograd(e, &p, n);
        return;
    }
    if (conv_emit_subsampled(e, &p, n))
        return;
    if (conv_use_rows(&p)) {
        emit_conv_rows(e, &p, n);
        return;
    }
    int64_t nw, nb;
    float *w = repack_weight(&p, node_param_data(g, n, 0), &nw);
    float *b = conv_repack_bias(&p, n->a.bias ? node_param_data(g, n, 1) : NULL, &nb);
    char *wcomment = xasprintf("%s.weight [%lld,%lld,%d,%d] as [G=%d][F/G/VB=%d][C/G=%lld][%d][%d][VB=%d]",
                               n->name, (long long)k->f, (long long)p.cg, k->kh, k->kw, k->groups,
                               p.nfb, (long long)p.cg, k->kh, k->kw, p.vb);
    const char *W, *B;
    conv_emit_consts(e, n, wcomment, w, nw, ", in blocks of VB", b, nb, &W, &B);
    free(w);
    free(b);
    if (k->pt || k->pl || k->pb || k->pr) {
        p.x = emit_scratch(e, k->c * p.hp * p.wp);
        emit_line(e, "/* the input with its padding, so windows need no bounds checks */");
        emit_pad_copy(e, p.x, "x0", k->c, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                      n->a.pad_mode);
    }
    emit_line(e, "enum { VB = %d }; /* output channels per block */", p.vb);
    bool transposed = p.vb == 16 && conv_pw_transposed_fits(&p);
    if (transposed)
        emit_unused(e, "s"); /* scratch of the 8-float path only */
    if (p.vb == 16) {
        emit_line(e, "#if defined(CNNC_V16_DEFINED)");
        emit_v16_loops(e, &p, n, W, B);
        if (transposed) {
            emit_line(e, "#elif defined(CNNC_V8_DEFINED)");
            conv_emit_pw_transposed(e, &p, n, W, B);
        }
        emit_line(e, "#else");
    }
    emit_line(e, "for (int gi = 0; gi < %d; gi++)", k->groups);
    emit_line(e, "for (int fb = 0; fb < %d; fb++) {", p.nfb);
    emit_line(e, "const float *wb = %s + (gi * %d + fb) * %lld;", W, p.nfb,
              (long long)(p.cg * k->kh * k->kw * p.vb));
    emit_line(e, "const float *bb = %s + (gi * %d + fb) * VB;", B, p.nfb);
    emit_line(e, "const float *xg = %s + gi * %lld;", p.x, (long long)(p.cg * p.hp * p.wp));
    char *off = xasprintf("(gi * %lld + fb * VB) * %lld", (long long)p.fg, (long long)p.np);
    conv_emit_out_ptrs(e, &p, off);
    free(off);
    bool partial = p.fg % p.vb != 0;
    if (partial)
        emit_line(e, "int nv = %lld - fb * VB < VB ? %lld - fb * VB : VB;", (long long)p.fg,
                  (long long)p.fg);
    emit_block_loops(e, &p, n, partial);
    emit_line(e, "}");
    if (p.vb == 16)
        emit_line(e, "#endif");
}
