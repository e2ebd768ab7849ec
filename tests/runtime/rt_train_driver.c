/* rt_train_driver.c: runtime/train.c on files and arguments, so that
 * check_torch.py can compare it with PyTorch, sklearn and a Python copy of
 * the data-order generator. Numbers that are not tensors are printed one
 * per line with 17 significant digits.
 *
 *   rt_train_driver xent LOGITS.npy LABELS.npy OUTDIR   -> OUTDIR/loss.npy, dlogits.npy
 *   rt_train_driver optim DIR sgd|adam LR MOMENTUM WD BETA1 BETA2 EPS STEPS
 *       (tests/grad/optim_driver's interface: DIR/p.npy, g0.npy.. -> out.npy)
 *   rt_train_driver sched constant|step|cosine BASE EPOCHS STEP_SIZE GAMMA
 *       -> the lr of epochs 0..EPOCHS (cosine: t_max = EPOCHS)
 *   rt_train_driver metrics LABELS.npy PRED.npy K
 *       -> accuracy, then per class precision recall f1, then the macros
 *   rt_train_driver shuffle SEED EPOCH N | split N F SEED | kfold N K SEED */
#include "npy.h"
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *msg)
{
    fprintf(stderr, "%s: error: %s\n", what, msg);
    return 1;
}

static int read_f32(const char *path, CnncNpy *a)
{
    char err[CNNC_NPY_ERR_SIZE];
    if (cnnc_npy_read_f32(path, a, err, sizeof err) == 0)
        return 0;
    return fail(path, err);
}

/* Labels in [0, k) into a malloc'd array. */
static int32_t *read_labels(const char *path, int64_t k, int64_t *n)
{
    char err[CNNC_NPY_ERR_SIZE];
    CnncNpy a;
    if (cnnc_npy_read(path, &a, err, sizeof err) != 0) {
        fail(path, err);
        return NULL;
    }
    int32_t *y = malloc((size_t)a.count * sizeof *y + 1);
    if (y && cnnc_npy_labels(&a, y, k, err, sizeof err) != 0) {
        fail(path, err);
        free(y);
        y = NULL;
    }
    *n = a.count;
    cnnc_npy_free(&a);
    return y;
}

static int write_f32(const char *dir, const char *name, const float *x, int rank,
                     const int64_t *shape)
{
    char path[4096], err[CNNC_NPY_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cnnc_npy_write_f32(path, x, rank, shape, err, sizeof err) == 0)
        return 0;
    return fail(path, err);
}

static int run_xent(char **argv)
{
    CnncNpy z;
    if (read_f32(argv[2], &z))
        return 1;
    if (z.rank != 2) {
        cnnc_npy_free(&z);
        return fail(argv[2], "logits must be (N, K)");
    }
    int64_t n;
    int32_t *y = read_labels(argv[3], z.shape[1], &n);
    int rc = 1;
    float *dz = malloc((size_t)z.count * sizeof *dz);
    if (y && dz && n == z.shape[0]) {
        float loss = (float)cnnc_softmax_xent(z.data, y, (int)n, (int)z.shape[1], dz);
        rc = write_f32(argv[4], "loss.npy", &loss, 0, NULL) ||
             write_f32(argv[4], "dlogits.npy", dz, 2, z.shape);
    }
    free(dz);
    free(y);
    cnnc_npy_free(&z);
    return rc;
}

static int run_optim(char **argv)
{
    const char *dir = argv[2];
    CnncOptim o = {strcmp(argv[3], "adam") == 0 ? CNNC_ADAM : CNNC_SGD,
                   strtof(argv[4], NULL), strtof(argv[5], NULL), strtof(argv[6], NULL),
                   strtof(argv[7], NULL), strtof(argv[8], NULL), strtof(argv[9], NULL)};
    int steps = atoi(argv[10]);
    char path[4096];
    CnncNpy p;
    snprintf(path, sizeof path, "%s/p.npy", dir);
    if (read_f32(path, &p))
        return 1;
    float *m = malloc((size_t)p.count * sizeof *m + 1), *v = malloc((size_t)p.count * sizeof *v + 1);
    int rc = !m || !v;
    for (int i = 0; i < steps && !rc; i++) {
        CnncNpy g;
        snprintf(path, sizeof path, "%s/g%d.npy", dir, i);
        if (read_f32(path, &g))
            rc = 1;
        else if (g.count != p.count)
            rc = fail(path, "gradient and parameter sizes differ");
        else
            cnnc_optim_step(&o, i + 1, p.data, g.data, m, v, (size_t)p.count);
        cnnc_npy_free(&g);
    }
    if (!rc)
        rc = write_f32(dir, "out.npy", p.data, p.rank, p.shape);
    free(m);
    free(v);
    cnnc_npy_free(&p);
    return rc;
}

