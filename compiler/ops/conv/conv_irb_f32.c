/* conv_irb_f32.c: a float inverted-residual block as one kernel on the
 * host (--fuse-blocks; conv_irb.c matches the block): a 1x1 expand conv,
 * a depthwise KxK conv and a 1x1 project conv (its residual add fused or
 * not), so that neither the expanded tensor nor the depthwise output
 * exists in full. A step of R output rows (R x OW >= 64 pixels) expands
 * just the input rows the depthwise windows still need into a ring of
 * (R - 1) x S + KH rows (Ce planes of the padded width, zero borders: the
 * depthwise padding), filters R depthwise rows (Ce x R x OW) and projects
 * them. The two 1x1 steps are the pointwise GEMM of conv_pw_emit.c, on one
 * expanded row (channel strides of the input plane and of the ring) and
 * on R output rows (contiguous in the output plane); the depthwise rows
 * are vectors of output pixels per channel, four sums in flight. The ring
 * is mobilenet_v2's largest at 224 (features.2: 5 rows x 96 x 114 floats,
 * 219 KB) in L2, where the expanded tensor (4.8 MB) was not.
 * Only blocks of a large expanded tensor are taken (below). */
#include "conv_emit.h"

#include <stdlib.h>

/* The GEMM takes rows of at least 16 pixels (conv_is_pointwise). A block
 * is fused where its expanded tensor has 4 MiB or more: on Zen 4 (1 MB of
 * L2 a core) mobilenet_v2's features.2 (4.8 MB expanded) ran in 0.87-0.91x
 * its three layers' time, features.3 and .4 (1.8 MB) in 1.01-1.15x,
 * features.5 and .6 (0.6 MB) in 1.16-1.22x (docs/codegen.md): where the
 * expanded tensor stays in L2/L3, the layers' longer GEMM runs win. */
enum { MIN_ROW = 16 };
#define MIN_EXPANDED_BYTES (4 << 20)

bool conv_irb_f32_fits(const Graph *g, int expand, int dw, int project)
{
    ConvPlan x = conv_plan(g, &g->n[expand]), d = conv_plan(g, &g->n[dw]);
    ConvPlan p = conv_plan(g, &g->n[project]);
    int64_t expanded = 4 * shape_numel(&g->t[g->n[expand].out].shape);
    return !x.res && !d.res && d.k.sw == d.k.sh && d.k.w >= MIN_ROW && d.k.ow >= MIN_ROW &&
           x.k.w == d.k.w && p.k.w == d.k.ow && expanded >= MIN_EXPANDED_BYTES;
}

/* Output rows a step: the project GEMM runs along R rows at once (R x OW
 * pixels, contiguous in the output plane), at least 64 pixels where the
 * plane has them; a row of 28 alone wasted a quarter of its 16-float
 * vectors and paid the GEMM's per-run overhead for few pixels. */
static int64_t rows_per_step(const ConvGeom *kd)
{
    int64_t r = (64 + kd->ow - 1) / kd->ow;
    return r < kd->oh ? r : kd->oh;
}

/* Ring rows: the padded input rows a step's R output rows read. */
static int64_t ring_rows(const ConvGeom *kd)
{
    return (rows_per_step(kd) - 1) * kd->sh + kd->kh;
}

/* Floats of one ring row (Ce planes of the padded width). */
static int64_t ring_row(const ConvGeom *kd)
{
    return plan_round_up(kd->c * (kd->w + kd->pl + kd->pr));
}

int64_t conv_irb_f32_scratch_floats(const Graph *g, int dw)
{
    ConvGeom kd = conv_geometry(g, &g->n[dw]);
    return ring_rows(&kd) * ring_row(&kd) + kd.c * rows_per_step(&kd) * kd.ow;
}

/* Layer `tag`'s weights (wcomment freed here) and bias (zeros where it
 * has none) as the constants irb_<tag>_weight, irb_<tag>_bias. */
