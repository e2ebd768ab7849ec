/* train.c: the loss, optimizers, schedules, data order and metrics
 * declared in train.h. Takes caller-owned arrays; gives numbers, never
 * prints or allocates, so the same code runs in the `--main` program, in
 * a generated model's training step and on a microcontroller.
 *
 * Static helpers are prefixed tr_ because generated programs paste several
 * runtime files into one translation unit. */
#include "train.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- loss (compiler/interp/grad.c calls this too) ---- */

CNNC_RT_API double cnnc_softmax_xent(const float *logits, const int32_t *labels, int n, int k,
                                     float *dlogits)
{
    double total = 0;
    for (int b = 0; b < n; b++) {
        const float *z = logits + (size_t)b * (size_t)k;
        double m = z[0], sum = 0;
        for (int j = 1; j < k; j++)
            m = z[j] > m ? z[j] : m;
        for (int j = 0; j < k; j++)
            sum += exp(z[j] - m);
        double lse = m + log(sum);
        total += lse - z[labels[b]];
        if (dlogits) {
            float *dz = dlogits + (size_t)b * (size_t)k;
            for (int j = 0; j < k; j++)
                dz[j] = (float)((exp(z[j] - lse) - (j == labels[b])) / n);
        }
    }
    return total / n;
}

CNNC_RT_API double cnnc_xent_from_probs(const float *probs, const int32_t *labels, int n, int k)
{
    double total = 0;
    for (int b = 0; b < n; b++) {
        float p = probs[(size_t)b * (size_t)k + (size_t)labels[b]];
        total -= log(p > FLT_MIN ? p : FLT_MIN);
    }
    return total / n;
}

/* ---- optimizers (compiler/interp/optim.c calls these too) ---- */

static void tr_sgd(const CnncOptim *o, int first, float *p, const float *grad, float *buf,
                   size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float d = grad[i] + o->weight_decay * p[i];
        if (o->momentum != 0) {
            buf[i] = first ? d : o->momentum * buf[i] + d;
            d = buf[i];
        }
        p[i] -= o->lr * d;
    }
}

static void tr_adam(const CnncOptim *o, int64_t step, float *p, const float *grad, float *m,
                    float *v, size_t count)
{
    double step_size = o->lr / (1 - pow(o->beta1, (double)step));
    double bc2_sqrt = sqrt(1 - pow(o->beta2, (double)step));
    if (step == 1 && count > 0) { /* PyTorch starts both moments at zero */
        memset(m, 0, count * sizeof *m);
        memset(v, 0, count * sizeof *v);
    }
    for (size_t i = 0; i < count; i++) {
        float d = grad[i] + o->weight_decay * p[i];
        m[i] = m[i] * o->beta1 + (1 - o->beta1) * d;
        v[i] = v[i] * o->beta2 + (1 - o->beta2) * d * d;
        float denom = (float)(sqrtf(v[i]) / bc2_sqrt) + o->eps;
        p[i] -= (float)(step_size * (m[i] / denom));
    }
}

CNNC_RT_API void cnnc_optim_step(const CnncOptim *o, int64_t step, float *param,
                                 const float *grad, float *m, float *v, size_t count)
{
    if (o->kind == CNNC_ADAM)
        tr_adam(o, step, param, grad, m, v, count);
    else
        tr_sgd(o, step == 1, param, grad, m, count);
}

/* ---- schedules ---- */

CNNC_RT_API double cnnc_schedule_lr(const CnncSchedule *s, double base_lr, int epoch)
{
    const double pi = 3.14159265358979323846;
    switch (s->kind) {
    case CNNC_SCHED_STEP:
        return base_lr * pow(s->gamma, (double)(epoch / s->step_size));
    case CNNC_SCHED_COSINE:
        return s->eta_min +
               (base_lr - s->eta_min) * (1 + cos(pi * epoch / s->t_max)) / 2;
    case CNNC_SCHED_CONSTANT:
        break;
    }
    return base_lr;
}

/* ---- data order ---- */

#define TR_GOLDEN 0x9E3779B97F4A7C15ull

static uint64_t tr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

CNNC_RT_API CnncRng cnnc_rng(uint64_t seed, uint64_t stream)
{
    CnncRng r;
    r.state = tr_mix64(seed) ^ tr_mix64(stream * TR_GOLDEN + 1);
    return r;
}

CNNC_RT_API uint64_t cnnc_rng_next(CnncRng *r)
{
    r->state += TR_GOLDEN;
    return tr_mix64(r->state);
}

/* Rejects the 2^64 mod bound smallest outputs, so that the accepted ones
 * cover whole copies of [0, bound) and every value is equally likely (a
 * plain modulo favours small values). */
CNNC_RT_API uint64_t cnnc_rng_below(CnncRng *r, uint64_t bound)
{
    uint64_t reject = (0 - bound) % bound; /* = 2^64 mod bound */
    for (;;) {
        uint64_t x = cnnc_rng_next(r);
        if (x >= reject)
            return x % bound;
    }
}

CNNC_RT_API void cnnc_iota(int32_t *idx, int n)
{
    for (int i = 0; i < n; i++)
        idx[i] = i;
}

CNNC_RT_API void cnnc_shuffle(int32_t *idx, int n, CnncRng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)cnnc_rng_below(r, (uint64_t)i + 1);
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

