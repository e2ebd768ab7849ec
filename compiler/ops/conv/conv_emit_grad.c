/* conv_emit_grad.c: the convolution's training code (traingen): the
 * training forward reading the state's weights (PyTorch's layout; frozen
 * ones on a Cortex-M profile, the inference kernel's blocked array) and
 * the backward, with every shape a literal.
 *
 * Each sample and group goes through im2col: col[K][P] holds, for each
 * kernel tap k = (c, ky, kx), the input value each output position p reads
 * (0 in zero padding). Padding of any mode is a table of source rows and
 * columns per tap (-1 for a zero), computed here at compile time, so the
 * gather has no bounds arithmetic and reflect/replicate cost nothing more.
 * The columns are built a chunk of output rows at a time, so that the
 * scratch stays within the emit kit's chunk size (emit_train_chunk: at
 * batch 1 on a microcontroller LeNet's conv1 would need 75 x 784 floats
 * for one sample). Then the three convolutions are matrix products over
 * literal sizes (the emit kit's, register-blocked):
 *   y  = W[F][K] col          (emit_mm_nn), chunk by chunk
 *   dcol = W^T dy             first, from the old weights, scattered back
 *                             into dx through the same tables (col2im)
 *   dW = dy[F][P] col^T       a block of rows (all of them when they fit)
 *                             summed over the batch and the chunks, then
 *                             stepped by the optimizer; the input is
 *                             unfolded again for each block. */
#include "conv_emit.h"

#include <stdlib.h>

enum {
    ROW_FORM_PLANE = 512, /* conv dW: im2row + emit_mm_nn below this P, else dot products */
};

/* ---- the convolution ---- */

/* static const int NAME[k * out]: the input index each output reads with
 * each tap (as conv_grad.c's tap_sources). */
static void emit_taps(Emit *e, const char *name, int64_t out, int k, int stride, int dilation,
                      int pad, int64_t in, PadMode mode)
{
    StrBuf b = {0};
    for (int t = 0; t < k; t++)
        for (int64_t o = 0; o < out; o++)
            sb_printf(&b, "%s%lld", t + o ? ", " : "",
                      (long long)pad_source(o * stride - pad + (int64_t)t * dilation, in, mode));
    emit_line(e, "static const int %s[%lld] = {%s};", name, (long long)(out * k), b.s);
    sb_free(&b);
}

/* The outputs [*lo, *hi) whose input index o * stride - pad + t * dilation
 * (tap t) is inside [0, in): no padding there, so the gather is a strided
 * copy. */
static void tap_span(int64_t out, int t, int stride, int dilation, int pad, int64_t in,
                     int64_t *lo, int64_t *hi)
{
    int64_t off = (int64_t)t * dilation - pad;
    *lo = out;
    *hi = 0;
    for (int64_t o = 0; o < out; o++)
        if (o * stride + off >= 0 && o * stride + off < in) {
            if (*lo == out)
                *lo = o;
            *hi = o + 1;
        }
    if (*lo == out)
        *lo = *hi = 0;
}

/* Whether some output of some tap lies outside its span (reads padding). */
static bool spans_have_edges(int64_t out, int k, int stride, int dilation, int pad, int64_t in)
{
    for (int t = 0; t < k; t++) {
        int64_t lo, hi;
        tap_span(out, t, stride, dilation, pad, in, &lo, &hi);
        if (lo > 0 || hi < out)
            return true;
    }
    return false;
}

/* static const int NAME_lo[k], NAME_hi[k]: each tap's span. */
static void emit_spans(Emit *e, const char *name, int64_t out, int k, int stride, int dilation,
                       int pad, int64_t in)
{
    StrBuf lo = {0}, hi = {0};
    for (int t = 0; t < k; t++) {
        int64_t l, h;
        tap_span(out, t, stride, dilation, pad, in, &l, &h);
        sb_printf(&lo, "%s%lld", t ? ", " : "", (long long)l);
        sb_printf(&hi, "%s%lld", t ? ", " : "", (long long)h);
    }
    emit_line(e, "static const int %s_lo[%d] = {%s};", name, k, lo.s ? lo.s : "");
    emit_line(e, "static const int %s_hi[%d] = {%s};", name, k, hi.s ? hi.s : "");
    sb_free(&lo);
    sb_free(&hi);
}

