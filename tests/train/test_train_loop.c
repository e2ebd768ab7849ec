/* test_train_loop.c: the `train` loop of runtime/train_loop.c against a
 * fake model: softmax regression on three 2-D blobs, its gradient written
 * out by hand, so every property of the loop (options, split, k-fold,
 * best epoch, NaN stop, save/resume, determinism) is checked without a
 * generated network. The oracle is arithmetic the test does itself. */
#include "npy.h"
#include "train_loop.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define D 2
#define K 3
#define N 300
#define BMAX 16

typedef struct {
    float w[K * D], b[K];
    float mw[K * D], mb[K];  /* SGD momentum buffers */
    int64_t steps;
    int64_t sabotage_after;  /* > 0: later steps flip the weights' sign */
    int restarts;
} Fake;

static const int64_t in_shape[1] = {D};
static const int64_t w_shape[2] = {K, D};
static const int64_t b_shape[1] = {K};
static const CnncTensorDesc tensors[2] = {
    {"fc.weight", 2, w_shape, K * D},
    {"fc.bias", 1, b_shape, K},
};

static float *fake_tensor(void *ctx, int i)
{
    Fake *f = ctx;
    return i == 0 ? f->w : f->b;
}

static void fake_logits(const Fake *f, const float *x, int n, float *z)
{
    for (int s = 0; s < n; s++)
        for (int c = 0; c < K; c++) {
            float v = f->b[c];
            for (int j = 0; j < D; j++)
                v += f->w[c * D + j] * x[s * D + j];
            z[s * K + c] = v;
        }
}

static void fake_eval(void *ctx, const float *x, int n, float *scores)
{
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, BMAX);
    fake_logits(ctx, x, n, scores);
}

static int fake_step(void *ctx, const float *x, const int32_t *y, int n, double lr, float *logits,
                     double *loss)
{
    Fake *f = ctx;
    float dz[BMAX * K], gw[K * D] = {0}, gb[K] = {0};
    CnncOptim o = {CNNC_SGD, (float)lr, 0.9f, 0, 0, 0, 0};
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, BMAX);
    fake_logits(f, x, n, logits);
    *loss = cnnc_softmax_xent(logits, y, n, K, dz);
    for (int s = 0; s < n; s++)
        for (int c = 0; c < K; c++) {
            gb[c] += dz[s * K + c];
            for (int j = 0; j < D; j++)
                gw[c * D + j] += dz[s * K + c] * x[s * D + j];
        }
    if (cnnc_find_nonfinite(gw, K * D) >= 0 || cnnc_find_nonfinite(gb, K) >= 0)
        return -1;
    f->steps++;
    cnnc_optim_step(&o, f->steps, f->w, gw, f->mw, NULL, K * D);
    cnnc_optim_step(&o, f->steps, f->b, gb, f->mb, NULL, K);
    if (f->sabotage_after > 0 && f->steps > f->sabotage_after) {
        /* a model gone bad: it predicts class 0 for everything */
        memset(f->w, 0, sizeof f->w);
        memset(f->b, 0, sizeof f->b);
        f->b[0] = 1;
    }
    return 0;
}

static void fake_restart(void *ctx)
{
    Fake *f = ctx;
    memset(f, 0, offsetof(Fake, steps)); /* weights too, as P_train_init does */
    f->steps = 0;
    f->restarts++;
}

static Fake fake;

/* The feature cache's fake frozen part: the identity, counting the
 * samples it ran on (each should run once in a cached run). */
static int64_t feature_samples;

static void fake_features(void *ctx, const float *x, int n, float *f)
{
    (void)ctx;
    ck_assert_int_ge(n, 1);
    ck_assert_int_le(n, BMAX);
    memcpy(f, x, (size_t)n * D * sizeof *f);
    feature_samples += n;
}

static CnncTrainModel model;
static float xs[N * D];
static int32_t ys[N];

