/* conv_dw_emit.c: the forward kernel of a convolution with one filter per
 * group (depthwise; a group may still have several input channels), a whole
 * layer: per group, its input channels are copied into scratch as phase
 * planes, then every output is a sum of contiguous vector loads times a
 * broadcast weight.
 *
 * Phase planes. With stride (sh, sw), padded input row r, column x lands in
 * plane (r % sh, x % sw) at row r / sh, column x / sw; every plane has the
 * same pitch wq = ceil(wp / sw). Output (oy, ox), tap (ky, kx) reads padded
 * (oy*sh + ky*dh, ox*sw + kx*dw), i.e. plane (ky*dh % sh, kx*dw % sw) at
 * t + (ky*dh / sh) * wq + kx*dw / sw with t = oy * wq + ox: for a fixed tap,
 * consecutive t read consecutive floats of one plane. So the kernel
 * computes the flattened domain t in [0, oh * wq) (ox up to wq: a few
 * columns past the row's end are computed and dropped) in vectors of 16 or
 * 8 lanes, with no gather for any stride and no per-row tail: a 7x7 plane
 * is 4 vectors of 16, not 7 rows of 7 lanes. The sums go to a scratch row
 * buffer, from which each output row is copied (the residual and the
 * activation there when the registers could not take them). The copy is
 * per group, so the planes stay in L1/L2. Weights stay in PyTorch's layout
 * [F][Cg][KH][KW].
 *
 * Both kernels here read x0 only to copy a group into scratch, and write a
 * group's output only after its input is copied: y may be x0's storage
 * (conv_writes_over_input), group g's output lying at or below its input. */
#include "conv_emit.h"

#include <stdlib.h>

enum {
    DL = 16,          /* the domain and the planes' slack: multiples of 16 floats */
    V16_BLOCK = 8,    /* vectors per block: 8 sums of 16, 9 weights: 17 of 32 registers */
    V8_BLOCK = 6,     /* 6 sums of 8 and 9 weights in 16 registers */
    BATCH_FLOATS = 4096 /* phase planes copied before the first is read: 16 KB */
};

typedef struct {
    const ConvPlan *p;
    int64_t hq, wq; /* a phase plane's rows and pitch */
    int64_t nd;     /* the computed domain: oh * wq rounded up to DL */
    int64_t ps;     /* floats per phase plane, slack for the last vectors included */
    int nph;        /* phase planes per channel, sh * sw */
    const char *o;  /* the sums' row buffer in scratch */
} DwPlan;