static void emit_layer_consts(Emit *e, const Node *n, char tag, char *wcomment, const float *w,
                              int64_t nw, const float *b, int64_t nb, const char **W,
                              const char **B)
{
    char what[2][24];
    snprintf(what[0], sizeof what[0], "irb_%c_weight", tag);
    snprintf(what[1], sizeof what[1], "irb_%c_bias", tag);
    char *bc = n->a.bias ? xasprintf("%s.bias", n->name) : xasprintf("%s: no bias", n->name);
    float *zeros = b ? NULL : xcalloc((size_t)nb, sizeof *zeros);
    *W = emit_const(e, what[0], wcomment, w, nw);
    *B = emit_const(e, what[1], bc, b ? b : zeros, nb);
    free(zeros);
    free(wcomment);
    free(bc);
}

/* A 1x1 layer's weights and bias as the GEMM reads them; their names. */
static void emit_gemm_consts(Emit *e, const ConvPlan *p, const Node *n, char tag, const char **W,
                             const char **B)
{
    const Graph *g = emit_graph(e);
    int64_t nw, nb;
    ConvPlan bp = *p; /* the bias in blocks of 12 */
    bp.vb = 12;
    bp.nfb = (int)((p->fg + 11) / 12);
    float *w = conv_repack_pointwise(p, node_param_data(g, n, 0), &nw);
    float *b = conv_repack_bias(&bp, n->a.bias ? node_param_data(g, n, 1) : NULL, &nb);
    char *wc = xasprintf("%s.weight [%lld,%lld,1,1] as [F/12][C][12]", n->name,
                         (long long)p->k.f, (long long)p->cg);
    emit_layer_consts(e, n, tag, wc, w, nw, b, nb, W, B);
    free(w);
    free(b);
}

/* Padded row r of the depthwise input into its ring slot: the expand
 * conv's output row r - PT, zeros outside the input. */
static void emit_expand_row(Emit *e, ConvPlan *px, const Node *n, const ConvGeom *kd,
                            const char *W, const char *B)
{
    int64_t wp = kd->w + kd->pl + kd->pr;
    emit_line(e, "float *row = ring + (r %% NR) * RS;");
    emit_line(e, "const int iy = r - %d;", kd->pt);
    emit_line(e, "if (iy < 0 || iy >= %lld) {", (long long)kd->h);
    emit_line(e, "memset(row, 0, sizeof(float) * %lld);", (long long)ring_row(kd));
    emit_line(e, "continue;");
    emit_line(e, "}");
    emit_line(e, "const float *xrow = x0 + iy * %lld;", (long long)kd->w);
    emit_line(e, "float *erow = row + %d;", kd->pl);
    px->x = "xrow";
    px->y = "erow";
    px->np = kd->w;
    px->xcs = kd->h * kd->w;
    px->ycs = wp;
    px->restore = true; /* short rows: no lane-by-lane tail */
    conv_emit_gemm(e, px, n->act, W, B);
}

/* Vectors in flight in the depthwise row: independent sums, so that the
 * FMAs of one channel's taps do not wait on each other. */
enum { DW_VECS = 4 };

/* Tap (ky, kx) into sums j < nv: vector j at output pixel oxj. */
static void emit_dw_tap(Emit *e, const ConvGeom *k, int lanes, int nv, int kx)
{
    emit_line(e, "const float wt = wc[ky * %d + %d];", k->kw, kx);
    for (int j = 0; j < nv; j++) {
        if (k->sw == 1) {
            emit_line(e, "acc%d += *(const cnnc_v%du *)(xr + ox%d + %d) * wt;", j, lanes, j, kx);
            continue;
        }
        if (k->sw == 2) {
            emit_line(e, "acc%d += CNNC_IRB_EVEN(xr + ox%d * 2 + %d) * wt;", j, j, kx);
            continue;
        }
        StrBuf v = {0}; /* a strided row: the compilers shuffle it from loads */
        for (int i = 0; i < lanes; i++)
            sb_printf(&v, "%sxr[ox%d * %d + %d]", i ? ", " : "", j, k->sw, i * k->sw + kx);
        emit_line(e, "acc%d += (cnnc_v%d){%s} * wt;", j, lanes, v.s);
        free(v.s);
    }
}

/* CNNC_IRB_EVEN(p): the vector of p[0], p[2], ..., from two loads and a
 * shuffle where the compiler has __builtin_shufflevector (gcc 12, clang),
 * else from the lanes one by one (mobilenet_v2's stride-2 block at 56x56:
 * 1.65x its unfused layers' time with lanes alone). */