/* Three blobs around (2, 0), (-1, 1.7), (-1, -1.7), spread ~0.5. */
static void setup(void)
{
    static const float cx[K] = {2, -1, -1}, cy[K] = {0, 1.7f, -1.7f};
    CnncRng r = cnnc_rng(7, 0);
    memset(&fake, 0, sizeof fake);
    for (int i = 0; i < N; i++) {
        float nx = 0, ny = 0;
        for (int t = 0; t < 4; t++) { /* sum of uniforms: roughly normal */
            nx += (float)(cnnc_rng_below(&r, 1000) / 1000.0 - 0.5);
            ny += (float)(cnnc_rng_below(&r, 1000) / 1000.0 - 0.5);
        }
        ys[i] = i % K;
        xs[i * D] = cx[ys[i]] + nx * 0.9f;
        xs[i * D + 1] = cy[ys[i]] + ny * 0.9f;
    }
    model = (CnncTrainModel){.ctx = &fake, .input_rank = 1, .input_shape = in_shape,
                             .input_size = D, .classes = K, .batch_max = BMAX,
                             .ntensors = 2, .tensors = tensors, .tensor = fake_tensor,
                             .step = fake_step, .eval = fake_eval, .restart = fake_restart};
}

/* The fake model with its feature cache. */
static void with_cache(void)
{
    model.feature_size = D;
    model.features = fake_features;
    model.step_features = fake_step;
    model.eval_features = fake_eval;
}

static CnncTrainOptions defaults(void)
{
    CnncTrainOptions o = {0};
    o.epochs = 8;
    o.batch = 10;
    o.lr = 0.05;
    o.seed = 3;
    o.val_split = 0.2;
    o.sched.kind = CNNC_SCHED_CONSTANT;
    o.sched.step_size = 3;
    o.sched.gamma = 0.1;
    return o;
}

/* Runs the parser on a space-separated command line; err's text in msg. */
static int parse(CnncTrainOptions *o, const char *line, char *msg, size_t size)
{
    static char buf[512]; /* the options point into it */
    char *argv[32];
    int argc = 0;
    FILE *err = tmpfile();
    snprintf(buf, sizeof buf, "%s", line);
    for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " "))
        argv[argc++] = t;
    int rc = cnnc_train_parse(o, &model, "prog", argc, argv, err);
    rewind(err);
    size_t got = fread(msg, 1, size - 1, err);
    msg[got] = 0;
    fclose(err);
    return rc;
}

START_TEST(parse_defaults_and_overrides)
{
    CnncTrainOptions o = defaults();
    char msg[512];
    ck_assert_int_eq(parse(&o, "", msg, sizeof msg), 0);
    ck_assert_int_eq(o.epochs, 8);
    ck_assert_int_eq(o.batch, 10);
    ck_assert_int_eq(o.sched.t_max, 8);
    ck_assert_int_eq(parse(&o, "--epochs 5 --batch 16 --lr 0.5 --seed 18446744073709551615 "
                               "--schedule step --step-size 2 --gamma 0.5 --save d --resume r",
                           msg, sizeof msg),
                     0);
    ck_assert_int_eq(o.epochs, 5);
    ck_assert_int_eq(o.batch, 16);
    ck_assert(o.lr == 0.5);
    ck_assert(o.seed == UINT64_MAX);
    ck_assert_int_eq(o.sched.kind, CNNC_SCHED_STEP);
    ck_assert_int_eq(o.sched.step_size, 2);
    ck_assert(o.sched.gamma == 0.5);
    ck_assert_int_eq(o.sched.t_max, 5);
    ck_assert_str_eq(o.save_dir, "d");
    ck_assert_str_eq(o.resume_dir, "r");
    ck_assert_int_eq(parse(&o, "--kfold 4 --schedule cosine", msg, sizeof msg), 0);
    ck_assert_int_eq(o.kfold, 4);
    ck_assert_int_eq(o.sched.kind, CNNC_SCHED_COSINE);
}
END_TEST

START_TEST(parse_errors)
{
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"--batch 17", "prog: error: --batch 17 exceeds the compiled batch limit BATCH_MAX 16"},
        {"--batch 0", "prog: error: --batch 0: expected a batch size >= 1"},
        {"--epochs x", "prog: error: --epochs x: expected a whole number"},
        {"--epochs", "prog: error: --epochs needs a value"},
        {"--lr -1", "prog: error: --lr -1: expected a learning rate > 0"},
        {"--lr nan", "prog: error: --lr nan: expected a learning rate > 0"},
        {"--val-split 1", "prog: error: --val-split 1: expected a fraction in [0, 1)"},
        {"--kfold 1", "prog: error: --kfold 1: expected a number of folds >= 2"},
        {"--val-split 0.1 --kfold 3", "prog: error: --val-split and --kfold exclude each other"},
        {"--seed -3", "prog: error: --seed -3: expected an unsigned 64-bit integer"},
        {"--schedule linear", "prog: error: --schedule linear: expected const, step or cosine"},
        {"--gamma 0.5", "prog: error: --step-size and --gamma need --schedule step"},
        {"--frobnicate 1", "prog: error: unknown option '--frobnicate'"},
        {"extra", "prog: error: unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CnncTrainOptions o = defaults();
        char msg[512];
        ck_assert_int_eq(parse(&o, cases[i].line, msg, sizeof msg), -1);
        ck_assert_msg(strncmp(msg, cases[i].want, strlen(cases[i].want)) == 0, "%s: got '%s'",
                      cases[i].line, msg);
    }
}
END_TEST