CNNC_RT_API void cnnc_shuffle_epoch(int32_t *idx, int n, uint64_t seed, int epoch)
{
    CnncRng r = cnnc_rng(seed, CNNC_STREAM_EPOCH + (uint64_t)epoch);
    cnnc_shuffle(idx, n, &r);
}

CNNC_RT_API int cnnc_val_count(int n, double f)
{
    if (f <= 0 || n < 2)
        return 0;
    double want = floor(n * f + 0.5);
    int nval = want < 1 ? 1 : want > n - 1 ? n - 1 : (int)want;
    return nval;
}

CNNC_RT_API int cnnc_val_split(int32_t *idx, int n, double f, uint64_t seed)
{
    CnncRng r = cnnc_rng(seed, CNNC_STREAM_SPLIT);
    cnnc_iota(idx, n);
    cnnc_shuffle(idx, n, &r);
    return n - cnnc_val_count(n, f);
}

CNNC_RT_API void cnnc_kfold_order(int32_t *order, int n, uint64_t seed)
{
    CnncRng r = cnnc_rng(seed, CNNC_STREAM_KFOLD);
    cnnc_iota(order, n);
    cnnc_shuffle(order, n, &r);
}

CNNC_RT_API int cnnc_kfold_split(const int32_t *order, int n, int k, int fold, int32_t *train,
                                 int32_t *val)
{
    int base = n / k, extra = n % k;
    int start = fold * base + (fold < extra ? fold : extra);
    int nval = base + (fold < extra);
    memcpy(val, order + start, (size_t)nval * sizeof *val);
    memcpy(train, order, (size_t)start * sizeof *train);
    memcpy(train + start, order + start + nval, (size_t)(n - start - nval) * sizeof *train);
    return nval;
}

CNNC_RT_API void cnnc_gather(float *dst, const float *src, const int32_t *idx, int n,
                             size_t sample_size)
{
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * sample_size, src + (size_t)idx[i] * sample_size,
               sample_size * sizeof *dst);
}

CNNC_RT_API void cnnc_gather_labels(int32_t *dst, const int32_t *src, const int32_t *idx, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = src[idx[i]];
}

/* ---- metrics ---- */

CNNC_RT_API int cnnc_argmax(const float *x, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (x[j] > x[best] || (x[best] != x[best] && x[j] == x[j]))
            best = j;
    return best;
}

CNNC_RT_API int cnnc_count_correct(const float *scores, const int32_t *labels, int n, int k)
{
    int correct = 0;
    for (int b = 0; b < n; b++)
        correct += cnnc_argmax(scores + (size_t)b * (size_t)k, k) == labels[b];
    return correct;
}

CNNC_RT_API void cnnc_confusion_add(int64_t *cm, int k, const int32_t *labels,
                                    const int32_t *pred, int n)
{
    for (int b = 0; b < n; b++)
        cm[(size_t)labels[b] * (size_t)k + (size_t)pred[b]]++;
}

CNNC_RT_API void cnnc_confusion_add_scores(int64_t *cm, int k, const int32_t *labels,
                                           const float *scores, int n)
{
    for (int b = 0; b < n; b++) {
        int p = cnnc_argmax(scores + (size_t)b * (size_t)k, k);
        cm[(size_t)labels[b] * (size_t)k + (size_t)p]++;
    }
}

static double tr_ratio(int64_t num, int64_t den)
{
    return den ? (double)num / (double)den : 0.0;
}

CNNC_RT_API double cnnc_accuracy(const int64_t *cm, int k)
{
    int64_t right = 0, total = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            total += cm[(size_t)t * (size_t)k + (size_t)p];
            right += t == p ? cm[(size_t)t * (size_t)k + (size_t)p] : 0;
        }
    return tr_ratio(right, total);
}

CNNC_RT_API CnncClassMetrics cnnc_class_metrics(const int64_t *cm, int k, int c)
{
    int64_t row = 0, col = 0;
    for (int j = 0; j < k; j++) {
        row += cm[(size_t)c * (size_t)k + (size_t)j];
        col += cm[(size_t)j * (size_t)k + (size_t)c];
    }
    int64_t hit = cm[(size_t)c * (size_t)k + (size_t)c];
    CnncClassMetrics r;
    r.precision = tr_ratio(hit, col);
    r.recall = tr_ratio(hit, row);
    r.f1 = r.precision + r.recall > 0
               ? 2 * r.precision * r.recall / (r.precision + r.recall)
               : 0.0;
    r.support = row;
    return r;
}

CNNC_RT_API CnncMetrics cnnc_metrics(const int64_t *cm, int k)
{
    CnncMetrics r = {0, 0, 0, 0, 0};
    int seen = 0;
    for (int c = 0; c < k; c++) {
        int64_t col = 0;
        for (int t = 0; t < k; t++)
            col += cm[(size_t)t * (size_t)k + (size_t)c];
        CnncClassMetrics m = cnnc_class_metrics(cm, k, c);
        r.total += m.support;
        if (m.support == 0 && col == 0)
            continue; /* neither occurs nor is predicted: not averaged */
        seen++;
        r.macro_precision += m.precision;
        r.macro_recall += m.recall;
        r.macro_f1 += m.f1;
    }
    if (seen) {
        r.macro_precision /= seen;
        r.macro_recall /= seen;
        r.macro_f1 /= seen;
    }
    r.accuracy = cnnc_accuracy(cm, k);
    return r;
}

/* ---- numerical health ---- */

CNNC_RT_API ptrdiff_t cnnc_find_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return (ptrdiff_t)i;
    return -1;
}
