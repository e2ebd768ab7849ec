/* patch.c: patch-based inference for the leading high-resolution layers
 * (pass "patch", --patch N; MCUNetV2, Lin et al. 2021).
 *
 * The run: the chain of layers from the graph input, each the only reader
 * of the one before (the entry quantize, 2-D convs without a residual,
 * max and average pools without ceil_mode, standalone activations). The
 * cut: the run's layer whose output ends it, chosen below. Zero padding
 * only (a band's edge is no tensor edge to reflect at). The run is
 * replaced by N copies, one per band of the cut's output rows (N equal
 * bands): band b's copy computes, layer by layer from the cut back to the
 * input, only the rows its successor reads (the receptive field: the halo
 * rows shared by neighbouring bands are computed by both), each layer a
 * clone of the original with the same parameters and integers, its input
 * the band's rows and its top and bottom padding kept only where the band
 * touches the tensor's edge. band_load (ops/band) copies the input rows
 * (quantizing them: the entry quantize becomes part of the load) and
 * band_store writes the band's cut rows into the full cut tensor, which
 * the later stores fill in place. The full-resolution tensors of the run
 * never exist: the planner packs the per-band tensors by lifetime as any
 * others, and one band's die before the next band's are made.
 *
 * Every clone is an ordinary layer with literal shapes, so every emitter
 * serves unchanged; the price is code (the run's layers N times), the
 * recomputed halo rows and the parameters of each clone's own arrays.
 * `cnnc run` stops before this pass: it is the oracle of a patched build,
 * which must match it bit for bit in int8. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

/* Rows [lo, hi) of a tensor. */
typedef struct {
    int64_t lo, hi;
} Rows;

static bool is_2d(const Shape *s)
{
    return s->rank == 3 && s->d[1] > 1;
}

/* Whether node n may join the run after tensor t (the graph input for
 * the first). */
static bool patchable(const Graph *g, const Node *n, int t)
{
    unsigned traits = op_info(n->op)->traits;
    if (n->nin != 1 || n->out == g->output || g->t[n->out].keep ||
        !is_2d(&g->t[n->out].shape) || !is_2d(&g->t[n->in[0]].shape))
        return false;
    if (traits & OPT_TO_INT8)
        return t == g->input;
    if (traits & OPT_ACTIVATION)
        return true;
    /* A band's edge is no tensor edge for reflect or replicate padding;
     * ceil_mode's last window may start past the band's rows. */
    return (traits & OPT_ROW_WINDOW) && n->a.pad_mode == PAD_ZEROS && !n->a.ceil_mode &&
           n->a.kernel_d <= 1 && n->a.stride_d <= 1;
}

/* The run's nodes in order; returns their count (chain freed by caller). */
static int find_run(const Graph *g, int **chain)
{
    int count = 0, cap = 0, t = g->input;
    *chain = NULL;
    for (;;) {
        int c[2];
        if (graph_consumers(g, t, c, 2) != 1 || !patchable(g, &g->n[c[0]], t))
            return count;
        grow_array(chain, &cap, count + 1, sizeof **chain);
        (*chain)[count++] = c[0];
        t = g->n[c[0]].out;
    }
}

static bool spatial(const Node *n)
{
    return op_info(n->op)->traits & OPT_ROW_WINDOW;
}

/* The input rows node n reads for output rows r, and the padding rows
 * (top, bottom) of the band's clone. */
static Rows input_rows(const Graph *g, const Node *n, Rows r, int pad[2])
{
    pad[0] = pad[1] = 0;
    if (!spatial(n))
        return r;
    int64_t h = node_in_shape(g, n, 0)->d[1], s = n->a.stride[0];
    int64_t span = (int64_t)(n->a.kernel[0] - 1) * (n->a.dilation[0] ? n->a.dilation[0] : 1) + 1;
    int64_t lo = r.lo * s - n->a.pad[0], hi = (r.hi - 1) * s - n->a.pad[0] + span;
    pad[0] = lo < 0 ? (int)-lo : 0;
    pad[1] = hi > h ? (int)(hi - h) : 0;
    return (Rows){lo < 0 ? 0 : lo, hi > h ? h : hi};
}

/* Band b of n bands of h rows (the first h % n one row longer). */
static Rows band_of(int64_t h, int b, int n)
{
    int64_t size = h / n, rest = h % n;
    int64_t lo = b * size + (b < rest ? b : rest);
    return (Rows){lo, lo + size + (b < rest)};
}

/* Per layer k <= cut of the run: the output rows band b needs (rows[k])
 * and its clone's padding (pad[k]). */
