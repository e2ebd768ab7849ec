/* conv_mcu_emit.c: the convolution kernel of the microcontroller profiles
 * (--target cortex-m*: cores whose FPU holds 32 single floats, no SIMD for
 * the GNU vector types), every layer shape: strides, dilation, groups,
 * depthwise, 1x1, a fused residual and activation.
 *
 * A block is FB filters times PB output pixels of one row, its FB * PB
 * sums named variables that gcc keeps in the FPU's registers for the whole
 * input-channel loop (the plain loops' arrays live in memory: a load and a
 * store around every multiply-add). Per input channel and kernel row, the
 * row's distinct inputs are loaded once (PB pixels at stride SW need
 * (PB - 1) * SW + (KW - 1) * DW + 1 of them, where the taps overlap), then
 * per tap FB weights, contiguous, and FB * PB multiply-adds: about 1.5
 * instructions per MAC for 4 x 4 blocks. FB is 4 (the group's last block
 * narrower), 1 for depthwise; PB is the widest that keeps sums, weights and
 * the row's inputs within MCU_REGS registers. A row's last block is moved
 * back to end at the row's end (it writes the same values twice), unless
 * a residual is added in place. A group's input is copied into scratch
 * with its padding first (a depthwise layer's scratch is one channel, not
 * the layer's input), and so is an unpadded group's when the layer writes
 * over its input (conv_writes_over_input). Weights per group: [Fg/FB
 * blocks][Cg][KH][KW][FB], the last block only Fg % FB wide. */
#include "conv_emit.h"

#include <stdlib.h>

enum {
    MCU_FB = 4,    /* filters per block */
    MCU_SUMS = 16, /* sums per block: half of the FPU's 32 registers */
    MCU_PB = 8,    /* pixels per block at most */
    MCU_REGS = 28  /* sums + weights + a kernel row's inputs, leaving 4 */
};

typedef struct {
    const ConvPlan *p;
    int fb, pb;  /* filters and pixels of a block */
    bool unroll; /* the taps unrolled: literal offsets, shared inputs */
} McuBlock;

static int64_t taps_of(const ConvPlan *p)
{
    return (int64_t)p->k.kh * p->k.kw;
}

/* The widest block row that fits the registers: FB * PB sums, FB
 * weights, the inputs of one kernel row. */
static int pixels_per_block(const ConvPlan *p, int fb)
{
    const ConvGeom *k = &p->k;
    int best = 1;
    for (int pb = 1; pb <= MCU_PB && pb <= k->ow && fb * pb <= MCU_SUMS; pb++)
        if (fb * pb + fb + (pb - 1) * k->sw + (k->kw - 1) * k->dw + 1 <= MCU_REGS)
            best = pb;
    return best;
}

/* [G][blocks][Cg][KH][KW][fb] from PyTorch's [F][Cg][KH][KW]. */
static float *repack(const ConvPlan *p, int fb, const float *w, int64_t *count)
{
    int64_t taps = taps_of(p);
    *count = p->k.f * p->cg * taps;
    float *r = xmalloc((size_t)*count * sizeof *r);
    for (int64_t f = 0; f < p->k.f; f++) {
        int64_t g = f / p->fg, fl = f % p->fg, f0 = fl / fb * fb;
        int64_t width = p->fg - f0 < fb ? p->fg - f0 : fb;
        for (int64_t c = 0; c < p->cg; c++)
            for (int64_t t = 0; t < taps; t++)
                r[(g * p->fg + f0) * p->cg * taps + (c * taps + t) * width + fl - f0] =
                    w[(f * p->cg + c) * taps + t];
    }
    return r;
}

/* One kernel row ky of the unrolled taps: its inputs x<o> (o: the offset
 * in the row), then per tap the weights and the sums. */
