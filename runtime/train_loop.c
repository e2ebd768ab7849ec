/* train_loop.c: the `train` command of train_loop.h. Takes a model behind
 * function pointers and the user's files and options; gives trained
 * weights, the printed log and metrics, and the saved .npy folder.
 *
 * Static helpers are prefixed tl_ because generated programs paste several
 * runtime files into one translation unit. */
#include "train_loop.h"

#include "npy.h"
#include "train_plot.h"
#include "train_report.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/stat.h>
#define TL_HAVE_STAT 1
#endif

/* ---- options ---- */

static int tl_bad(FILE *err, const char *prog, const char *opt, const char *arg, const char *want)
{
    fprintf(err, "%s: error: %s %s: %s\n", prog, opt, arg, want);
    return -1;
}

/* Overflow needs no errno: strtol clamps to LONG_MIN/LONG_MAX (out of
 * range but for --batch, where LONG_MAX rightly exceeds the limit), strtod
 * to HUGE_VAL (not finite). */
static int tl_parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    *v = strtol(s, &end, 10);
    return end != s && !*end && *v >= lo && *v <= hi ? 0 : -1;
}

static int tl_parse_double(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end && isfinite(*v) ? 0 : -1;
}

static int tl_parse_u64(const char *s, uint64_t *v)
{
    *v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > 9 || *v > (UINT64_MAX - d) / 10)
            return -1;
        *v = *v * 10 + d;
    }
    return 0;
}

/* A number of bytes >= 1, or of KiB, MiB, GiB with a K, M or G suffix. */
static int tl_parse_bytes(const char *s, uint64_t *v)
{
    static const char units[] = "KMG";
    char digits[32];
    size_t len = strlen(s);
    const char *unit = len ? strchr(units, toupper((unsigned char)s[len - 1])) : NULL;
    uint64_t scale = 1;
    if (unit && *unit) {
        scale = (uint64_t)1 << (10 * (unit - units + 1));
        len--;
    }
    if (len == 0 || len >= sizeof digits)
        return -1;
    memcpy(digits, s, len);
    digits[len] = 0;
    if (tl_parse_u64(digits, v) != 0 || *v == 0 || *v > UINT64_MAX / scale)
        return -1;
    *v *= scale;
    return 0;
}

/* Why the model has no feature cache, or NULL when it has one. */
static const char *tl_no_cache(const CnncTrainModel *m)
{
    if (m->feature_size && m->features && m->step_features && m->eval_features)
        return NULL;
    return m->no_cache ? m->no_cache : "the model has no frozen part to cache";
}

/* Prints why the model has no feature cache, if it has none; returns
 * whether it printed. */
static int tl_cache_refused(FILE *err, const char *prog, const CnncTrainModel *m)
{
    if (!tl_no_cache(m))
        return 0;
    fprintf(err, "%s: error: --cache-features: %s\n", prog, tl_no_cache(m));
    return 1;
}

static int tl_schedule(const char *s, CnncSchedKind *k)
{
    if (strcmp(s, "const") == 0 || strcmp(s, "constant") == 0)
        *k = CNNC_SCHED_CONSTANT;
    else if (strcmp(s, "step") == 0)
        *k = CNNC_SCHED_STEP;
    else if (strcmp(s, "cosine") == 0)
        *k = CNNC_SCHED_COSINE;
    else
        return -1;
    return 0;
}

