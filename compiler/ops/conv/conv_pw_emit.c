/* conv_pw_emit.c: the forward kernel of a 1x1, stride-1, unpadded
 * convolution, a GEMM along the pixels (see below). */
#include "conv_emit.h"

#include <stdlib.h>

/* ---- 1x1, stride 1, no padding: a GEMM along the pixels ----
 *
 * Y[f][p] = b[f] + sum_c W[f][c] X[c][p] with the pixels contiguous in X
 * and Y (NCHW): a block is up to PB output channels x a run of pixels, per
 * input channel a few contiguous vector loads of the inputs times each
 * channel's weight (a broadcast, on AVX-512 an FMA's memory operand). Loads
 * and stores are contiguous, where a channel-blocked kernel would scatter
 * its stores over the planes. The sums:
 * - 16-float vectors (AVX-512): PB = 12 channels x 2 vectors (32 pixels),
 *   24 of the 32 registers (1 vector where the plane has under 32 pixels);
 * - 8-float vectors: 12 channels x 2 vectors (16 pixels) in two passes of
 *   6 channels, 12 of 16 registers: per input channel 6 broadcasts and 2
 *   loads for 12 FMAs, where 12 channels x 1 vector took 12 broadcasts and
 *   1 load (AVX2 has no broadcast memory operand; mobilenet_v2's GEMM
 *   layers 7-18 % faster on Zen 3);
 * - plain C99: 12 arrays of 8 floats.
 * A plane that is not a multiple of the run ends with one overlapping run
 * (its last pixels at the plane's end), whose already-stored lanes are not
 * stored again, so that a 7x7 plane is 4 vectors of 16, not 3 and 1 lane by
 * lane. The last channel block has Fg % PB channels (no wasted sums). The
 * pixels are walked in tiles of Cg x TQ inputs of about 32 KB, every
 * channel block of a tile before the next tile, so that the inputs come
 * from L1/L2 for every block but the first. Weights [G][ceil(Fg/PB)][Cg][PB]. */
enum { PB = 12, MIN_PIXELS = 16, TILE_FLOATS = 8192 };

bool conv_is_pointwise(const ConvPlan *p)
{
    const ConvGeom *k = &p->k;
    return k->kh == 1 && k->kw == 1 && k->sh == 1 && k->sw == 1 && !k->pt && !k->pl && !k->pb &&
           !k->pr && p->np >= MIN_PIXELS;
}

float *conv_repack_pointwise(const ConvPlan *p, const float *w, int64_t *count)
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

/* Floats from one channel's input, and output, to the next. */
static int64_t x_chan(const ConvPlan *p)
{
    return p->xcs ? p->xcs : p->np;
}

static int64_t y_chan(const ConvPlan *p)
{
    return p->ycs ? p->ycs : p->np;
}

/* One code path's blocking: `lanes` floats per vector (0: plain arrays),
 * nv vectors (or arrays) of that per channel, so runs of `run` pixels. */
typedef struct {
    const ConvPlan *p;
    Act act;
    bool bias; /* bb exists (else the sums start at zero) */
    int lanes, nv, run;
    int sub; /* channels whose sums are in registers at once (a divisor of PB) */
} PwPath;

/* Vector u of channel f, already summed, to the output at yr + lanes * u:
 * the residual and the activation on the vector, or lane by lane from lane
 * `from` when the run overlaps pixels already stored. */
static void emit_vec_store(Emit *e, const PwPath *pp, int f, int reg, int u, int from)
{
    const ConvPlan *p = pp->p;
    int L = pp->lanes;
    char v[16];
    snprintf(v, sizeof v, "s%d_%d", reg, u);
    if (from) {
        emit_line(e, "{");
        emit_line(e, "float t[%d];", L);
        emit_line(e, "*(cnnc_v%du *)t = %s;", L, v);
        emit_line(e, "for (int i = %d; i < %d; i++) {", from, L);
        char at[64];
        snprintf(at, sizeof at, "%lld + q + %d + i", (long long)(f * y_chan(p)), u * L);
        emit_line(e, "yr[%d + i] = %s;", u * L, emit_act(e, pp->act, conv_pre_act(e, p, "t[i]", at)));
        emit_line(e, "}");
        emit_line(e, "}");
        return;
    }
    if (p->res)
        emit_line(e, "%s += *(const cnnc_v%du *)(rb + %lld + q + %d);", v, L,
                  (long long)(f * y_chan(p)), u * L);
    bool done = act_emit_vec(e, pp->act, v, L);
    emit_line(e, "*(cnnc_v%du *)(yr + %d) = %s;", L, u * L, v);
    if (!done) {
        emit_line(e, "for (int i = %d; i < %d; i++) {", u * L, u * L + L);
        emit_line(e, "const float t = yr[i];");
        emit_line(e, "yr[i] = %s;", emit_act(e, pp->act, "t"));
        emit_line(e, "}");
    }
}

