/* test_runtime_train.c: runtime/train.c and train_report.c on numbers
 * worked by hand (the course's metrics, one and two optimizer steps,
 * closed-form schedules), the loss gradient against central finite
 * differences, and the properties the data order must have (a
 * permutation, reproducible, uniform, folds that partition the data).
 * tests/runtime/check_torch.py compares the same code with PyTorch and
 * sklearn. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train.h"
#include "train_report.h"
#include "check_run.h"

#define EPS 1e-9

/* ---- metrics ---- */

/* The course: 100 patients, 10 sick (class 1), a model that answers
 * "healthy" (class 0) for everyone. */
static void patients(int64_t cm[4])
{
    int32_t labels[100], pred[100];
    for (int i = 0; i < 100; i++) {
        labels[i] = i < 10;
        pred[i] = 0;
    }
    memset(cm, 0, 4 * sizeof *cm);
    cnnc_confusion_add(cm, 2, labels, pred, 100);
}

START_TEST(course_patients)
{
    int64_t cm[4];
    patients(cm);
    ck_assert_int_eq(cm[0], 90); /* true healthy, said healthy */
    ck_assert_int_eq(cm[1], 0);
    ck_assert_int_eq(cm[2], 10); /* true sick, said healthy */
    ck_assert_int_eq(cm[3], 0);
    ck_assert_double_eq_tol(cnnc_accuracy(cm, 2), 0.9, EPS);
    CnncClassMetrics sick = cnnc_class_metrics(cm, 2, 1);
    ck_assert_double_eq(sick.recall, 0);
    ck_assert_double_eq(sick.precision, 0); /* never predicted: 0 by convention */
    ck_assert_double_eq(sick.f1, 0);
    ck_assert_int_eq(sick.support, 10);
    CnncClassMetrics healthy = cnnc_class_metrics(cm, 2, 0);
    ck_assert_double_eq_tol(healthy.precision, 0.9, EPS);
    ck_assert_double_eq_tol(healthy.recall, 1.0, EPS);
    ck_assert_double_eq_tol(healthy.f1, 2 * 0.9 / 1.9, EPS); /* 2PR/(P+R) */
    CnncMetrics m = cnnc_metrics(cm, 2);
    ck_assert_double_eq_tol(m.accuracy, 0.9, EPS);
    ck_assert_double_eq_tol(m.macro_precision, 0.45, EPS);
    ck_assert_double_eq_tol(m.macro_recall, 0.5, EPS);
    ck_assert_double_eq_tol(m.macro_f1, 0.9 / 1.9, EPS);
    ck_assert_int_eq(m.total, 100);
}
END_TEST

/* Four classes, by hand. Rows true, columns predicted:
 *     3 1 0 0      precision 3/4, 2/4, 1/4, 0 (class 3 never predicted)
 *     1 2 2 0      recall    3/4, 2/5, 1/1, 0
 *     0 0 1 0      f1        3/4, 4/9, 2/5, 0
 *     0 1 1 0      accuracy  6/12
 * macro: P 0.375, R 0.5375, F1 (3/4 + 4/9 + 2/5) / 4. A fifth class that
 * never occurs and is never predicted is left out of the macro average. */
static const int32_t mc_true[] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3, 3};
static const int32_t mc_pred[] = {0, 0, 0, 1, 0, 1, 1, 2, 2, 2, 1, 2};

static void check_multiclass(int k)
{
    int64_t cm[25] = {0};
    cnnc_confusion_add(cm, k, mc_true, mc_pred, 12);
    const double p[] = {0.75, 0.5, 0.25, 0}, r[] = {0.75, 0.4, 1, 0},
                 f[] = {0.75, 4.0 / 9, 0.4, 0};
    const int64_t support[] = {4, 5, 1, 2};
    for (int c = 0; c < 4; c++) {
        CnncClassMetrics m = cnnc_class_metrics(cm, k, c);
        ck_assert_double_eq_tol(m.precision, p[c], EPS);
        ck_assert_double_eq_tol(m.recall, r[c], EPS);
        ck_assert_double_eq_tol(m.f1, f[c], EPS);
        ck_assert_int_eq(m.support, support[c]);
    }
    CnncMetrics m = cnnc_metrics(cm, k);
    ck_assert_double_eq_tol(m.accuracy, 0.5, EPS);
    ck_assert_double_eq_tol(m.macro_precision, 0.375, EPS);
    ck_assert_double_eq_tol(m.macro_recall, 0.5375, EPS);
    ck_assert_double_eq_tol(m.macro_f1, (0.75 + 4.0 / 9 + 0.4) / 4, EPS);
    ck_assert_int_eq(m.total, 12);
}

