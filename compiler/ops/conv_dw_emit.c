/* conv_dw_emit.c: the forward kernel of a convolution with one filter per
 * group (depthwise): blocks of output pixels along a row, one sum per
 * pixel, every tap unrolled. conv_emit.c has already emitted the weights,
 * the padded input and the group loop around it. */
#include "conv_emit.h"

static void emit_dw_tap(Emit *e, const ConvPlan *p, int xb, const char *xoff, const char *woff)
{
    emit_line(e, "for (int i = 0; i < %d; i++)", xb);
    emit_line(e, "    acc[i] += xr[%s + i * %d] * wc[%s];", xoff, p->k.sw, woff);
}

static void emit_dw_block(Emit *e, const ConvPlan *p, const Node *n, int xb)
{
    const ConvGeom *k = &p->k;
    emit_line(e, "float acc[%d];", xb);
    emit_line(e, "for (int i = 0; i < %d; i++)", xb);
    emit_line(e, "    acc[i] = bb[0];");
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xr = xg + c * %lld + oy * %lld + ox * %d;",
              (long long)(p->hp * p->wp), (long long)(k->sh * p->wp), k->sw);
    emit_line(e, "const float *wc = wb + c * %d;", k->kh * k->kw);
    conv_emit_taps(e, p, xb, emit_dw_tap);
    emit_line(e, "}");
    char at[48];
    snprintf(at, sizeof at, "oy * %lld + ox + i", (long long)k->ow);
    emit_line(e, "for (int i = 0; i < %d; i++)", xb);
    emit_line(e, "    yb[%s] = %s;", at, emit_act(e, n->act, conv_pre_act(e, p, "acc[i]", at)));
}

void conv_emit_dw_loops(Emit *e, const ConvPlan *p, const Node *n)
{
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)p->k.oh);
    emit_line(e, "int ox = 0;");
    emit_line(e, "for (; ox + %d <= %lld; ox += %d) {", p->xb, (long long)p->k.ow, p->xb);
    emit_dw_block(e, p, n, p->xb);
    emit_line(e, "}");
    if (p->k.ow % p->xb) { /* the row's last pixels: one narrower block */
        emit_line(e, "{");
        emit_dw_block(e, p, n, (int)(p->k.ow % p->xb));
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