/* Runs the loop; the printed log in log (if not NULL). */
static int run(const CnncTrainOptions *o, CnncTrainResult *res, char *log, size_t size,
               char *errtext, size_t errsize)
{
    FILE *out = tmpfile(), *err = tmpfile();
    int rc = cnnc_train_run(&model, o, xs, ys, N, "prog", out, err, res);
    size_t got;
    rewind(out);
    rewind(err);
    if (log) {
        got = fread(log, 1, size - 1, out);
        log[got] = 0;
    }
    if (errtext) {
        got = fread(errtext, 1, errsize - 1, err);
        errtext[got] = 0;
    }
    fclose(out);
    fclose(err);
    return rc;
}

/* The accuracy of the fake's current weights on samples idx[0..n). */
static double accuracy_on(const int32_t *idx, int n)
{
    int correct = 0;
    for (int i = 0; i < n; i++) {
        float z[K];
        fake_logits(&fake, xs + idx[i] * D, 1, z);
        correct += cnnc_argmax(z, K) == ys[idx[i]];
    }
    return (double)correct / n;
}

START_TEST(holdout_learns_and_reports)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    static char log[16384];
    int32_t idx[N];
    ck_assert_int_eq(run(&o, &res, log, sizeof log, NULL, 0), 0);
    ck_assert_int_eq(res.has_val, 1);
    ck_assert_double_ge(res.accuracy, 0.95);
    /* The split is the runtime's: 240 train, 60 validation; the model ends
     * with weights whose accuracy on those 60 is the reported one. */
    ck_assert_int_eq(cnnc_val_split(idx, N, 0.2, o.seed), 240);
    ck_assert_double_eq_tol(accuracy_on(idx + 240, 60), res.accuracy, 1e-12);
    /* Every epoch's step count: ceil(240 / 10) = 24 batches. */
    ck_assert_int_eq(fake.steps, 8 * 24);
    ck_assert_ptr_nonnull(strstr(log, "training on 240 samples, validating on 60"));
    ck_assert_ptr_nonnull(strstr(log, "epoch 1/8  loss "));
    ck_assert_ptr_nonnull(strstr(log, "epoch 8/8  loss "));
    ck_assert_ptr_nonnull(strstr(log, "val_acc "));
    ck_assert_ptr_nonnull(strstr(log, "best epoch "));
    ck_assert_ptr_nonnull(strstr(log, "confusion matrix on the validation samples"));
    ck_assert_ptr_nonnull(strstr(log, "macro"));
}
END_TEST

START_TEST(best_epoch_is_kept)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    static char log[16384];
    int32_t idx[N];
    fake.sabotage_after = 2 * 24; /* epochs 3.. destroy the weights */
    ck_assert_int_eq(run(&o, &res, log, sizeof log, NULL, 0), 0);
    ck_assert_double_ge(res.accuracy, 0.9);
    ck_assert_ptr_nonnull(strstr(log, "epoch 8/8"));
    ck_assert(strstr(log, "best epoch 1:") || strstr(log, "best epoch 2:"));
    cnnc_val_split(idx, N, 0.2, o.seed);
    ck_assert_double_eq_tol(accuracy_on(idx + 240, 60), res.accuracy, 1e-12);
}
END_TEST

START_TEST(no_validation_trains_on_everything)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    int32_t idx[N];
    o.val_split = 0;
    ck_assert_int_eq(run(&o, &res, NULL, 0, NULL, 0), 0);
    ck_assert_int_eq(res.has_val, 0);
    ck_assert_int_eq(fake.steps, 8 * 30);
    cnnc_iota(idx, N);
    ck_assert_double_eq_tol(accuracy_on(idx, N), res.accuracy, 1e-12);
}
END_TEST