static void band_rows(const Graph *g, const int *run, int cut, int b, int bands, Rows *rows,
                      int (*pad)[2])
{
    rows[cut] = band_of(node_out_shape(g, &g->n[run[cut]])->d[1], b, bands);
    for (int k = cut; k > 0; k--)
        rows[k - 1] = input_rows(g, &g->n[run[k]], rows[k], pad[k]);
    input_rows(g, &g->n[run[0]], rows[0], pad[0]); /* the first layer's padding */
}

static int64_t bytes_of(const Tensor *t, int64_t rows)
{
    int64_t c, h, w;
    shape_chw(&t->shape, &c, &h, &w);
    return c * rows * w * dtype_bytes(tensor_dtype(t));
}

/* A layer's live bytes while it runs: its input and output, or the larger
 * of them where it writes over its input (elementwise, in-place depthwise). */
static int64_t step_bytes(const Graph *g, const Node *n, int64_t in, int64_t out)
{
    const OpInfo *info = op_info(n->op);
    bool over = (info->traits & OPT_ELEMENTWISE) ||
                (info->writes_over_input && info->writes_over_input(g, n));
    return over ? (in > out ? in : out) : in + out;
}

/* The estimated peak of the layers after the run's layer `cut` (-1: of
 * the whole graph unpatched). */
static int64_t rest_peak(const Graph *g, const int *run, int nrun, int cut)
{
    int64_t peak = 0;
    for (int i = 0; i < g->nn; i++) {
        bool in_run = false;
        for (int k = 0; k <= cut && k < nrun; k++)
            in_run |= run[k] == i;
        const Node *n = &g->n[i];
        if (in_run || n->nin < 1)
            continue;
        int64_t in = 0;
        for (int j = 0; j < n->nin; j++)
            in += tensor_floats(&g->t[n->in[j]], 1) * 4;
        int64_t out = tensor_floats(&g->t[n->out], 1) * 4;
        if (g->t[n->in[0]].kind == T_ACT && n->in[0] == g->input)
            in = 0; /* the caller's */
        int64_t s = step_bytes(g, n, in, out);
        peak = s > peak ? s : peak;
    }
    return peak;
}

/* The estimated peak while the run up to layer `cut` runs in bands: the
 * full cut tensor plus the largest layer of the largest band; -1 when a
 * band would read no rows of some layer (padding wider than the window:
 * the clone would have an empty input). */
static int64_t run_peak(const Graph *g, const int *run, int cut, int bands)
{
    Rows *rows = xmalloc((size_t)(cut + 1) * sizeof *rows);
    int(*pad)[2] = xmalloc((size_t)(cut + 1) * sizeof *pad);
    int64_t peak = 0;
    for (int b = 0; b < bands; b++) {
        band_rows(g, run, cut, b, bands, rows, pad);
        for (int k = 0; k <= cut; k++) {
            const Node *n = &g->n[run[k]];
            Rows in = k ? rows[k - 1] : input_rows(g, n, rows[0], (int[2]){0});
            if (in.hi <= in.lo || rows[k].hi <= rows[k].lo)
                peak = -1;
            if (peak < 0)
                continue;
            int64_t x = n->in[0] == g->input ? 0 : bytes_of(&g->t[n->in[0]], in.hi - in.lo);
            int64_t s = step_bytes(g, n, x, bytes_of(&g->t[n->out], rows[k].hi - rows[k].lo));
            peak = s > peak ? s : peak;
        }
    }
    free(rows);
    free(pad);
    return peak < 0 ? -1 : tensor_floats(&g->t[g->n[run[cut]].out], 1) * 4 + peak;
}

/* The cut with the lowest estimated peak (the earliest of equals: the
 * least recomputation); -1 when no cut lowers the unpatched estimate. */
static int choose_cut(const Graph *g, const int *run, int nrun, int bands)
{
    int best = -1;
    int64_t best_peak = rest_peak(g, run, nrun, -1);
    for (int c = 0; c < nrun; c++) {
        if (node_out_shape(g, &g->n[run[c]])->d[1] < bands)
            break;
        if (op_info(g->n[run[c]].op)->traits & OPT_TO_INT8)
            continue;
        int64_t r = run_peak(g, run, c, bands), s = rest_peak(g, run, nrun, c);
        int64_t peak = r > s ? r : s;
        if (r >= 0 && peak < best_peak) {
            best = c;
            best_peak = peak;
        }
    }
    return best;
}

/* Tensor t with `rows` rows: the shape of a band of it. */
static Shape band_shape(const Graph *g, int t, Rows r)
{
    Shape s = g->t[t].shape;
    s.d[1] = r.hi - r.lo;
    return s;
}

