/* emit_kit.c: the emit kit the operators' training emitters call down
 * into (the ops' _emit_grad.c files), below both them and the training
 * driver (emit_train.c): what the backward node being emitted writes,
 * its parameters' gradients in blocks of rows with the optimizer step
 * fused after each block, train-arena scratch, the chunk size that bounds
 * it, and the register-blocked matrix products the conv and dense layers'
 * training code is made of. It calls no operator.
 *
 * The products (emit_mm_nn, emit_mm_nt): blocks of a few rows times a
 * vector's width of columns held in named accumulators over the whole
 * sum, because gcc vectorises such fixed-width inner loops but, without
 * -ffast-math, never a float reduction: the dot-product form keeps one
 * partial sum per lane. */
#include "emit.h"

#include <stdlib.h>

/* ---- the backward node being emitted ---- */

bool emit_grad_needs_dx(Emit *e, int j)
{
    return e->grad_node->dx[j].t >= 0;
}

bool emit_grad_has_dp(Emit *e, int slot)
{
    return e->grad_node->dp[slot].t >= 0;
}

const char *emit_train_scratch(Emit *e, int64_t floats)
{
    if (floats > e->train_scratch)
        e->train_scratch = floats;
    return "ws";
}

int64_t emit_train_chunk(Emit *e)
{
    return e->train_chunk;
}

/* One writer: the node steps the parameter itself (its block lives in
 * scratch), unless the caller wants the gradients (gS, P_train_grad). */
static bool sole_writer(const Emit *e, int slot)
{
    const GradWrite *w = &e->grad_node->dp[slot];
    return w->first && w->last;
}

void emit_pgrad_begin(Emit *e, int slot, const char *name, const char *row, const char *rows,
                      int64_t row_floats, const char *scratch)
{
    if (sole_writer(e, slot))
        emit_line(e, "float *%s = g%d ? g%d + (size_t)(%s) * %lld : %s;", name, slot, slot, row,
                  (long long)row_floats, scratch);
    else
        emit_line(e, "float *%s = g%d + (size_t)(%s) * %lld;", name, slot, row,
                  (long long)row_floats);
    if (e->grad_node->dp[slot].first)
        emit_line(e, "memset(%s, 0, sizeof(float) * (size_t)(%s) * %lld);", name, rows,
                  (long long)row_floats);
}

void emit_pgrad_end(Emit *e, int slot, const char *name, const char *row, const char *rows,
                    int64_t row_floats)
{
    if (!sole_writer(e, slot))
        return; /* the driver steps it after its last writer */
    emit_line(e, "if (!g%d) /* a training step: these rows are final, step them */", slot);
    emit_line(e, "    %s_update(ctx, p%d, m%d, v%d, %s, (size_t)(%s) * %lld, (size_t)(%s) * %lld);",
              e->P, slot, slot, slot, name, row, (long long)row_floats, rows,
              (long long)row_floats);
}

/* ---- register-blocked matrix products ---- */

enum {
    NN_COLS = 64, /* columns per block of the plain C path */
    NT_ROWS = 4,  /* emit_mm_nt: a NT_ROWS x NT_COLS block of dot products */
    NT_COLS = 4,
    NT_LANES = 16, /* partial sums per dot product (plain C path) */
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