START_TEST(nan_stops_with_epoch_and_batch)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    char err[1024];
    o.lr = 1e38; /* weights overflow to inf, then logits inf - inf */
    ck_assert_int_eq(run(&o, &res, NULL, 0, err, sizeof err), 1);
    ck_assert_msg(strncmp(err, "prog: error: epoch ", 19) == 0, "%s", err);
    ck_assert_ptr_nonnull(strstr(err, ", batch "));
    ck_assert_ptr_nonnull(strstr(err, "not finite"));
    ck_assert_ptr_nonnull(strstr(err, "--lr"));
}
END_TEST

START_TEST(kfold_reports_the_mean)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    static char log[65536];
    double sum = 0;
    int folds = 0;
    o.kfold = 3;
    ck_assert_int_eq(run(&o, &res, log, sizeof log, NULL, 0), 0);
    ck_assert_int_eq(fake.restarts, 3);
    ck_assert_int_eq(fake.steps, 8 * 20); /* the last fold's: 200 / 10 batches, restarted */
    for (const char *p = strstr(log, "best epoch"); p; p = strstr(p + 1, "best epoch")) {
        double acc;
        int e;
        ck_assert_int_eq(sscanf(p, "best epoch %d, val_acc %lf", &e, &acc), 2);
        sum += acc;
        folds++;
    }
    ck_assert_int_eq(folds, 3);
    ck_assert_ptr_nonnull(strstr(log, "fold 3/3: training on 200 samples, validating on 100"));
    ck_assert_double_eq_tol(res.accuracy, sum / 3, 1e-4); /* printed with 4 decimals */
    ck_assert_double_ge(res.accuracy, 0.95);
    ck_assert_ptr_nonnull(strstr(log, "held-out samples of every fold"));
}
END_TEST

START_TEST(kfold_larger_than_data)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    char err[512];
    o.kfold = N + 1;
    ck_assert_int_eq(run(&o, &res, NULL, 0, err, sizeof err), 1);
    ck_assert_ptr_nonnull(strstr(err, "prog: error: --kfold 301 needs at least 301 samples"));
}
END_TEST

START_TEST(same_seed_same_weights)
{
    CnncTrainOptions o = defaults();
    CnncTrainResult res;
    float w1[K * D], b1[K];
    ck_assert_int_eq(run(&o, &res, NULL, 0, NULL, 0), 0);
    memcpy(w1, fake.w, sizeof w1);
    memcpy(b1, fake.b, sizeof b1);
    memset(&fake, 0, sizeof fake);
    ck_assert_int_eq(run(&o, &res, NULL, 0, NULL, 0), 0);
    ck_assert_mem_eq(w1, fake.w, sizeof w1);
    ck_assert_mem_eq(b1, fake.b, sizeof b1);
    memset(&fake, 0, sizeof fake);
    o.seed = 4; /* another seed: another order, other weights */
    ck_assert_int_eq(run(&o, &res, NULL, 0, NULL, 0), 0);
    ck_assert(memcmp(w1, fake.w, sizeof w1) != 0);
}
END_TEST

START_TEST(parse_cache_features)
{
    CnncTrainOptions o = defaults();
    char msg[512];
    model.no_cache = "batchnorm 'bn' is in the frozen part";
    ck_assert_int_eq(parse(&o, "--cache-features 1M", msg, sizeof msg), -1);
    ck_assert_str_eq(msg, "prog: error: --cache-features: batchnorm 'bn' is in the frozen part\n");
    with_cache();
    ck_assert_int_eq(parse(&o, "--cache-features 3k", msg, sizeof msg), 0);
    ck_assert_uint_eq(o.cache_bytes, 3072);
    ck_assert_int_eq(parse(&o, "--cache-features 5000", msg, sizeof msg), 0);
    ck_assert_uint_eq(o.cache_bytes, 5000);
    ck_assert_int_eq(parse(&o, "--cache-features 2G", msg, sizeof msg), 0);
    ck_assert_uint_eq(o.cache_bytes, (uint64_t)2 << 30);
    ck_assert_int_eq(parse(&o, "--cache-features 1T", msg, sizeof msg), -1);
    ck_assert_ptr_nonnull(strstr(msg, "--cache-features 1T: expected a number of bytes >= 1"));
}
END_TEST

/* With the cache, the same weights as without it, each sample through the
 * frozen part once (hold-out; k-fold, whose validation samples train in
 * the next fold; no validation, which keeps the last epoch's weights
 * rather than the best's), and a budget a byte short refused with both
 * numbers. */