/* One pass: channels f0 .. f0 + nch - 1 x nv vectors at pixel q. */
static void emit_vec_pass(Emit *e, const PwPath *pp, int f0, int nch, int nv, int skip)
{
    const ConvPlan *p = pp->p;
    int L = pp->lanes;
    emit_line(e, "{");
    for (int f = 0; f < nch; f++)
        for (int u = 0; u < nv; u++)
            if (pp->bias)
                emit_line(e, "cnnc_v%d s%d_%d = (cnnc_v%d){0} + bb[%d];", L, f, u, L, f0 + f);
            else
                emit_line(e, "cnnc_v%d s%d_%d = (cnnc_v%d){0};", L, f, u, L);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xr = xg + c * %lld + q;", (long long)x_chan(p));
    emit_line(e, "const float *wc = wb + c * %d;", PB);
    for (int u = 0; u < nv; u++)
        emit_line(e, "const cnnc_v%d x%d = *(const cnnc_v%du *)(xr + %d);", L, u, L, u * L);
    for (int f = 0; f < nch; f++)
        for (int u = 0; u < nv; u++)
            emit_line(e, "s%d_%d += x%d * wc[%d];", f, u, u, f0 + f);
    emit_line(e, "}");
    for (int f = 0; f < nch; f++) {
        emit_line(e, "/* channel %d */", f0 + f);
        emit_line(e, "{");
        emit_line(e, "float *yr = yb + %lld + q;", (long long)((f0 + f) * y_chan(p)));
        for (int u = 0; u < nv; u++)
            emit_vec_store(e, pp, f0 + f, f, u, u ? 0 : skip);
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

/* A vector block at pixel q: nch channels x nv vectors, in passes of
 * pp->sub channels; `skip` lanes of the first vector were stored by the
 * previous run. */
static void emit_vec_block(Emit *e, const PwPath *pp, int nch, int nv, int skip)
{
    emit_line(e, "{");
    for (int f0 = 0; f0 < nch; f0 += pp->sub)
        emit_vec_pass(e, pp, f0, nch - f0 < pp->sub ? nch - f0 : pp->sub, nv, skip);
    emit_line(e, "}");
}

/* A plain block at pixel q: nch channels x pw pixels in arrays. */
static void emit_plain_block(Emit *e, const PwPath *pp, int nch, int pw)
{
    const ConvPlan *p = pp->p;
    emit_line(e, "{");
    for (int f = 0; f < nch; f++)
        emit_line(e, "float a%d[%d];", f, pw);
    emit_line(e, "for (int i = 0; i < %d; i++) {", pw);
    for (int f = 0; f < nch; f++)
        if (pp->bias)
            emit_line(e, "a%d[i] = bb[%d];", f, f);
        else
            emit_line(e, "a%d[i] = 0.0f;", f);
    emit_line(e, "}");
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xr = xg + c * %lld + q;", (long long)x_chan(p));
    emit_line(e, "const float *wc = wb + c * %d;", PB);
    emit_line(e, "for (int i = 0; i < %d; i++) {", pw);
    emit_line(e, "const float xv = xr[i];");
    for (int f = 0; f < nch; f++)
        emit_line(e, "a%d[i] += xv * wc[%d];", f, f);
    emit_line(e, "}");
    emit_line(e, "}");
    for (int f = 0; f < nch; f++) {
        emit_line(e, "for (int i = 0; i < %d; i++) {", pw);
        char v[16], at[48];
        snprintf(v, sizeof v, "a%d[i]", f);
        snprintf(at, sizeof at, "%lld + q + i", (long long)(f * y_chan(p)));
        emit_line(e, "yb[%s] = %s;", at, emit_act(e, pp->act, conv_pre_act(e, p, v, at)));
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

/* The pointers of channel block fb (a variable or literal in scope). */
static void emit_block_ptrs(Emit *e, const PwPath *pp, const char *W, const char *B)
{
    const ConvPlan *p = pp->p;
    int64_t nfb = (p->fg + PB - 1) / PB;
    emit_line(e, "const float *wb = %s + (gi * %lld + fb) * %lld;", W, (long long)nfb,
              (long long)(p->cg * PB));
    if (pp->bias)
        emit_line(e, "const float *bb = %s + (gi * %lld + fb) * %d;", B, (long long)nfb, PB);
    int64_t ygs = p->ygs ? p->ygs : p->fg * p->np;
    char *off = xasprintf("gi * %lld + fb * %lld", (long long)ygs, (long long)(PB * y_chan(p)));
    conv_emit_out_ptrs(e, p, off);
    free(off);
}

/* Every channel block over pixels [q, qe) in runs (`tail`: the one last
 * run at the plane's end instead). */
static void emit_channel_blocks(Emit *e, const PwPath *pp, const char *W, const char *B,
                                bool tail)
{
    const ConvPlan *p = pp->p;
    int64_t nfull = p->fg / PB, rest = p->fg % PB, rem = p->np % pp->run;
    for (int last = 0; last < 2; last++) {
        int nch = last ? (int)rest : PB;
        if (!nch || (!last && !nfull))
            continue;
        if (last) {
            emit_line(e, "{");
            emit_line(e, "const int fb = %lld;", (long long)nfull);
        } else {
            emit_line(e, "for (int fb = 0; fb < %lld; fb++) {", (long long)nfull);
        }
        emit_block_ptrs(e, pp, W, B);
        if (!tail)
            emit_line(e, "for (int q = q0; q < qe; q += %d)", pp->run);
        if (tail && !pp->lanes) {
            emit_line(e, "{");
            emit_line(e, "const int q = %lld;", (long long)(p->np - rem));
            emit_plain_block(e, pp, nch, (int)rem);
            emit_line(e, "}");
        } else if (tail) {
            int nv = (int)((rem + pp->lanes - 1) / pp->lanes);
            emit_line(e, "{");
            emit_line(e, "const int q = %lld;", (long long)(p->np - nv * pp->lanes));
            emit_vec_block(e, pp, nch, nv, p->restore ? 0 : (int)(nv * pp->lanes - rem));
            emit_line(e, "}");
        } else if (pp->lanes)
            emit_vec_block(e, pp, nch, pp->nv, 0);
        else
            emit_plain_block(e, pp, nch, pp->run);
        emit_line(e, "}");
    }
}

/* One code path: the pixel tiles, each with every channel block, then the
 * plane's last pixels. */
static void emit_pw_path(Emit *e, const PwPath *pp, const char *W, const char *B)
{
    const ConvPlan *p = pp->p;
    int64_t full = p->np - p->np % pp->run;
    int64_t tq = TILE_FLOATS / p->cg / pp->run * pp->run;
    tq = tq < pp->run ? pp->run : tq;
    if (full) {
        emit_line(e, "for (int q0 = 0; q0 < %lld; q0 += %lld) {", (long long)full, (long long)tq);
        emit_line(e, "const int qe = q0 + %lld < %lld ? q0 + %lld : %lld;", (long long)tq,
                  (long long)full, (long long)tq, (long long)full);
        emit_channel_blocks(e, pp, W, B, false);
        emit_line(e, "}");
    }
    if (full < p->np)
        emit_channel_blocks(e, pp, W, B, true);
}

void conv_emit_pointwise(Emit *e, const ConvPlan *p, const Node *n)
{
    Graph *g = emit_graph(e);
    const ConvGeom *k = &p->k;
    int64_t nw, nb, nfb = (p->fg + PB - 1) / PB;
    ConvPlan bp = *p; /* the bias in blocks of PB */
    bp.vb = PB;
    bp.nfb = (int)nfb;
    float *w = conv_repack_pointwise(p, node_param_data(g, n, 0), &nw);
    float *b = conv_repack_bias(&bp, n->a.bias ? node_param_data(g, n, 1) : NULL, &nb);
    char *wcomment = xasprintf("%s.weight [%lld,%lld,1,1] as [G=%d][F/G/PB=%lld][C/G=%lld][PB=%d]",
                               n->name, (long long)k->f, (long long)p->cg, k->groups,
                               (long long)nfb, (long long)p->cg, PB);
    const char *W, *B;
    conv_emit_consts(e, n, wcomment, w, nw, ", in blocks of PB", b, nb, &W, &B);
    free(w);
    free(b);
    emit_line(e, "/* 1x1: a GEMM along the pixels, blocks of %d channels x a run of pixels */", PB);
    conv_emit_gemm(e, p, n->act, W, B);
}

void conv_emit_gemm(Emit *e, const ConvPlan *p, Act act, const char *W, const char *B)
{
    emit_line(e, "for (int gi = 0; gi < %d; gi++) {", p->k.groups);
    emit_line(e, "const float *xg = %s + gi * %lld;", p->x,
              (long long)(p->xgs ? p->xgs : p->cg * p->np));
    bool bias = B != NULL;
    PwPath v16 = {p, act, bias, 16, p->np >= 32 ? 2 : 1, p->np >= 32 ? 32 : 16, PB};
    PwPath v8 = {p, act, bias, 8, 2, 16, 6}, plain = {p, act, bias, 0, 1, 8, PB};
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    emit_pw_path(e, &v16, W, B);
    emit_line(e, "#elif defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT)");
    emit_pw_path(e, &v8, W, B);
    emit_line(e, "#else");
    emit_pw_path(e, &plain, W, B);
    emit_line(e, "#endif");
    emit_line(e, "}");
}

/* ---- 1x1 on small planes, 8 floats: the channel-blocked kernel on a
 * pixel-major copy of the input ----
 *
 * The channel-blocked kernel (conv_emit.c) broadcasts each of a block's 6
 * pixels from its own input plane: per input channel 6 floats from 6 to
 * 12 cache lines, which on a 7x7 plane with hundreds of channels do not
 * stay in L1 from one block to the next (60-70 % of the 8-float peak on
 * Zen 3). Here the input is first copied pixel-major ([np][Cg]), so a
 * block's broadcasts walk 6 contiguous runs. The copy goes 8 channels at
 * a time (8 input rows and np output runs of 32 bytes in L1: 960 x 7x7
 * in 10 us, 34 us pixel by pixel). mobilenet_v2 on Zen 3, each 7x7 1x1
 * layer alone, hot caches, ms: 320 -> 1280 0.58 -> 0.46, 160 -> 960 0.21
 * -> 0.18, 960 -> 160 0.23 -> 0.19, 960 -> 320 0.48 -> 0.39, 576 -> 160
 * 0.110 -> 0.108; but at 14x14 (576 -> 96, 384 -> 64) 5-10 % slower, so
 * planes of up to 64 pixels only. Blocks are 16 filters (the general
 * kernel's weights, [G][Fg/16][Cg][16]) x 6 pixels. */
enum { T_PIX = 6, T_CHUNK = 8 };

bool conv_pw_transposed_fits(const ConvPlan *p)
{
    return conv_is_pointwise(p) && p->vb == 16 && p->np <= 64;
}

static void emit_transpose_input(Emit *e, const ConvPlan *p)
{
    emit_line(e, "const float *xg = %s + gi * %lld;", p->x, (long long)(p->cg * p->np));
    emit_line(e, "for (int c0 = 0; c0 < %lld; c0 += %d)", (long long)p->cg, T_CHUNK);
    emit_line(e, "for (int q = 0; q < %lld; q++)", (long long)p->np);
    emit_line(e, "for (int c = c0; c < c0 + %d && c < %lld; c++)", T_CHUNK, (long long)p->cg);
    emit_line(e, "    s[q * %lld + c] = xg[c * %lld + q];", (long long)p->cg, (long long)p->np);
}

/* The block's sums (act applied where it has a vector form) to a[6][16],
 * then to channel v's plane for the block's filters. */
static void emit_transposed_store(Emit *e, const ConvPlan *p, const Node *n, int npix)
{
    bool raw = !p->res;
    emit_line(e, "float a[%d][16];", npix);
    for (int i = 0; i < npix; i++)
        for (int j = 0; j < 2; j++) {
            char v[16];
            snprintf(v, sizeof v, "s%d_%d", i, j);
            raw = raw && act_emit_vec(e, n->act, v, 8);
            emit_line(e, "*(cnnc_v8u *)(a[%d] + %d) = %s;", i, 8 * j, v);
        }
    emit_line(e, "for (int v = 0; v < nv; v++) {");
    for (int i = 0; i < npix; i++) {
        char v[16], at[48];
        snprintf(v, sizeof v, "a[%d][v]", i);
        snprintf(at, sizeof at, "v * %lld + q + %d", (long long)p->np, i);
        const char *pre = conv_pre_act(e, p, v, at);
        emit_line(e, "yb[%s] = %s;", at, raw ? pre : emit_act(e, n->act, pre));
    }
    emit_line(e, "}");
}

/* One block of npix pixels from q: sums, the channel loop, the stores. */
static void emit_transposed_block(Emit *e, const ConvPlan *p, const Node *n, int npix)
{
    emit_line(e, "const float *xq = s + q * %lld;", (long long)p->cg);
    for (int i = 0; i < npix; i++)
        emit_line(e, "cnnc_v8 s%d_0 = *(const cnnc_v8u *)bb, s%d_1 = *(const cnnc_v8u *)(bb + 8);",
                  i, i);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const cnnc_v8 w0 = *(const cnnc_v8u *)(wb + c * 16), "
                 "w1 = *(const cnnc_v8u *)(wb + c * 16 + 8);");
    for (int i = 0; i < npix; i++) {
        emit_line(e, "{");
        emit_line(e, "const float xv = xq[%lld + c];", (long long)(i * p->cg));
        emit_line(e, "s%d_0 += w0 * xv;", i);
        emit_line(e, "s%d_1 += w1 * xv;", i);
        emit_line(e, "}");
    }
    emit_line(e, "}");
    emit_transposed_store(e, p, n, npix);
}

/* The plane in blocks of T_PIX pixels: without a residual the last block
 * moved back to end at the plane's end (it rewrites a few outputs with
 * the same values), with one a narrower last block (no output written
 * twice). */
static void emit_transposed_plane(Emit *e, const ConvPlan *p, const Node *n)
{
    int64_t np = p->np, rem = np % T_PIX;
    if (!p->res || !rem) {
        emit_line(e, "for (int q = 0;; q += %d) {", T_PIX);
        emit_line(e, "if (q > %lld)", (long long)(np - T_PIX));
        emit_line(e, "    q = %lld;", (long long)(np - T_PIX));
        emit_transposed_block(e, p, n, T_PIX);
        emit_line(e, "if (q == %lld)", (long long)(np - T_PIX));
        emit_line(e, "    break;");
        emit_line(e, "}");
        return;
    }
    emit_line(e, "for (int q = 0; q < %lld; q += %d) {", (long long)(np - rem), T_PIX);
    emit_transposed_block(e, p, n, T_PIX);
    emit_line(e, "}");
    emit_line(e, "{");
    emit_line(e, "const int q = %lld;", (long long)(np - rem));
    emit_transposed_block(e, p, n, (int)rem);
    emit_line(e, "}");
}

void conv_emit_pw_transposed(Emit *e, const ConvPlan *p, const Node *n, const char *W,
                             const char *B)
{
    emit_scratch(e, p->cg * p->np);
    emit_line(e, "/* 1x1 on a small plane: the input copied pixel-major into s, then "
                 "16 filters x %d pixels per block */", T_PIX);
    emit_line(e, "for (int gi = 0; gi < %d; gi++) {", p->k.groups);
    emit_transpose_input(e, p);
    emit_line(e, "for (int fb = 0; fb < %d; fb++) {", p->nfb);
    emit_line(e, "const float *wb = %s + (gi * %d + fb) * %lld;", W, p->nfb,
              (long long)(p->cg * 16));
    emit_line(e, "const float *bb = %s + (gi * %d + fb) * 16;", B, p->nfb);
    char *off = xasprintf("(gi * %lld + fb * 16) * %lld", (long long)p->fg, (long long)p->np);
    conv_emit_out_ptrs(e, p, off);
    free(off);
    emit_line(e, "const int nv = %lld - fb * 16 < 16 ? %lld - fb * 16 : 16;", (long long)p->fg,
              (long long)p->fg);
    emit_transposed_plane(e, p, n);
    emit_line(e, "}");
    emit_line(e, "}");
}
