/* conv_wino_emit.c: 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3).
 *
 * Each 2x2 block of outputs (a tile) comes from the 4x4 input patch under
 * it: Y = A^T [ (G g G^T) .* (B^T d B) ] A (Lavin & Gray, "Fast Algorithms
 * for Convolutional Neural Networks", 2015). Per tile and channel pair the
 * 36 multiplications of the direct form become 16, and summed over the
 * input channels the 16 products are 16 independent GEMMs:
 *
 *   M[e][f][t] = sum_c U[e][f][c] V[e][c][t],  e = 0..15 (the 4x4 positions)
 *
 * with U = G g G^T computed here at compile time (in double) and V = B^T d B
 * per tile. Those GEMMs are the pointwise kernel's (conv_pw_emit.c, groups
 * = 16, the tiles as its pixels), in all three vector widths; the two
 * transforms are plain C loops along a row of tiles, which gcc and clang
 * vectorise at -O3. The output transform adds the bias and a fused residual
 * and applies the activation.
 *
 * The tiles are taken a few tile rows at a time (a chunk), so that V and M
 * stay about the size of L2 instead of four times the layer's input and
 * output: scratch is the padded input plus 16 x (C + F) floats per tile of
 * a chunk. The padded input covers whole tiles (one more zero row or
 * column when the output's height or width is odd); the outputs past the
 * plane's edge are computed and not stored.
 *
 * F(2x2, 3x3) is the small variant: its transforms only add and halve, so
 * its rounding stays near the direct sum's (the larger F(4x4, 3x3) needs
 * fractions of 1/4 and 1/6 and loses digits). */
#include "conv_emit.h"

#include <stdlib.h>

enum {
    E = 16,                   /* the 4x4 transformed positions */
    CHUNK_FLOATS = 64 * 1024, /* V and M of a chunk: about 256 KB, in L2 */
    MIN_TILES = 16,           /* tiles per GEMM: the pointwise kernel's least pixels */
    CHUNK_TILES = 48,         /* tiles per chunk at least: each chunk reads all of U */
    MIN_CHANNELS = 12         /* input channels and filters; fewer: the transforms
                                 outweigh the GEMMs' saving (32x32, C = F, Zen 3,
                                 us per layer, Winograd vs direct: 8: 22 vs 20;
                                 12: 29 vs 50; 16: 57 vs 71; 32: 157 vs 238) */
};

/* Tiles of the output, how they are chunked, where scratch holds what. */
typedef struct {
    const ConvPlan *p;
    const Node *n;
    int64_t th, tw;       /* tile rows and columns: ceil(OH / 2), ceil(OW / 2) */
    int64_t hp, wp;       /* the padded input: 2 * th + 2, 2 * tw + 2 */
    int64_t rows, full;   /* `full` chunks of `rows` tile rows, */
    int64_t last;         /* then one of `last` rows (0: none) */
    int64_t v_off, m_off; /* floats into scratch of V and M */
    int64_t scratch;      /* floats of scratch in all */
} Wino;

/* The floats from V[e] (or M[e]) to V[e + 1] for `plane` floats: at
 * least that, in whole cache lines, an odd number of them. The transforms
 * walk all 16 planes at once; at a multiple of 4 KB apart they would share
 * one L1 set (eight ways): 64x56x56, chunks of 112 tiles (28 KB planes)
 * took 4.1 ms instead of 1.7. */
static int64_t plane_stride(int64_t plane)
{
    int64_t lines = plan_round_up(plane) / PLAN_ALIGN_FLOATS;
    return (lines | 1) * PLAN_ALIGN_FLOATS;
}

bool conv_use_winograd(const ConvPlan *p, const Node *n, bool enabled)
{
    const ConvGeom *k = &p->k;
    return enabled && k->kh == 3 && k->kw == 3 && k->sh == 1 && k->sw == 1 && k->dh == 1 &&
           k->dw == 1 && k->groups == 1 && n->a.pad_mode == PAD_ZEROS &&
           p->cg >= MIN_CHANNELS && p->fg >= MIN_CHANNELS &&
           (k->oh + 1) / 2 * ((k->ow + 1) / 2) >= MIN_TILES;
}