typedef struct {
    ConvGeom k;
    long long cg, fg, plane, taps; /* channels and filters per group, P, K */
    bool edges;                    /* some output column reads padding */
} ConvDims;

/* Output rows per chunk: `rows` each, the last `tail` (0: none). */
typedef struct {
    long long rows, nfull, tail;
} Chunks;

static ConvDims conv_dims(Emit *e, const Node *n)
{
    ConvDims d;
    d.k = conv_geometry(emit_graph(e), n);
    d.cg = d.k.c / d.k.groups;
    d.fg = d.k.f / d.k.groups;
    d.plane = d.k.oh * d.k.ow;
    d.taps = d.cg * d.k.kh * d.k.kw;
    d.edges = spans_have_edges(d.k.ow, d.k.kw, d.k.sw, d.k.dw, d.k.pl, d.k.w);
    return d;
}

/* The tables the gathers read (ry, rx and rx's spans) and the loop
 * variables. */
static void emit_setup(Emit *e, const Node *n, const ConvDims *d)
{
    emit_taps(e, "ry", d->k.oh, d->k.kh, d->k.sh, d->k.dh, d->k.pt, d->k.h, n->a.pad_mode);
    if (d->edges) {
        emit_spans(e, "rx", d->k.ow, d->k.kw, d->k.sw, d->k.dw, d->k.pl, d->k.w);
        emit_unused(e, "rx_lo"); /* unused when im2row alone gathers */
        emit_unused(e, "rx_hi");
        emit_taps(e, "rx", d->k.ow, d->k.kw, d->k.sw, d->k.dw, d->k.pl, d->k.w, n->a.pad_mode);
    }
    emit_line(e, "int b, g, f, c, ky, kx, oy, ox;");
    emit_unused(e, "f");
}

/* Chunks of output rows whose columns (K floats a position) fit in
 * `budget` floats: as many rows as fit, a divisor of the height where one
 * is close (no shorter last chunk to emit twice). */
static Chunks row_chunks(const ConvDims *d, int64_t budget)
{
    long long oh = d->k.oh, row = d->taps * d->k.ow;
    long long most = budget / row < 1 ? 1 : budget / row > oh ? oh : budget / row;
    Chunks c = {most, oh / most, oh % most};
    for (long long r = most; r * 2 >= most; r--)
        if (oh % r == 0)
            return (Chunks){r, oh / r, 0};
    return c;
}

/* The loops over the taps k = (c, ky, kx) and the chunk's output rows
 * [oy0, oy0 + rows), giving `co` (the row of col for tap k and output row
 * oy: col is K x (rows * ow)), `xc` (channel c of group g of sample b;
 * xname's float offset), iy, and the span [lo, hi) of outputs that read
 * xc[iy * w + off + ox * stride]; the caller writes the ox loops and
 * closes 5 braces. */
static void open_taps(Emit *e, const ConvDims *d, long long rows, const char *xc_type,
                      const char *xname)
{
    const ConvGeom *k = &d->k;
    emit_line(e, "for (c = 0; c < %lld; c++)", d->cg);
    emit_line(e, "for (ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (kx = 0; kx < %d; kx++) {", k->kw);
    emit_line(e, "float *cr = col + ((c * %d + ky) * %d + kx) * %lld;", k->kh, k->kw,
              rows * (long long)k->ow);
    emit_line(e, "%s*restrict xc = %s + ((size_t)b * %lld + g * %lld + c) * %lld;", xc_type, xname,
              (long long)k->c, d->cg, (long long)(k->h * k->w));
    if (d->edges)
        emit_line(e, "const int lo = rx_lo[kx], hi = rx_hi[kx];");
    emit_line(e, "const int off = kx * %d - %d;", k->dw, k->pl);
    emit_line(e, "for (oy = oy0; oy < oy0 + %lld; oy++) {", rows);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k->oh);
    emit_line(e, "float *restrict co = cr + (oy - oy0) * %lld;", (long long)k->ow);
}