static int run_sched(char **argv)
{
    int epochs = atoi(argv[4]);
    CnncSchedule s = {CNNC_SCHED_CONSTANT, atoi(argv[5]), strtod(argv[6], NULL), epochs, 0};
    if (strcmp(argv[2], "step") == 0)
        s.kind = CNNC_SCHED_STEP;
    else if (strcmp(argv[2], "cosine") == 0)
        s.kind = CNNC_SCHED_COSINE;
    for (int e = 0; e <= epochs; e++)
        printf("%.17g\n", cnnc_schedule_lr(&s, strtod(argv[3], NULL), e));
    return 0;
}

static int run_metrics(char **argv)
{
    int k = atoi(argv[4]);
    int64_t n, np;
    int32_t *y = read_labels(argv[2], k, &n), *pred = read_labels(argv[3], k, &np);
    int64_t *cm = calloc((size_t)k * (size_t)k, sizeof *cm);
    int rc = 1;
    if (y && pred && cm && n == np) {
        cnnc_confusion_add(cm, k, y, pred, (int)n);
        CnncMetrics all = cnnc_metrics(cm, k);
        printf("%.17g\n", all.accuracy);
        for (int c = 0; c < k; c++) {
            CnncClassMetrics m = cnnc_class_metrics(cm, k, c);
            printf("%.17g %.17g %.17g\n", m.precision, m.recall, m.f1);
        }
        printf("%.17g %.17g %.17g\n", all.macro_precision, all.macro_recall, all.macro_f1);
        rc = 0;
    }
    free(cm);
    free(y);
    free(pred);
    return rc;
}

static void print_ints(const int32_t *x, int n)
{
    for (int i = 0; i < n; i++)
        printf("%d%c", x[i], i + 1 < n ? ' ' : '\n');
    if (n == 0)
        printf("\n");
}

static int run_order(char **argv)
{
    const char *what = argv[1];
    int n = atoi(argv[strcmp(what, "shuffle") == 0 ? 4 : 2]);
    int32_t *a = malloc((size_t)n * sizeof *a + 1), *b = malloc((size_t)n * sizeof *b + 1),
            *c = malloc((size_t)n * sizeof *c + 1);
    int rc = !a || !b || !c;
    if (!rc && strcmp(what, "shuffle") == 0) {
        cnnc_iota(a, n);
        cnnc_shuffle_epoch(a, n, strtoull(argv[2], NULL, 10), atoi(argv[3]));
        print_ints(a, n);
    } else if (!rc && strcmp(what, "split") == 0) {
        int ntrain = cnnc_val_split(a, n, strtod(argv[3], NULL), strtoull(argv[4], NULL, 10));
        print_ints(a, ntrain);
        print_ints(a + ntrain, n - ntrain);
    } else if (!rc) {
        int k = atoi(argv[3]);
        cnnc_kfold_order(a, n, strtoull(argv[4], NULL, 10));
        for (int f = 0; f < k; f++) {
            int nval = cnnc_kfold_split(a, n, k, f, b, c);
            print_ints(b, n - nval);
            print_ints(c, nval);
        }
    }
    free(a);
    free(b);
    free(c);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int argc;
        int (*run)(char **argv);
    } commands[] = {{"xent", 5, run_xent},       {"optim", 11, run_optim},
                    {"sched", 7, run_sched},     {"metrics", 5, run_metrics},
                    {"shuffle", 5, run_order},   {"split", 5, run_order},
                    {"kfold", 5, run_order}};
    for (size_t i = 0; argc > 1 && i < sizeof commands / sizeof *commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (argc != commands[i].argc)
                return fail(argv[0], "wrong number of arguments (see the file's comment)");
            return commands[i].run(argv);
        }
    return fail(argc > 0 ? argv[0] : "rt_train_driver",
                "usage: xent|optim|sched|metrics|shuffle|split|kfold ...");
}