static int64_t ceil_div(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

/* The first i >= 0 with i * stride + phase >= lo. */
static int64_t first_at(int64_t lo, int64_t phase, int stride)
{
    return lo - phase <= 0 ? 0 : ceil_div(lo - phase, stride);
}

static DwPlan dw_plan(const ConvPlan *p)
{
    const ConvGeom *k = &p->k;
    DwPlan d = {.p = p, .nph = k->sh * k->sw};
    d.hq = ceil_div(p->hp, k->sh);
    d.wq = ceil_div(p->wp, k->sw);
    d.nd = ceil_div(k->oh * d.wq, DL) * DL;
    int64_t maxoff = (int64_t)(k->kh - 1) * k->dh / k->sh * d.wq + (int64_t)(k->kw - 1) * k->dw / k->sw;
    d.ps = d.hq * d.wq > d.nd + maxoff ? d.hq * d.wq : d.nd + maxoff;
    d.ps = ceil_div(d.ps, DL) * DL;
    return d;
}

/* Whether some tap reads row phase a (axis 0) or column phase a (axis 1). */
static bool phase_used(const ConvGeom *k, int axis, int a)
{
    int n = axis ? k->kw : k->kh, dil = axis ? k->dw : k->dh, s = axis ? k->sw : k->sh;
    for (int t = 0; t < n; t++)
        if (t * dil % s == a)
            return true;
    return false;
}

/* d[j] for j in [0, wq) of one plane row, column phase b, from the input
 * row xr (padding columns filled as the mode says). */
static void emit_copy_cols(Emit *e, const DwPlan *d, int b, PadMode mode)
{
    const ConvGeom *k = &d->p->k;
    int64_t j0 = first_at(k->pl, b, k->sw), j1 = first_at(k->pl + k->w, b, k->sw);
    j0 = j0 < d->wq ? j0 : d->wq;
    j1 = j1 < d->wq ? (j1 > j0 ? j1 : j0) : d->wq;
    if (k->sw == 1)
        emit_line(e, "memcpy(d + %lld, xr + %lld, %lld * sizeof(float));", (long long)j0,
                  (long long)(j0 + b - k->pl), (long long)(j1 - j0));
    else
        emit_line(e, "for (int j = %lld; j < %lld; j++) d[j] = xr[j * %d + %d];", (long long)j0,
                  (long long)j1, k->sw, b - k->pl);
    for (int64_t j = 0; j < d->wq; j++) {
        if (j >= j0 && j < j1)
            continue;
        int64_t x = j * k->sw + b, src = x < d->p->wp ? pad_source(x - k->pl, k->w, mode) : -1;
        if (src < 0)
            emit_line(e, "d[%lld] = 0.0f;", (long long)j);
        else
            emit_line(e, "d[%lld] = xr[%lld];", (long long)j, (long long)src);
    }
}

/* Channel xc's phase plane (a, b) into dst, its slack zeroed. */
static void emit_copy_plane(Emit *e, const DwPlan *d, int a, int b, const char *dst, PadMode mode)
{
    const ConvGeom *k = &d->p->k;
    int64_t i0 = first_at(k->pt, a, k->sh), i1 = first_at(k->pt + k->h, a, k->sh);
    i0 = i0 < d->hq ? i0 : d->hq;
    i1 = i1 < d->hq ? (i1 > i0 ? i1 : i0) : d->hq;
    emit_line(e, "/* phase plane (%d, %d) */", a, b);
    emit_line(e, "{");
    emit_line(e, "float *pl = %s;", dst);
    if (i1 > i0) {
        emit_line(e, "for (int i = %lld; i < %lld; i++) {", (long long)i0, (long long)i1);
        emit_line(e, "const float *xr = xc + (i * %d + %d) * %lld;", k->sh, a - k->pt,
                  (long long)k->w);
        emit_line(e, "float *d = pl + i * %lld;", (long long)d->wq);
        emit_copy_cols(e, d, b, mode);
        emit_line(e, "}");
    }
    for (int64_t i = 0; i < d->hq; i++) {
        if (i >= i0 && i < i1)
            continue;
        int64_t r = i * k->sh + a, src = r < d->p->hp ? pad_source(r - k->pt, k->h, mode) : -1;
        if (src < 0) {
            emit_line(e, "memset(pl + %lld, 0, %lld * sizeof(float));", (long long)(i * d->wq),
                      (long long)d->wq);
            continue;
        }
        emit_line(e, "{");
        emit_line(e, "const float *xr = xc + %lld;", (long long)(src * k->w));
        emit_line(e, "float *d = pl + %lld;", (long long)(i * d->wq));
        emit_copy_cols(e, d, b, mode);
        emit_line(e, "}");
    }
    if (d->ps > d->hq * d->wq)
        emit_line(e, "memset(pl + %lld, 0, %lld * sizeof(float));", (long long)(d->hq * d->wq),
                  (long long)(d->ps - d->hq * d->wq));
    emit_line(e, "}");
}

/* The group's Cg input channels (from xg) as phase planes at s. */
static void emit_copy_group(Emit *e, const DwPlan *d, PadMode mode)
{
    const ConvPlan *p = d->p;
    const ConvGeom *k = &p->k;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xc = xg + c * %lld;", (long long)(k->h * k->w));
    emit_line(e, "float *pc = sg + c * %lld;", (long long)(d->nph * d->ps));
    for (int a = 0; a < k->sh; a++)
        for (int b = 0; b < k->sw; b++)
            if (phase_used(k, 0, a) && phase_used(k, 1, b)) {
                char dst[48];
                snprintf(dst, sizeof dst, "pc + %lld", (long long)((a * k->sw + b) * d->ps));
                emit_copy_plane(e, d, a, b, dst, mode);
            }
    emit_line(e, "}");
}

/* Tap (ky, kx)'s offset from channel's planes at t: literal when ky and kx
 * are (>= 0), else the loop's expression. */
static void tap_offset(const DwPlan *d, int ky, int kx, char *buf, size_t size)
{
    const ConvGeom *k = &d->p->k;
    if (ky >= 0) {
        int ry = ky * k->dh, rx = kx * k->dw;
        snprintf(buf, size, "%lld",
                 (long long)((ry % k->sh * k->sw + rx % k->sw) * d->ps + ry / k->sh * d->wq +
                             rx / k->sw));
        return;
    }
    snprintf(buf, size, "(ky * %d %% %d * %d + kx * %d %% %d) * %lld + ky * %d / %d * %lld + kx * %d / %d",
             k->dh, k->sh, k->sw, k->dw, k->sw, (long long)d->ps, k->dh, k->sh, (long long)d->wq,
             k->dw, k->sw);
}

/* One tap over the block's nv vectors of `lanes` (0: the plain path, one
 * array of DL floats), into sum set `set`. */
static void emit_tap(Emit *e, int lanes, int nv, int set, const char *woff, const char *xoff)
{
    emit_line(e, "{");
    emit_line(e, "const float wv = wc[%s];", woff);
    emit_line(e, "const float *xt = xc + %s;", xoff);
    if (!lanes)
        emit_line(e, "for (int i = 0; i < %d; i++) a[i] += xt[i] * wv;", DL);
    for (int u = 0; lanes && u < nv; u++)
        emit_line(e, "a%d_%d += *(const cnnc_v%du *)(xt + %d) * wv;", set, u, lanes, u * lanes);
    emit_line(e, "}");
}

/* The input-channel loop with every tap: sums a<set>_<u> (or a[]). */
static void emit_dw_taps(Emit *e, const DwPlan *d, int lanes, int nv, int sets)
{
    const ConvGeom *k = &d->p->k;
    int taps = k->kh * k->kw;
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)d->p->cg);
    emit_line(e, "const float *wc = wg + c * %d;", taps);
    emit_line(e, "const float *xc = sg + c * %lld + t;", (long long)(d->nph * d->ps));
    char xo[160], wo[48];
    if (taps <= emit_unroll_taps(e)) {
        for (int ky = 0; ky < k->kh; ky++)
            for (int kx = 0; kx < k->kw; kx++) {
                tap_offset(d, ky, kx, xo, sizeof xo);
                snprintf(wo, sizeof wo, "%d", ky * k->kw + kx);
                emit_tap(e, lanes, nv, (ky * k->kw + kx) % sets, wo, xo);
            }
    } else {
        emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
        emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
        tap_offset(d, -1, -1, xo, sizeof xo);
        snprintf(wo, sizeof wo, "ky * %d + kx", k->kw);
        emit_tap(e, lanes, nv, 0, wo, xo);
    }
    emit_line(e, "}");
}

