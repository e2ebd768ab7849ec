/* calibrate.c: post-training quantization, step "calibrate" (--int8 --calib
 * CALIB.npy). Takes a fused float Graph and the calibration set; gives the
 * QDQ graph a quantizer such as ONNX Runtime's writes, which the step
 * "quantize" then lowers to integer layers (see cnnc.h).
 *
 * 1. The layers to quantize: those whose operator has an integer form,
 *    minus --int8-skip's; in a training build (an int8 backbone, a float
 *    head), only those of the frozen part (trained_float). One whose fused
 *    activation is not a clamp (sigmoid after a conv) gives that
 *    activation a node of its own (split_act), so that the activation's
 *    input gets a scale too.
 * 2. The float interpreter runs over CALIB (in chunks that fit in memory);
 *    every activation's range is recorded, and for --calib-method
 *    percentile or mse its histogram, in a second run (calib_stats.c).
 * 3. Each tensor a chosen layer reads or writes gets an asymmetric int8
 *    scale and zero point from its range (always holding 0, so that zero
 *    padding is exact); a layer that moves values without computing new
 *    ones (QUANT_SAME_SCALE: views, max pools, pads) passes its input's on.
 * 4. Weights (QUANT_WEIGHTS) become int8, symmetric per output channel,
 *    scale max|w| / 127, values in [-127, 127]; a bias int32 at scale
 *    input scale * weight scale. Their float data becomes the dequantized
 *    values, so that the QDQ graph computes what the integers mean.
 * 5. After each such tensor t: quantize(t) -> dequantize, whose output the
 *    chosen layers read; if t's producer is chosen, every reader does (t
 *    will hold integers), else the other readers keep reading t itself. */
#include "../cnnc.h"
#include "../kit/qmath.h"
#include "../ops/ops.h"
#include "calibrate.h"
#include "npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --int8-skip's names, each a layer of the fused graph; false after an
 * error naming an unknown one. */
static bool parse_skip(const Graph *g, const char *list, bool *skip)
{
    bool ok = true;
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (int i = 0; i < g->nn; i++)
            if (strlen(g->n[i].name) == len && strncmp(g->n[i].name, p, len) == 0)
                found = skip[i] = true;
        if (!found && len) {
            diag_error((Loc){g->file, 0, 0}, "--int8-skip: the model has no layer '%.*s' (the "
                       "layers are named as --dump-ir=fuse-pad shows them)", (int)len, p);
            ok = false;
        }
        p += len + (p[len] == ',');
    }
    return ok;
}

/* The frozen part of a training build, extended over the layers without
 * parameters that read it (the pool after the last frozen conv) up to the
 * --freeze-until cut, which stays the float tensor the head reads. */
static bool *int8_part(const Graph *g)
{
    bool *part = freeze_part(g);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        int x = n->nin == 1 ? n->in[0] : -1, p = x >= 0 ? g->t[x].producer : -1;
        part[i] |= p >= 0 && part[p] && !g->t[x].keep && n->nparam == 0 &&
                   !(op_info(n->op)->traits & OPT_STOCHASTIC) && n->out != g->output;
    }
    return part;
}

/* Why an int8 training build has nothing to quantize, in the command's
 * own words. */
static void report_nothing_frozen(const Graph *g, const LoadOptions *opt)
{
    const char *cmd = opt->grad_cmd ? "cnnc grad --int8" : "--int8 with --train";
    if (opt->train_bias_only)
        diag_error((Loc){g->file, 0, 0}, "%s --train-bias-only: bias-only training leaves no "
                   "frozen part to quantize (every layer's bias trains, so every layer runs "
                   "in float); cut a backbone off with --freeze-until TENSOR", cmd);
    else
        diag_error((Loc){g->file, 0, 0}, "%s runs a frozen backbone in int8, but nothing is "
                   "frozen (%s runs in float): freeze one with --freeze-until TENSOR or the "
                   "DSL's `freeze`", cmd, opt->grad_cmd ? "the gradient" : "training");
}

/* --int8 --train: every layer outside the frozen part trains in float
 * (skip); a frozen batchnorm does too, as a training step normalises with
 * the batch's statistics. False (reported) when nothing is frozen. */
static bool trained_float(const Graph *g, const LoadOptions *opt, bool *skip, bool quiet)
{
    bool *part = int8_part(g), any = false;
    for (int i = 0; i < g->nn; i++) {
        bool stats = false;
        for (int s = 0; s < g->n[i].nparam; s++)
            stats |= g->n[i].param[s] >= 0 && g->t[g->n[i].param[s]].kind == T_BUFFER;
        if (part[i] && stats && !skip[i] && !quiet)
            diag_note(g->n[i].loc, "%s '%s' stays float: a training step normalises with the "
                      "batch's statistics", op_info(g->n[i].op)->name, g->n[i].name);
        skip[i] |= !part[i] || stats;
        any |= part[i];
    }
    free(part);
    if (!any)
        report_nothing_frozen(g, opt);
    return any;
}

