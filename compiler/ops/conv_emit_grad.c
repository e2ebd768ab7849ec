/* conv_emit_grad.c: the convolution's training code (traingen): the
 * training forward reading the state's weights (PyTorch's layout) and the
 * backward, with every shape a literal, and the matrix-product blocks the
 * dense layer's training code shares.
 *
 * Each sample and group goes through im2col: col[K][P] holds, for each
 * kernel tap k = (c, ky, kx), the input value each output position p reads
 * (0 in zero padding). Padding of any mode is a table of source rows and
 * columns per tap (-1 for a zero), computed here at compile time, so the
 * gather has no bounds arithmetic and reflect/replicate cost nothing more.
 * Then the three convolutions are matrix products over literal sizes:
 *   y  = W[F][K] col          (emit_mm_nn)
 *   dW += dy[F][P] col^T      (emit_mm_nt: dot products over P)
 *   dcol = W^T dy, scattered back into dx through the same tables.
 * The products are register-blocked by hand (a few rows times a vector's
 * width of columns held in local arrays), because gcc vectorises such
 * fixed-width inner loops but, without -ffast-math, never a float
 * reduction: the dot-product form keeps one partial sum per lane. */
#include "ops.h"

#include <stdlib.h>

enum {
    NN_ROWS = 4,  /* rows of c per block of emit_mm_nn */
    NN_COLS = 64, /* columns per block: four 512-bit or eight 256-bit vectors */
    NT_ROWS = 4,  /* emit_mm_nt: a NT_ROWS x NT_COLS block of dot products */
    NT_COLS = 4,
    NT_LANES = 16, /* partial sums per dot product */
};

/* One block of emit_mm_nn: rows i0..i0+rows-1, columns j0..j0+w-1. */
static void nn_block(Emit *e, int rows, int64_t w, const char *j0, const char *c, const char *a,
                     const char *b, const char *k, int64_t ldc, int64_t sai, int64_t sak,
                     int64_t ldb)
{
    emit_line(e, "{");
    for (int r = 0; r < rows; r++)
        emit_line(e, "float c%d[%lld];", r, (long long)w);
    emit_line(e, "float *cp = %s + (size_t)i0 * %lld + %s;", c, (long long)ldc, j0);
    emit_line(e, "const float *ap = %s + (size_t)i0 * %lld;", a, (long long)sai);
    emit_line(e, "for (t = 0; t < %lld; t++) {", (long long)w);
    for (int r = 0; r < rows; r++)
        emit_line(e, "c%d[t] = cp[%lld + t];", r, (long long)(r * ldc));
    emit_line(e, "}");
    emit_line(e, "for (kk = 0; kk < %s; kk++) {", k);
    emit_line(e, "const float *bk = %s + (size_t)kk * %lld + %s;", b, (long long)ldb, j0);
    for (int r = 0; r < rows; r++)
        emit_line(e, "const float a%d = ap[%lld + (size_t)kk * %lld];", r, (long long)(r * sai),
                  (long long)sak);
    emit_line(e, "for (t = 0; t < %lld; t++) {", (long long)w);
    for (int r = 0; r < rows; r++)
        emit_line(e, "c%d[t] += a%d * bk[t];", r, r);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "for (t = 0; t < %lld; t++) {", (long long)w);
    for (int r = 0; r < rows; r++)
        emit_line(e, "cp[%lld + t] = c%d[t];", (long long)(r * ldc), r);
    emit_line(e, "}");
    emit_line(e, "}");
}

static void nn_rows(Emit *e, int rows, const char *c, const char *a, const char *b, int64_t nc,
                    const char *k, int64_t ldc, int64_t sai, int64_t sak, int64_t ldb)
{
    if (nc >= NN_COLS) {
        emit_line(e, "for (j0 = 0; j0 + %d <= %lld; j0 += %d)", NN_COLS, (long long)nc, NN_COLS);
        nn_block(e, rows, NN_COLS, "j0", c, a, b, k, ldc, sai, sak, ldb);
    }
    if (nc % NN_COLS) {
        char j0[32];
        snprintf(j0, sizeof j0, "%lld", (long long)(nc - nc % NN_COLS));
        nn_block(e, rows, nc % NN_COLS, j0, c, a, b, k, ldc, sai, sak, ldb);
    }
}

