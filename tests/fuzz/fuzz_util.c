/* fuzz_util.c: the harnesses' shared parts (fuzz.h): a private folder for
 * the files an input stands for, cutting an input into files, and the
 * model pipeline the DSL and ONNX harnesses both drive. */
#define _GNU_SOURCE /* nftw's FTW_DEPTH and FTW_PHYS */
#include "fuzz.h"

#include "cnnc.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t fuzz_split(const uint8_t *data, size_t size, FuzzChunk *chunks, size_t max)
{
    const size_t seplen = sizeof FUZZ_SEP - 1;
    size_t n = 0, start = 0;
    for (size_t i = 0; n + 1 < max && i + seplen <= size; i++)
        if (memcmp(data + i, FUZZ_SEP, seplen) == 0) {
            chunks[n++] = (FuzzChunk){data + start, i - start};
            start = i + seplen;
            i = start - 1;
        }
    chunks[n++] = (FuzzChunk){data + start, size - start};
    return n;
}

/* ---- the private folder ---- */

static char dir[256];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (ftw->level > 0) /* the folder itself stays */
        remove(path);
    return 0;
}

void fuzz_clear(void)
{
    if (dir[0])
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_dir(void)
{
    fuzz_clear();
    rmdir(dir);
}

/* TMPDIR, else /dev/shm (files in memory: most inputs write some), else /tmp. */
static const char *temp_root(void)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp && *tmp)
        return tmp;
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

const char *fuzz_dir(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/cnnc-fuzz-XXXXXX", temp_root());
        if (!mkdtemp(dir)) {
            perror("cnnc fuzz: mkdtemp");
            abort();
        }
        atexit(remove_dir);
        /* Diagnostics in blocks, not a system call each: run_fuzz.sh
         * closes the target's stderr anyway (the sanitizers' reports do
         * not go through stdio). */
        setvbuf(stderr, NULL, _IOFBF, 1 << 16);
    }
    return dir;
}

const char *fuzz_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    return path;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror("cnnc fuzz: writing an input file");
        abort();
    }
    return path;
}

/* ---- the model pipeline ---- */

/* Budgets that keep one input to milliseconds under ASan and coverage
 * tracing: the floats of the weights the init pass would allocate and of
 * every activation of a sample (the interpreter holds them all), and the
 * multiply-adds of a sample, beyond which the interpreter is not run (its
 * loops are most of the time a big model takes). */
#define FUZZ_MAX_WEIGHTS (1 << 16)
#define FUZZ_MAX_ACTIVATIONS (1 << 16)
#define FUZZ_MAX_MACS (1 << 21)
#define FUZZ_BATCH 2

static int64_t add_capped(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* The pipeline of the model at path run up to step `last`; NULL after an
 * error (reported). */
static Pipeline *run_to(const char *path, const LoadOptions *opt, const char *last)
{
    Pipeline *p = pipeline_new(path, opt);
    if (pipeline_run(p, last))
        return p;
    pipeline_free(p);
    return NULL;
}

/* Parses and shape-infers the model alone, to size it before anything
 * allocates its weights. False when it has errors or is over a budget;
 * *interp tells whether its multiply-adds are within FUZZ_MAX_MACS. */
static bool within_budgets(const char *path, bool *interp)
{
    LoadOptions opt = {0};
    Pipeline *p = run_to(path, &opt, "shape");
    if (!p)
        return false;
    const Graph *g = pipeline_graph(p);
    int64_t weights = 0, acts = 0, macs = 0;
    for (int i = 0; i < g->nt; i++) {
        const Tensor *t = &g->t[i];
        if (t->kind == T_ACT)
            acts = add_capped(acts, shape_numel(&t->shape));
        else if (!t->data)
            weights = add_capped(weights, shape_numel(&t->shape));
    }
    for (int i = 0; i < g->nn; i++) {
        const OpInfo *op = op_info(g->n[i].op);
        macs = add_capped(macs, op->macs ? op->macs(g, &g->n[i]) : 0);
    }
    pipeline_free(p);
    *interp = macs <= FUZZ_MAX_MACS;
    return weights <= FUZZ_MAX_WEIGHTS && acts <= FUZZ_MAX_ACTIVATIONS;
}

/* Two samples of the model's input, the same every run. */
static float *sample_input(const Graph *g)
{
    int64_t n = shape_numel(&g->t[g->input].shape) * FUZZ_BATCH;
    float *x = xmalloc(sizeof *x * (size_t)n);
    uint32_t state = 12345;
    for (int64_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)(state >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
    }
    return x;
}

/* `cnnc info`'s table, --dump-ir's text and --dot's picture, thrown away:
 * they print every name and attribute the model holds. */
static void print_all(Graph *g)
{
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        abort();
    info_print(g, null);
    graph_dump(g, null);
    graph_dot(g, null);
}

/* `cnnc run`'s path on the fused graph. */
static void run_forward(Graph *g)
{
    float *x = sample_input(g);
    Activations a = interp_forward(g, x, FUZZ_BATCH, false);
    interp_free(g, &a);
    free(x);
}

/* `cnnc grad`'s path: the model as written (no fusion), one step back. */
static void run_backward(const char *path, const char *weights_dir)
{
    LoadOptions opt = {.weights_dir = weights_dir};
    Pipeline *p = run_to(path, &opt, "init");
    Graph *g = p ? pipeline_graph(p) : NULL;
    if (g && loss_classes(g) > 0) {
        float *x = sample_input(g);
        int32_t labels[FUZZ_BATCH] = {0};
        Grads gr;
        if (interp_grad(g, x, labels, FUZZ_BATCH, false, (Loc){path, 0, 0}, &gr))
            grads_free(g, &gr);
        free(x);
    }
    pipeline_free(p);
}

void fuzz_model(const char *path, const char *weights_dir, bool train)
{
    bool interp;
    if (!within_budgets(path, &interp))
        return;
    LoadOptions opt = {.weights_dir = weights_dir, .optimize = true, .train = train};
    Pipeline *p = run_to(path, &opt, "fuse-residual");
    if (p) {
        print_all(pipeline_graph(p));
        char *out = strdup(fuzz_path("m.c"));
        EmitOptions emit = {.out_c = out, .prefix = "m", .main = true, .train = train,
                            .batch = FUZZ_BATCH};
        if (interp)
            run_forward(pipeline_graph(p));
        pipeline_set_build(p, &emit);
        pipeline_run(p, "emit");
        free(out);
    }
    pipeline_free(p);
    if (train && interp)
        run_backward(path, weights_dir);
}