CNNC_RT_API int cnnc_train_parse(CnncTrainOptions *o, const CnncTrainModel *m, const char *prog,
                                 int argc, char **argv, FILE *err)
{
    int saw_split = 0, saw_step = 0;
    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        long v;
        if (strncmp(opt, "--", 2) != 0 || strcmp(opt, "--") == 0) {
            fprintf(err, "%s: error: unexpected argument '%s'\n", prog, opt);
            return -1;
        }
        if (!arg) {
            fprintf(err, "%s: error: %s needs a value\n", prog, opt);
            return -1;
        }
        i++;
        if (strcmp(opt, "--epochs") == 0) {
            if (tl_parse_long(arg, 1, 1000000, &v) != 0)
                return tl_bad(err, prog, opt, arg, "expected a whole number of epochs >= 1");
            o->epochs = (int)v;
        } else if (strcmp(opt, "--batch") == 0) {
            if (tl_parse_long(arg, 1, LONG_MAX, &v) != 0)
                return tl_bad(err, prog, opt, arg, "expected a batch size >= 1");
            if (v > m->batch_max) {
                fprintf(err,
                        "%s: error: --batch %s exceeds the compiled batch limit BATCH_MAX %d "
                        "(recompile with cnnc --batch %s)\n",
                        prog, arg, m->batch_max, arg);
                return -1;
            }
            o->batch = (int)v;
        } else if (strcmp(opt, "--lr") == 0) {
            if (tl_parse_double(arg, &o->lr) != 0 || o->lr <= 0)
                return tl_bad(err, prog, opt, arg, "expected a learning rate > 0");
        } else if (strcmp(opt, "--val-split") == 0) {
            if (tl_parse_double(arg, &o->val_split) != 0 || o->val_split < 0 || o->val_split >= 1)
                return tl_bad(err, prog, opt, arg, "expected a fraction in [0, 1)");
            saw_split = 1;
        } else if (strcmp(opt, "--kfold") == 0) {
            if (tl_parse_long(arg, 2, INT_MAX, &v) != 0)
                return tl_bad(err, prog, opt, arg, "expected a number of folds >= 2");
            o->kfold = (int)v;
        } else if (strcmp(opt, "--seed") == 0) {
            if (tl_parse_u64(arg, &o->seed) != 0)
                return tl_bad(err, prog, opt, arg, "expected an unsigned 64-bit integer");
        } else if (strcmp(opt, "--schedule") == 0) {
            if (tl_schedule(arg, &o->sched.kind) != 0)
                return tl_bad(err, prog, opt, arg, "expected const, step or cosine");
        } else if (strcmp(opt, "--step-size") == 0) {
            if (tl_parse_long(arg, 1, INT_MAX, &v) != 0)
                return tl_bad(err, prog, opt, arg, "expected a number of epochs >= 1");
            o->sched.step_size = (int)v;
            saw_step = 1;
        } else if (strcmp(opt, "--gamma") == 0) {
            if (tl_parse_double(arg, &o->sched.gamma) != 0 || o->sched.gamma <= 0)
                return tl_bad(err, prog, opt, arg, "expected a decay factor > 0");
            saw_step = 1;
        } else if (strcmp(opt, "--save") == 0) {
            o->save_dir = arg;
        } else if (strcmp(opt, "--resume") == 0) {
            o->resume_dir = arg;
        } else if (strcmp(opt, "--plot") == 0) {
            o->plot_path = arg;
        } else if (strcmp(opt, "--cache-features") == 0) {
            if (tl_parse_bytes(arg, &o->cache_bytes) != 0)
                return tl_bad(err, prog, opt, arg,
                              "expected a number of bytes >= 1 (suffix K, M or G: KiB, MiB, GiB)");
            if (tl_cache_refused(err, prog, m))
                return -1;
        } else {
            fprintf(err, "%s: error: unknown option '%s'\n", prog, opt);
            return -1;
        }
    }
    if (saw_split && o->kfold) {
        fprintf(err, "%s: error: --val-split and --kfold exclude each other\n", prog);
        return -1;
    }
    if (saw_step && o->sched.kind != CNNC_SCHED_STEP) {
        fprintf(err, "%s: error: --step-size and --gamma need --schedule step\n", prog);
        return -1;
    }
    if (o->batch > m->batch_max) /* a default from the model's train section */
        o->batch = m->batch_max;
    if (o->sched.step_size < 1) /* not given: three decays over the run */
        o->sched.step_size = o->epochs / 3 > 1 ? o->epochs / 3 : 1;
    o->sched.t_max = o->epochs;
    return 0;
}

/* ---- state: every tensor as one flat array ---- */

static size_t tl_state_floats(const CnncTrainModel *m)
{
    size_t total = 0;
    for (int i = 0; i < m->ntensors; i++)
        total += m->tensors[i].count;
    return total;
}