/* Chunks of as many tile rows as keep V and M of a chunk within
 * CHUNK_FLOATS, but at least CHUNK_TILES tiles; a last chunk that would
 * fall under MIN_TILES joins the one before. Measured on Zen 3 (two layers
 * alone, C = F, min ms per layer, at least 16 / 48 / 100 / all tiles per
 * chunk): 64x56x56 1.56 / 1.55 / 1.53 / 1.58; 128x28x28 1.43 / 1.36 /
 * 1.38 / 1.35; 256x14x14 1.93 / 1.89 / 1.97 / 2.32; and on resnet18's
 * 56x56 layers, 32K and 128K floats for CHUNK_FLOATS were 2-7 % slower. */
static Wino wino_plan(const ConvPlan *p, const Node *n)
{
    const ConvGeom *k = &p->k;
    Wino w = {.p = p, .n = n, .th = (k->oh + 1) / 2, .tw = (k->ow + 1) / 2};
    w.hp = 2 * w.th + 2;
    w.wp = 2 * w.tw + 2;
    int64_t by_size = CHUNK_FLOATS / (E * (k->c + k->f) * w.tw);
    int64_t by_reuse = (CHUNK_TILES + w.tw - 1) / w.tw;
    w.rows = by_size > by_reuse ? by_size : by_reuse;
    w.rows = w.rows > w.th ? w.th : w.rows;
    w.full = w.th / w.rows;
    w.last = w.th % w.rows;
    if (w.last && w.last * w.tw < MIN_TILES) {
        w.full--;
        w.last += w.rows;
    }
    int64_t most = w.rows > w.last ? w.rows : w.last;
    w.v_off = plan_round_up(k->c * w.hp * w.wp);
    w.m_off = w.v_off + E * plane_stride(k->c * most * w.tw);
    w.scratch = w.m_off + E * plane_stride(k->f * most * w.tw);
    return w;
}

/* U = G g G^T for every filter and channel, as the 16 GEMMs' 1x1 weights
 * [E][F][C], repacked for the pointwise kernel. Caller frees. */
static float *transform_weights(const ConvPlan *gemm, const float *g, int64_t f, int64_t c,
                                int64_t *count)
{
    static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    float *u = xcalloc((size_t)(E * f * c), sizeof *u);
    for (int64_t fi = 0; fi < f; fi++)
        for (int64_t ci = 0; ci < c; ci++) {
            const float *k = g + (fi * c + ci) * 9;
            double gk[4][3]; /* G g */
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++)
                    gk[i][j] = G[i][0] * k[j] + G[i][1] * k[3 + j] + G[i][2] * k[6 + j];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    double v = gk[i][0] * G[j][0] + gk[i][1] * G[j][1] + gk[i][2] * G[j][2];
                    u[((int64_t)(i * 4 + j) * f + fi) * c + ci] = (float)v;
                }
        }
    float *r = conv_repack_pointwise(gemm, u, count);
    free(u);
    return r;
}

/* V = B^T d B for the chunk's tiles: per channel and tile row, the 4x4
 * patches along the row, each of the 16 results to its own GEMM's input
 * (V[e][c][t], t the tile's index in the chunk). */
