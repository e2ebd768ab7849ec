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

/* Budgets, in floats, that keep one input to milliseconds under ASan:
 * the weights the init pass would allocate, and every activation of a
 * sample (the interpreter holds them all). */
#define FUZZ_MAX_WEIGHTS (1 << 16)
#define FUZZ_MAX_ACTIVATIONS (1 << 16)
#define FUZZ_BATCH 2

static int64_t add_capped(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Parses and shape-infers the model alone, to size it before anything
 * allocates its weights. False when it has errors or is over a budget. */
static bool within_budgets(const char *path)
{
    size_t n = strlen(path);
    bool dsl = n > 4 && strcmp(path + n - 4, ".cnn") == 0;
    Graph *g = dsl ? dsl_load(path) : onnx_load(path);
    int errors = diag_error_count();
    bool ok = g && graph_toposort(g) && shape_infer(g) && diag_error_count() == errors;
    int64_t weights = 0, acts = 0;
    for (int i = 0; ok && i < g->nt; i++) {
        const Tensor *t = &g->t[i];
        if (t->kind == T_ACT)
            acts = add_capped(acts, shape_numel(&t->shape));
        else if (!t->data)
            weights = add_capped(weights, shape_numel(&t->shape));
    }
    graph_free(g);
    return ok && weights <= FUZZ_MAX_WEIGHTS && acts <= FUZZ_MAX_ACTIVATIONS;
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
    Graph *g = model_load_opts(path, &opt);
    if (g && loss_classes(g) > 0) {
        float *x = sample_input(g);
        int32_t labels[FUZZ_BATCH] = {0};
        Grads gr;
        if (interp_grad(g, x, labels, FUZZ_BATCH, false, (Loc){path, 0, 0}, &gr))
            grads_free(g, &gr);
        free(x);
    }
    graph_free(g);
}

void fuzz_model(const char *path, const char *weights_dir, bool train)
{
    if (!within_budgets(path))
        return;
    LoadOptions opt = {.weights_dir = weights_dir, .optimize = true, .train = train};
    Graph *g = model_load_opts(path, &opt);
    if (!g)
        return;
    char *out = strdup(fuzz_path("m.c"));
    EmitOptions emit = {.out_c = out, .prefix = "m", .main = true, .train = train,
                        .batch = FUZZ_BATCH};
    emit_c(g, &emit);
    free(out);
    run_forward(g);
    graph_free(g);
    if (train)
        run_backward(path, weights_dir);
}