static void tl_get_state(const CnncTrainModel *m, float *dst)
{
    for (int i = 0; i < m->ntensors; i++) {
        memcpy(dst, m->tensor(m->ctx, i), m->tensors[i].count * sizeof *dst);
        dst += m->tensors[i].count;
    }
}

static void tl_set_state(const CnncTrainModel *m, const float *src)
{
    for (int i = 0; i < m->ntensors; i++) {
        memcpy(m->tensor(m->ctx, i), src, m->tensors[i].count * sizeof *src);
        src += m->tensors[i].count;
    }
}

/* data (t's floats) as DIR/<t's escaped name>.npy. */
static int tl_write(const char *dir, const CnncTensorDesc *t, const float *data, FILE *err)
{
    char path[4096], msg[CNNC_NPY_ERR_SIZE];
    if (cnnc_npy_param_path(dir, t->name, path, sizeof path) >= sizeof path) {
        fprintf(err, "%s: error: the path of %s is too long\n", dir, t->name);
        return -1;
    }
    if (cnnc_npy_write_f32(path, data, t->rank, t->shape, msg, sizeof msg)) {
        fprintf(err, "%s: error: %s\n", path, msg);
        return -1;
    }
    return 0;
}

CNNC_RT_API int cnnc_train_save(const CnncTrainModel *m, const char *dir, FILE *err)
{
    for (int i = 0; i < m->ntensors; i++)
        if (tl_write(dir, &m->tensors[i], m->tensor(m->ctx, i), err))
            return -1;
    for (int i = 0; i < m->nfrozen; i++) {
        float *buf = malloc(m->frozen[i].count * sizeof *buf + 1);
        int rc = -1;
        if (!buf)
            fprintf(err, "%s: error: out of memory\n", dir);
        else {
            m->frozen_data(m->ctx, i, buf);
            rc = tl_write(dir, &m->frozen[i], buf, err);
        }
        free(buf);
        if (rc)
            return -1;
    }
    return 0;
}

static int tl_same_shape(const CnncNpy *a, const CnncTensorDesc *t)
{
    if (a->rank != t->rank)
        return 0;
    for (int d = 0; d < t->rank; d++)
        if (a->shape[d] != t->shape[d])
            return 0;
    return 1;
}

CNNC_RT_API int cnnc_train_load(const CnncTrainModel *m, const char *dir, FILE *err)
{
    char path[4096], msg[CNNC_NPY_ERR_SIZE], have[128], want[128];
    CnncNpy *a = calloc((size_t)m->ntensors + 1, sizeof *a);
    int i, rc = 0;
    if (!a) {
        fprintf(err, "%s: error: out of memory\n", dir);
        return -1;
    }
    for (i = 0; i < m->ntensors && rc == 0; i++) {
        const CnncTensorDesc *t = &m->tensors[i];
        rc = -1;
        if (cnnc_npy_param_path(dir, t->name, path, sizeof path) >= sizeof path)
            fprintf(err, "%s: error: the path of %s is too long\n", dir, t->name);
        else if (cnnc_npy_read_f32(path, &a[i], msg, sizeof msg) != 0)
            fprintf(err, "%s: error: %s\n", path, msg);
        else if (!tl_same_shape(&a[i], t)) {
            cnnc_npy_shape_str(a[i].shape, a[i].rank, have, sizeof have);
            cnnc_npy_shape_str(t->shape, t->rank, want, sizeof want);
            fprintf(err, "%s: error: shape %s; the model's %s has shape %s\n", path, have,
                    t->name, want);
        } else
            rc = 0;
    }
    for (i = 0; i < m->ntensors; i++) {
        if (rc == 0)
            memcpy(m->tensor(m->ctx, i), a[i].data, m->tensors[i].count * sizeof(float));
        cnnc_npy_free(&a[i]);
    }
    free(a);
    return rc;
}

/* ---- the loop ---- */

