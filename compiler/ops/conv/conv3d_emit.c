/* conv3d_emit.c: the forward emitter of a 3-D convolution (conv.c's
 * formula with depth taps), apart from the tuned 2-D kernels, which never
 * see a volume.
 *
 * Plain loops, every shape a literal: the input is first copied into
 * scratch with its padding (emit_pad_copy_3d, any padding mode), then for
 * each output row (oz, oy) and a block of up to FB filters of one group,
 * the row's sums start at the bias and every input channel and kernel tap
 * adds weight x input row (the input read at the stride) into them. The
 * loop over the row is contiguous in the output, so the compilers
 * vectorise it; the FB filters share each input load. Weights stay in
 * PyTorch's [F][C/G][KD][KH][KW]. */
#include "conv_emit.h"

#include <stdlib.h>

enum { FB = 4 }; /* filters per block: one input load feeds FB sums */

void conv_emit_source_table(Emit *e, const char *name, int64_t n, int pb, int pe,
                              PadMode mode)
{
    StrBuf b = {0};
    for (int64_t i = 0; i < n + pb + pe; i++)
        sb_printf(&b, "%s%lld", i ? ", " : "", (long long)pad_source(i - pb, n, mode));
    emit_line(e, "static const int %s[%lld] = {%s};", name, (long long)(n + pb + pe),
              b.s ? b.s : "");
    sb_free(&b);
}

void emit_pad_copy_3d(Emit *e, const char *dst, const char *src, const ConvGeom *k,
                      PadMode mode)
{
    int64_t dp = k->d + k->pf + k->pbk, hp = k->h + k->pt + k->pb, wp = k->w + k->pl + k->pr;
    emit_line(e, "{");
    conv_emit_source_table(e, "zs", k->d, k->pf, k->pbk, mode);
    conv_emit_source_table(e, "ys", k->h, k->pt, k->pb, mode);
    conv_emit_source_table(e, "xs", k->w, k->pl, k->pr, mode);
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k->c);
    emit_line(e, "for (int z = 0; z < %lld; z++)", (long long)dp);
    emit_line(e, "for (int r = 0; r < %lld; r++) {", (long long)hp);
    emit_line(e, "float *d = %s + ((c * %lld + z) * %lld + r) * %lld;", dst, (long long)dp,
              (long long)hp, (long long)wp);
    emit_line(e, "const float *sr = %s + ((c * %lld + zs[z]) * %lld + ys[r]) * %lld;", src,
              (long long)k->d, (long long)k->h, (long long)k->w);
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)wp);
    emit_line(e, "    d[i] = zs[z] < 0 || ys[r] < 0 || xs[i] < 0 ? 0.0f : sr[xs[i]];");
    emit_line(e, "}");
    emit_line(e, "}");
}

/* The sums of filters f0 .. f0 + nf - 1 on output row (oz, oy): bias,
 * taps, epilogue. */
static void emit_row_block(Emit *e, const Node *n, const ConvGeom *k, const char *W,
                           const char *B, int nf)
{
    int64_t dp = k->d + k->pf + k->pbk, hp = k->h + k->pt + k->pb, wp = k->w + k->pl + k->pr;
    int64_t cg = k->c / k->groups, taps = (int64_t)k->kd * k->kh * k->kw;
    int64_t oplane = k->od * k->oh * k->ow;
    for (int j = 0; j < nf; j++)
        emit_line(e, "float *y%d = y + (f0 + %d) * %lld + (oz * %lld + oy) * %lld;", j, j,
                  (long long)oplane, (long long)k->oh, (long long)k->ow);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    for (int j = 0; j < nf; j++)
        emit_line(e, "y%d[ox] = %s[f0 + %d];", j, B, j);
    emit_line(e, "}");
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)cg);
    emit_line(e, "for (int kz = 0; kz < %d; kz++)", k->kd);
    emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (int kx = 0; kx < %d; kx++) {", k->kw);
    emit_line(e, "const float *xr = xg + ((c * %lld + oz * %d + kz * %d) * %lld + oy * %d + "
                 "ky * %d) * %lld + kx * %d;", (long long)dp, k->sd, k->dd, (long long)hp,
              k->sh, k->dh, (long long)wp, k->dw);
    emit_line(e, "const float *wt = %s + ((f0 * %lld + c) * %d + kz) * %d + ky * %d + kx;", W,
              (long long)cg, k->kd, k->kh * k->kw, k->kw);
    for (int j = 0; j < nf; j++)
        emit_line(e, "const float w%d = wt[%lld];", j, (long long)(j * cg * taps));
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "const float v = xr[ox * %d];", k->sw);
    for (int j = 0; j < nf; j++)
        emit_line(e, "y%d[ox] += w%d * v;", j, j);
    emit_line(e, "}");
    emit_line(e, "}");
    if (!act_present(n->act) && n->nin < 2)
        return;
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    for (int j = 0; j < nf; j++) {
        if (n->nin > 1)
            emit_line(e, "y%d[ox] += x1[y%d - y + ox];", j, j);
        emit_line(e, "{");
        emit_line(e, "const float t = y%d[ox];", j);
        emit_line(e, "y%d[ox] = %s;", j, emit_act(e, n->act, "t"));
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

void conv_emit_volume(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    ConvGeom k = conv_geometry(g, n);
    int64_t cg = k.c / k.groups, fg = k.f / k.groups;
    int64_t dp = k.d + k.pf + k.pbk, hp = k.h + k.pt + k.pb, wp = k.w + k.pl + k.pr;
    int nf = fg % FB == 0 ? FB : fg % 2 == 0 ? 2 : 1;
    char *wcomment = xasprintf("%s.weight [%lld,%lld,%d,%d,%d]", n->name, (long long)k.f,
                               (long long)cg, k.kd, k.kh, k.kw);
    const char *W, *B;
    conv_emit_consts(e, n, wcomment, node_param_data(g, n, 0),
                     k.f * cg * k.kd * k.kh * k.kw, "", n->a.bias ? node_param_data(g, n, 1)
                                                                  : NULL, k.f, &W, &B);
    const char *X = "x0";
    if (dp != k.d || hp != k.h || wp != k.w) {
        X = emit_scratch(e, k.c * dp * hp * wp);
        emit_line(e, "/* the input with its padding, so windows need no bounds checks */");
        emit_pad_copy_3d(e, X, "x0", &k, n->a.pad_mode);
    }
    emit_line(e, "for (int f0 = 0; f0 < %lld; f0 += %d) {", (long long)k.f, nf);
    emit_line(e, "const float *xg = %s + f0 / %lld * %lld;", X, (long long)fg,
              (long long)(cg * dp * hp * wp));
    emit_line(e, "for (int oz = 0; oz < %lld; oz++)", (long long)k.od);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k.oh);
    emit_row_block(e, n, &k, W, B, nf);
    emit_line(e, "}");
    emit_line(e, "}");
}