static void emit_even_macro(Emit *e, int lanes)
{
    StrBuf idx = {0}, one = {0};
    for (int i = 0; i < lanes; i++) {
        sb_printf(&idx, ", %d", 2 * i);
        sb_printf(&one, "%s(p)[%d]", i ? ", " : "", 2 * i);
    }
    emit_line(e, "#if defined(__clang__) || __GNUC__ >= 12");
    emit_line(e, "#define CNNC_IRB_EVEN(p) __builtin_shufflevector(*(const cnnc_v%du *)(p), "
                 "*(const cnnc_v%du *)((p) + %d)%s)", lanes, lanes, lanes, idx.s);
    emit_line(e, "#else");
    emit_line(e, "#define CNNC_IRB_EVEN(p) ((cnnc_v%d){%s})", lanes, one.s);
    emit_line(e, "#endif");
    free(idx.s);
    free(one.s);
}

/* Channel c's depthwise row (act applied) into drow, nv vectors of L
 * pixels a step, a vector past the row's end moved back to end at it
 * (overlapping the one before: the same values again). */
static void emit_dw_vec(Emit *e, const ConvGeom *k, Act act, int lanes)
{
    int64_t nvec = (k->ow + lanes - 1) / lanes, last = k->ow - lanes;
    int nv = nvec < DW_VECS ? (int)nvec : DW_VECS;
    if (k->sw == 2)
        emit_even_macro(e, lanes);
    emit_line(e, "for (int o = 0; o < %lld; o += %d) {", (long long)k->ow, nv * lanes);
    for (int j = 0; j < nv; j++) {
        emit_line(e, "const int ox%d = o + %d < %lld ? o + %d : %lld;", j, j * lanes,
                  (long long)last, j * lanes, (long long)last);
        emit_line(e, "cnnc_v%d acc%d = (cnnc_v%d){0} + bc;", lanes, j, lanes);
    }
    emit_line(e, "for (int ky = 0; ky < %d; ky++) {", k->kh);
    emit_line(e, "const float *xr = ring + ((oy * %d + ky) %% NR) * RS + c * WP;", k->sh);
    for (int kx = 0; kx < k->kw; kx++) {
        emit_line(e, "{");
        emit_dw_tap(e, k, lanes, nv, kx);
        emit_line(e, "}");
    }
    emit_line(e, "}");
    for (int j = 0; j < nv; j++) {
        char acc[16];
        snprintf(acc, sizeof acc, "acc%d", j);
        bool done = act_emit_vec(e, act, acc, lanes);
        emit_line(e, "*(cnnc_v%du *)(dr + ox%d) = acc%d;", lanes, j, j);
        if (!done) {
            emit_line(e, "for (int i = ox%d; i < ox%d + %d; i++) {", j, j, lanes);
            emit_line(e, "const float t = dr[i];");
            emit_line(e, "dr[i] = %s;", emit_act(e, act, "t"));
            emit_line(e, "}");
        }
    }
    emit_line(e, "}");
    if (k->sw == 2)
        emit_line(e, "#undef CNNC_IRB_EVEN");
}

static void emit_dw_plain(Emit *e, const ConvGeom *k, Act act)
{
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "float acc = bc;");
    emit_line(e, "for (int ky = 0; ky < %d; ky++) {", k->kh);
    emit_line(e, "const float *xr = ring + ((oy * %d + ky) %% NR) * RS + c * WP + ox * %d;", k->sh,
              k->sw);
    emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
    emit_line(e, "acc += xr[kx] * wc[ky * %d + kx];", k->kw);
    emit_line(e, "}");
    emit_line(e, "dr[ox] = %s;", emit_act(e, act, "acc"));
    emit_line(e, "}");
}

/* Output rows oy0 .. oy0 + R - 1 of the depthwise layer, from the ring,
 * into drow ([Ce][R][OW]). */
