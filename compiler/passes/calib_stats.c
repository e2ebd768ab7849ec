/* calib_stats.c: the calibration set through the float graph. Takes a
 * fused float Graph and CALIB.npy; gives every activation's range over the
 * set, as --calib-method chooses it:
 *
 *   minmax      the smallest and largest value seen;
 *   percentile  the values at 0.01 % and 99.99 % of the histogram (2048
 *               bins over the full range), so a few outliers do not
 *               stretch the scale;
 *   mse         the range, among the full one with either end pulled in
 *               by up to 70 % in 5 % steps, whose int8 rounding and
 *               clipping give the least squared error over the histogram.
 *
 * Each range is widened to hold 0 (asymmetric int8 represents 0 exactly).
 * The interpreter keeps every activation of a batch, so the set runs in
 * chunks of samples whose activations fit in CHUNK_BYTES; the histogram
 * methods run it twice (ranges, then counts). */
#include "calibrate.h"
#include "npy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NBINS 2048
#define CHUNK_BYTES ((int64_t)256 << 20)
#define PERCENTILE_TAIL 1e-4

struct CalibStats {
    CalibMethod method;
    int nt;
    double *lo, *hi; /* per tensor, over the set (lo > hi: never seen) */
    int64_t **hist;  /* per tensor: NBINS counts over [lo, hi] (histogram methods) */
};

/* CALIB must be float32 [N, <input shape>], N >= 1, every value finite. */
static bool read_calib(const Graph *g, const char *path, CnncNpy *x)
{
    char err[CNNC_NPY_ERR_SIZE];
    Loc loc = {path, 0, 0};
    if (cnnc_npy_read_f32(path, x, err, sizeof err) < 0) {
        diag_error(loc, "%s", err);
        return false;
    }
    const Shape *s = &g->t[g->input].shape;
    bool ok = x->rank == s->rank + 1;
    for (int i = 0; ok && i < s->rank; i++)
        ok = x->shape[i + 1] == s->d[i];
    char have[160], want[160] = "(N";
    if (!ok) {
        cnnc_npy_shape_str(x->shape, x->rank, have, sizeof have);
        for (int i = 0; i < s->rank; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), ", %lld", (long long)s->d[i]);
        diag_error(loc, "the calibration set has shape %s; the model '%s' takes %s), N >= 1",
                   have, g->name ? g->name : "?", want);
    } else if (x->shape[0] < 1 || x->shape[0] > (1 << 30)) {
        diag_error(loc, "the calibration set is empty (0 samples)");
        ok = false;
    }
    const float *v = x->data;
    for (int64_t i = 0; ok && i < x->count; i++)
        if (!isfinite(v[i])) {
            int64_t per = x->count / x->shape[0];
            diag_error(loc, "the calibration set holds %s (sample %lld, element %lld)",
                       isnan(v[i]) ? "NaN" : "an infinity", (long long)(i / per),
                       (long long)(i % per));
            ok = false;
        }
    if (!ok)
        cnnc_npy_free(x);
    return ok;
}

/* Samples per interpreter run: as many as keep every activation of the
 * chunk within CHUNK_BYTES. */
static int chunk_samples(const Graph *g, int64_t n)
{
    int64_t per = 0;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_ACT)
            per += shape_numel(&g->t[t].shape) * 4;
    int64_t k = per > 0 ? CHUNK_BYTES / per : n;
    return (int)(k < 1 ? 1 : k > n ? n : k);
}

static void record(CalibStats *st, const Graph *g, const Activations *a, bool counting)
{
    for (int t = 0; t < g->nt; t++) {
        const float *v = a->val[t];
        if (!v || g->t[t].kind != T_ACT)
            continue;
        int64_t count = shape_numel(&g->t[t].shape) * a->batch;
        double lo = st->lo[t], hi = st->hi[t], width = hi - lo;
        for (int64_t i = 0; i < count; i++) {
            if (!counting) {
                lo = v[i] < lo ? v[i] : lo;
                hi = v[i] > hi ? v[i] : hi;
                continue;
            }
            int bin = width > 0 ? (int)((v[i] - st->lo[t]) / width * NBINS) : 0;
            st->hist[t][bin < 0 ? 0 : bin >= NBINS ? NBINS - 1 : bin]++;
        }
        st->lo[t] = lo;
        st->hi[t] = hi;
    }
}