/* One block of nv vectors of `lanes` at domain offset t: the sums, the
 * activation where the registers take it (then *done), into the row
 * buffer o. */
static void emit_vec_block(Emit *e, const DwPlan *d, const Node *n, int lanes, int nv, bool *done)
{
    int sets = nv < V16_BLOCK && d->p->k.kh * d->p->k.kw > 1 &&
                       d->p->k.kh * d->p->k.kw <= emit_unroll_taps(e) && lanes == 16
                   ? 2
                   : 1;
    emit_line(e, "{");
    for (int set = 0; set < sets; set++)
        for (int u = 0; u < nv; u++)
            emit_line(e, "cnnc_v%d a%d_%d = (cnnc_v%d){0}%s;", lanes, set, u, lanes,
                      set ? "" : " + bias");
    emit_dw_taps(e, d, lanes, nv, sets);
    *done = !d->p->res;
    for (int u = 0; u < nv; u++) {
        char v[16];
        snprintf(v, sizeof v, "a0_%d", u);
        if (sets == 2)
            emit_line(e, "%s += a1_%d;", v, u);
        if (*done)
            *done = act_emit_vec(e, n->act, v, lanes);
        emit_line(e, "*(cnnc_v%du *)(%s + t + %d) = %s;", lanes, d->o, u * lanes, v);
    }
    emit_line(e, "}");
}