/* The layers that stay float: --int8-skip's, and in a training build those
 * that train (quiet: the second time, without the notes). */
static bool choose_skip(const Graph *g, const LoadOptions *opt, bool *skip, bool quiet)
{
    bool ok = parse_skip(g, opt->quant->skip, skip);
    return opt->train ? trained_float(g, opt, skip, quiet) && ok : ok;
}

/* Layers that will compute in integers: an integer form, not skipped. */
static bool *choose_layers(const Graph *g, const bool *skip)
{
    bool *chosen = xcalloc((size_t)g->nn + 1, sizeof *chosen);
    for (int i = 0; i < g->nn; i++) {
        const OpInfo *op = op_info(g->n[i].op);
        chosen[i] = op->quant && !skip[i];
        if (!op->quant && !skip[i])
            diag_note(g->n[i].loc, "%s '%s' stays float: the operator has no int8 kernel",
                      op->name, g->n[i].name);
    }
    return chosen;
}

/* A node `base_<what>` name, made unique among the tensors. */
static char *fresh_name(const Graph *g, const char *base, const char *what)
{
    char *name = xasprintf("%s_%s", base, what);
    for (int k = 2; graph_find_tensor(g, name) >= 0; k++) {
        free(name);
        name = xasprintf("%s_%s%d", base, what, k);
    }
    return name;
}

/* Step 1's split: the chosen layers' non-clamp epilogues become nodes. */
static bool split_epilogues(Graph *g, const bool *skip)
{
    int nn = g->nn;
    for (int i = 0; i < nn; i++)
        if (!skip[i] && op_info(g->n[i].op)->quant && !act_is_clamp(node_epilogue(&g->n[i])))
            split_epilogue(g, i);
    return g->nn == nn || graph_toposort(g);
}

/* Tensor t's scale and zero point, from its calibrated range. */
static Quant *activation_quant(const Graph *g, const CalibStats *st, int t)
{
    double lo, hi, c;
    calib_range(st, t, &lo, &hi);
    if (calib_constant(st, t, &c))
        diag_note(g->t[t].loc, "tensor '%s' is %g for every calibration sample: quantized over "
                  "[%g, %g]", g->t[t].name, c, lo, hi > lo ? hi : lo + 1);
    if (hi - lo < 1e-30) /* all zeros: any scale represents them */
        hi = lo + 1;
    Quant *q = quant_new(DT_I8, 1);
    q->scale[0] = (float)((hi - lo) / 255);
    double zp = nearbyint(-128 - lo / q->scale[0]);
    q->zero_point[0] = (int32_t)(zp < -128 ? -128 : zp > 127 ? 127 : zp);
    return q;
}

/* Step 3: each tensor a chosen layer touches gets its Quant (qs[t]). */
static void choose_params(const Graph *g, const bool *chosen, const CalibStats *st, Quant **qs)
{
    bool *need = xcalloc((size_t)g->nt + 1, sizeof *need);
    for (int i = 0; i < g->nn; i++)
        if (chosen[i]) {
            need[g->n[i].out] = true;
            for (int j = 0; j < g->n[i].nin; j++)
                need[g->n[i].in[j]] = true;
        }
    if (need[g->input])
        qs[g->input] = activation_quant(g, st, g->input);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (!need[n->out])
            continue;
        const Quant *in = qs[n->in[0]];
        if (chosen[i] && (op_info(n->op)->quant->flags & QUANT_SAME_SCALE) && in)
            qs[n->out] = quant_copy(in, 0);
        else
            qs[n->out] = activation_quant(g, st, n->out);
    }
    free(need);
}

/* Node n's parameter `slot`, its own to rewrite: a tensor other layers
 * share is copied first. */
static Tensor *own_param(Graph *g, Node *n, int slot)
{
    int t = n->param[slot], users = 0;
    for (int i = 0; i < g->nn; i++)
        for (int s = 0; s < g->n[i].nparam; s++)
            users += g->n[i].param[s] == t;
    if (users > 1)
        n->param[slot] = fuse_new_const(g, g->t[t].name, "int8", &g->t[t].shape, g->t[t].data,
                                        n->loc);
    return &g->t[n->param[slot]];
}

