/* conv3d_emit_grad.c: the training emitters of a 3-D convolution (conv.c's
 * formula with depth taps; conv_emit_grad.c hands volumes here), plain
 * loops beside the planar kernels, every shape a literal, over the n
 * samples of the batch.
 *
 * Each axis has a table from the padded coordinate to the input cell it
 * reads (-1 for a zero; reflect and replicate read a cell inside), so
 * that one loop nest over (filter, channel, tap, output cell) serves the
 * forward (y += w x), dL/dx (dx at that cell += w gy: padding cells that
 * read one input add up there) and dL/dW (gw += x gy, in blocks of
 * filters that fit the chunk size, each stepped once summed) and dL/db.
 * dL/dx reads the old weights: it comes first. */
#include "conv_emit.h"

/* The loops over channel c of filter f's group, the taps and the output
 * cells whose input cell is not a zero, declaring `xi` (the input cell in
 * the channel) and `yi` (the output cell in the filter's plane) for one
 * body line. */
static void open_products(Emit *e, const Node *n, const ConvGeom *k)
{
    conv_emit_source_table(e, "zs", k->d, k->pf, k->pbk, n->a.pad_mode);
    conv_emit_source_table(e, "ys", k->h, k->pt, k->pb, n->a.pad_mode);
    conv_emit_source_table(e, "xs", k->w, k->pl, k->pr, n->a.pad_mode);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)(k->c / k->groups));
    emit_line(e, "for (int kz = 0; kz < %d; kz++)", k->kd);
    emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
    emit_line(e, "for (int oz = 0; oz < %lld; oz++)", (long long)k->od);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++)", (long long)k->oh);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const int iz = zs[oz * %d + kz * %d], iy = ys[oy * %d + ky * %d], "
                 "ix = xs[ox * %d + kx * %d];", k->sd, k->dd, k->sh, k->dh, k->sw, k->dw);
    emit_line(e, "const int t = (c * %d + kz) * %d + ky * %d + kx;", k->kd, k->kh * k->kw, k->kw);
    emit_line(e, "const int xi = (iz * %lld + iy) * %lld + ix, yi = (oz * %lld + oy) * %lld + ox;",
              (long long)k->h, (long long)k->w, (long long)k->oh, (long long)k->ow);
    emit_unused(e, "t");
    emit_line(e, "if (iz >= 0 && iy >= 0 && ix >= 0)");
}

/* For sample b and filter f: xg (its group's input channels, from xname),
 * gf (its output plane in yname). */
static void open_filter(Emit *e, const ConvGeom *k, const char *xtype, const char *xname,
                        const char *ytype, const char *yname)
{
    int64_t cells = k->d * k->h * k->w, plane = k->od * k->oh * k->ow;
    emit_line(e, "for (b = 0; b < n; b++)");
    emit_line(e, "for (f = F0; f < F1; f++) {");
    emit_line(e, "%s *xg = %s + ((size_t)b * %lld + f / %lld * %lld) * %lld;", xtype, xname,
              (long long)k->c, (long long)(k->f / k->groups), (long long)(k->c / k->groups),
              (long long)cells);
    emit_line(e, "%s *gf = %s + ((size_t)b * %lld + f) * %lld;", ytype, yname, (long long)k->f,
              (long long)plane);
}

void conv_emit_volume_train(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    int64_t plane = k.od * k.oh * k.ow, taps = (int64_t)(k.c / k.groups) * k.kd * k.kh * k.kw;
    bool bias = n->nparam > 1 && n->param[1] >= 0;
    emit_line(e, "enum { F0 = 0, F1 = %lld };", (long long)k.f);
    emit_line(e, "int b, f, i;");
    open_filter(e, &k, "const float", "x0", "float", "y");
    emit_line(e, "const float *wf = p0 + (size_t)f * %lld;", (long long)taps);
    emit_line(e, "for (i = 0; i < %lld; i++)", (long long)plane);
    emit_line(e, "    gf[i] = %s;", bias ? "p1[f]" : "0.0f");
    emit_line(e, "{");
    open_products(e, n, &k);
    emit_line(e, "    gf[yi] += wf[t] * xg[c * %lld + xi];", (long long)(k.d * k.h * k.w));
    emit_line(e, "}");
    emit_line(e, "}");
    if (n->act.kind != ACT_NONE) {
        emit_line(e, "for (i = 0; i < %lld; i++)", (long long)plane);
        emit_line(e, "    gf[i] = %s;", emit_act(e, n->act, "gf[i]"));
    }
    emit_line(e, "}");
}