/* The output rows from the row buffer: a copy, or (residual, activation)
 * lane by lane when the registers did not take them. */
static void emit_copy_out(Emit *e, const DwPlan *d, const Node *n, bool done)
{
    const ConvGeom *k = &d->p->k;
    if (done && d->wq == k->ow) {
        emit_line(e, "memcpy(yb, %s, %lld * sizeof(float));", d->o, (long long)d->p->np);
        return;
    }
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k->oh);
    if (done) {
        emit_line(e, "memcpy(yb + oy * %lld, %s + oy * %lld, %lld * sizeof(float));",
                  (long long)k->ow, d->o, (long long)d->wq, (long long)k->ow);
        return;
    }
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    char v[64], at[48];
    snprintf(v, sizeof v, "%s[oy * %lld + ox]", d->o, (long long)d->wq);
    snprintf(at, sizeof at, "oy * %lld + ox", (long long)k->ow);
    emit_line(e, "yb[%s] = %s;", at, emit_act(e, n->act, conv_pre_act(e, d->p, v, at)));
    emit_line(e, "}");
}

/* The domain in blocks of `block` vectors of `lanes`, then the copy out. */
static bool emit_vec_path(Emit *e, const DwPlan *d, const Node *n, int lanes, int block)
{
    int64_t nv = d->nd / lanes;
    bool done = true;
    emit_line(e, "int t = 0;");
    if (nv >= block) {
        emit_line(e, "for (; t + %d <= %lld; t += %d)", block * lanes, (long long)d->nd,
                  block * lanes);
        emit_vec_block(e, d, n, lanes, block, &done);
    }
    if (nv % block)
        emit_vec_block(e, d, n, lanes, (int)(nv % block), &done);
    return done;
}

/* Plain C99: blocks of DL floats, the activation in the copy out. */
static bool emit_plain_path(Emit *e, const DwPlan *d, const Node *n)
{
    emit_line(e, "for (int t = 0; t < %lld; t += %d) {", (long long)d->nd, DL);
    emit_line(e, "float a[%d];", DL);
    emit_line(e, "for (int i = 0; i < %d; i++) a[i] = bias;", DL);
    emit_dw_taps(e, d, 0, 1, 1);
    emit_line(e, "for (int i = 0; i < %d; i++) %s[t + i] = a[i];", DL, d->o);
    emit_line(e, "}");
    return n->act.kind == ACT_NONE && !d->p->res;
}

/* ---- 8-float, stride 1: output rows straight from a padded plane ----
 *
 * With AVX2 (8 floats, no 16-float path) the phase-plane kernel's copy of
 * the sums out of the row buffer, and its memcpy calls per row, weighed
 * as much as its FMAs. Stride 1 needs no phase split, so here each
 * channel is copied once into a padded plane (vector copies, zero
 * borders) and every output row is computed in vectors of 8 read from
 * it, stored straight into y with the activation (a row's last vector is
 * moved back to end at the row's end, so it rewrites a few outputs with
 * the same values); the taps' weights stay in registers for the whole
 * channel. Stride 2 stays with the phase planes: there the layer is
 * bound by reading its input (112x112x96 from L3), and computing from the
 * padded rows with in-register deinterleaving gained 5 % on Zen 3. */
static bool dw_rows_fits(const ConvPlan *p, const Node *n)
{
    const ConvGeom *k = &p->k;
    return k->sh == 1 && k->sw == 1 && k->dh == 1 && k->dw == 1 && p->cg == 1 &&
           k->kh * k->kw <= 9 && k->ow >= 8 && !p->res && n->a.pad_mode == PAD_ZEROS;
}