/* Working memory of a run, allocated once. */
typedef struct {
    const CnncTrainModel *m;
    const CnncTrainOptions *o;
    const float *x;
    const int32_t *y;
    const char *prog;
    FILE *out, *err;
    float *bx;      /* a batch of samples (batch_max, input_size) */
    int32_t *by;    /* its labels */
    float *scores;  /* (batch_max, classes) */
    int64_t *cm;    /* classes^2 */
    float *init, *best; /* state snapshots */
    CnncEpochLog *logs; /* every epoch of the run, for --plot */
    int *log_fold;      /* each one's fold, from 1 */
    int nlogs, fold;    /* logged so far; the fold running */
    /* --cache-features: every sample's features once computed, a batch's,
     * and the epochs' times, apart for those that computed features. */
    float *cache, *bf;
    unsigned char *cached; /* per sample: its features are in the cache */
    int computed;          /* this epoch computed features */
    double fill_seconds, cached_seconds;
    int fill_epochs, cached_epochs;
} TlRun;

/* Batch idx[0..k): its labels into by and its samples into bx; with the
 * feature cache, their features into bf instead, run through the frozen
 * part and stored unless every one is stored already. */
static void tl_gather_batch(TlRun *r, const int32_t *idx, int k)
{
    const CnncTrainModel *m = r->m;
    size_t f = m->feature_size;
    int missing = 0;
    cnnc_gather_labels(r->by, r->y, idx, k);
    for (int i = 0; r->cache && i < k; i++)
        missing |= !r->cached[idx[i]];
    if (r->cache && !missing) {
        cnnc_gather(r->bf, r->cache, idx, k, f);
        return;
    }
    cnnc_gather(r->bx, r->x, idx, k, m->input_size);
    if (!r->cache)
        return;
    m->features(m->ctx, r->bx, k, r->bf);
    for (int i = 0; i < k; i++) {
        memcpy(r->cache + (size_t)idx[i] * f, r->bf + (size_t)i * f, f * sizeof *r->bf);
        r->cached[idx[i]] = 1;
    }
    r->computed = 1;
}

/* Accumulates the confusion matrix of the current weights on x[idx[0..n)]
 * into cm; returns the accuracy over those samples. */
static double tl_evaluate(TlRun *r, const int32_t *idx, int n, int64_t *cm)
{
    const CnncTrainModel *m = r->m;
    int correct = 0;
    for (int i = 0; i < n; i += m->batch_max) {
        int k = n - i < m->batch_max ? n - i : m->batch_max;
        tl_gather_batch(r, idx + i, k);
        if (r->cache)
            m->eval_features(m->ctx, r->bf, k, r->scores);
        else
            m->eval(m->ctx, r->bx, k, r->scores);
        correct += cnnc_count_correct(r->scores, r->by, k, m->classes);
        if (cm)
            cnnc_confusion_add_scores(cm, m->classes, r->by, r->scores, k);
    }
    return n > 0 ? (double)correct / n : 0;
}

/* One epoch over train[0..ntrain) (shuffled here); fills the log's loss,
 * train_acc and samples/s. Returns 0, or 1 after printing a NaN stop. */
static int tl_epoch(TlRun *r, int32_t *train, int ntrain, int epoch, const char *fold,
                    CnncEpochLog *log)
{
    const CnncTrainModel *m = r->m;
    const CnncTrainOptions *o = r->o;
    int batches = (ntrain + o->batch - 1) / o->batch, correct = 0;
    double lr = cnnc_schedule_lr(&o->sched, o->lr, epoch), sum = 0, t0 = cnnc_seconds();
    CnncProgress bar;
    cnnc_shuffle_epoch(train, ntrain, o->seed, epoch);
    cnnc_progress_begin(&bar, r->err, r->err == stderr ? 2 : -1, batches);
    for (int b = 0; b < batches; b++) {
        int first = b * o->batch, k = ntrain - first < o->batch ? ntrain - first : o->batch;
        double loss = 0;
        int bad;
        tl_gather_batch(r, train + first, k);
        bad = r->cache ? m->step_features(m->ctx, r->bf, r->by, k, lr, r->scores, &loss)
                       : m->step(m->ctx, r->bx, r->by, k, lr, r->scores, &loss);
        if (bad != 0 || !isfinite(loss)) {
            cnnc_progress_end(&bar);
            fprintf(r->err,
                    "%s: error: %sepoch %d, batch %d of %d: the loss or a gradient is not "
                    "finite (loss %g at lr %g); training stopped: try a smaller --lr\n",
                    r->prog, fold, epoch + 1, b + 1, batches, loss, lr);
            return 1;
        }
        sum += loss * k;
        correct += cnnc_count_correct(r->scores, r->by, k, m->classes);
        cnnc_progress_update(&bar, b + 1, sum / (first + k));
    }
    cnnc_progress_end(&bar);
    double dt = cnnc_seconds() - t0;
    log->loss = sum / ntrain;
    log->train_acc = (double)correct / ntrain;
    log->samples_per_sec = dt > 0 ? ntrain / dt : 0;
    return 0;
}