/* One run over the set: ranges (counting false) or histograms. */
static bool run_set(Graph *g, const CnncNpy *x, CalibStats *st, bool counting)
{
    int64_t n = x->shape[0], per = x->count / n;
    int chunk = chunk_samples(g, n);
    for (int64_t b = 0; b < n; b += chunk) {
        int k = (int)(n - b < chunk ? n - b : chunk);
        Activations a = interp_forward(g, (const float *)x->data + b * per, k, false);
        if (!a.val)
            return false;
        record(st, g, &a, counting);
        interp_free(g, &a);
    }
    return true;
}

CalibStats *calib_run(Graph *g, const QuantOptions *qo)
{
    CnncNpy x;
    if (!read_calib(g, qo->calib, &x))
        return NULL;
    CalibStats *st = xcalloc(1, sizeof *st);
    st->method = qo->method;
    st->nt = g->nt;
    st->lo = xmalloc((size_t)g->nt * sizeof *st->lo);
    st->hi = xmalloc((size_t)g->nt * sizeof *st->hi);
    for (int t = 0; t < g->nt; t++) {
        st->lo[t] = INFINITY;
        st->hi[t] = -INFINITY;
    }
    bool ok = run_set(g, &x, st, false);
    if (ok && st->method != CALIB_MINMAX) {
        st->hist = xcalloc((size_t)g->nt, sizeof *st->hist);
        for (int t = 0; t < g->nt; t++)
            st->hist[t] = xcalloc(NBINS, sizeof *st->hist[t]);
        ok = run_set(g, &x, st, true);
    }
    cnnc_npy_free(&x);
    if (!ok) {
        calib_free(st);
        return NULL;
    }
    return st;
}

void calib_free(CalibStats *st)
{
    if (!st)
        return;
    for (int t = 0; st->hist && t < st->nt; t++)
        free(st->hist[t]);
    free(st->hist);
    free(st->lo);
    free(st->hi);
    free(st);
}

/* The values below which `tail` of the counts lie, and above which. */
static void percentile_range(const int64_t *h, double lo, double hi, double *a, double *b)
{
    int64_t total = 0, below = 0;
    for (int i = 0; i < NBINS; i++)
        total += h[i];
    double w = (hi - lo) / NBINS, cut = PERCENTILE_TAIL * (double)total;
    int i = 0, j = NBINS - 1;
    while (i < NBINS - 1 && (double)(below + h[i]) <= cut)
        below += h[i++];
    for (below = 0; j > 0 && (double)(below + h[j]) <= cut;)
        below += h[j--];
    *a = lo + w * i;
    *b = lo + w * (j + 1);
}

/* Squared error over the histogram of int8 with range [a, b] (holding 0). */
static double range_error(const int64_t *h, double lo, double hi, double a, double b)
{
    double scale = (b - a) / 255, w = (hi - lo) / NBINS, err = 0;
    if (scale <= 0)
        return INFINITY;
    double zp = nearbyint(-128 - a / scale);
    for (int i = 0; i < NBINS; i++) {
        if (!h[i])
            continue;
        double v = lo + w * (i + 0.5), q = nearbyint(v / scale) + zp;
        q = q < -128 ? -128 : q > 127 ? 127 : q;
        double d = v - (q - zp) * scale;
        err += d * d * (double)h[i];
    }
    return err;
}

static void mse_range(const int64_t *h, double lo, double hi, double *a, double *b)
{
    double best = INFINITY, l0 = lo < 0 ? lo : 0, h0 = hi > 0 ? hi : 0;
    for (int i = 0; i <= 14; i++)
        for (int j = 0; j <= 14; j++) {
            double ca = l0 * (1 - 0.05 * i), cb = h0 * (1 - 0.05 * j);
            double e = range_error(h, lo, hi, ca, cb);
            if (e < best) {
                best = e;
                *a = ca;
                *b = cb;
            }
        }
}

bool calib_constant(const CalibStats *st, int t, double *value)
{
    *value = st->lo[t];
    return st->lo[t] == st->hi[t];
}

void calib_range(const CalibStats *st, int t, double *lo, double *hi)
{
    double a = st->lo[t], b = st->hi[t];
    if (a > b)
        a = b = 0; /* never computed (an unused tensor) */
    else if (st->method == CALIB_PERCENTILE && b > a)
        percentile_range(st->hist[t], st->lo[t], st->hi[t], &a, &b);
    else if (st->method == CALIB_MSE && b > a)
        mse_range(st->hist[t], st->lo[t], st->hi[t], &a, &b);
    *lo = a < 0 ? a : 0;
    *hi = b > 0 ? b : 0;
}