void emit_mm_nn(Emit *e, const char *c, const char *a, const char *b, const char *m, int64_t nc,
                const char *k, int64_t ldc, int64_t sai, int64_t sak, int64_t ldb)
{
    emit_line(e, "{");
    emit_line(e, "int i0 = 0, j0 = 0, kk, t;");
    emit_line(e, "(void)j0;");
    emit_line(e, "for (; i0 + %d <= %s; i0 += %d) {", NN_ROWS, m, NN_ROWS);
    nn_rows(e, NN_ROWS, c, a, b, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "}");
    emit_line(e, "for (; i0 < %s; i0++) {", m);
    nn_rows(e, 1, c, a, b, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* One block of emit_mm_nt: rows x cols dot products of length kc. */
static void nt_block(Emit *e, int rows, int cols, const char *c, const char *a, const char *b,
                     int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    int64_t full = kc - kc % NT_LANES;
    emit_line(e, "{");
    emit_line(e, "const float *ar = %s + (size_t)i0 * %lld, *br = %s + (size_t)j0 * %lld;", a,
              (long long)lda, b, (long long)ldb);
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++)
            emit_line(e, "float s%d_%d[%d] = {0};", r, q, NT_LANES);
    if (full > 0) {
        emit_line(e, "for (kk = 0; kk < %lld; kk += %d)", (long long)full, NT_LANES);
        emit_line(e, "for (t = 0; t < %d; t++) {", NT_LANES);
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < cols; q++)
                emit_line(e, "s%d_%d[t] += ar[%lld + kk + t] * br[%lld + kk + t];", r, q,
                          (long long)(r * lda), (long long)(q * ldb));
        emit_line(e, "}");
    }
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++) {
            emit_line(e, "{");
            emit_line(e, "float v = 0.0f;");
            emit_line(e, "for (t = 0; t < %d; t++)", NT_LANES);
            emit_line(e, "    v += s%d_%d[t];", r, q);
            if (kc % NT_LANES) {
                emit_line(e, "for (kk = %lld; kk < %lld; kk++)", (long long)full, (long long)kc);
                emit_line(e, "    v += ar[%lld + kk] * br[%lld + kk];", (long long)(r * lda),
                          (long long)(q * ldb));
            }
            emit_line(e, "%s[((size_t)i0 + %d) * %lld + j0 + %d] += v;", c, r, (long long)ldc, q);
            emit_line(e, "}");
        }
    emit_line(e, "}");
}

static void nt_cols(Emit *e, int rows, const char *c, const char *a, const char *b, int64_t nc,
                    int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    emit_line(e, "j0 = 0;");
    if (nc >= NT_COLS) {
        emit_line(e, "for (; j0 + %d <= %lld; j0 += %d)", NT_COLS, (long long)nc, NT_COLS);
        nt_block(e, rows, NT_COLS, c, a, b, kc, ldc, lda, ldb);
    }
    if (nc % NT_COLS) {
        emit_line(e, "for (; j0 < %lld; j0++)", (long long)nc);
        nt_block(e, rows, 1, c, a, b, kc, ldc, lda, ldb);
    }
}

void emit_mm_nt(Emit *e, const char *c, const char *a, const char *b, const char *m, int64_t nc,
                int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    emit_line(e, "{");
    emit_line(e, "int i0 = 0, j0, kk, t;");
    emit_line(e, "(void)kk;");
    emit_line(e, "for (; i0 + %d <= %s; i0 += %d) {", NT_ROWS, m, NT_ROWS);
    nt_cols(e, NT_ROWS, c, a, b, nc, kc, ldc, lda, ldb);
    emit_line(e, "}");
    emit_line(e, "for (; i0 < %s; i0++) {", m);
    nt_cols(e, 1, c, a, b, nc, kc, ldc, lda, ldb);
    emit_line(e, "}");
    emit_line(e, "}");
}

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

typedef struct {
    ConvGeom k;
    long long cg, fg, plane, taps; /* channels and filters per group, P, K */
} ConvDims;

static ConvDims setup(Emit *e, const Node *n)
{
    ConvDims d;
    d.k = conv_geometry(emit_graph(e), n);
    d.cg = d.k.c / d.k.groups;
    d.fg = d.k.f / d.k.groups;
    d.plane = d.k.oh * d.k.ow;
    d.taps = d.cg * d.k.kh * d.k.kw;
    emit_taps(e, "ry", d.k.oh, d.k.kh, d.k.sh, d.k.dh, d.k.pt, d.k.h, n->a.pad_mode);
    emit_taps(e, "rx", d.k.ow, d.k.kw, d.k.sw, d.k.dw, d.k.pl, d.k.w, n->a.pad_mode);
    emit_line(e, "int b, g, f, c, ky, kx, oy, ox;");
    emit_line(e, "float *col = ws, *dcol = ws + %lld;", d.taps * d.plane);
    emit_line(e, "(void)f;");
    emit_line(e, "(void)dcol;");
    return d;
}

int64_t conv_train_scratch(const Graph *g, const Node *n)
{
    ConvGeom k = conv_geometry(g, n);
    return 2 * (k.c / k.groups) * k.kh * k.kw * k.oh * k.ow;
}

/* The loops over the taps k = (c, ky, kx) and the output rows, giving
 * `cr` (row k of col), `xc` (channel c of group g of sample b; xname's
 * float offset) and iy; the caller writes the ox loop and closes 5 braces. */
static void open_taps(Emit *e, const ConvDims *d, const char *xc_type, const char *xname)
{
    const ConvGeom *k = &d->k;
    emit_line(e, "for (c = 0; c < %lld; c++)", d->cg);
    emit_line(e, "for (ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (kx = 0; kx < %d; kx++) {", k->kw);
    emit_line(e, "float *cr = col + ((c * %d + ky) * %d + kx) * %lld;", k->kh, k->kw, d->plane);
    emit_line(e, "%s*xc = %s + ((size_t)b * %lld + g * %lld + c) * %lld;", xc_type, xname,
              (long long)k->c, d->cg, (long long)(k->h * k->w));
    emit_line(e, "for (oy = 0; oy < %lld; oy++) {", (long long)k->oh);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k->oh);
}