/* An epoch's time (its steps and its validation), counted apart when it
 * computed features: the feature cache's speed-up is the ratio. */
static void tl_time_epoch(TlRun *r, double seconds)
{
    if (!r->cache)
        return;
    if (r->computed) {
        r->fill_seconds += seconds;
        r->fill_epochs++;
    } else {
        r->cached_seconds += seconds;
        r->cached_epochs++;
    }
}

/* The feature cache's line: its size and the speed-up it gave. */
static void tl_cache_report(const TlRun *r, int n)
{
    double fill = r->fill_epochs ? r->fill_seconds / r->fill_epochs : 0;
    double cached = r->cached_epochs ? r->cached_seconds / r->cached_epochs : 0;
    fprintf(r->out, "feature cache: %d samples x %lu floats = %llu bytes (budget %llu); ", n,
            (unsigned long)r->m->feature_size,
            (unsigned long long)n * r->m->feature_size * sizeof(float),
            (unsigned long long)r->o->cache_bytes);
    if (r->fill_epochs && r->cached_epochs)
        fprintf(r->out,
                "an epoch computing the features took %.4f s, one from the cache %.4f s "
                "(means of %d and %d): %.2fx faster\n",
                fill, cached, r->fill_epochs, r->cached_epochs, cached > 0 ? fill / cached : 0);
    else
        fprintf(r->out, "no epoch ran from the cache alone: no speed-up to measure\n");
}

/* Trains from the current weights for o->epochs and leaves the model
 * with the best epoch's weights (by validation accuracy; the last epoch's
 * without validation). *acc gets their validation accuracy, *best_epoch
 * its number (from 1). Returns 0 or 1 (NaN stop). */
static int tl_fold(TlRun *r, int32_t *train, int ntrain, const int32_t *val, int nval,
                   const char *fold, double *acc, int *best_epoch)
{
    const CnncTrainOptions *o = r->o;
    *acc = -1;
    *best_epoch = o->epochs;
    for (int e = 0; e < o->epochs; e++) {
        CnncEpochLog log = {0};
        double t0 = cnnc_seconds();
        log.epoch = e + 1;
        log.epochs = o->epochs;
        r->computed = 0;
        if (tl_epoch(r, train, ntrain, e, fold, &log) != 0)
            return 1;
        if (nval > 0) {
            log.has_val = 1;
            log.val_acc = tl_evaluate(r, val, nval, NULL);
            if (log.val_acc > *acc) { /* strictly: the earliest best epoch wins ties */
                *acc = log.val_acc;
                *best_epoch = e + 1;
                tl_get_state(r->m, r->best);
            }
        }
        tl_time_epoch(r, cnnc_seconds() - t0);
        cnnc_print_epoch(r->out, &log);
        r->logs[r->nlogs] = log;
        r->log_fold[r->nlogs++] = r->fold;
    }
    if (nval > 0)
        tl_set_state(r->m, r->best);
    return 0;
}

/* The end of a run: the matrix and the metrics of r->cm. */
static void tl_report(TlRun *r, const char *what)
{
    fprintf(r->out, "confusion matrix on the %s (rows: true class, columns: predicted class)\n",
            what);
    cnnc_print_confusion(r->out, r->cm, r->m->classes);
    cnnc_print_metrics(r->out, r->cm, r->m->classes, NULL);
}