/* The ox loops of one output row: the padded edges through the table
 * (reflect and replicate read inside, zeros read nothing), the middle a
 * strided copy gcc vectorises. */
static void emit_row_loops(Emit *e, const ConvDims *d, const char *edge, const char *middle)
{
    const ConvGeom *k = &d->k;
    if (d->edges) {
        emit_line(e, "for (ox = 0; ox < lo; ox++) {");
        emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k->ow);
        emit_line(e, "%s", edge);
        emit_line(e, "}");
    }
    if (d->edges)
        emit_line(e, "for (ox = lo; ox < hi; ox++)");
    else /* literal bounds: gcc sizes the vector loop */
        emit_line(e, "for (ox = 0; ox < %lld; ox++)", (long long)k->ow);
    emit_line(e, "    %s", middle);
    if (d->edges) {
        emit_line(e, "for (ox = hi; ox < %lld; ox++) {", (long long)k->ow);
        emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k->ow);
        emit_line(e, "%s", edge);
        emit_line(e, "}");
    }
}

/* col (K x rows * ow) <- the input's taps for output rows [oy0, oy0 + rows). */
static void emit_im2col(Emit *e, const ConvDims *d, long long rows)
{
    const ConvGeom *k = &d->k;
    char edge[128], middle[128];
    snprintf(edge, sizeof edge, "co[ox] = ix >= 0 ? xc[iy * %lld + ix] : 0.0f;", (long long)k->w);
    snprintf(middle, sizeof middle, "co[ox] = xc[iy * %lld + off + ox * %d];", (long long)k->w,
             k->sw);
    open_taps(e, d, rows, "const float ", "x0");
    emit_line(e, "if (iy < 0) {");
    emit_line(e, "for (ox = 0; ox < %lld; ox++)", (long long)k->ow);
    emit_line(e, "    co[ox] = 0.0f;");
    emit_line(e, "continue;");
    emit_line(e, "}");
    emit_row_loops(e, d, edge, middle);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The columns transposed (im2row): col[p][k], each output position's
 * taps in a row of K, so that dW = dy col^T is a product over P with the
 * K columns in vectors (emit_mm_nn), not K x F dot products whose sums of
 * lanes cost as much as the products when P is small. */
static void emit_im2row(Emit *e, const ConvDims *d, long long rows)
{
    const ConvGeom *k = &d->k;
    emit_line(e, "for (oy = oy0; oy < oy0 + %lld; oy++)", rows);
    emit_line(e, "for (ox = 0; ox < %lld; ox++)", (long long)k->ow);
    emit_line(e, "for (c = 0; c < %lld; c++) {", d->cg);
    emit_line(e, "const float *xc = x0 + ((size_t)b * %lld + g * %lld + c) * %lld;",
              (long long)k->c, d->cg, (long long)(k->h * k->w));
    emit_line(e, "for (ky = 0; ky < %d; ky++) {", k->kh);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k->oh);
    emit_line(e, "float *ck = col + ((oy - oy0) * %lld + ox) * %lld + (c * %d + ky) * %d;",
              (long long)k->ow, d->taps, k->kh, k->kw);
    emit_line(e, "if (iy < 0) {");
    emit_line(e, "for (kx = 0; kx < %d; kx++)", k->kw);
    emit_line(e, "    ck[kx] = 0.0f;");
    emit_line(e, "continue;");
    emit_line(e, "}");
    emit_line(e, "for (kx = 0; kx < %d; kx++) {", k->kw);
    if (d->edges) {
        emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k->ow);
        emit_line(e, "ck[kx] = ix >= 0 ? xc[iy * %lld + ix] : 0.0f;", (long long)k->w);
    } else {
        emit_line(e, "ck[kx] = xc[iy * %lld + ox * %d + kx * %d - %d];", (long long)k->w, k->sw,
                  k->dw, k->pl);
    }
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "}");
}