static void emit_kernel_row(Emit *e, const McuBlock *b, int ky)
{
    const ConvPlan *p = b->p;
    const ConvGeom *k = &p->k;
    int span = (b->pb - 1) * k->sw + (k->kw - 1) * k->dw + 1;
    bool *used = xcalloc((size_t)span, sizeof *used);
    for (int kx = 0; kx < k->kw; kx++)
        for (int i = 0; i < b->pb; i++)
            used[kx * k->dw + i * k->sw] = true;
    emit_line(e, "{");
    for (int o = 0; o < span; o++)
        if (used[o])
            emit_line(e, "const float x%d = xc[%lld];", o, (long long)(ky * k->dh * p->wp + o));
    free(used);
    for (int kx = 0; kx < k->kw; kx++) {
        emit_line(e, "{");
        for (int f = 0; f < b->fb; f++)
            emit_line(e, "const float w%d = wc[%d];", f, (ky * k->kw + kx) * b->fb + f);
        for (int f = 0; f < b->fb; f++)
            for (int i = 0; i < b->pb; i++)
                emit_line(e, "s%d_%d += w%d * x%d;", f, i, f, kx * k->dw + i * k->sw);
        emit_line(e, "}");
    }
    emit_line(e, "}");
}

/* The taps in ky/kx loops: offsets computed, every input loaded per tap. */
static void emit_tap_loops(Emit *e, const McuBlock *b)
{
    const ConvGeom *k = &b->p->k;
    emit_line(e, "for (int ky = 0; ky < %d; ky++)", k->kh);
    emit_line(e, "for (int kx = 0; kx < %d; kx++) {", k->kw);
    emit_line(e, "const float *xt = xc + ky * %lld + kx * %d;", (long long)(k->dh * b->p->wp), k->dw);
    emit_line(e, "const float *wt = wc + (ky * %d + kx) * %d;", k->kw, b->fb);
    for (int f = 0; f < b->fb; f++)
        emit_line(e, "const float w%d = wt[%d];", f, f);
    for (int i = 0; i < b->pb; i++)
        emit_line(e, "const float x%d = xt[%d];", i, i * k->sw);
    for (int f = 0; f < b->fb; f++)
        for (int i = 0; i < b->pb; i++)
            emit_line(e, "s%d_%d += w%d * x%d;", f, i, f, i);
    emit_line(e, "}");
}

/* The block at output row oy, column ox (C variables): sums from the
 * bias, the channel loop, the stores (residual, activation). */
static void emit_block(Emit *e, const McuBlock *b, const Node *n)
{
    const ConvPlan *p = b->p;
    const ConvGeom *k = &p->k;
    emit_line(e, "{");
    emit_line(e, "const float *xp = xr + ox * %d;", k->sw);
    for (int f = 0; f < b->fb; f++)
        for (int i = 0; i < b->pb; i++)
            emit_line(e, "float s%d_%d = bb[%d];", f, i, f);
    emit_line(e, "for (int c = 0; c < %lld; c++) {", (long long)p->cg);
    emit_line(e, "const float *xc = xp + c * %lld;", (long long)(p->hp * p->wp));
    emit_line(e, "const float *wc = wb + c * %lld;", (long long)(taps_of(p) * b->fb));
    if (b->unroll)
        for (int ky = 0; ky < k->kh; ky++)
            emit_kernel_row(e, b, ky);
    else
        emit_tap_loops(e, b);
    emit_line(e, "}");
    for (int f = 0; f < b->fb; f++)
        for (int i = 0; i < b->pb; i++) {
            char s[24], at[96];
            snprintf(s, sizeof s, "s%d_%d", f, i);
            snprintf(at, sizeof at, "%lld + oy * %lld + ox + %d", (long long)(f * p->np),
                     (long long)k->ow, i);
            emit_line(e, "yb[%s] = %s;", at, emit_act(e, n->act, conv_pre_act(e, p, s, at)));
        }
    emit_line(e, "}");
}

/* Every output row of fb filters from filter f0 (a C expression) of group
 * gi: blocks of PB along the row, the last moved back to the row's end or,
 * with a residual, a narrower one. */
