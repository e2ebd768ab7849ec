/* conv_irb.c: fused inverted-residual blocks in int8 (issue 11): a 1x1
 * expand conv, a depthwise KxK conv and a 1x1 project conv compiled as one
 * kernel, so that neither the expanded tensor nor the depthwise output
 * exists in full. Per output row, the kernel expands just the input rows
 * the depthwise window still needs into a ring of KH rows (Ce channels,
 * the window's width with its border of the depthwise input's zero
 * point), filters one depthwise row (Ce x OW) and projects it. Every
 * layer's integers are its ConvQ (conv_int8.c), summed and requantized in
 * the order conv_q_run does, so the output is bit for bit `cnnc run
 * --int8`'s. The arithmetic is scalar C: the blocked kernels' SMLAD forms
 * are not used here, the block pays instructions for the RAM it saves.
 * The block's residual add, if any, stays a layer of its own. The float
 * kernel is conv_irb_f32.c's. */
#include "conv_emit.h"
#include "conv_int8.h"

#include <stdlib.h>

/* The 2-D conv node producing tensor t, int8 or float as `quantized`
 * says, read by nothing but node `by` and not the graph's output; NULL if
 * none. */
static const Node *sole_producer(const Graph *g, int t, int by, bool quantized)
{
    int p = g->t[t].producer, readers[2];
    if (p < 0 || t == g->output || graph_consumers(g, t, readers, 2) != 1 || readers[0] != by)
        return NULL;
    const Node *n = &g->n[p];
    bool ok = n->op == OP_CONV && n->nin == 1 && node_quantized(g, n) == quantized &&
              g->t[n->in[0]].shape.rank == 3;
    return ok ? n : NULL;
}

static bool pointwise(const ConvGeom *k)
{
    return k->kh == 1 && k->kw == 1 && k->sh == 1 && k->sw == 1 && k->groups == 1 &&
           !(k->pt || k->pl || k->pb || k->pr);
}

static bool depthwise(const Node *n, const ConvGeom *k)
{
    return k->groups == k->c && k->f == k->c && k->dh == 1 && k->dw == 1 &&
           n->a.pad_mode == PAD_ZEROS;
}

/* An int8 block's project conv reads the depthwise output alone (its
 * residual add is a layer of its own); a float one may have the add
 * fused (input 1). */
static bool irb_match(const Graph *g, int p, int *expand, int *dw)
{
    const Node *proj = &g->n[p];
    bool q = proj->op == OP_CONV && node_quantized(g, proj);
    if (proj->op != OP_CONV || proj->nin > (q ? 1 : 2) || g->t[proj->in[0]].shape.rank != 3)
        return false;
    ConvGeom kp = conv_geometry(g, proj);
    const Node *d = sole_producer(g, proj->in[0], p, q);
    if (!pointwise(&kp) || !d)
        return false;
    int di = g->t[proj->in[0]].producer;
    ConvGeom kd = conv_geometry(g, d);
    const Node *x = sole_producer(g, d->in[0], di, q);
    if (!depthwise(d, &kd) || !x)
        return false;
    ConvGeom kx = conv_geometry(g, x);
    if (!pointwise(&kx))
        return false;
    *dw = di;
    *expand = g->t[d->in[0]].producer;
    return q || conv_irb_f32_fits(g, *expand, *dw, p);
}

/* The three layers' integers; false (nothing held) if one has none. */
static bool make_all(const Graph *g, const Node *const n[3], ConvQ q[3])
{
    for (int i = 0; i < 3; i++) {
        ConvGeom k = conv_geometry(g, n[i]);
        if (conv_q_make(g, n[i], &k, &q[i])) {
            while (i-- > 0)
                conv_q_free(&q[i]);
            return false;
        }
    }
    return true;
}

/* Layer `tag`'s weights [rows][cols], bias and requantization as the
 * arrays W<tag>, B<tag>, MS<tag>. */
static void emit_layer_consts(Emit *e, const Node *n, const ConvQ *q, char tag)
{
    int64_t f = q->k.f;
    char what[3][24];
    snprintf(what[0], sizeof what[0], "irb_%c_weight", tag);
    snprintf(what[1], sizeof what[1], "irb_%c_bias", tag);
    snprintf(what[2], sizeof what[2], "irb_%c_requant", tag);
    char *wc = xasprintf("%s.weight: int8 [%lld][%lld], zero point removed", n->name,
                         (long long)f, (long long)q->kdim);
    char *bc = xasprintf("%s: int32 bias minus the input's zero point times the weights", n->name);
    char *mc = xasprintf("%s: per output channel (m, s)", n->name);
    emit_line(e, "const int8_t *W%c = %s;", tag, emit_const_i8(e, what[0], wc, q->w, f * q->kdim));
    emit_line(e, "const int32_t *B%c = %s;", tag, emit_const_i32(e, what[1], bc, q->b, f));
    emit_line(e, "const int32_t *MS%c = %s;", tag, emit_const_i32(e, what[2], mc, q->ms, 2 * f));
    free(wc);
    free(bc);
    free(mc);
}

/* dst = channel `c`'s sum `acc` requantized by layer `tag`'s constants. */
static void emit_requant(Emit *e, const ConvQ *q, char tag, const char *dst)
{
    emit_line(e, "%s = cnnc_rq8(acc, MS%c[2 * c], MS%c[2 * c + 1], %ld, %ld, %ld);", dst, tag, tag,
              (long)q->zy, (long)q->lo, (long)q->hi);
}

/* Padded input row `r` of the depthwise layer into its ring slot: the
 * expand conv's output row r - PT, or the zero point outside the input. */
