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
#include "../ops.h"

#include <stdlib.h>

enum {
    NN_COLS = 64, /* columns per block of the plain C path */
    NT_ROWS = 4,  /* emit_mm_nt: a NT_ROWS x NT_COLS block of dot products */
    NT_COLS = 4,
    NT_LANES = 16, /* partial sums per dot product (plain C path) */
    ROW_FORM_PLANE = 512, /* conv dW: im2row + emit_mm_nn below this P, else dot products */
};

/* The GNU vector type of `lanes` floats and its unaligned twin: the
 * preamble's (emit.c) for 16 and 8; 4 (column tails) is declared where
 * used, by emit_v4_types. */
static const char *vtype(int lanes)
{
    return lanes == 16 ? "cnnc_v16" : lanes == 8 ? "cnnc_v8" : "cnnc_tv4";
}

static const char *vtype_u(int lanes)
{
    return lanes == 16 ? "cnnc_v16u" : lanes == 8 ? "cnnc_v8u" : "cnnc_tv4u";
}

static void emit_v4_types(Emit *e)
{
    emit_line(e, "typedef float cnnc_tv4 __attribute__((vector_size(16)));");
    emit_line(e, "typedef float cnnc_tv4u __attribute__((vector_size(16), aligned(4)));");
}

/* One block of emit_mm_nn's plain C path: rows i0..i0+rows-1, columns
 * j0..j0+w-1, in local arrays gcc vectorises. */
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

/* One block of the vector path: rows x the vectors of widths[] (16, 8 or 4
 * floats, side by side from column j0), each a named accumulator that
 * lives in a register over the whole k loop. */
static void nn_vblock(Emit *e, int rows, const int *widths, int nw, const char *j0, const char *c,
                      const char *a, const char *b, const char *k, int64_t ldc, int64_t sai,
                      int64_t sak, int64_t ldb)
{
    emit_line(e, "{");
    emit_line(e, "float *cp = %s + (size_t)i0 * %lld + %s;", c, (long long)ldc, j0);
    emit_line(e, "const float *ap = %s + (size_t)i0 * %lld;", a, (long long)sai);
    for (int r = 0; r < rows; r++)
        for (int v = 0, at = 0; v < nw; at += widths[v++])
            emit_line(e, "%s c%d_%d = *(const %s *)(cp + %lld);", vtype(widths[v]), r, v,
                      vtype_u(widths[v]), (long long)(r * ldc + at));
    emit_line(e, "for (kk = 0; kk < %s; kk++) {", k);
    emit_line(e, "const float *bk = %s + (size_t)kk * %lld + %s;", b, (long long)ldb, j0);
    for (int v = 0, at = 0; v < nw; at += widths[v++])
        emit_line(e, "const %s b%d = *(const %s *)(bk + %d);", vtype(widths[v]), v,
                  vtype_u(widths[v]), at);
    for (int r = 0; r < rows; r++) {
        emit_line(e, "const float a%d = ap[%lld + (size_t)kk * %lld];", r, (long long)(r * sai),
                  (long long)sak);
        for (int v = 0; v < nw; v++)
            emit_line(e, "c%d_%d += b%d * a%d;", r, v, v, r);
    }
    emit_line(e, "}");
    for (int r = 0; r < rows; r++)
        for (int v = 0, at = 0; v < nw; at += widths[v++])
            emit_line(e, "*(%s *)(cp + %lld) = c%d_%d;", vtype_u(widths[v]),
                      (long long)(r * ldc + at), r, v);
    emit_line(e, "}");
}

/* Columns per block: three vectors of 16 or 8 floats, 64 in plain C. */
static int64_t nn_step(int lanes)
{
    return lanes ? (int64_t)lanes * 3 : NN_COLS;
}

/* Rows per block: 8 x 3 16-float accumulators (24 of AVX-512's 32
 * registers: 8 broadcasts and 3 loads per 24 FMAs), 4 x 3 8-float ones
 * (AVX2 has 16 registers), 4 in plain C. */
static int nn_block_rows(int lanes)
{
    return lanes == 16 ? 8 : 4;
}

/* The columns of one row block with `lanes`-float vectors (0: plain C):
 * blocks of `vecs` vectors, then the rest in narrower vectors, then the
 * last (< 4) columns in plain C. */