static void emit_dw_rows(Emit *e, const Node *n, const ConvGeom *k, const char *W, const char *B)
{
    int64_t rows = rows_per_step(k);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)k->c);
    emit_line(e, "const float *wc = %s + c * %d;", W, k->kh * k->kw);
    emit_line(e, "const float bc = %s[c];", B);
    emit_line(e, "for (int ri = 0; ri < %lld; ri++) {", (long long)rows);
    emit_line(e, "const int oy = oy0 + ri;");
    emit_line(e, "float *dr = drow + (c * %lld + ri) * %lld;", (long long)rows, (long long)k->ow);
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    emit_dw_vec(e, k, n->act, 16);
    emit_line(e, "#elif defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT)");
    emit_dw_vec(e, k, n->act, 8);
    emit_line(e, "#else");
    emit_dw_plain(e, k, n->act);
    emit_line(e, "#endif");
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The depthwise layer's weights [C][KH][KW] and bias, their names. */
static void emit_dw_consts(Emit *e, const Node *n, const ConvGeom *k, const char **W,
                           const char **B)
{
    const Graph *g = emit_graph(e);
    char *wc = xasprintf("%s.weight [%lld,1,%d,%d]", n->name, (long long)k->c, k->kh, k->kw);
    emit_layer_consts(e, n, 'd', wc, node_param_data(g, n, 0), k->c * k->kh * k->kw,
                      n->a.bias ? node_param_data(g, n, 1) : NULL, k->c, W, B);
}

void conv_irb_f32_emit(Emit *e, int expand, int dw, int project)
{
    const Graph *g = emit_graph(e);
    const Node *nx = &g->n[expand], *nd = &g->n[dw], *np = &g->n[project];
    ConvPlan px = conv_plan(g, nx), pp = conv_plan(g, np);
    ConvGeom kd = conv_geometry(g, nd);
    const char *WX, *BX, *WD, *BD, *WP, *BP;
    emit_gemm_consts(e, &px, nx, 'e', &WX, &BX);
    emit_dw_consts(e, nd, &kd, &WD, &BD);
    emit_gemm_consts(e, &pp, np, 'p', &WP, &BP);
    int64_t rows = rows_per_step(&kd), steps = (kd.oh + rows - 1) / rows;
    emit_line(e, "/* fused: %s -> %s -> %s, %lld output rows a step from a ring of %lld "
                 "expanded rows */", nx->name, nd->name, np->name, (long long)rows,
              (long long)ring_rows(&kd));
    emit_line(e, "enum { RS = %lld, WP = %lld, NR = %lld }; /* ring row, padded width, rows */",
              (long long)ring_row(&kd), (long long)(kd.w + kd.pl + kd.pr),
              (long long)ring_rows(&kd));
    const char *s = emit_scratch(e, conv_irb_f32_scratch_floats(g, dw));
    emit_line(e, "float *ring = %s, *drow = %s + NR * RS;", s, s);
    emit_line(e, "memset(ring, 0, sizeof(float) * NR * RS);");
    emit_line(e, "int r = 0;");
    /* the last step ends at the last row, overlapping the step before
     * where R does not divide OH (its rows are the same values again) */
    emit_line(e, "for (int t = 0; t < %lld; t++) {", (long long)steps);
    emit_line(e, "const int oy0 = t * %lld < %lld ? t * %lld : %lld;", (long long)rows,
              (long long)(kd.oh - rows), (long long)rows, (long long)(kd.oh - rows));
    emit_line(e, "for (; r <= (oy0 + %lld) * %d + %d; r++) {", (long long)(rows - 1), kd.sh,
              kd.kh - 1);
    emit_expand_row(e, &px, nx, &kd, WX, BX);
    emit_line(e, "}");
    emit_dw_rows(e, nd, &kd, WD, BD);
    emit_line(e, "{");
    emit_line(e, "float *yrow = y + oy0 * %lld;", (long long)kd.ow);
    if (pp.res)
        emit_line(e, "const float *rrow = x1 + oy0 * %lld;", (long long)kd.ow);
    pp.x = "drow";
    pp.y = "yrow";
    pp.r = "rrow";
    pp.np = rows * kd.ow;
    pp.xcs = rows * kd.ow;
    pp.ycs = kd.oh * kd.ow;
    pp.restore = true;
    conv_emit_gemm(e, &pp, np->act, WP, BP);
    emit_line(e, "}");
    emit_line(e, "}");
}