START_TEST(feature_cache_is_the_same_training)
{
    for (int split = 0; split < 3; split++) {
        CnncTrainOptions o = defaults();
        CnncTrainResult plain, cached;
        char log[16384], err[512];
        float w[K * D], b[K];
        o.kfold = split == 1 ? 3 : 0;
        o.val_split = split == 2 ? 0 : o.val_split;
        setup();
        ck_assert_int_eq(run(&o, &plain, NULL, 0, NULL, 0), 0);
        memcpy(w, fake.w, sizeof w);
        memcpy(b, fake.b, sizeof b);
        setup();
        with_cache();
        o.cache_bytes = N * D * sizeof(float);
        feature_samples = 0;
        ck_assert_int_eq(run(&o, &cached, log, sizeof log, NULL, 0), 0);
        ck_assert_mem_eq(w, fake.w, sizeof w);
        ck_assert_mem_eq(b, fake.b, sizeof b);
        ck_assert(plain.accuracy == cached.accuracy);
        ck_assert_int_eq(feature_samples, N);
        ck_assert_ptr_nonnull(strstr(log, "feature cache: 300 samples x 2 floats = 2400 bytes "
                                          "(budget 2400); an epoch computing the features took"));
        o.cache_bytes--;
        ck_assert_int_eq(run(&o, &cached, NULL, 0, err, sizeof err), 1);
        ck_assert_str_eq(err, "prog: error: --cache-features 2399: the features of 300 samples "
                              "need 2400 bytes (2 floats each), more than the budget\n");
    }
}
END_TEST

START_TEST(save_and_load_round_trip)
{
    char dir[] = "/tmp/cnnc_train_loopXXXXXX", path[256], msg[CNNC_NPY_ERR_SIZE];
    float w[K * D], b[K];
    FILE *err = tmpfile();
    CnncNpy a;
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (int i = 0; i < K * D; i++)
        fake.w[i] = (float)i / 7;
    for (int i = 0; i < K; i++)
        fake.b[i] = -(float)i;
    memcpy(w, fake.w, sizeof w);
    memcpy(b, fake.b, sizeof b);
    ck_assert_int_eq(cnnc_train_save(&model, dir, err), 0);
    /* The files are the contract's: DIR/<name>.npy in PyTorch's shape. */
    snprintf(path, sizeof path, "%s/fc.weight.npy", dir);
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, msg, sizeof msg), 0);
    ck_assert_int_eq(a.rank, 2);
    ck_assert_int_eq(a.shape[0], K);
    ck_assert_int_eq(a.shape[1], D);
    ck_assert_mem_eq(a.data, w, sizeof w);
    cnnc_npy_free(&a);
    memset(&fake, 0, sizeof fake);
    ck_assert_int_eq(cnnc_train_load(&model, dir, err), 0);
    ck_assert_mem_eq(fake.w, w, sizeof w);
    ck_assert_mem_eq(fake.b, b, sizeof b);
    /* A wrongly shaped file: an error naming it, and nothing changes. */
    snprintf(path, sizeof path, "%s/fc.bias.npy", dir);
    ck_assert_int_eq(cnnc_npy_write_f32(path, b, 2, (const int64_t[]){1, K}, msg, sizeof msg), 0);
    memset(&fake, 0, sizeof fake);
    ck_assert_int_eq(cnnc_train_load(&model, dir, err), -1);
    ck_assert_float_eq(fake.w[1], 0);
    rewind(err);
    ck_assert_ptr_nonnull(fgets(msg, sizeof msg, err));
    ck_assert_msg(strstr(msg, "fc.bias.npy: error: shape (1, 3); the model's fc.bias has shape (3,)"),
                  "%s", msg);
    fclose(err);
    unlink(path);
    snprintf(path, sizeof path, "%s/fc.weight.npy", dir);
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_loop");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parse_defaults_and_overrides);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, holdout_learns_and_reports);
    tcase_add_test(tc, best_epoch_is_kept);
    tcase_add_test(tc, no_validation_trains_on_everything);
    tcase_add_test(tc, nan_stops_with_epoch_and_batch);
    tcase_add_test(tc, kfold_reports_the_mean);
    tcase_add_test(tc, kfold_larger_than_data);
    tcase_add_test(tc, same_seed_same_weights);
    tcase_add_test(tc, save_and_load_round_trip);
    tcase_add_test(tc, parse_cache_features);
    tcase_add_test(tc, feature_cache_is_the_same_training);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