static void emit_input_transform(Emit *e, const Wino *w, int64_t rows)
{
    int64_t c = w->p->k.c, nt = rows * w->tw, wp = w->wp;
    emit_line(e, "/* input transform: V = B^T d B */");
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)c);
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)rows);
    emit_line(e, "const float *xr = xp + c * %lld + (ty0 + r) * %lld;",
              (long long)(w->hp * wp), (long long)(2 * wp));
    emit_line(e, "float *vr = wv + c * %lld + r * %lld;", (long long)nt, (long long)w->tw);
    emit_line(e, "for (int tx = 0; tx < %lld; tx++) {", (long long)w->tw);
    emit_line(e, "const float *d = xr + 2 * tx;");
    /* B^T on the patch's rows, then on the columns of the result */
    for (int j = 0; j < 4; j++) {
        emit_line(e, "const float t0%d = d[%d] - d[%lld];", j, j, (long long)(2 * wp + j));
        emit_line(e, "const float t1%d = d[%lld] + d[%lld];", j, (long long)(wp + j),
                  (long long)(2 * wp + j));
        emit_line(e, "const float t2%d = d[%lld] - d[%lld];", j, (long long)(2 * wp + j),
                  (long long)(wp + j));
        emit_line(e, "const float t3%d = d[%lld] - d[%lld];", j, (long long)(wp + j),
                  (long long)(3 * wp + j));
    }
    int64_t plane = plane_stride(c * nt); /* V[e] to V[e + 1] */
    for (int i = 0; i < 4; i++) {
        emit_line(e, "vr[%lld + tx] = t%d0 - t%d2;", (long long)((4 * i + 0) * plane), i, i);
        emit_line(e, "vr[%lld + tx] = t%d1 + t%d2;", (long long)((4 * i + 1) * plane), i, i);
        emit_line(e, "vr[%lld + tx] = t%d2 - t%d1;", (long long)((4 * i + 2) * plane), i, i);
        emit_line(e, "vr[%lld + tx] = t%d1 - t%d3;", (long long)((4 * i + 3) * plane), i, i);
    }
    emit_line(e, "}");
    emit_line(e, "}");
}

/* One output of the tile: y[row a][column b] = bias + (A^T m A)[a][b]
 * (plus the residual), the activation applied, stored. */
static void emit_output_store(Emit *e, const Wino *w, int a, int b)
{
    const ConvPlan *p = w->p;
    char v[32], at[64];
    snprintf(v, sizeof v, "(bf + o%d%d)", a, b);
    snprintf(at, sizeof at, "%lld + 2 * tx + %d", (long long)(a * p->k.ow), b);
    emit_line(e, "yb[%s] = %s;", at, emit_act(e, w->n->act, conv_pre_act(e, p, v, at)));
}

/* The tile at column tx, its outputs in rows 0 .. nrow-1 and columns
 * 0 .. ncol-1 of the tile (row and column 1 are the only ones to read
 * m[3][.] and m[.][3]). */
static void emit_output_tile(Emit *e, const Wino *w, int64_t plane, int nrow, int ncol)
{
    int ni = nrow + 2, nj = ncol + 2; /* the m rows and columns read */
    emit_line(e, "{");
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < nj; j++)
            emit_line(e, "const float m%d%d = mr[%lld + tx];", i, j,
                      (long long)((4 * i + j) * plane));
    /* A^T on the columns, then on the rows */
    for (int j = 0; j < nj; j++) {
        emit_line(e, "const float u0%d = m0%d + m1%d + m2%d;", j, j, j, j);
        if (nrow == 2)
            emit_line(e, "const float u1%d = m1%d - m2%d - m3%d;", j, j, j, j);
    }
    for (int a = 0; a < nrow; a++) {
        emit_line(e, "const float o%d0 = u%d0 + u%d1 + u%d2;", a, a, a, a);
        if (ncol == 2)
            emit_line(e, "const float o%d1 = u%d1 - u%d2 - u%d3;", a, a, a, a);
        for (int b = 0; b < ncol; b++)
            emit_output_store(e, w, a, b);
    }
    emit_line(e, "}");
}

/* Y = A^T M A for the chunk's tiles, the plane's last row and column of
 * tiles storing only what lies inside the output. */
static void emit_output_row(Emit *e, const Wino *w, int64_t plane, int nrow)
{
    const ConvGeom *k = &w->p->k;
    emit_line(e, "for (int tx = 0; tx < %lld; tx++)", (long long)(k->ow / 2));
    emit_output_tile(e, w, plane, nrow, 2);
    if (k->ow % 2) {
        emit_line(e, "{");
        emit_line(e, "const int tx = %lld;", (long long)(k->ow / 2));
        emit_output_tile(e, w, plane, nrow, 1);
        emit_line(e, "}");
    }
}