static int tl_holdout(TlRun *r, int n, int32_t *idx, CnncTrainResult *res)
{
    int ntrain = cnnc_val_split(idx, n, r->o->val_split, r->o->seed), nval = n - ntrain, best;
    double acc;
    fprintf(r->out, "training on %d samples, validating on %d\n", ntrain, nval);
    r->fold = 1;
    if (tl_fold(r, idx, ntrain, idx + ntrain, nval, "", &acc, &best) != 0)
        return 1;
    res->has_val = nval > 0;
    if (res->has_val) {
        fprintf(r->out, "best epoch %d: val_acc %.4f (these weights are kept)\n", best, acc);
        res->accuracy = tl_evaluate(r, idx + ntrain, nval, r->cm);
        tl_report(r, "validation samples");
    } else {
        cnnc_iota(idx, n);
        res->accuracy = tl_evaluate(r, idx, n, r->cm);
        tl_report(r, "training samples");
    }
    return 0;
}

static int tl_kfold(TlRun *r, int n, int32_t *order, CnncTrainResult *res)
{
    const CnncTrainModel *m = r->m;
    int k = r->o->kfold, rc = 1;
    int32_t *train = malloc((size_t)n * sizeof *train), *val = malloc((size_t)n * sizeof *val);
    float *best_fold = malloc(tl_state_floats(m) * sizeof *best_fold + 1);
    double sum = 0, top = -1;
    if (!train || !val || !best_fold) {
        fprintf(r->err, "%s: error: out of memory\n", r->prog);
        goto done;
    }
    cnnc_kfold_order(order, n, r->o->seed);
    for (int f = 0; f < k; f++) {
        int nval = cnnc_kfold_split(order, n, k, f, train, val), best;
        char tag[48];
        double acc;
        snprintf(tag, sizeof tag, "fold %d/%d, ", f + 1, k);
        fprintf(r->out, "fold %d/%d: training on %d samples, validating on %d\n", f + 1, k,
                n - nval, nval);
        r->fold = f + 1;
        m->restart(m->ctx); /* first: it may reset the weights too */
        tl_set_state(m, r->init);
        if (tl_fold(r, train, n - nval, val, nval, tag, &acc, &best) != 0)
            goto done;
        tl_evaluate(r, val, nval, r->cm);
        fprintf(r->out, "fold %d/%d: best epoch %d, val_acc %.4f\n", f + 1, k, best, acc);
        sum += acc;
        if (acc > top) {
            top = acc;
            tl_get_state(m, best_fold);
        }
    }
    tl_set_state(m, best_fold);
    tl_report(r, "held-out samples of every fold");
    res->has_val = 1;
    res->accuracy = sum / k;
    rc = 0;
done:
    free(train);
    free(val);
    free(best_fold);
    return rc;
}

/* --plot: the curves of every epoch logged. Returns 0, or 1 after an error. */
static int tl_plot(const TlRun *r)
{
    char msg[CNNC_NPY_ERR_SIZE];
    if (!r->o->plot_path)
        return 0;
    if (cnnc_plot_curves(r->o->plot_path, r->logs, r->log_fold, r->nlogs, msg, sizeof msg) != 0) {
        fprintf(r->err, "%s: error: %s\n", r->o->plot_path, msg);
        return 1;
    }
    fprintf(r->out, "plotted %d epochs to %s\n", r->nlogs, r->o->plot_path);
    return 0;
}

/* --cache-features: the cache of every sample's features, if the budget
 * holds it. Returns 0, or 1 after printing an error. */
static int tl_cache_open(TlRun *r, int n)
{
    const CnncTrainModel *m = r->m;
    uint64_t need = (uint64_t)n * m->feature_size * sizeof(float);
    if (!r->o->cache_bytes)
        return 0;
    if (tl_cache_refused(r->err, r->prog, m))
        return 1;
    if (need > r->o->cache_bytes) {
        fprintf(r->err,
                "%s: error: --cache-features %llu: the features of %d samples need %llu bytes "
                "(%lu floats each), more than the budget\n",
                r->prog, (unsigned long long)r->o->cache_bytes, n, (unsigned long long)need,
                (unsigned long)m->feature_size);
        return 1;
    }
    r->cache = malloc((size_t)need + 1);
    r->bf = malloc((size_t)m->batch_max * m->feature_size * sizeof *r->bf + 1);
    r->cached = calloc((size_t)n + 1, 1);
    if (r->cache && r->bf && r->cached)
        return 0;
    fprintf(r->err, "%s: error: out of memory (the feature cache)\n", r->prog);
    return 1;
}