START_TEST(multiclass_macro)
{
    check_multiclass(4);
    check_multiclass(5);
}
END_TEST

START_TEST(confusion_from_scores)
{
    /* rows of scores whose argmax is mc_pred */
    float scores[12 * 4];
    for (int b = 0; b < 12; b++)
        for (int j = 0; j < 4; j++)
            scores[b * 4 + j] = j == mc_pred[b] ? 2.0f : (float)j * 0.1f;
    int64_t a[16] = {0}, b[16] = {0};
    cnnc_confusion_add(a, 4, mc_true, mc_pred, 12);
    cnnc_confusion_add_scores(b, 4, mc_true, scores, 12);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_int_eq(cnnc_count_correct(scores, mc_true, 12, 4), 6);
}
END_TEST

START_TEST(empty_matrix)
{
    int64_t cm[9] = {0};
    CnncMetrics m = cnnc_metrics(cm, 3);
    ck_assert_double_eq(m.accuracy, 0);
    ck_assert_double_eq(m.macro_f1, 0);
    ck_assert_int_eq(m.total, 0);
}
END_TEST

START_TEST(argmax_ties_and_nan)
{
    const float tie[] = {1, 3, 3, 2};
    ck_assert_int_eq(cnnc_argmax(tie, 4), 1);
    const float nan_first[] = {NAN, -1, 5, 4};
    ck_assert_int_eq(cnnc_argmax(nan_first, 4), 2);
    const float nan_mid[] = {1, NAN, 0};
    ck_assert_int_eq(cnnc_argmax(nan_mid, 3), 0);
    const float all_nan[] = {NAN, NAN};
    ck_assert_int_eq(cnnc_argmax(all_nan, 2), 0);
}
END_TEST

/* ---- loss ---- */