static void emit_filter_block(Emit *e, const ConvPlan *p, const Node *n, int fb,
                              const char *f0)
{
    const ConvGeom *k = &p->k;
    McuBlock b = {p, fb, pixels_per_block(p, fb), taps_of(p) <= emit_unroll_taps(e)};
    int64_t ow = k->ow, tail = ow % b.pb;
    emit_line(e, "{");
    emit_line(e, "const float *wb = weight + gi * %lld + (%s) * %lld;",
              (long long)(p->fg * p->cg * taps_of(p)), f0, (long long)(p->cg * taps_of(p)));
    emit_line(e, "const float *bb = bias + gi * %lld + (%s);", (long long)p->fg, f0);
    char *off = xasprintf("(gi * %lld + (%s)) * %lld", (long long)p->fg, f0, (long long)p->np);
    conv_emit_out_ptrs(e, p, off);
    free(off);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)k->oh);
    emit_line(e, "const float *xr = xg + oy * %lld;", (long long)(k->sh * p->wp));
    bool back = tail && !p->res;
    emit_line(e, "for (int ox = 0; ox + %d <= %lld; ox += %d)", b.pb, (long long)ow, b.pb);
    emit_block(e, &b, n);
    if (back) {
        emit_line(e, "{");
        emit_line(e, "const int ox = %lld;", (long long)(ow - b.pb));
        emit_block(e, &b, n);
        emit_line(e, "}");
    } else if (tail) {
        McuBlock t = b;
        t.pb = (int)tail;
        emit_line(e, "{");
        emit_line(e, "const int ox = %lld;", (long long)(ow - tail));
        emit_block(e, &t, n);
        emit_line(e, "}");
    }
    emit_line(e, "}");
    emit_line(e, "}");
}

int conv_mcu_filters_per_block(const ConvPlan *p)
{
    return p->fg < MCU_FB ? (int)p->fg : MCU_FB;
}

void conv_emit_mcu(Emit *e, const ConvPlan *p0, const Node *n)
{
    Graph *g = emit_graph(e);
    ConvPlan p = *p0;
    const ConvGeom *k = &p.k;
    int fb = conv_mcu_filters_per_block(&p);
    int64_t nw, nb = k->f, full = p.fg / fb, last = p.fg % fb;
    float *w = repack(&p, fb, node_param_data(g, n, 0), &nw);
    char *wcomment = xasprintf("%s.weight [%lld,%lld,%d,%d] as [G=%d][F/G in blocks of %d]"
                               "[C/G=%lld][%d][%d][block]",
                               n->name, (long long)k->f, (long long)p.cg, k->kh, k->kw,
                               k->groups, fb, (long long)p.cg, k->kh, k->kw);
    const char *W, *B;
    conv_emit_consts(e, n, wcomment, w, nw, "", n->a.bias ? node_param_data(g, n, 1) : NULL,
                     nb, &W, &B);
    free(w);
    /* In place, y is x0's storage: a group's input is read whole before
     * its output (at or below it) is written. */
    bool in_place = emit_in_place(e), copy = k->pt || k->pl || k->pb || k->pr || in_place;
    emit_line(e, "const float *weight = %s, *bias = %s;", W, B);
    if (copy)
        p.x = emit_scratch(e, p.cg * p.hp * p.wp);
    emit_line(e, "for (int gi = 0; gi < %d; gi++) {", k->groups);
    if (copy) {
        char *src = xasprintf("(x0 + gi * %lld)", (long long)(p.cg * k->h * k->w));
        emit_line(e, "/* the group's input with its padding: windows need no bounds checks%s */",
                  in_place ? "; y writes over x0" : "");
        emit_pad_copy(e, p.x, src, p.cg, k->h, k->w, (int[]){k->pt, k->pl, k->pb, k->pr},
                      n->a.pad_mode);
        free(src);
        emit_line(e, "const float *xg = %s;", p.x);
    } else {
        emit_line(e, "const float *xg = x0 + gi * %lld;", (long long)(p.cg * k->h * k->w));
    }
    if (full) {
        emit_line(e, "for (int fb = 0; fb < %lld; fb++)", (long long)full);
        char f0[32];
        snprintf(f0, sizeof f0, "fb * %d", fb);
        emit_filter_block(e, &p, n, fb, f0);
    }
    if (last) {
        char f0[32];
        snprintf(f0, sizeof f0, "%lld", (long long)(full * fb));
        emit_filter_block(e, &p, n, (int)last, f0);
    }
    emit_line(e, "}");
}