CNNC_RT_API int cnnc_train_run(const CnncTrainModel *m, const CnncTrainOptions *o,
                               const float *x, const int32_t *y, int n, const char *prog,
                               FILE *out, FILE *err, CnncTrainResult *res)
{
    TlRun r;
    size_t state = tl_state_floats(m), k = (size_t)m->classes;
    size_t nlogs = (size_t)o->epochs * (size_t)(o->kfold ? o->kfold : 1);
    int32_t *idx = malloc((size_t)n * sizeof *idx + 1);
    int rc = 1;
    res->accuracy = 0;
    res->has_val = 0;
    if (o->kfold > n) {
        fprintf(err, "%s: error: --kfold %d needs at least %d samples; the data has %d\n", prog,
                o->kfold, o->kfold, n);
        free(idx);
        return 1;
    }
    memset(&r, 0, sizeof r);
    r.m = m;
    r.o = o;
    r.x = x;
    r.y = y;
    r.prog = prog;
    r.out = out;
    r.err = err;
    r.bx = malloc((size_t)m->batch_max * m->input_size * sizeof *r.bx + 1);
    r.by = malloc((size_t)m->batch_max * sizeof *r.by + 1);
    r.scores = malloc((size_t)m->batch_max * k * sizeof *r.scores + 1);
    r.cm = calloc(k * k + 1, sizeof *r.cm);
    r.init = malloc(state * sizeof *r.init + 1);
    r.best = malloc(state * sizeof *r.best + 1);
    r.logs = malloc(nlogs * sizeof *r.logs + 1);
    r.log_fold = malloc(nlogs * sizeof *r.log_fold + 1);
    if (!idx || !r.bx || !r.by || !r.scores || !r.cm || !r.init || !r.best || !r.logs ||
        !r.log_fold)
        fprintf(err, "%s: error: out of memory\n", prog);
    else if (tl_cache_open(&r, n) == 0) {
        tl_get_state(m, r.init);
        rc = o->kfold ? tl_kfold(&r, n, idx, res) : tl_holdout(&r, n, idx, res);
        if (rc == 0 && r.cache)
            tl_cache_report(&r, n);
        rc = rc ? rc : tl_plot(&r);
    }
    free(idx);
    free(r.bx);
    free(r.by);
    free(r.scores);
    free(r.cm);
    free(r.init);
    free(r.best);
    free(r.logs);
    free(r.log_fold);
    free(r.cache);
    free(r.bf);
    free(r.cached);
    return rc;
}

/* ---- the command ---- */

static int tl_is_dir(const char *path)
{
#ifdef TL_HAVE_STAT
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
#else
    (void)path;
    return 1; /* no portable test: a missing folder fails when saving */
#endif
}

/* Reads DATA.npy (samples of the model's input) into *x. */
static int tl_read_data(const CnncTrainModel *m, const char *path, CnncNpy *x, FILE *err)
{
    char msg[CNNC_NPY_ERR_SIZE], have[128], want[128];
    int64_t full[CNNC_NPY_MAX_RANK];
    int ok;
    if (cnnc_npy_read_f32(path, x, msg, sizeof msg) != 0) {
        fprintf(err, "%s: error: %s\n", path, msg);
        return -1;
    }
    ok = x->rank == m->input_rank + 1;
    for (int d = 0; ok && d < m->input_rank; d++)
        ok = x->shape[d + 1] == m->input_shape[d];
    if (ok && x->shape[0] >= 1 && x->shape[0] <= INT_MAX)
        return 0;
    if (ok)
        fprintf(err, "%s: error: %s samples (the data must hold 1 to %d)\n", path,
                x->shape[0] < 1 ? "no" : "too many", INT_MAX);
    else {
        full[0] = x->rank > 0 ? x->shape[0] : 1;
        for (int d = 0; d < m->input_rank; d++)
            full[d + 1] = m->input_shape[d];
        cnnc_npy_shape_str(x->shape, x->rank, have, sizeof have);
        cnnc_npy_shape_str(full, m->input_rank + 1, want, sizeof want);
        fprintf(err, "%s: error: data has shape %s; the model takes %s\n", path, have, want);
    }
    cnnc_npy_free(x);
    return -1;
}