/* Channel gi of x0 into the padded plane at s (pitch wp, hp rows). */
static void emit_rows_copy(Emit *e, const ConvPlan *p)
{
    const ConvGeom *k = &p->k;
    int64_t wp = p->wp;
    emit_line(e, "const float *xc = x0 + gi * %lld;", (long long)(k->h * k->w));
    if (k->pt) {
        emit_line(e, "for (int j = 0; j < %lld; j++)", (long long)(k->pt * wp));
        emit_line(e, "    s[j] = 0.0f;");
    }
    if (k->pb) {
        emit_line(e, "for (int j = %lld; j < %lld; j++)", (long long)((k->pt + k->h) * wp),
                  (long long)(p->hp * wp));
        emit_line(e, "    s[j] = 0.0f;");
    }
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)k->h);
    emit_line(e, "float *d = s + (r + %d) * %lld;", k->pt, (long long)wp);
    emit_line(e, "const float *xr = xc + r * %lld;", (long long)k->w);
    emit_line(e, "int j = 0;");
    if (k->pl) {
        emit_line(e, "for (; j < %d; j++)", k->pl);
        emit_line(e, "    d[j] = 0.0f;");
    }
    emit_line(e, "for (; j + 8 <= %lld; j += 8)", (long long)(k->pl + k->w));
    emit_line(e, "    *(cnnc_v8u *)(d + j) = *(const cnnc_v8u *)(xr + j - %d);", k->pl);
    emit_line(e, "for (; j < %lld; j++)", (long long)wp);
    emit_line(e, "    d[j] = j < %lld ? xr[j - %d] : 0.0f;", (long long)(k->pl + k->w), k->pl);
    emit_line(e, "}");
}

/* The output rows of channel gi from the plane at s, 8 outputs a vector. */
static void emit_rows_compute(Emit *e, const ConvPlan *p, const Node *n, const char *W,
                              const char *B)
{
    const ConvGeom *k = &p->k;
    int taps = k->kh * k->kw;
    emit_line(e, "const float *wg = %s + gi * %d;", W, taps);
    for (int t = 0; t < taps; t++)
        emit_line(e, "const cnnc_v8 k%d = (cnnc_v8){0} + wg[%d];", t, t);
    emit_line(e, "const float bias = %s[gi];", B);
    emit_line(e, "float *yc = y + gi * %lld;", (long long)p->np);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k->oh);
    emit_line(e, "for (int ox = 0;; ox += 8) {");
    emit_line(e, "if (ox > %lld)", (long long)(k->ow - 8));
    emit_line(e, "    ox = %lld;", (long long)(k->ow - 8));
    emit_line(e, "const float *xr = s + oy * %lld + ox;", (long long)p->wp);
    emit_line(e, "cnnc_v8 a = (cnnc_v8){0} + bias;");
    for (int ky = 0; ky < k->kh; ky++)
        for (int kx = 0; kx < k->kw; kx++)
            emit_line(e, "a += *(const cnnc_v8u *)(xr + %lld) * k%d;",
                      (long long)(ky * p->wp + kx), ky * k->kw + kx);
    emit_line(e, "float *yr = yc + oy * %lld + ox;", (long long)k->ow);
    if (act_emit_vec(e, n->act, "a", 8)) {
        emit_line(e, "*(cnnc_v8u *)yr = a;");
    } else {
        emit_line(e, "float t[8];");
        emit_line(e, "*(cnnc_v8u *)t = a;");
        emit_line(e, "for (int i = 0; i < 8; i++)");
        emit_line(e, "    yr[i] = %s;", emit_act(e, n->act, "t[i]"));
    }
    emit_line(e, "if (ox == %lld)", (long long)(k->ow - 8));
    emit_line(e, "    break;");
    emit_line(e, "}");
}

static void emit_dw_rows(Emit *e, const ConvPlan *p, const Node *n, const char *W, const char *B)
{
    emit_scratch(e, p->hp * p->wp);
    emit_line(e, "/* one filter per group, stride 1: each channel padded into s, then its "
                 "output rows in vectors of 8 */");
    emit_line(e, "for (int gi = 0; gi < %d; gi++) {", p->k.groups);
    emit_rows_copy(e, p);
    emit_rows_compute(e, p, n, W, B);
    emit_line(e, "}");
}

/* The phase-plane kernel (above); without its 8-float path where the rows
 * kernel takes that (`v8`: false). */
