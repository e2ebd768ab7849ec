/* conv_transpose_emit_grad.c: the training emitters of the transposed
 * convolution (conv_transpose.c, conv_transpose_grad.c's formulas), every
 * shape a literal, over the n samples of the batch.
 *
 * - The training forward reads the weights in the state (p0 [C][F/G][T],
 *   p1 the bias) and scatters each weight as the inference code's direct
 *   path does (y[f] += W[c, fl, t] * x[c] along rows of input cells).
 * - The backward walks the same (tap, input cell) pairs: dL/dx[c] gathers
 *   W[c, fl, t] * gy[f] (the convolution this layer transposes), then
 *   dL/dW in blocks of input-channel rows that fit the chunk size, each
 *   stepped as soon as it is summed over the batch, and dL/db. dL/dx
 *   reads the old weights: it comes first. */
#include "conv_emit.h"

typedef struct {
    ConvGeom k;
    int64_t cg, fg, taps, cells, plane; /* per group; taps; input, output cells */
} ConvtDims;

static ConvtDims convt_dims(Emit *e, const Node *n)
{
    ConvtDims d = {.k = conv_geometry(emit_graph(e), n)};
    d.cg = d.k.c / d.k.groups;
    d.fg = d.k.f / d.k.groups;
    d.taps = (int64_t)d.k.kd * d.k.kh * d.k.kw;
    d.cells = d.k.d * d.k.h * d.k.w;
    d.plane = d.k.od * d.k.oh * d.k.ow;
    return d;
}

/* The tap's index in a [T] row of weights, inside conv_transpose_open_tap_rows. */
static const char *tap_index(Emit *e, const ConvtDims *d)
{
    return emit_keep(e, xasprintf("(kz * %d + ky) * %d + kx", d->k.kh, d->k.kw));
}

/* For input channel c of sample b and each of its filters fl: xc (c's
 * channel in xname), gf (the filter's channel in yname; the one written
 * is `float *`), the line declaring wk (its row of taps), then the tap
 * loops. */
static void open_channel_pair(Emit *e, const ConvtDims *d, const char *xname, bool write_x,
                              const char *yname, const char *wk)
{
    emit_line(e, "for (fl = 0; fl < %lld; fl++) {", (long long)d->fg);
    emit_line(e, "%s *xc = %s + ((size_t)b * %lld + c) * %lld;", write_x ? "float" : "const float",
              xname, (long long)d->k.c, (long long)d->cells);
    emit_line(e, "%s *gf = %s + ((size_t)b * %lld + c / %lld * %lld + fl) * %lld;",
              write_x ? "const float" : "float", yname, (long long)d->k.f, (long long)d->cg,
              (long long)d->fg, (long long)d->plane);
    emit_line(e, "%s", wk);
    emit_line(e, "{");
    conv_transpose_open_tap_rows(e, &d->k);
}

static void close_channel_pair(Emit *e)
{
    conv_transpose_close_tap_rows(e);
    emit_line(e, "}");
    emit_line(e, "}");
}

void conv_transpose_emit_train(Emit *e, const Node *n)
{
    ConvtDims d = convt_dims(e, n);
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_line(e, "int b, c, fl, i;");
    emit_line(e, "for (b = 0; b < n; b++) {");
    emit_line(e, "float *yb = y + (size_t)b * %lld;", (long long)(d.k.f * d.plane));
    emit_line(e, "for (i = 0; i < %lld; i++)", (long long)(d.k.f * d.plane));
    if (bias)
        emit_line(e, "    yb[i] = p1[i / %lld];", (long long)d.plane);
    else
        emit_line(e, "    yb[i] = 0.0f;");
    emit_line(e, "for (c = 0; c < %lld; c++)", (long long)d.k.c);
    open_channel_pair(e, &d, "x0", false, "y",
                      emit_keep(e, xasprintf("const float *wk = p0 + ((size_t)c * %lld + fl) * "
                                             "%lld;", (long long)d.fg, (long long)d.taps)));
    emit_line(e, "    gf[yo + ix * %d] += wk[%s] * xc[xo + ix];", d.k.sw, tap_index(e, &d));
    close_channel_pair(e);
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (i = 0; i < %lld; i++)", (long long)(d.k.f * d.plane));
        emit_line(e, "    yb[i] = %s;", emit_act(e, n->act, "yb[i]"));
    }
    emit_line(e, "}");
}