/* Reads LABELS.npy: n integer labels in [0, classes), into *y (malloc). */
static int tl_read_labels(const CnncTrainModel *m, const char *path, int64_t n,
                          const char *data_path, int32_t **y, FILE *err)
{
    char msg[CNNC_NPY_ERR_SIZE];
    CnncNpy a;
    int rc = -1;
    *y = NULL;
    if (cnnc_npy_read(path, &a, msg, sizeof msg) != 0) {
        fprintf(err, "%s: error: %s\n", path, msg);
        return -1;
    }
    if (a.rank != 1 || a.type == CNNC_NPY_F32)
        fprintf(err, "%s: error: labels must be a 1-D array of integers ('<i4' or '<i8')\n",
                path);
    else if (a.shape[0] != n)
        fprintf(err, "%s: error: %lld labels, but %s holds %lld samples\n", path,
                (long long)a.shape[0], data_path, (long long)n);
    else if (!(*y = malloc((size_t)n * sizeof **y + 1)))
        fprintf(err, "%s: error: out of memory\n", path);
    else if (cnnc_npy_labels(&a, *y, m->classes, msg, sizeof msg) != 0)
        fprintf(err, "%s: error: %s\n", path, msg);
    else
        rc = 0;
    if (rc != 0) {
        free(*y);
        *y = NULL;
    }
    cnnc_npy_free(&a);
    return rc;
}

CNNC_RT_API int cnnc_train_main(const CnncTrainModel *m, const CnncTrainOptions *defaults,
                                int argc, char **argv)
{
    const char *prog = argc > 0 ? argv[0] : "prog";
    CnncTrainOptions o = *defaults;
    CnncTrainResult res;
    CnncNpy x;
    int32_t *y;
    int rc;
    if (argc < 4) {
        fprintf(stderr, "%s: error: usage: %s train DATA.npy LABELS.npy [--epochs N] [--batch N] "
                        "[--lr X] [--val-split F | --kfold K] [--seed S] [--schedule "
                        "const|step|cosine] [--step-size N] [--gamma X] [--save DIR] "
                        "[--resume DIR] [--plot FILE.svg] [--cache-features BYTES]\n",
                prog, prog);
        return 1;
    }
    if (cnnc_train_parse(&o, m, prog, argc - 4, argv + 4, stderr) != 0)
        return 1;
    if (o.save_dir && !tl_is_dir(o.save_dir)) {
        fprintf(stderr, "%s: error: no such folder (--save needs an existing one)\n", o.save_dir);
        return 1;
    }
    if (tl_read_data(m, argv[2], &x, stderr) != 0)
        return 1;
    if (tl_read_labels(m, argv[3], x.shape[0], argv[2], &y, stderr) != 0 ||
        (o.resume_dir && cnnc_train_load(m, o.resume_dir, stderr) != 0)) {
        free(y);
        cnnc_npy_free(&x);
        return 1;
    }
    if (o.resume_dir)
        printf("resumed from %s\n", o.resume_dir);
    rc = cnnc_train_run(m, &o, (const float *)x.data, y, (int)x.shape[0], prog, stdout, stderr,
                        &res);
    if (rc == 0 && o.save_dir) {
        rc = cnnc_train_save(m, o.save_dir, stderr) != 0;
        if (rc == 0)
            printf("saved %d tensors to %s\n", m->ntensors + m->nfrozen, o.save_dir);
    }
    if (rc == 0)
        printf("%s: %.6f\n", res.has_val ? "val_accuracy" : "train_accuracy", res.accuracy);
    free(y);
    cnnc_npy_free(&x);
    return rc;
}