/* A new node of op `op` reading in[0..nin), named NAME|TAG<b>, its
 * output of the given shape and a copy of q. */
static int add_band_node(Graph *g, int op, const char *name, const char *tag, int b, Loc loc,
                         const int *in, int nin, Shape shape, const Quant *q)
{
    char *band_name = xasprintf("%s|%s%d", name, tag, b);
    int id = graph_add_node(g, op, band_name, loc, in, nin);
    free(band_name);
    g->t[g->n[id].out].shape = shape;
    g->t[g->n[id].out].q = quant_copy(q, 0);
    return id;
}

/* Band b: its load, its clones of run[0..cut], its store after `full`
 * (-1 for the first band); returns the store's output tensor. */
static int add_band(Graph *g, const int *run, int cut, int b, int bands, int full)
{
    Rows *rows = xmalloc((size_t)(cut + 1) * sizeof *rows);
    int(*pad)[2] = xmalloc((size_t)(cut + 1) * sizeof *pad);
    band_rows(g, run, cut, b, bands, rows, pad);
    int first = (op_info(g->n[run[0]].op)->traits & OPT_TO_INT8) ? 1 : 0;
    int unused[2];
    Rows in = first ? rows[0] : input_rows(g, &g->n[run[0]], rows[0], unused);
    /* The load takes the entry quantize's place and integers, if any. */
    Node *n0 = &g->n[run[0]];
    int x = g->input;
    int id = add_band_node(g, OP_BAND_LOAD, n0->name, "load", b, n0->loc, &x, 1,
                           band_shape(g, first ? n0->out : x, in),
                           first ? g->t[n0->out].q : g->t[x].q);
    g->n[id].a.start[1] = in.lo;
    x = g->n[id].out;
    for (int k = first; k <= cut; k++) {
        const Node *o = &g->n[run[k]];
        id = add_band_node(g, o->op, o->name, "band", b, o->loc, &x, 1, band_shape(g, o->out, rows[k]),
                           g->t[o->out].q);
        Node *c = &g->n[id];
        o = &g->n[run[k]]; /* graph_add_node may have moved the nodes */
        c->a = o->a;
        c->act = o->act;
        c->frozen = o->frozen;
        c->nparam = o->nparam;
        memcpy(c->param, o->param, sizeof c->param);
        c->a.same_pad = false;
        c->a.pad[0] = pad[k][0];
        c->a.pad[2] = pad[k][1];
        x = c->out;
    }
    int cut_t = g->n[run[cut]].out, ins[2] = {full, x};
    id = add_band_node(g, OP_BAND_STORE, g->n[run[cut]].name, "store", b, g->n[run[cut]].loc,
                       full < 0 ? &x : ins, full < 0 ? 1 : 2, g->t[cut_t].shape, g->t[cut_t].q);
    g->n[id].a.start[1] = rows[cut].lo;
    if (b == bands - 1) /* the last store writes the cut tensor itself */
        g->n[id].out = cut_t;
    free(rows);
    free(pad);
    return g->n[id].out;
}

/* Nodes [from, nn) first, then the others but the run's (freed). */
static void reorder(Graph *g, int from, const int *run, int cut)
{
    Node *n = xmalloc((size_t)g->nn * sizeof *n);
    bool *drop = xcalloc((size_t)g->nn, sizeof *drop);
    for (int k = 0; k <= cut; k++) {
        drop[run[k]] = true;
        g->t[g->n[run[k]].out].producer = -1;
    }
    int count = 0;
    for (int i = from; i < g->nn; i++)
        n[count++] = g->n[i];
    for (int i = 0; i < from; i++)
        if (drop[i]) {
            free(g->n[i].name);
            free(g->n[i].in);
        } else {
            n[count++] = g->n[i];
        }
    memcpy(g->n, n, (size_t)count * sizeof *n);
    g->nn = count;
    for (int i = 0; i < g->nn; i++)
        g->t[g->n[i].out].producer = i;
    free(n);
    free(drop);
}

bool patch(Graph *g, const LoadOptions *opt)
{
    int bands = opt->patch;
    int *run, nrun = find_run(g, &run);
    int cut = nrun ? choose_cut(g, run, nrun, bands) : -1;
    if (cut < 0) {
        diag_warning((Loc){g->file, 0, 0}, "--patch %d: no leading layers whose bands lower "
                     "the peak; the model is compiled layer by layer", bands);
        free(run);
        return true;
    }
    int from = g->nn, full = -1;
    for (int b = 0; b < bands; b++)
        full = add_band(g, run, cut, b, bands, full);
    reorder(g, from, run, cut);
    fuse_prune(g);
    free(run);
    return true;
}