static void emit_im2col(Emit *e, const ConvDims *d)
{
    const ConvGeom *k = &d->k;
    open_taps(e, d, "const float ", "x0");
    emit_line(e, "if (iy < 0) {");
    emit_line(e, "for (ox = 0; ox < %lld; ox++)", (long long)k->ow);
    emit_line(e, "    cr[oy * %lld + ox] = 0.0f;", (long long)k->ow);
    emit_line(e, "continue;");
    emit_line(e, "}");
    emit_line(e, "for (ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k->ow);
    emit_line(e, "cr[oy * %lld + ox] = ix >= 0 ? xc[iy * %lld + ix] : 0.0f;", (long long)k->ow,
              (long long)k->w);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "}");
}

/* dx += the columns' gradient (in dcol), through the same tables. */
static void emit_col2im(Emit *e, const ConvDims *d)
{
    const ConvGeom *k = &d->k;
    emit_line(e, "col = dcol;");
    open_taps(e, d, "float ", "dx0");
    emit_line(e, "if (iy < 0)");
    emit_line(e, "    continue;");
    emit_line(e, "for (ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const int ix = rx[kx * %lld + ox];", (long long)k->ow);
    emit_line(e, "if (ix >= 0)");
    emit_line(e, "    xc[iy * %lld + ix] += cr[oy * %lld + ox];", (long long)k->w, (long long)k->ow);
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "}");
    emit_line(e, "col = ws;");
}

void conv_emit_train(Emit *e, const Node *n)
{
    ConvDims d = setup(e, n);
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    char fg[32], taps[32];
    snprintf(fg, sizeof fg, "%lld", d.fg);
    snprintf(taps, sizeof taps, "%lld", d.taps);
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (g = 0; g < %d; g++) {", d.k.groups);
    emit_line(e, "float *yg = y + ((size_t)b * %lld + g * %lld) * %lld;", (long long)d.k.f, d.fg,
              d.plane);
    emit_line(e, "const float *wg = p0 + (size_t)g * %lld;", d.fg * d.taps);
    emit_im2col(e, &d);
    emit_line(e, "for (f = 0; f < %lld; f++)", d.fg);
    emit_line(e, "for (oy = 0; oy < %lld; oy++)", d.plane);
    if (bias)
        emit_line(e, "    yg[f * %lld + oy] = p1[g * %lld + f];", d.plane, d.fg);
    else
        emit_line(e, "    yg[f * %lld + oy] = 0.0f;", d.plane);
    emit_mm_nn(e, "yg", "wg", "col", fg, d.plane, taps, d.plane, d.taps, 1, d.plane);
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (oy = 0; oy < %lld; oy++)", d.fg * d.plane);
        emit_line(e, "    yg[oy] = %s;", emit_act(e, n->act, "yg[oy]"));
    }
    emit_line(e, "}");
}

void conv_emit_grad(Emit *e, const Node *n)
{
    ConvDims d = setup(e, n);
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    char fg[32], taps[32];
    snprintf(fg, sizeof fg, "%lld", d.fg);
    snprintf(taps, sizeof taps, "%lld", d.taps);
    emit_grad_epilogue(e, n, d.k.f * d.plane);
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (g = 0; g < %d; g++) {", d.k.groups);
    emit_line(e, "const float *gy = dy + ((size_t)b * %lld + g * %lld) * %lld;", (long long)d.k.f,
              d.fg, d.plane);
    emit_line(e, "const float *wg = p0 + (size_t)g * %lld;", d.fg * d.taps);
    emit_line(e, "(void)wg;");
    if (db) {
        emit_line(e, "for (f = 0; f < %lld; f++) {", d.fg);
        emit_line(e, "double sum = 0;");
        emit_line(e, "for (oy = 0; oy < %lld; oy++)", d.plane);
        emit_line(e, "    sum += gy[f * %lld + oy];", d.plane);
        emit_line(e, "dp1[g * %lld + f] += (float)sum;", d.fg);
        emit_line(e, "}");
    }
    if (dw) {
        emit_im2col(e, &d);
        emit_line(e, "{");
        emit_line(e, "float *dwg = dp0 + (size_t)g * %lld;", d.fg * d.taps);
        emit_mm_nt(e, "dwg", "gy", "col", fg, d.taps, d.plane, d.taps, d.plane, d.plane);
        emit_line(e, "}");
    }
    if (dx) {
        emit_line(e, "for (oy = 0; oy < %lld; oy++)", d.taps * d.plane);
        emit_line(e, "    dcol[oy] = 0.0f;");
        emit_mm_nn(e, "dcol", "wg", "gy", taps, d.plane, fg, d.plane, 1, d.taps, d.plane);
        emit_col2im(e, &d);
    }
    emit_line(e, "}");
}