/* dx += the columns' gradient (col: K x rows * ow), through the same
 * tables. */
static void emit_col2im(Emit *e, const ConvDims *d, long long rows)
{
    const ConvGeom *k = &d->k;
    char edge[128], middle[128];
    snprintf(edge, sizeof edge, "if (ix >= 0) xc[iy * %lld + ix] += co[ox];", (long long)k->w);
    snprintf(middle, sizeof middle, "xc[iy * %lld + off + ox * %d] += co[ox];", (long long)k->w,
             k->sw);
    open_taps(e, d, rows, "float ", "dx0");
    emit_line(e, "if (iy < 0)");
    emit_line(e, "    continue;");
    emit_row_loops(e, d, edge, middle);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The chunks: chunk(e, d, rows, arg) for each, with `oy0` its first
 * output row, in a loop over the full ones and once for a shorter last. */
static void for_chunks(Emit *e, const ConvDims *d, Chunks ch,
                       void (*chunk)(Emit *, const ConvDims *, long long, const void *),
                       const void *arg)
{
    if (ch.nfull == 1 && ch.tail == 0) {
        emit_line(e, "{");
        emit_line(e, "const int oy0 = 0;");
    } else {
        emit_line(e, "int at;");
        emit_line(e, "for (at = 0; at < %lld; at++) {", ch.nfull);
        emit_line(e, "const int oy0 = at * %lld;", ch.rows);
    }
    chunk(e, d, ch.rows, arg);
    emit_line(e, "}");
    if (ch.tail) {
        emit_line(e, "{");
        emit_line(e, "const int oy0 = %lld;", ch.nfull * ch.rows);
        chunk(e, d, ch.tail, arg);
        emit_line(e, "}");
    }
}

/* Where the training code reads the weights, wg per group: p0, PyTorch's
 * [Fg][K]; or, frozen on a Cortex-M profile, the inference kernel's own
 * array (emit_frozen_packed), so that flash holds them once: blocks of fb
 * filters, block kb the matrix [K][fb] at wg + kb * fb * K, the last one
 * Fg % fb wide (conv_mcu_emit.c), one product per block. */
typedef struct {
    const char *base; /* "p0" or the inference code's array */
    int fb;           /* filters per block; 0: PyTorch's layout */
} ConvWeights;

static ConvWeights conv_weights(Emit *e, const Node *n)
{
    int fb = conv_mcu_block(e, n);
    const char *packed = fb ? emit_frozen_packed(e, n, 0) : NULL;
    return packed ? (ConvWeights){packed, fb} : (ConvWeights){"p0", 0};
}

/* Block kb's (a C expression, width filters) share of the forward,
 * y[f][p] += sum_k W[f][k] col[k][p], or of dL/dx's columns,
 * col[k][p] += sum_f W[f][k] gy[f][p]; mat is y's or gy's chunk. */
static void emit_block_product(Emit *e, const ConvDims *d, bool forward, const char *mat,
                               long long cols, const char *kb, int fb, long long width)
{
    char w[32], taps[32];
    snprintf(w, sizeof w, "%lld", width);
    snprintf(taps, sizeof taps, "%lld", d->taps);
    emit_line(e, "{");
    emit_line(e, "const float *wk = wg + (size_t)(%s) * %lld;", kb, fb * d->taps);
    emit_line(e, "%sfloat *mk = %s + (size_t)(%s) * %lld;", forward ? "" : "const ", mat, kb,
              fb * d->plane);
    if (forward)
        emit_mm_nn(e, "mk", "wk", "col", w, cols, taps, d->plane, 1, width, cols);
    else
        emit_mm_nn(e, "col", "wk", "mk", taps, cols, w, cols, width, 1, d->plane);
    emit_line(e, "}");
}

/* The full blocks in a loop, then the narrower last one. */
static void emit_block_products(Emit *e, const ConvDims *d, bool forward, const char *mat,
                                long long cols, int fb)
{
    long long full = d->fg / fb, last = d->fg % fb;
    if (full) {
        emit_line(e, "for (int kb = 0; kb < %lld; kb++)", full);
        emit_block_product(e, d, forward, mat, cols, "kb", fb, fb);
    }
    if (last) {
        char kb[32];
        snprintf(kb, sizeof kb, "%lld", full);
        emit_block_product(e, d, forward, mat, cols, kb, fb, last);
    }
}

/* Forward chunk: y[:, chunk] = W col. */
static void forward_chunk(Emit *e, const ConvDims *d, long long rows, const void *arg)
{
    const ConvWeights *w = arg;
    char fg[32], taps[32], yc[48];
    snprintf(fg, sizeof fg, "%lld", d->fg);
    snprintf(taps, sizeof taps, "%lld", d->taps);
    snprintf(yc, sizeof yc, "yg + oy0 * %lld", (long long)d->k.ow);
    emit_im2col(e, d, rows);
    if (w->fb)
        emit_block_products(e, d, true, yc, rows * d->k.ow, w->fb);
    else
        emit_mm_nn(e, yc, "wg", "col", fg, rows * d->k.ow, taps, d->plane, d->taps, 1,
                   rows * d->k.ow);
}

void conv_emit_train(Emit *e, const Node *n)
{
    if (window_is_3d(emit_graph(e), n)) {
        conv_emit_volume_train(e, n);
        return;
    }
    ConvDims d = conv_dims(e, n);
    ConvWeights w = conv_weights(e, n);
    Chunks ch = row_chunks(&d, emit_train_chunk(e));
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_setup(e, n, &d);
    emit_line(e, "float *col = %s;", emit_train_scratch(e, d.taps * ch.rows * d.k.ow));
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (g = 0; g < %d; g++) {", d.k.groups);
    emit_line(e, "float *yg = y + ((size_t)b * %lld + g * %lld) * %lld;", (long long)d.k.f, d.fg,
              d.plane);
    emit_line(e, "const float *wg = %s + (size_t)g * %lld;", w.base, d.fg * d.taps);
    emit_line(e, "for (f = 0; f < %lld; f++)", d.fg);
    emit_line(e, "for (oy = 0; oy < %lld; oy++)", d.plane);
    if (bias)
        emit_line(e, "    yg[f * %lld + oy] = p1[g * %lld + f];", d.plane, d.fg);
    else
        emit_line(e, "    yg[f * %lld + oy] = 0.0f;", d.plane);
    for_chunks(e, &d, ch, forward_chunk, &w);
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (oy = 0; oy < %lld; oy++)", d.fg * d.plane);
        emit_line(e, "    yg[oy] = %s;", emit_act(e, n->act, "yg[oy]"));
    }
    emit_line(e, "}");
}

/* ---- backward ---- */

/* dL/dx chunk: dcol = W^T dy[:, chunk], added back into dx. */
static void dx_chunk(Emit *e, const ConvDims *d, long long rows, const void *arg)
{
    const ConvWeights *w = arg;
    char fg[32], taps[32], gc[48];
    snprintf(fg, sizeof fg, "%lld", d->fg);
    snprintf(taps, sizeof taps, "%lld", d->taps);
    snprintf(gc, sizeof gc, "gy + oy0 * %lld", (long long)d->k.ow);
    emit_line(e, "memset(col, 0, sizeof(float) * %lld);", d->taps * rows * d->k.ow);
    if (w->fb)
        emit_block_products(e, d, false, gc, rows * d->k.ow, w->fb);
    else
        emit_mm_nn(e, "col", "wg", gc, taps, rows * d->k.ow, fg, rows * d->k.ow, 1, d->taps,
                   d->plane);
    emit_col2im(e, d, rows);
}

/* dL/dx of every sample, from the old weights: before any row is stepped. */
static void emit_dx_phase(Emit *e, const ConvDims *d, const ConvWeights *w)
{
    Chunks ch = row_chunks(d, emit_train_chunk(e));
    emit_train_scratch(e, d->taps * ch.rows * d->k.ow);
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (g = 0; g < %d; g++) {", d->k.groups);
    emit_line(e, "const float *gy = dy + ((size_t)b * %lld + g * %lld) * %lld;", (long long)d->k.f,
              d->fg, d->plane);
    emit_line(e, "const float *wg = %s + (size_t)g * %lld;", w->base, d->fg * d->taps);
    emit_line(e, "float *col = ws;");
    for_chunks(e, d, ch, dx_chunk, w);
    emit_line(e, "}");
}

/* A block of the weight gradient: `rows` filters of group g from filter
 * r0, at gw (and the bias's at gb). */
typedef struct {
    long long rows;
    bool dw, db;
} Block;

/* gb[f] += the sample's gy of filter f summed over the plane, in 16
 * partial sums (a fixed-width loop gcc vectorises; a single float sum
 * would be a serial chain, since gcc never reorders a float reduction). */
static void emit_bias_sums(Emit *e, const ConvDims *d, long long rows)
{
    long long full = d->plane - d->plane % 16;
    emit_line(e, "for (f = 0; f < %lld; f++) {", rows);
    emit_line(e, "const float *gr = gy + f * %lld;", d->plane);
    emit_line(e, "float part[16] = {0}, sum = 0.0f;");
    emit_line(e, "int q;");
    if (full > 0) {
        emit_line(e, "for (oy = 0; oy < %lld; oy += 16)", full);
        emit_line(e, "for (q = 0; q < 16; q++)");
        emit_line(e, "    part[q] += gr[oy + q];");
    }
    emit_line(e, "for (q = 0; q < 16; q++)");
    emit_line(e, "    sum += part[q];");
    if (d->plane % 16) {
        emit_line(e, "for (oy = %lld; oy < %lld; oy++)", full, d->plane);
        emit_line(e, "    sum += gr[oy];");
    }
    emit_line(e, "gbg[f] += sum;");
    emit_line(e, "}");
}

/* dW chunk: gw[rows][K] += gy[rows][chunk] col^T. */
static void dw_chunk(Emit *e, const ConvDims *d, long long rows, const void *arg)
{
    const Block *bl = arg;
    char m[32], gc[48];
    snprintf(m, sizeof m, "%lld", bl->rows);
    snprintf(gc, sizeof gc, "gy + oy0 * %lld", (long long)d->k.ow);
    if (d->plane < ROW_FORM_PLANE) {
        char k[32];
        snprintf(k, sizeof k, "%lld", rows * d->k.ow);
        emit_im2row(e, d, rows);
        emit_mm_nn(e, "gwg", gc, "col", m, d->taps, k, d->taps, d->plane, 1, d->taps);
    } else {
        emit_im2col(e, d, rows);
        emit_mm_nt(e, "gwg", gc, "col", m, d->taps, rows * d->k.ow, d->taps, d->plane,
                   rows * d->k.ow);
    }
}

/* One block's sums over the batch: for each sample and group of the block
 * (group `g` alone when the block is part of one), the bias sums and the
 * chunks' products. */
static void emit_block_sums(Emit *e, const ConvDims *d, const Block *bl, bool whole_groups,
                            Chunks ch)
{
    emit_line(e, "for (b = 0; b < n; b++)");
    if (whole_groups)
        emit_line(e, "for (g = 0; g < %d; g++) {", d->k.groups);
    else
        emit_line(e, "{");
    emit_line(e, "const float *gy = dy + ((size_t)b * %lld + g * %lld + r0) * %lld;",
              (long long)d->k.f, d->fg, d->plane);
    if (bl->dw) {
        emit_line(e, "float *gwg = gw + (size_t)%s * %lld;", whole_groups ? "g" : "0",
                  d->fg * d->taps);
        emit_line(e, "float *col = ws;");
    }
    if (bl->db)
        emit_line(e, "float *gbg = gb + (size_t)%s * %lld;", whole_groups ? "g" : "0", d->fg);
    if (bl->db)
        emit_bias_sums(e, d, bl->rows);
    if (bl->dw)
        for_chunks(e, d, ch, dw_chunk, bl);
    emit_line(e, "}");
}

/* The block's gradient rows: declared, summed, then stepped. */
static void emit_block(Emit *e, const ConvDims *d, const Block *bl, bool whole_groups,
                       const char *row, int64_t wat, int64_t bat, Chunks ch)
{
    char rows[32], wexpr[32], bexpr[32];
    snprintf(rows, sizeof rows, "%lld", whole_groups ? (long long)d->k.f : bl->rows);
    snprintf(wexpr, sizeof wexpr, "ws + %lld", (long long)wat);
    snprintf(bexpr, sizeof bexpr, "ws + %lld", (long long)bat);
    emit_line(e, "{");
    if (bl->dw)
        emit_pgrad_begin(e, 0, "gw", row, rows, d->taps, wexpr);
    if (bl->db)
        emit_pgrad_begin(e, 1, "gb", row, rows, 1, bexpr);
    emit_block_sums(e, d, bl, whole_groups, ch);
    if (bl->dw)
        emit_pgrad_end(e, 0, "gw", row, rows, d->taps);
    if (bl->db)
        emit_pgrad_end(e, 1, "gb", row, rows, 1);
    emit_line(e, "}");
}

/* dL/dW and dL/db in blocks of filters that fit in the chunk size with a
 * chunk of columns: all of them at once when they do (the input is
 * unfolded once), else blocks within each group, each unfolding it again. */
static void emit_dw_phase(Emit *e, const ConvDims *d, bool dw, bool db)
{
    int64_t budget = emit_train_chunk(e), row = d->taps * d->k.ow;
    bool whole = d->k.f * d->taps + row <= budget;
    long long rows = d->fg;
    if (!whole) {
        long long most = budget / 2 / d->taps < 1 ? 1 : budget / 2 / d->taps;
        rows = most < d->fg ? most : d->fg;
        for (long long r = rows; r * 2 >= rows; r--)
            if (d->fg % r == 0) {
                rows = r;
                break;
            }
    }
    long long block = whole ? d->k.f : rows;
    Chunks ch = row_chunks(d, budget - block * d->taps > row ? budget - block * d->taps : row);
    int64_t wat = plan_round_up(d->taps * ch.rows * d->k.ow), bat = wat + plan_round_up(block * d->taps);
    emit_train_scratch(e, bat + block);
    Block bl = {rows, dw, db};
    if (whole) {
        emit_line(e, "const int r0 = 0;");
        emit_block(e, d, &bl, true, "0", wat, bat, ch);
        return;
    }
    long long full = d->fg / rows * rows;
    char first[48];
    snprintf(first, sizeof first, "g * %lld + r0", d->fg);
    emit_line(e, "int r0;");
    emit_line(e, "for (g = 0; g < %d; g++) {", d->k.groups);
    emit_line(e, "for (r0 = 0; r0 < %lld; r0 += %lld)", full, rows);
    emit_block(e, d, &bl, false, first, wat, bat, ch);
    if (full < d->fg) {
        bl.rows = d->fg - full;
        emit_block(e, d, &bl, false, first, wat, bat, ch);
    }
    emit_line(e, "}");
}

void conv_emit_grad(Emit *e, const Node *n)
{
    if (window_is_3d(emit_graph(e), n)) {
        conv_emit_volume_grad(e, n);
        return;
    }
    ConvDims d = conv_dims(e, n);
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    emit_grad_epilogue(e, n, d.k.f * d.plane);
    if (dx || dw)
        emit_setup(e, n, &d);
    else /* the bias alone (--train-bias-only): no taps to walk */
        emit_line(e, "int b, g, f, oy;");
    if (dx) {
        ConvWeights w = conv_weights(e, n);
        emit_dx_phase(e, &d, &w);
    }
    if (dw || db) {
        emit_line(e, "{");
        emit_dw_phase(e, &d, dw, db);
        emit_line(e, "}");
    }
}