START_TEST(xent_hand)
{
    /* row 0: logits (1, 2, 3), label 2: loss = log(e + e^2 + e^3) - 3,
     * dz = softmax - onehot; row 1: (0, 0, 0), label 0: loss log 3. Each
     * gradient row is divided by n = 2. */
    const float z[] = {1, 2, 3, 0, 0, 0};
    const int32_t y[] = {2, 0};
    float dz[6];
    double l0 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3, l1 = log(3.0);
    ck_assert_double_eq_tol(cnnc_softmax_xent(z, y, 2, 3, dz), (l0 + l1) / 2, 1e-12);
    double s = exp(1.0) + exp(2.0) + exp(3.0);
    const double want[] = {exp(1.0) / s / 2, exp(2.0) / s / 2, (exp(3.0) / s - 1) / 2,
                           (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6};
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol(dz[i], want[i], 1e-7);
    ck_assert_double_eq_tol(cnnc_softmax_xent(z, y, 2, 3, NULL), (l0 + l1) / 2, 1e-12);
}
END_TEST

START_TEST(xent_stable)
{
    /* exp(1000) overflows; log-sum-exp does not: loss = 1000, dz = (1, -1). */
    const float z[] = {1000, 0};
    const int32_t y[] = {1};
    float dz[2];
    ck_assert_double_eq_tol(cnnc_softmax_xent(z, y, 1, 2, dz), 1000, 1e-9);
    ck_assert_float_eq_tol(dz[0], 1, 1e-7);
    ck_assert_float_eq_tol(dz[1], -1, 1e-7);
    const float neg[] = {-1000, -1001};
    const int32_t y0[] = {0};
    ck_assert_double_eq_tol(cnnc_softmax_xent(neg, y0, 1, 2, NULL), log(1 + exp(-1.0)), 1e-9);
}
END_TEST

START_TEST(xent_finite_differences)
{
    enum { N = 3, K = 5 };
    float z[N * K], dz[N * K], zz[N * K];
    const int32_t y[N] = {4, 0, 2};
    CnncRng r = cnnc_rng(7, 0);
    for (int i = 0; i < N * K; i++)
        z[i] = (float)((double)(cnnc_rng_next(&r) >> 11) / 9007199254740992.0 * 6 - 3);
    cnnc_softmax_xent(z, y, N, K, dz);
    for (int i = 0; i < N * K; i++) {
        memcpy(zz, z, sizeof z);
        zz[i] = z[i] + 1e-2f;
        double up = cnnc_softmax_xent(zz, y, N, K, NULL), h_up = (double)zz[i] - z[i];
        zz[i] = z[i] - 1e-2f;
        double down = cnnc_softmax_xent(zz, y, N, K, NULL), h_down = (double)z[i] - zz[i];
        double fd = (up - down) / (h_up + h_down);
        ck_assert_msg(fabs(fd - dz[i]) <= 1e-5, "logit %d: fd %g, analytic %g", i, fd, dz[i]);
    }
    /* dlogits may overwrite the logits themselves */
    memcpy(zz, z, sizeof z);
    cnnc_softmax_xent(zz, y, N, K, zz);
    ck_assert_mem_eq(zz, dz, sizeof dz);
}
END_TEST

START_TEST(xent_from_probs_matches)
{
    const float z[] = {0.5f, -1, 2, 3, 3, -2};
    const int32_t y[] = {0, 2};
    float p[6];
    for (int b = 0; b < 2; b++) {
        double s = 0;
        for (int j = 0; j < 3; j++)
            s += exp(z[b * 3 + j]);
        for (int j = 0; j < 3; j++)
            p[b * 3 + j] = (float)(exp(z[b * 3 + j]) / s);
    }
    ck_assert_double_eq_tol(cnnc_xent_from_probs(p, y, 2, 3), cnnc_softmax_xent(z, y, 2, 3, NULL),
                            1e-6);
    const float zero[] = {1, 0}; /* an underflowed probability: clamped, finite */
    const int32_t one[] = {1};
    ck_assert_double_eq_tol(cnnc_xent_from_probs(zero, one, 1, 2), -log(FLT_MIN), 1e-9);
}
END_TEST

/* ---- optimizers ---- */

START_TEST(sgd_momentum_hand)
{
    /* p = 1, grad 0.5 twice, lr 0.1, momentum 0.9, weight decay 0.1:
     * step 1: d = 0.5 + 0.1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94
     * step 2: d = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134,
     *         p = 0.94 - 0.1134 = 0.8266 */
    CnncOptim o = {CNNC_SGD, 0.1f, 0.9f, 0.1f, 0, 0, 0};
    float p = 1, g = 0.5f, buf = 12345; /* step 1 ignores the old buffer */
    cnnc_optim_step(&o, 1, &p, &g, &buf, NULL, 1);
    ck_assert_float_eq_tol(p, 0.94f, 1e-6);
    ck_assert_float_eq_tol(buf, 0.6f, 1e-6);
    cnnc_optim_step(&o, 2, &p, &g, &buf, NULL, 1);
    ck_assert_float_eq_tol(buf, 1.134f, 1e-6);
    ck_assert_float_eq_tol(p, 0.8266f, 1e-6);
}
END_TEST

START_TEST(sgd_plain_hand)
{
    /* no momentum, no state: p -= lr * grad, element by element */
    CnncOptim o = {CNNC_SGD, 0.5f, 0, 0, 0, 0, 0};
    float p[] = {1, -2, 3}, g[] = {0.5f, 1, -4};
    cnnc_optim_step(&o, 1, p, g, NULL, NULL, 3);
    cnnc_optim_step(&o, 2, p, g, NULL, NULL, 3);
    ck_assert_float_eq_tol(p[0], 0.5f, 1e-7);
    ck_assert_float_eq_tol(p[1], -3, 1e-7);
    ck_assert_float_eq_tol(p[2], 7, 1e-7);
}
END_TEST

START_TEST(adam_hand)
{
    /* p = 1, lr 0.1, betas (0.9, 0.999), eps 1e-8.
     * step 1, grad 0.5: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25,
     *   p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.9 (to 1e-8)
     * step 2, grad -0.5: m = 0.045 - 0.05 = -0.005,
     *   v = 0.00024975 + 0.00025 = 0.00049975; m^ = -0.005 / 0.19,
     *   v^ = 0.00049975 / 0.001999 = 0.25, p = 0.9 + 0.1 * (0.005/0.19) / 0.5 */
    CnncOptim o = {CNNC_ADAM, 0.1f, 0, 0, 0.9f, 0.999f, 1e-8f};
    float p = 1, g = 0.5f, m = 99, v = 99; /* step 1 starts the moments at 0 */
    cnnc_optim_step(&o, 1, &p, &g, &m, &v, 1);
    ck_assert_float_eq_tol(m, 0.05f, 1e-7);
    ck_assert_float_eq_tol(v, 0.00025f, 1e-8); /* 1 - 0.999f is 0.00099998713 */
    ck_assert_float_eq_tol(p, 0.9f, 1e-6);
    g = -0.5f;
    cnnc_optim_step(&o, 2, &p, &g, &m, &v, 1);
    ck_assert_float_eq_tol(m, -0.005f, 1e-7);
    ck_assert_float_eq_tol(v, 0.00049975f, 1e-8);
    ck_assert_float_eq_tol(p, 0.9 + 0.1 * (0.005 / 0.19) / 0.5, 1e-6);
}
END_TEST

START_TEST(adam_weight_decay_hand)
{
    /* weight decay enters the gradient: p = 2, grad 0, wd 0.5 -> d = 1;
     * the first Adam step is then lr * m^ / (sqrt(v^) + eps) = lr * 1 / 1. */
    CnncOptim o = {CNNC_ADAM, 0.01f, 0, 0.5f, 0.9f, 0.999f, 1e-8f};
    float p = 2, g = 0, m, v;
    cnnc_optim_step(&o, 1, &p, &g, &m, &v, 1);
    ck_assert_float_eq_tol(p, 1.99f, 1e-6);
}
END_TEST

/* ---- schedules ---- */

START_TEST(schedules_closed_form)
{
    CnncSchedule c = {CNNC_SCHED_CONSTANT, 0, 0, 0, 0};
    ck_assert_double_eq(cnnc_schedule_lr(&c, 0.1, 7), 0.1);
    CnncSchedule s = {CNNC_SCHED_STEP, 3, 0.5, 0, 0};
    const double step_want[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
    for (int e = 0; e < 7; e++)
        ck_assert_double_eq_tol(cnnc_schedule_lr(&s, 0.1, e), step_want[e], 1e-15);
    CnncSchedule cos10 = {CNNC_SCHED_COSINE, 0, 0, 10, 0};
    ck_assert_double_eq_tol(cnnc_schedule_lr(&cos10, 0.1, 0), 0.1, 1e-15);
    ck_assert_double_eq_tol(cnnc_schedule_lr(&cos10, 0.1, 5), 0.05, 1e-15);
    ck_assert_double_eq_tol(cnnc_schedule_lr(&cos10, 0.1, 10), 0, 1e-15);
    /* cos(pi/5) = (1 + sqrt 5) / 4 */
    ck_assert_double_eq_tol(cnnc_schedule_lr(&cos10, 0.1, 2), 0.1 * (1 + (1 + sqrt(5)) / 4) / 2,
                            1e-15);
    CnncSchedule floor1 = {CNNC_SCHED_COSINE, 0, 0, 4, 0.01};
    ck_assert_double_eq_tol(cnnc_schedule_lr(&floor1, 0.1, 2), 0.055, 1e-15);
    ck_assert_double_eq_tol(cnnc_schedule_lr(&floor1, 0.1, 4), 0.01, 1e-15);
}
END_TEST

/* ---- data order ---- */

static void assert_permutation(const int32_t *idx, int n)
{
    char seen[1000] = {0};
    ck_assert_int_le(n, 1000);
    for (int i = 0; i < n; i++) {
        ck_assert_int_ge(idx[i], 0);
        ck_assert_int_lt(idx[i], n);
        ck_assert_msg(!seen[idx[i]], "index %d appears twice", idx[i]);
        seen[idx[i]] = 1;
    }
}

START_TEST(shuffle_is_reproducible_permutation)
{
    int32_t a[500], b[500], c[500];
    cnnc_iota(a, 500);
    cnnc_iota(b, 500);
    cnnc_iota(c, 500);
    cnnc_shuffle_epoch(a, 500, 42, 3);
    cnnc_shuffle_epoch(b, 500, 42, 3);
    cnnc_shuffle_epoch(c, 500, 42, 4);
    assert_permutation(a, 500);
    assert_permutation(c, 500);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_int_ne(memcmp(a, c, sizeof a), 0);
    int fixed = 0;
    for (int i = 0; i < 500; i++)
        fixed += a[i] == i;
    ck_assert_int_lt(fixed, 10); /* expected 1 for a random permutation */
    int32_t one = 0;
    cnnc_shuffle_epoch(&one, 1, 1, 0);
    ck_assert_int_eq(one, 0);
}
END_TEST

START_TEST(shuffle_is_uniform)
{
    /* 60000 shuffles of 3 items: each of the 6 orders about 10000 times;
     * the bound is 6 standard deviations (sd ~ 91). */
    int count[6] = {0};
    CnncRng r = cnnc_rng(1, 99);
    for (int t = 0; t < 60000; t++) {
        int32_t x[3] = {0, 1, 2};
        cnnc_shuffle(x, 3, &r);
        count[x[0] * 2 + (x[1] > x[2])]++;
    }
    for (int i = 0; i < 6; i++)
        ck_assert_msg(abs(count[i] - 10000) < 550, "order %d drawn %d times", i, count[i]);
}
END_TEST

START_TEST(rng_below_bounds)
{
    CnncRng r = cnnc_rng(3, 0);
    for (int i = 0; i < 1000; i++) {
        ck_assert_uint_eq(cnnc_rng_below(&r, 1), 0);
        ck_assert_uint_lt(cnnc_rng_below(&r, 7), 7);
        ck_assert_uint_lt(cnnc_rng_below(&r, (1ull << 63) + 1), (1ull << 63) + 1);
    }
    CnncRng s = cnnc_rng(3, 0), t = cnnc_rng(3, 1);
    ck_assert_uint_ne(cnnc_rng_next(&s), cnnc_rng_next(&t)); /* streams differ */
}
END_TEST

START_TEST(validation_split)
{
    ck_assert_int_eq(cnnc_val_count(1797, 0.1), 180);
    ck_assert_int_eq(cnnc_val_count(10, 0.2), 2);
    ck_assert_int_eq(cnnc_val_count(10, 0.0), 0);
    ck_assert_int_eq(cnnc_val_count(10, 0.01), 1);  /* at least one */
    ck_assert_int_eq(cnnc_val_count(10, 0.99), 9);  /* training keeps one */
    ck_assert_int_eq(cnnc_val_count(1, 0.5), 0);
    int32_t a[10], b[10];
    ck_assert_int_eq(cnnc_val_split(a, 10, 0.2, 5), 8);
    ck_assert_int_eq(cnnc_val_split(b, 10, 0.2, 5), 8);
    assert_permutation(a, 10);
    ck_assert_mem_eq(a, b, sizeof a);
    /* the permutation does not depend on the fraction */
    ck_assert_int_eq(cnnc_val_split(b, 10, 0.5, 5), 5);
    ck_assert_mem_eq(a, b, sizeof a);
}
END_TEST

START_TEST(kfold_partitions)
{
    enum { N = 23 };
    int32_t order[N], train[N], val[N];
    int times_val[N] = {0};
    cnnc_kfold_order(order, N, 11);
    assert_permutation(order, N);
    const int want[] = {5, 5, 5, 4, 4}; /* 23 = 3 * 5 + 2 * 4, longer folds first */
    int pos = 0;
    for (int f = 0; f < 5; f++) {
        int nval = cnnc_kfold_split(order, N, 5, f, train, val);
        ck_assert_int_eq(nval, want[f]);
        ck_assert_mem_eq(val, order + pos, (size_t)nval * sizeof *val); /* contiguous */
        int32_t all[N];
        memcpy(all, train, (size_t)(N - nval) * sizeof *all);
        memcpy(all + N - nval, val, (size_t)nval * sizeof *all);
        assert_permutation(all, N); /* train and val are disjoint and cover all */
        for (int i = 0; i + 1 < N - nval; i++) { /* train keeps the order's order */
            int a = 0, b = 0;
            while (order[a] != train[i])
                a++;
            while (order[b] != train[i + 1])
                b++;
            ck_assert_int_lt(a, b);
        }
        for (int i = 0; i < nval; i++)
            times_val[val[i]]++;
        pos += nval;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(times_val[i], 1); /* every sample validates exactly once */
}
END_TEST

START_TEST(gather_batch)
{
    const float src[] = {0, 1, 10, 11, 20, 21, 30, 31};
    const int32_t labels[] = {5, 6, 7, 8}, idx[] = {3, 0, 2};
    float dst[6];
    int32_t y[3];
    cnnc_gather(dst, src, idx, 3, 2);
    cnnc_gather_labels(y, labels, idx, 3);
    const float want[] = {30, 31, 0, 1, 20, 21};
    const int32_t want_y[] = {8, 5, 7};
    ck_assert_mem_eq(dst, want, sizeof want);
    ck_assert_mem_eq(y, want_y, sizeof want_y);
}
END_TEST

START_TEST(nonfinite)
{
    const float ok[] = {0, -1e30f, 3};
    ck_assert_int_eq(cnnc_find_nonfinite(ok, 3), -1);
    const float bad[] = {0, 1, NAN, INFINITY};
    ck_assert_int_eq(cnnc_find_nonfinite(bad, 4), 2);
    const float inf[] = {0, -INFINITY};
    ck_assert_int_eq(cnnc_find_nonfinite(inf, 2), 1);
    ck_assert_int_eq(cnnc_find_nonfinite(NULL, 0), -1);
}
END_TEST

/* ---- report ---- */

START_TEST(epoch_line)
{
    char line[160];
    CnncEpochLog e = {3, 10, 0.43214, 0.88119, 1, 0.90111, 1234.4};
    cnnc_format_epoch(line, sizeof line, &e);
    ck_assert_str_eq(line,
                     "epoch 3/10  loss 0.4321  train_acc 0.8812  val_acc 0.9011  1234 samples/s");
    e.has_val = 0;
    cnnc_format_epoch(line, sizeof line, &e);
    ck_assert_str_eq(line, "epoch 3/10  loss 0.4321  train_acc 0.8812  1234 samples/s");
}
END_TEST

/* Everything written to a temporary file, read back. */
static void read_back(FILE *f, char *out, size_t size)
{
    rewind(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

START_TEST(metrics_table)
{
    int64_t cm[4];
    patients(cm);
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    const char *names[] = {"healthy", "sick"};
    cnnc_print_metrics(f, cm, 2, names);
    char text[1024];
    read_back(f, text, sizeof text);
    ck_assert_str_eq(text, "class     precision  recall      f1   support\n"
                           "healthy      0.9000  1.0000  0.9474        90\n"
                           "sick         0.0000  0.0000  0.0000        10\n"
                           "macro        0.4500  0.5000  0.4737       100\n"
                           "accuracy     0.9000\n");
    f = tmpfile();
    cnnc_print_confusion(f, cm, 2);
    read_back(f, text, sizeof text);
    ck_assert_str_eq(text, "true\\pred      0      1\n"
                           "        0     90      0\n"
                           "        1     10      0\n");
}
END_TEST

START_TEST(progress_only_on_terminal)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    CnncProgress p;
    cnnc_progress_begin(&p, f, -1, 100); /* not a terminal: silent */
    ck_assert_int_eq(p.enabled, 0);
    cnnc_progress_update(&p, 50, 1.0);
    cnnc_progress_end(&p);
    ck_assert_int_eq(ftell(f), 0);
    p.enabled = 1; /* as on a terminal */
    for (int i = 1; i <= 60; i++)
        cnnc_progress_update(&p, i, 0.5);
    char text[4096];
    read_back(f, text, sizeof text);
    int redraws = 0;
    for (char *s = text; (s = strchr(s, '\r')); s++)
        redraws++;
    ck_assert_int_eq(redraws, 19); /* 60 of 100: the first, then one per new cell (18) */
    ck_assert_ptr_nonnull(strstr(text, "\r[==================>           ] 60/100  loss 0.5000"));
}
END_TEST

static Suite *train_suite(void)
{
    Suite *s = suite_create("runtime_train");
    TCase *m = tcase_create("metrics");
    tcase_add_test(m, course_patients);
    tcase_add_test(m, multiclass_macro);
    tcase_add_test(m, confusion_from_scores);
    tcase_add_test(m, empty_matrix);
    tcase_add_test(m, argmax_ties_and_nan);
    suite_add_tcase(s, m);
    TCase *l = tcase_create("loss");
    tcase_add_test(l, xent_hand);
    tcase_add_test(l, xent_stable);
    tcase_add_test(l, xent_finite_differences);
    tcase_add_test(l, xent_from_probs_matches);
    suite_add_tcase(s, l);
    TCase *o = tcase_create("optim");
    tcase_add_test(o, sgd_momentum_hand);
    tcase_add_test(o, sgd_plain_hand);
    tcase_add_test(o, adam_hand);
    tcase_add_test(o, adam_weight_decay_hand);
    tcase_add_test(o, schedules_closed_form);
    suite_add_tcase(s, o);
    TCase *d = tcase_create("data");
    tcase_add_test(d, shuffle_is_reproducible_permutation);
    tcase_add_test(d, shuffle_is_uniform);
    tcase_add_test(d, rng_below_bounds);
    tcase_add_test(d, validation_split);
    tcase_add_test(d, kfold_partitions);
    tcase_add_test(d, gather_batch);
    tcase_add_test(d, nonfinite);
    suite_add_tcase(s, d);
    TCase *r = tcase_create("report");
    tcase_add_test(r, epoch_line);
    tcase_add_test(r, metrics_table);
    tcase_add_test(r, progress_only_on_terminal);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return run_suite(train_suite());
}