static void nn_rows(Emit *e, int rows, int lanes, const char *c, const char *a, const char *b,
                    int64_t nc, const char *k, int64_t ldc, int64_t sai, int64_t sak, int64_t ldb)
{
    int64_t step = nn_step(lanes);
    if (nc >= step) {
        emit_line(e, "for (j0 = 0; j0 + %lld <= %lld; j0 += %lld)", (long long)step,
                  (long long)nc, (long long)step);
        if (lanes) {
            int w[4] = {lanes, lanes, lanes, lanes};
            nn_vblock(e, rows, w, (int)(step / lanes), "j0", c, a, b, k, ldc, sai, sak, ldb);
        } else {
            nn_block(e, rows, step, "j0", c, a, b, k, ldc, sai, sak, ldb);
        }
    }
    int64_t at = nc - nc % step, rest = nc % step;
    char j0[32];
    snprintf(j0, sizeof j0, "%lld", (long long)at);
    if (lanes && rest >= 4) {
        int w[8], nw = 0;
        for (int width = lanes; width >= 4; width /= 2)
            for (; rest >= width; rest -= width)
                w[nw++] = width;
        nn_vblock(e, rows, w, nw, j0, c, a, b, k, ldc, sai, sak, ldb);
        at = nc - rest;
        snprintf(j0, sizeof j0, "%lld", (long long)at);
    }
    if (rest)
        nn_block(e, rows, rest, j0, c, a, b, k, ldc, sai, sak, ldb);
}

/* The row blocks: nn_block_rows at a time, then the rest (one block when m is a
 * literal, else row by row). */
static void nn_all(Emit *e, int lanes, const char *c, const char *a, const char *b, const char *m,
                   int64_t nc, const char *k, int64_t ldc, int64_t sai, int64_t sak, int64_t ldb)
{
    char *end;
    long long ml = strtoll(m, &end, 10);
    if (lanes && nc % nn_step(lanes) % 8 >= 4)
        emit_v4_types(e);
    int rows = nn_block_rows(lanes);
    emit_line(e, "for (i0 = 0; i0 + %d <= %s; i0 += %d) {", rows, m, rows);
    nn_rows(e, rows, lanes, c, a, b, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "}");
    if (*end == '\0' && *m) {
        if (ml % rows) {
            emit_line(e, "i0 = %lld;", ml - ml % rows);
            nn_rows(e, (int)(ml % rows), lanes, c, a, b, nc, k, ldc, sai, sak, ldb);
        }
        return;
    }
    emit_line(e, "for (; i0 < %s; i0++) {", m);
    nn_rows(e, 1, lanes, c, a, b, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "}");
}

void emit_mm_nn(Emit *e, const char *c, const char *a, const char *b, const char *m, int64_t nc,
                const char *k, int64_t ldc, int64_t sai, int64_t sak, int64_t ldb)
{
    emit_line(e, "{");
    emit_line(e, "int i0, j0, kk, t;");
    emit_line(e, "(void)j0;");
    emit_line(e, "(void)t;");
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    nn_all(e, 16, c, a, b, m, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "#elif defined(CNNC_V8_DEFINED)");
    nn_all(e, 8, c, a, b, m, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "#else");
    nn_all(e, 0, c, a, b, m, nc, k, ldc, sai, sak, ldb);
    emit_line(e, "#endif");
    emit_line(e, "}");
}

/* One block of emit_mm_nt: rows x cols dot products of length kc, each
 * with `lanes` partial sums (a named vector, or a local array in plain C),
 * added up at the end. */