static void emit_output_transform(Emit *e, const Wino *w, int64_t rows)
{
    const ConvPlan *p = w->p;
    const ConvGeom *k = &p->k;
    int64_t nt = rows * w->tw, plane = plane_stride(k->f * nt);
    emit_line(e, "/* output transform: Y = A^T M A, the bias%s, the activation */",
              p->res ? ", the residual" : "");
    emit_line(e, "for (int f = 0; f < %lld; f++) {", (long long)k->f);
    emit_line(e, "const float bf = bv[f];");
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)rows);
    emit_line(e, "const int oy = 2 * (ty0 + r);");
    emit_line(e, "const float *mr = wm + f * %lld + r * %lld;", (long long)nt, (long long)w->tw);
    char *off = xasprintf("f * %lld + oy * %lld", (long long)p->np, (long long)k->ow);
    conv_emit_out_ptrs(e, p, off);
    free(off);
    if (k->oh % 2) {
        emit_line(e, "if (oy + 1 == %lld) {", (long long)k->oh);
        emit_output_row(e, w, plane, 1);
        emit_line(e, "continue;");
        emit_line(e, "}");
    }
    emit_output_row(e, w, plane, 2);
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The 16 GEMMs of a chunk of `rows` tile rows. */
static ConvPlan gemm_plan(const Wino *w, int64_t rows)
{
    const ConvGeom *k = &w->p->k;
    int64_t nt = rows * w->tw;
    ConvPlan g = {.cg = k->c, .fg = k->f, .np = nt, .x = "wv", .y = "wm",
                  .xgs = plane_stride(k->c * nt), .ygs = plane_stride(k->f * nt)};
    g.k.groups = E;
    g.k.c = E * k->c;
    g.k.f = E * k->f;
    return g;
}

static void emit_chunk(Emit *e, const Wino *w, int64_t rows, const char *U)
{
    emit_input_transform(e, w, rows);
    ConvPlan g = gemm_plan(w, rows);
    emit_line(e, "/* M[e] = U[e] V[e], e = 0..15 */");
    conv_emit_gemm(e, &g, (Act){.kind = ACT_NONE}, U, NULL);
    emit_output_transform(e, w, rows);
}

void conv_emit_winograd(Emit *e, const ConvPlan *p, const Node *n)
{
    Graph *g = emit_graph(e);
    const ConvGeom *k = &p->k;
    Wino w = wino_plan(p, n);
    ConvPlan gp = gemm_plan(&w, w.rows);
    int64_t nu;
    float *u = transform_weights(&gp, node_param_data(g, n, 0), k->f, k->c, &nu);
    char *ucomment = xasprintf("%s.weight [%lld,%lld,3,3] as Winograd's G g G^T [16][%lld][%lld], "
                               "each in the 1x1 GEMM's blocks of 12 filters",
                               n->name, (long long)k->f, (long long)k->c, (long long)k->f,
                               (long long)k->c);
    const char *U, *B;
    conv_emit_consts(e, n, ucomment, u, nu, "", n->a.bias ? node_param_data(g, n, 1) : NULL, k->f,
                     &U, &B);
    free(u);

    emit_scratch(e, w.scratch);
    emit_line(e, "/* Winograd F(2x2, 3x3): %lld x %lld tiles, %lld tile rows at a time */",
              (long long)w.th, (long long)w.tw, (long long)w.rows);
    emit_line(e, "float *xp = s, *wv = s + %lld, *wm = s + %lld;", (long long)w.v_off,
              (long long)w.m_off);
    emit_line(e, "const float *bv = %s;", B);
    emit_line(e, "/* the input with its padding, whole tiles */");
    emit_pad_copy(e, "xp", p->x, k->c, k->h, k->w,
                  (int[]){k->pt, k->pl, (int)(w.hp - k->h - k->pt), (int)(w.wp - k->w - k->pl)},
                  PAD_ZEROS);
    if (w.full) {
        emit_line(e, "for (int ty0 = 0; ty0 < %lld; ty0 += %lld) {", (long long)(w.full * w.rows),
                  (long long)w.rows);
        emit_chunk(e, &w, w.rows, U);
        emit_line(e, "}");
    }
    if (w.last) {
        emit_line(e, "{");
        emit_line(e, "const int ty0 = %lld;", (long long)(w.full * w.rows));
        emit_chunk(e, &w, w.last, U);
        emit_line(e, "}");
    }
}