static void emit_expand_row(Emit *e, const ConvQ *qe, const ConvQ *qd, int64_t wp)
{
    const ConvGeom *ke = &qe->k, *kd = &qd->k;
    int64_t slot = ke->f * wp;
    emit_line(e, "int8_t *row = ring + (r %% %d) * %lld;", kd->kh, (long long)slot);
    emit_line(e, "const int iy = r - %d;", kd->pt);
    emit_line(e, "if (iy < 0 || iy >= %lld) {", (long long)ke->h);
    emit_line(e, "memset(row, %d, %lld);", (int)qd->zx, (long long)slot);
    emit_line(e, "continue;");
    emit_line(e, "}");
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)ke->f);
    emit_line(e, "for (int x = 0; x < %lld; x++) {", (long long)ke->w);
    emit_line(e, "int32_t acc = Be[c];");
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)ke->c);
    emit_line(e, "acc += We[c * %lld + i] * x0[(i * %lld + iy) * %lld + x];", (long long)ke->c,
              (long long)ke->h, (long long)ke->w);
    emit_requant(e, qe, 'e', emit_keep(e, xasprintf("row[c * %lld + %d + x]", (long long)wp,
                                                    kd->pl)));
    emit_line(e, "}");
}

/* Output row oy of the depthwise layer, from the ring, into drow. */
static void emit_dw_row(Emit *e, const ConvQ *qd, int64_t wp)
{
    const ConvGeom *k = &qd->k;
    int64_t slot = k->c * wp;
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)k->c);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)k->ow);
    emit_line(e, "int32_t acc = Bd[c];");
    emit_line(e, "for (int ky = 0; ky < %d; ky++) {", k->kh);
    emit_line(e, "const int8_t *xr = ring + ((oy * %d + ky) %% %d) * %lld + c * %lld + ox * %d;",
              k->sh, k->kh, (long long)slot, (long long)wp, k->sw);
    emit_line(e, "for (int kx = 0; kx < %d; kx++)", k->kw);
    emit_line(e, "acc += Wd[c * %d + ky * %d + kx] * xr[kx];", k->kh * k->kw, k->kw);
    emit_line(e, "}");
    emit_requant(e, qd, 'd', emit_keep(e, xasprintf("drow[c * %lld + ox]", (long long)k->ow)));
    emit_line(e, "}");
}

/* Output row oy of the block: drow projected. */
static void emit_project_row(Emit *e, const ConvQ *qp, int64_t ow, int64_t oh)
{
    int64_t ce = qp->k.c;
    emit_line(e, "for (int c = 0; c < %lld; c++)", (long long)qp->k.f);
    emit_line(e, "for (int ox = 0; ox < %lld; ox++) {", (long long)ow);
    emit_line(e, "int32_t acc = Bp[c];");
    emit_line(e, "for (int i = 0; i < %lld; i++)", (long long)ce);
    emit_line(e, "acc += Wp[c * %lld + i] * drow[i * %lld + ox];", (long long)ce, (long long)ow);
    emit_requant(e, qp, 'p', emit_keep(e, xasprintf("y[(c * %lld + oy) * %lld + ox]",
                                                    (long long)oh, (long long)ow)));
    emit_line(e, "}");
}

static int64_t irb_scratch_bytes(const Graph *g, int dw)
{
    if (!node_quantized(g, &g->n[dw]))
        return 4 * conv_irb_f32_scratch_floats(g, dw);
    ConvGeom kd = conv_geometry(g, &g->n[dw]);
    int64_t wp = kd.w + kd.pl + kd.pr;
    return (kd.kh * kd.c * wp + 3) / 4 * 4 + kd.c * kd.ow;
}

static void irb_emit(Emit *e, int expand, int dw, int project)
{
    const Graph *g = emit_graph(e);
    if (!node_quantized(g, &g->n[dw])) {
        conv_irb_f32_emit(e, expand, dw, project);
        return;
    }
    const Node *n[3] = {&g->n[expand], &g->n[dw], &g->n[project]};
    ConvQ q[3];
    if (!make_all(g, n, q))
        internal_error("conv '%s': fused block refused after check", n[2]->name);
    const ConvGeom *kd = &q[1].k;
    int64_t wp = kd->w + kd->pl + kd->pr, ring = (kd->kh * kd->c * wp + 3) / 4 * 4;
    emit_layer_consts(e, n[0], &q[0], 'e');
    emit_layer_consts(e, n[1], &q[1], 'd');
    emit_layer_consts(e, n[2], &q[2], 'p');
    emit_line(e, "int8_t *ring = s, *drow = s + %lld;", (long long)ring);
    emit_line(e, "int r = 0;");
    emit_line(e, "memset(ring, %d, %lld);", (int)q[1].zx, (long long)ring);
    emit_line(e, "for (int oy = 0; oy < %lld; oy++) {", (long long)kd->oh);
    emit_line(e, "for (; r <= oy * %d + %d; r++) {", kd->sh, kd->kh - 1);
    emit_expand_row(e, &q[0], &q[1], wp);
    emit_line(e, "}");
    emit_dw_row(e, &q[1], wp);
    emit_project_row(e, &q[2], kd->ow, kd->oh);
    emit_line(e, "}");
    emit_scratch(e, (irb_scratch_bytes(g, dw) + 3) / 4);
    for (int i = 0; i < 3; i++)
        conv_q_free(&q[i]);
}

const BlockOps conv_irb = {
    .match = irb_match,
    .scratch_bytes = irb_scratch_bytes,
    .emit = irb_emit,
};