static void nt_block(Emit *e, int rows, int cols, int lanes, const char *c, const char *a,
                     const char *b, int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    int L = lanes ? lanes : NT_LANES;
    int64_t full = kc - kc % L;
    emit_line(e, "{");
    emit_line(e, "const float *ar = %s + (size_t)i0 * %lld, *br = %s + (size_t)j0 * %lld;", a,
              (long long)lda, b, (long long)ldb);
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < cols; q++)
            if (lanes)
                emit_line(e, "%s s%d_%d = {0};", vtype(lanes), r, q);
            else
                emit_line(e, "float s%d_%d[%d] = {0};", r, q, L);
    if (full > 0 && lanes) {
        emit_line(e, "for (kk = 0; kk < %lld; kk += %d) {", (long long)full, L);
        for (int r = 0; r < rows; r++)
            emit_line(e, "const %s a%d = *(const %s *)(ar + %lld + kk);", vtype(L), r, vtype_u(L),
                      (long long)(r * lda));
        for (int q = 0; q < cols; q++) {
            emit_line(e, "const %s b%d = *(const %s *)(br + %lld + kk);", vtype(L), q, vtype_u(L),
                      (long long)(q * ldb));
            for (int r = 0; r < rows; r++)
                emit_line(e, "s%d_%d += a%d * b%d;", r, q, r, q);
        }
        emit_line(e, "}");
    } else if (full > 0) {
        emit_line(e, "for (kk = 0; kk < %lld; kk += %d)", (long long)full, L);
        emit_line(e, "for (t = 0; t < %d; t++) {", L);
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
            emit_line(e, "for (t = 0; t < %d; t++)", L);
            emit_line(e, "    v += s%d_%d[t];", r, q);
            if (kc % L) {
                emit_line(e, "for (kk = %lld; kk < %lld; kk++)", (long long)full, (long long)kc);
                emit_line(e, "    v += ar[%lld + kk] * br[%lld + kk];", (long long)(r * lda),
                          (long long)(q * ldb));
            }
            emit_line(e, "%s[((size_t)i0 + %d) * %lld + j0 + %d] += v;", c, r, (long long)ldc, q);
            emit_line(e, "}");
        }
    emit_line(e, "}");
}

static void nt_cols(Emit *e, int rows, int lanes, const char *c, const char *a, const char *b,
                    int64_t nc, int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    emit_line(e, "j0 = 0;");
    if (nc >= NT_COLS) {
        emit_line(e, "for (; j0 + %d <= %lld; j0 += %d)", NT_COLS, (long long)nc, NT_COLS);
        nt_block(e, rows, NT_COLS, lanes, c, a, b, kc, ldc, lda, ldb);
    }
    if (nc % NT_COLS) {
        emit_line(e, "for (; j0 < %lld; j0++)", (long long)nc);
        nt_block(e, rows, 1, lanes, c, a, b, kc, ldc, lda, ldb);
    }
}

static void nt_all(Emit *e, int lanes, const char *c, const char *a, const char *b, const char *m,
                   int64_t nc, int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    emit_line(e, "for (i0 = 0; i0 + %d <= %s; i0 += %d) {", NT_ROWS, m, NT_ROWS);
    nt_cols(e, NT_ROWS, lanes, c, a, b, nc, kc, ldc, lda, ldb);
    emit_line(e, "}");
    emit_line(e, "for (; i0 < %s; i0++) {", m);
    nt_cols(e, 1, lanes, c, a, b, nc, kc, ldc, lda, ldb);
    emit_line(e, "}");
}