/* dL/dx: each input cell gathers its weights times the output gradient
 * where they sent it. */
static void emit_dx_phase(Emit *e, const ConvtDims *d)
{
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (c = 0; c < %lld; c++)", (long long)d->k.c);
    open_channel_pair(e, d, "dx0", true, "dy",
                      emit_keep(e, xasprintf("const float *wk = p0 + ((size_t)c * %lld + fl) * "
                                             "%lld;", (long long)d->fg, (long long)d->taps)));
    emit_line(e, "    xc[xo + ix] += wk[%s] * gf[yo + ix * %d];", tap_index(e, d), d->k.sw);
    close_channel_pair(e);
}

/* dL/dW of input-channel rows [row, row + rows), summed over the batch,
 * then stepped. */
static void emit_dw_block(Emit *e, const ConvtDims *d, const char *row, long long rows)
{
    char nrows[32];
    int64_t row_floats = d->fg * d->taps;
    snprintf(nrows, sizeof nrows, "%lld", rows);
    emit_line(e, "{");
    emit_pgrad_begin(e, 0, "gw", row, nrows, row_floats, "ws");
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (c = %s; c < %s + %lld; c++)", row, row, rows);
    open_channel_pair(e, d, "x0", false, "dy",
                      emit_keep(e, xasprintf("float *wk = gw + ((size_t)(c - %s) * %lld + fl) * "
                                             "%lld;", row, (long long)d->fg, (long long)d->taps)));
    emit_line(e, "    wk[%s] += xc[xo + ix] * gf[yo + ix * %d];", tap_index(e, d), d->k.sw);
    close_channel_pair(e);
    emit_pgrad_end(e, 0, "gw", row, nrows, row_floats);
    emit_line(e, "}");
}

/* Input channels per block of dL/dW: as many gradient rows as fit the
 * chunk size, all of them when they do. */
static long long dw_rows(Emit *e, const ConvtDims *d)
{
    int64_t most = emit_train_chunk(e) / (d->fg * d->taps);
    return most < 1 ? 1 : most > d->k.c ? d->k.c : most;
}

/* dL/dW, a block of input channels at a time (a shorter last). */
static void emit_dw_phase(Emit *e, const ConvtDims *d)
{
    long long rows = dw_rows(e, d);
    long long full = d->k.c / rows * rows;
    if (full == rows) {
        emit_dw_block(e, d, "0", rows);
    } else {
        emit_line(e, "for (r0 = 0; r0 < %lld; r0 += %lld)", full, rows);
        emit_dw_block(e, d, "r0", rows);
    }
    if (full < d->k.c) {
        char last[32];
        snprintf(last, sizeof last, "%lld", full);
        emit_dw_block(e, d, last, d->k.c - full);
    }
}

/* dL/db: every output channel's gradient summed over the batch. */
static void emit_db_phase(Emit *e, const ConvtDims *d, int64_t at)
{
    char f[32], where[32];
    snprintf(f, sizeof f, "%lld", (long long)d->k.f);
    snprintf(where, sizeof where, "ws + %lld", (long long)at);
    emit_line(e, "{");
    emit_pgrad_begin(e, 1, "gb", "0", f, 1, where);
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (i = 0; i < %lld; i++)", (long long)(d->k.f * d->plane));
    emit_line(e, "    gb[i / %lld] += dy[(size_t)b * %lld + i];", (long long)d->plane,
              (long long)(d->k.f * d->plane));
    emit_pgrad_end(e, 1, "gb", "0", f, 1);
    emit_line(e, "}");
}

void conv_transpose_emit_grad(Emit *e, const Node *n)
{
    ConvtDims d = convt_dims(e, n);
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    int64_t wfloats = dw ? plan_round_up(dw_rows(e, &d) * d.fg * d.taps) : 0;
    emit_grad_epilogue(e, n, d.k.f * d.plane);
    emit_line(e, "int b, c, fl, i, r0;");
    emit_unused(e, "i");
    emit_unused(e, "r0");
    if (dw || db)
        emit_train_scratch(e, wfloats + (db ? d.k.f : 0));
    if (dx)
        emit_dx_phase(e, &d);
    if (dw)
        emit_dw_phase(e, &d);
    if (db)
        emit_db_phase(e, &d, wfloats);
}
