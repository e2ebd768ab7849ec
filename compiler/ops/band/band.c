/* band.c: the two operators of patch-based inference (passes/patch.c):
 * the copies between a full C x H x W tensor and a band of its rows.
 *
 *   band_load   y[c, i, w] = x[c, r0 + i, w]          i < rows (a.start[1] = r0)
 *   band_store  y = x0 (the full tensor so far), then y[c, r0 + i, w] = band[c, i, w]
 *
 * band_load of a float tensor into an int8 output is the model's entry
 * quantize on those rows (the same cnnc_q8 as op quantize): the caller's
 * float image is read band by band and never exists in int8 whole. The
 * first band_store has the band alone (in[0]); the later ones read the
 * full tensor so far (in[0]) and the band (in[1]), and write over the
 * former (writes_over_input), so that the full tensor is one buffer that
 * the bands fill. The shapes are set by the pass (a.target for a store's
 * output); no parameters, no MACs. The interpreter never runs a patched
 * graph (`cnnc run` stops before "patch"); run exists for completeness. */
#include "../ops.h"
#include "../../kit/qmath.h"

#include <stdlib.h>
#include <string.h>

static bool infer_band(Graph *g, Node *n)
{
    (void)g;
    (void)n;
    return true; /* passes/patch.c sets every shape */
}

/* The row offset of node n's band in the full tensor. */
static int64_t band_row(const Node *n)
{
    return n->a.start[1];
}

static int64_t band_size(const Shape *s)
{
    int64_t c, h, w;
    shape_chw(s, &c, &h, &w);
    (void)c;
    return h * w;
}

static void run_band(const Graph *g, const Node *n, const char *x, char *y, int batch)
{
    bool store = n->op == OP_BAND_STORE;
    const Shape *full = store ? node_out_shape(g, n) : node_in_shape(g, n, 0);
    const Shape *band = store ? node_in_shape(g, n, n->nin - 1) : node_out_shape(g, n);
    int64_t c, h, w;
    shape_chw(full, &c, &h, &w);
    size_t es = (size_t)dtype_bytes(tensor_dtype(&g->t[n->out]));
    int64_t fs = band_size(full), bs = band_size(band), at = band_row(n) * w;
    for (int64_t k = 0; k < batch * c; k++)
        if (store)
            memcpy(y + (k * fs + at) * es, x + k * bs * es, (size_t)bs * es);
        else
            memcpy(y + k * bs * es, x + (k * fs + at) * es, (size_t)bs * es);
}

static void run_float(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                      bool training)
{
    (void)training;
    if (n->op == OP_BAND_STORE && n->nin == 2 && out != in[0])
        memcpy(out, in[0], (size_t)(batch * shape_numel(node_out_shape(g, n))) * sizeof *out);
    run_band(g, n, (const char *)in[n->nin - 1], (char *)out, batch);
}

static void run_int8(const Graph *g, const Node *n, const void *const *in, void *out, int batch)
{
    if (n->op == OP_BAND_LOAD && tensor_dtype(&g->t[n->in[0]]) == DT_F32) {
        const Quant *q = g->t[n->out].q;
        int64_t c, h, w, rows = node_out_shape(g, n)->d[1];
        shape_chw(node_in_shape(g, n, 0), &c, &h, &w);
        const float *x = in[0];
        int8_t *y = out;
        for (int64_t k = 0; k < batch * c; k++)
            for (int64_t i = 0; i < rows * w; i++)
                y[k * rows * w + i] = q_quantize(x[k * h * w + band_row(n) * w + i], q_scale(q),
                                                 q_zero(q));
        return;
    }
    if (n->op == OP_BAND_STORE && n->nin == 2 && out != in[0])
        memcpy(out, in[0], (size_t)(batch * shape_numel(node_out_shape(g, n))));
    run_band(g, n, in[n->nin - 1], out, batch);
}

/* y[c][r0 .. r0 + rows) = band[c], or band[c] = x[c][r0 .. r0 + rows), one
 * contiguous run of rows * W per channel; `convert` quantizes on the way. */
static void emit_rows(Emit *e, const Node *n, const char *band, const char *full)
{
    const Graph *g = emit_graph(e);
    bool store = n->op == OP_BAND_STORE;
    const Shape *fs = store ? node_out_shape(g, n) : node_in_shape(g, n, 0);
    int64_t c, h, w, rows = (store ? node_in_shape(g, n, n->nin - 1) : node_out_shape(g, n))->d[1];
    shape_chw(fs, &c, &h, &w);
    bool convert = !store && tensor_dtype(&g->t[n->in[0]]) != tensor_dtype(&g->t[n->out]);
    char *src = store ? xasprintf("%s[c * %lld + i]", band, (long long)(rows * w))
                      : xasprintf("%s[c * %lld + %lld + i]", full, (long long)(h * w),
                                  (long long)(band_row(n) * w));
    char *dst = store ? xasprintf("%s[c * %lld + %lld + i]", full, (long long)(h * w),
                                  (long long)(band_row(n) * w))
                      : xasprintf("%s[c * %lld + i]", band, (long long)(rows * w));
    emit_line(e, "for (int c = 0; c < %lld; c++) /* rows %lld..%lld of %lld */", (long long)c,
              (long long)band_row(n), (long long)(band_row(n) + rows - 1), (long long)h);
    emit_line(e, "    for (int i = 0; i < %lld; i++)", (long long)(rows * w));
    if (convert) {
        const Quant *q = g->t[n->out].q;
        emit_line(e, "        %s = cnnc_q8(%s, %s, %ld);", dst, src, emit_float(e, q_scale(q)),
                  (long)q_zero(q));
    } else {
        emit_line(e, "        %s = %s;", dst, src);
    }
    free(src);
    free(dst);
}

static void emit_band(Emit *e, const Node *n)
{
    if (n->op == OP_BAND_LOAD) {
        emit_rows(e, n, "y", "x0");
        return;
    }
    if (n->nin == 2 && !emit_in_place(e))
        emit_line(e, "memcpy(y, x0, sizeof *y * %lld);",
                  (long long)shape_numel(node_out_shape(emit_graph(e), n)));
    else if (n->nin == 2)
        emit_line(e, "(void)x0; /* y is x0: the bands so far are in place */");
    emit_rows(e, n, n->nin == 2 ? "x1" : "x0", "y");
}

/* The later stores fill the full tensor in place: each band's rows are
 * read from the band, never from the storage being written. */
static bool store_writes_over_input(const Graph *g, const Node *n)
{
    (void)g;
    return n->nin == 2;
}

static void dump_band(const Graph *g, const Node *n, FILE *out)
{
    (void)g;
    fprintf(out, " row=%lld", (long long)band_row(n));
}

static const QuantOps band_int8 = {.flags = QUANT_SAME_SCALE, .run = run_int8, .emit = emit_band};

const OpInfo op_band_load = {
    .name = "band_load",
    .traits = OP_TRAITS(BAND_LOAD),
    .infer = infer_band,
    .run = run_float,
    .emit = emit_band,
    .dump = dump_band,
    .quant = &band_int8,
};

const OpInfo op_band_store = {
    .name = "band_store",
    .traits = OP_TRAITS(BAND_STORE),
    .infer = infer_band,
    .run = run_float,
    .emit = emit_band,
    .dump = dump_band,
    .quant = &band_int8,
    .writes_over_input = store_writes_over_input,
};