void emit_mm_nt(Emit *e, const char *c, const char *a, const char *b, const char *m, int64_t nc,
                int64_t kc, int64_t ldc, int64_t lda, int64_t ldb)
{
    emit_line(e, "{");
    emit_line(e, "int i0, j0, kk, t;");
    emit_line(e, "(void)kk;");
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    nt_all(e, 16, c, a, b, m, nc, kc, ldc, lda, ldb);
    emit_line(e, "#elif defined(CNNC_V8_DEFINED)");
    nt_all(e, 8, c, a, b, m, nc, kc, ldc, lda, ldb);
    emit_line(e, "#else");
    nt_all(e, 0, c, a, b, m, nc, kc, ldc, lda, ldb);
    emit_line(e, "#endif");
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

static ConvDims setup(Emit *e, const Node *n)
{
    ConvDims d;
    d.k = conv_geometry(emit_graph(e), n);
    d.cg = d.k.c / d.k.groups;
    d.fg = d.k.f / d.k.groups;
    d.plane = d.k.oh * d.k.ow;
    d.taps = d.cg * d.k.kh * d.k.kw;
    emit_taps(e, "ry", d.k.oh, d.k.kh, d.k.sh, d.k.dh, d.k.pt, d.k.h, n->a.pad_mode);
    d.edges = spans_have_edges(d.k.ow, d.k.kw, d.k.sw, d.k.dw, d.k.pl, d.k.w);
    if (d.edges) {
        emit_spans(e, "rx", d.k.ow, d.k.kw, d.k.sw, d.k.dw, d.k.pl, d.k.w);
        emit_line(e, "(void)rx_lo;"); /* unused when im2row alone gathers */
        emit_line(e, "(void)rx_hi;");
        emit_taps(e, "rx", d.k.ow, d.k.kw, d.k.sw, d.k.dw, d.k.pl, d.k.w, n->a.pad_mode);
    }
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
 * `co` (row oy of row k of col), `xc` (channel c of group g of sample b;
 * xname's float offset), iy, and the span [lo, hi) of outputs that read
 * xc[iy * w + off + ox * stride]; the caller writes the ox loops and
 * closes 5 braces. */
static void open_taps(Emit *e, const ConvDims *d, const char *xc_type, const char *xname)
{
    const ConvGeom *k = &d->k;
    emit_line(e, "for (c = 0; c < %lld; c++)", d->cg);
    emit_line(e, "for (ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (kx = 0; kx < %d; kx++) {", k->kw);
    emit_line(e, "float *cr = col + ((c * %d + ky) * %d + kx) * %lld;", k->kh, k->kw, d->plane);
    emit_line(e, "%s*restrict xc = %s + ((size_t)b * %lld + g * %lld + c) * %lld;", xc_type, xname,
              (long long)k->c, d->cg, (long long)(k->h * k->w));
    if (d->edges)
        emit_line(e, "const int lo = rx_lo[kx], hi = rx_hi[kx];");
    emit_line(e, "const int off = kx * %d - %d;", k->dw, k->pl);
    emit_line(e, "for (oy = 0; oy < %lld; oy++) {", (long long)k->oh);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k->oh);
    emit_line(e, "float *restrict co = cr + oy * %lld;", (long long)k->ow);
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

static void emit_im2col(Emit *e, const ConvDims *d)
{
    const ConvGeom *k = &d->k;
    char edge[128], middle[128];
    snprintf(edge, sizeof edge, "co[ox] = ix >= 0 ? xc[iy * %lld + ix] : 0.0f;", (long long)k->w);
    snprintf(middle, sizeof middle, "co[ox] = xc[iy * %lld + off + ox * %d];", (long long)k->w,
             k->sw);
    open_taps(e, d, "const float ", "x0");
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
static void emit_im2row(Emit *e, const ConvDims *d)
{
    const ConvGeom *k = &d->k;
    emit_line(e, "for (oy = 0; oy < %lld; oy++)", (long long)k->oh);
    emit_line(e, "for (ox = 0; ox < %lld; ox++)", (long long)k->ow);
    emit_line(e, "for (c = 0; c < %lld; c++) {", d->cg);
    emit_line(e, "const float *xc = x0 + ((size_t)b * %lld + g * %lld + c) * %lld;",
              (long long)k->c, d->cg, (long long)(k->h * k->w));
    emit_line(e, "for (ky = 0; ky < %d; ky++) {", k->kh);
    emit_line(e, "const int iy = ry[ky * %lld + oy];", (long long)k->oh);
    emit_line(e, "float *ck = col + (oy * %lld + ox) * %lld + (c * %d + ky) * %d;",
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

/* dx += the columns' gradient (in dcol), through the same tables. */
static void emit_col2im(Emit *e, const ConvDims *d)
{
    const ConvGeom *k = &d->k;
    char edge[128], middle[128];
    snprintf(edge, sizeof edge, "if (ix >= 0) xc[iy * %lld + ix] += co[ox];", (long long)k->w);
    snprintf(middle, sizeof middle, "xc[iy * %lld + off + ox * %d] += co[ox];", (long long)k->w,
             k->sw);
    emit_line(e, "col = dcol;");
    open_taps(e, d, "float ", "dx0");
    emit_line(e, "if (iy < 0)");
    emit_line(e, "    continue;");
    emit_row_loops(e, d, edge, middle);
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

/* db += the sample's dy summed over the plane, in 16 partial sums (a
 * fixed-width loop gcc vectorises; a single float sum would be a serial
 * chain, since gcc never reorders a float reduction). */
static void emit_bias_sums(Emit *e, const ConvDims *d)
{
    long long full = d->plane - d->plane % 16;
    emit_line(e, "for (f = 0; f < %lld; f++) {", d->fg);
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
    emit_line(e, "dp1[g * %lld + f] += sum;", d->fg);
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
        emit_bias_sums(e, &d);
    }
    if (dw && d.plane < ROW_FORM_PLANE) {
        char plane[32];
        snprintf(plane, sizeof plane, "%lld", d.plane);
        emit_im2row(e, &d);
        emit_line(e, "{");
        emit_line(e, "float *dwg = dp0 + (size_t)g * %lld;", d.fg * d.taps);
        emit_mm_nn(e, "dwg", "gy", "col", fg, d.taps, plane, d.taps, d.plane, 1, d.taps);
        emit_line(e, "}");
    } else if (dw) {
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