/* dL/dW of filters [row, row + rows) and their dL/db, summed, then
 * stepped. */
static void emit_param_block(Emit *e, const Node *n, const ConvGeom *k, const char *row,
                             long long rows, bool dw, bool db, int64_t bat)
{
    int64_t plane = k->od * k->oh * k->ow, taps = (int64_t)(k->c / k->groups) * k->kd * k->kh * k->kw;
    char nrows[32], bexpr[32];
    snprintf(nrows, sizeof nrows, "%lld", rows);
    snprintf(bexpr, sizeof bexpr, "ws + %lld", (long long)bat);
    emit_line(e, "{");
    emit_line(e, "const int F0 = %s, F1 = %s + %lld;", row, row, rows);
    if (dw)
        emit_pgrad_begin(e, 0, "gw", row, nrows, taps, "ws");
    if (db)
        emit_pgrad_begin(e, 1, "gb", row, nrows, 1, bexpr);
    open_filter(e, k, "const float", "x0", "const float", "dy");
    if (db) {
        emit_line(e, "for (i = 0; i < %lld; i++)", (long long)plane);
        emit_line(e, "    gb[f - F0] += gf[i];");
    }
    if (dw) {
        emit_line(e, "float *wf = gw + (size_t)(f - F0) * %lld;", (long long)taps);
        emit_line(e, "{");
        open_products(e, n, k);
        emit_line(e, "    wf[t] += xg[c * %lld + xi] * gf[yi];", (long long)(k->d * k->h * k->w));
        emit_line(e, "}");
        emit_line(e, "}");
    }
    emit_line(e, "}");
    if (dw)
        emit_pgrad_end(e, 0, "gw", row, nrows, taps);
    if (db)
        emit_pgrad_end(e, 1, "gb", row, nrows, 1);
    emit_line(e, "}");
}

void conv_emit_volume_grad(Emit *e, const Node *n)
{
    ConvGeom k = conv_geometry(emit_graph(e), n);
    int64_t plane = k.od * k.oh * k.ow, taps = (int64_t)(k.c / k.groups) * k.kd * k.kh * k.kw;
    bool dx = emit_grad_needs_dx(e, 0), dw = emit_grad_has_dp(e, 0), db = emit_grad_has_dp(e, 1);
    int64_t most = emit_train_chunk(e) / taps;
    long long rows = most < 1 ? 1 : most > k.f ? k.f : most, full = k.f / rows * rows;
    int64_t bat = dw ? plan_round_up(rows * taps) : 0;
    emit_grad_epilogue(e, n, k.f * plane);
    emit_line(e, "int b, f, i, r0;");
    emit_unused(e, "i");
    emit_unused(e, "r0");
    if (dx) {
        emit_line(e, "{");
        emit_line(e, "enum { F0 = 0, F1 = %lld };", (long long)k.f);
        open_filter(e, &k, "float", "dx0", "const float", "dy");
        emit_line(e, "const float *wf = p0 + (size_t)f * %lld;", (long long)taps);
        emit_line(e, "{");
        open_products(e, n, &k);
        emit_line(e, "    xg[c * %lld + xi] += wf[t] * gf[yi];", (long long)(k.d * k.h * k.w));
        emit_line(e, "}");
        emit_line(e, "}");
        emit_line(e, "}");
        emit_line(e, "}");
    }
    if (!dw && !db)
        return;
    emit_train_scratch(e, bat + rows);
    emit_line(e, "for (r0 = 0; r0 < %lld; r0 += %lld)", full, rows);
    emit_param_block(e, n, &k, "r0", rows, dw, db, bat);
    if (full < k.f) {
        char last[32];
        snprintf(last, sizeof last, "%lld", full);
        emit_param_block(e, n, &k, last, k.f - full, dw, db, bat);
    }
}