/* Step 4: int8 weights per output channel, an int32 bias. */
static void quantize_weights(Graph *g, Node *n, const Quant *in)
{
    Tensor *w = own_param(g, n, 0);
    int64_t f = w->shape.d[0], per = shape_numel(&w->shape) / f;
    Quant *qw = quant_new(DT_I8, (int)f);
    qw->values = xmalloc((size_t)(f * per) * sizeof *qw->values);
    for (int64_t c = 0; c < f; c++) {
        float amax = 0, *v = w->data + c * per;
        for (int64_t k = 0; k < per; k++)
            amax = fabsf(v[k]) > amax ? fabsf(v[k]) : amax;
        qw->scale[c] = amax > 0 ? amax / 127 : 1.0f;
        for (int64_t k = 0; k < per; k++) {
            int32_t q = (int32_t)nearbyintf(v[k] / qw->scale[c]);
            qw->values[c * per + k] = q < -127 ? -127 : q > 127 ? 127 : q;
            v[k] = (float)qw->values[c * per + k] * qw->scale[c];
        }
    }
    w->q = qw;
    if (n->nparam < 2 || n->param[1] < 0)
        return;
    Tensor *b = own_param(g, n, 1);
    Quant *qb = quant_new(DT_I32, (int)f);
    qb->values = xmalloc((size_t)f * sizeof *qb->values);
    for (int64_t c = 0; c < f; c++) {
        qb->scale[c] = q_scale(in) * qw->scale[c];
        double v = nearbyint((double)b->data[c] / qb->scale[c]);
        qb->values[c] = (int32_t)(v < -0x1p30 ? -0x1p30 : v > 0x1p30 ? 0x1p30 : v);
        b->data[c] = (float)qb->values[c] * qb->scale[c];
    }
    b->q = qb;
}

/* Step 5 for tensor t: quantize(t) -> dequantize; the readers `moved`
 * (the chosen ones, or all when t's producer is chosen) read the latter. */
static void insert_pair(Graph *g, int t, Quant *q, const bool *chosen, int nchosen, bool all)
{
    Loc loc = g->t[t].loc;
    char *qname = fresh_name(g, g->t[t].name, "quantize");
    char *dname = fresh_name(g, g->t[t].name, "dequantize");
    int nq = graph_add_quantize(g, t, q, qname, loc);
    int nd = graph_add_dequantize(g, g->n[nq].out, dname, loc);
    int td = g->n[nd].out;
    for (int i = 0; i < nq; i++) /* the nodes before the pair's */
        for (int j = 0; j < g->n[i].nin; j++)
            if (g->n[i].in[j] == t && (all || (i < nchosen && chosen[i])))
                g->n[i].in[j] = td;
    if (all && g->output == t)
        g->output = td;
    if (all && g->t[t].keep) { /* the --freeze-until cut is the float tensor the head reads, */
        g->t[td].keep = true;   /* so the layer before it may write integers */
        g->t[t].keep = false;
    }
    free(qname);
    free(dname);
}

static void insert_pairs(Graph *g, const bool *chosen, Quant **qs)
{
    int nn = g->nn, nt = g->nt;
    for (int t = 0; t < nt; t++) {
        if (!qs[t])
            continue;
        int p = g->t[t].producer;
        insert_pair(g, t, qs[t], chosen, nn, p >= 0 && p < nn && chosen[p]);
        qs[t] = NULL; /* the tensor's now */
    }
}

bool calibrate(Graph *g, const LoadOptions *opt)
{
    const QuantOptions *qo = opt->quant;
    for (int i = 0; i < g->nn; i++)
        if (op_info(g->n[i].op)->traits & (OPT_TO_INT8 | OPT_FROM_INT8)) {
            diag_error((Loc){g->file, 0, 0}, "the model is quantized already (it has "
                       "QuantizeLinear/DequantizeLinear nodes): compile it without --int8");
            return false;
        }
    bool *skip = xcalloc((size_t)g->nn + 1, sizeof *skip);
    bool ok = choose_skip(g, opt, skip, false) && split_epilogues(g, skip);
    free(skip);
    CalibStats *st = ok ? calib_run(g, qo) : NULL;
    if (!st)
        return false;
    skip = xcalloc((size_t)g->nn + 1, sizeof *skip);
    choose_skip(g, opt, skip, true); /* the nodes moved */
    bool *chosen = choose_layers(g, skip);
    Quant **qs = xcalloc((size_t)g->nt + 1, sizeof *qs);
    choose_params(g, chosen, st, qs);
    for (int i = 0; i < g->nn; i++)
        if (chosen[i] && (op_info(g->n[i].op)->quant->flags & QUANT_WEIGHTS))
            quantize_weights(g, &g->n[i], qs[g->n[i].in[0]]);
    insert_pairs(g, chosen, qs);
    free(qs);
    free(chosen);
    free(skip);
    calib_free(st);
    return graph_toposort(g);
}