static void emit_dw_planes(Emit *e, const ConvPlan *p, const Node *n, const char *W,
                           const char *B, bool v8)
{
    const ConvGeom *k = &p->k;
    DwPlan d = dw_plan(p);
    int taps = k->kh * k->kw;
    /* Small planes: the planes of GB groups are copied before any is read,
     * so that the vector loads do not wait on the copy's narrower stores
     * to the same lines (store-to-load forwarding fails across them). */
    int64_t gs = p->cg * d.nph * d.ps, gb = BATCH_FLOATS / gs;
    gb = gb < 1 ? 1 : gb > k->groups ? k->groups : gb;
    emit_scratch(e, gb * (gs + d.nd));
    d.o = emit_keep(e, xasprintf("(s + %lld + (gi - g0) * %lld)", (long long)(gb * gs),
                                 (long long)d.nd));
    emit_line(e, "/* one filter per group: %d phase plane(s) of pitch %lld per input channel, "
                 "outputs in vectors along the flattened plane; %lld group(s) per batch */",
              d.nph, (long long)d.wq, (long long)gb);
    emit_line(e, "for (int g0 = 0; g0 < %d; g0 += %lld) {", k->groups, (long long)gb);
    emit_line(e, "const int ge = g0 + %lld < %d ? g0 + %lld : %d;", (long long)gb, k->groups,
              (long long)gb, k->groups);
    emit_line(e, "for (int gi = g0; gi < ge; gi++) {");
    emit_line(e, "const float *xg = x0 + gi * %lld;", (long long)(p->cg * k->h * k->w));
    emit_line(e, "float *sg = s + (gi - g0) * %lld;", (long long)gs);
    emit_copy_group(e, &d, n->a.pad_mode);
    emit_line(e, "}");
    emit_line(e, "for (int gi = g0; gi < ge; gi++) {");
    emit_line(e, "const float *sg = s + (gi - g0) * %lld;", (long long)gs);
    emit_line(e, "const float *wg = %s + gi * %lld;", W, (long long)(p->cg * taps));
    emit_line(e, "const float bias = %s[gi];", B);
    bool done[3] = {true, true, true};
    emit_line(e, "#if defined(CNNC_V16_DEFINED)");
    done[0] = emit_vec_path(e, &d, n, 16, V16_BLOCK);
    if (v8) {
        emit_line(e, "#elif defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT)");
        done[1] = emit_vec_path(e, &d, n, 8, V8_BLOCK);
    }
    emit_line(e, "#else");
    done[2] = emit_plain_path(e, &d, n);
    emit_line(e, "#endif");
    emit_line(e, "}");
    /* the output rows in a loop of their own, for the same reason */
    emit_line(e, "for (int gi = g0; gi < ge; gi++) {");
    char *off = xasprintf("gi * %lld", (long long)p->np);
    conv_emit_out_ptrs(e, p, off);
    free(off);
    const char *cond[3] = {"#if defined(CNNC_V16_DEFINED)",
                           "#elif defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT)", "#else"};
    for (int i = 0; i < 3; i++) {
        if (i == 1 && !v8)
            continue;
        emit_line(e, "%s", cond[i]);
        emit_copy_out(e, &d, n, done[i]);
    }
    emit_line(e, "#endif");
    emit_line(e, "}");
    emit_line(e, "}");
}

void conv_emit_depthwise(Emit *e, const ConvPlan *p, const Node *n)
{
    Graph *g = emit_graph(e);
    const ConvGeom *k = &p->k;
    int taps = k->kh * k->kw;
    char *wcomment = xasprintf("%s.weight [%lld,%lld,%d,%d]", n->name, (long long)k->f,
                               (long long)p->cg, k->kh, k->kw);
    const char *W, *B;
    conv_emit_consts(e, n, wcomment, node_param_data(g, n, 0), k->f * p->cg * taps, "",
                     n->a.bias ? node_param_data(g, n, 1) : NULL, k->f, &W, &B);
    if (!dw_rows_fits(p, n)) {
        emit_dw_planes(e, p, n, W, B, true);
        return;
    }
    emit_line(e, "#if defined(CNNC_V8_DEFINED) && !defined(CNNC_V16_DEFINED)");
    emit_dw_rows(e, p, n, W, B);
    emit_line(e, "#else");
    emit_dw_planes(e, p, n, W, B, false);
    emit_line(e, "#endif");
}
