/* emit_main.c: the standalone program of `cnnc --main` (contract, section 3).
 * Takes the Emit of a compiled model; appends to OUT.c the runtime it needs
 * (runtime/npy.c and image.c, copied in with CNNC_RT_API defined as
 * `static`, the way SQLite ships as one file) and a main() that dispatches
 * on a table of commands: `infer IN OUT.npy` and `bench IN [ITERS]`, IN a
 * .npy file or PGM/PPM images. A new
 * command (grad, train) is a function and a row in that table. */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

/* Appends a runtime file without its local includes (all pasted here). */
void put_runtime(StrBuf *b, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p + 1) : strlen(p);
        if (strncmp(p, "#include \"", 10) != 0) {
            char *line = xstrndup(p, n);
            sb_puts(b, line);
            free(line);
        }
        p += n;
    }
}

/* `(void)f;` for every function the header declares with CNNC_RT_API, so
 * that the static copies a command does not call raise no warning. */
void put_runtime_uses(StrBuf *b, const char *header)
{
    for (const char *p = strstr(header, "\nCNNC_RT_API "); p; p = strstr(p + 1, "\nCNNC_RT_API ")) {
        const char *paren = strchr(p, '(');
        if (!paren)
            break;
        const char *start = paren;
        while (start > p && (start[-1] == '_' || (start[-1] >= 'a' && start[-1] <= 'z') ||
                             (start[-1] >= 'A' && start[-1] <= 'Z') ||
                             (start[-1] >= '0' && start[-1] <= '9')))
            start--;
        char *name = xstrndup(start, (size_t)(paren - start));
        sb_printf(b, "    (void)%s;\n", name);
        free(name);
    }
}

/* A model read as one whole sample (Graph.whole): IN.npy has exactly the
 * input's shape, no batch axis. */
static void put_read_whole_input(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b,
              "/* Reads IN.npy and checks that it is the model's input, one sample of\n"
              " * exactly its shape (the model has no batch axis). */\n"
              "static int main_read_input(const char *path, CnncNpy *a)\n"
              "{\n"
              "    static const int64_t shape[] = %s_INPUT_SHAPE;\n"
              "    char err[CNNC_NPY_ERR_SIZE], want[128], have[128], msg[300];\n"
              "    int i, ok;\n"
              "    if (cnnc_npy_read_f32(path, a, err, sizeof err) != 0)\n"
              "        return main_error(path, err);\n"
              "    ok = a->rank == %s_INPUT_RANK;\n"
              "    for (i = 0; ok && i < %s_INPUT_RANK; i++)\n"
              "        ok = a->shape[i] == shape[i];\n"
              "    if (ok)\n"
              "        return 0;\n"
              "    cnnc_npy_shape_str(shape, %s_INPUT_RANK, want, sizeof want);\n"
              "    cnnc_npy_shape_str(a->shape, a->rank, have, sizeof have);\n"
              "    snprintf(msg, sizeof msg, \"input has shape %%s; the model takes exactly %%s\", have, want);\n"
              "    cnnc_npy_free(a);\n"
              "    return main_error(path, msg);\n"
              "}\n\n",
              P, P, P, P);
}

static void put_common(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b,
              "static int main_error(const char *file, const char *msg)\n"
              "{\n"
              "    fprintf(stderr, \"%%s: error: %%s\\n\", file, msg);\n"
              "    return 1;\n"
              "}\n\n"
              "/* An arena aligned to %s_ARENA_ALIGN inside *raw (free that). */\n"
              "static void *main_arena(void **raw)\n"
              "{\n"
              "    *raw = malloc((size_t)%s_ARENA_BYTES + %s_ARENA_ALIGN);\n"
              "    if (!*raw)\n"
              "        return NULL;\n"
              "    return (void *)(((uintptr_t)*raw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "}\n\n",
              P, P, P, P, P);
    if (e->g->whole) {
        put_read_whole_input(e, b);
        return;
    }
    sb_printf(b,
              "/* Reads IN.npy and checks that it holds samples of the model's input. */\n"
              "static int main_read_input(const char *path, CnncNpy *a)\n"
              "{\n"
              "    static const int64_t shape[] = %s_INPUT_SHAPE;\n"
              "    char err[CNNC_NPY_ERR_SIZE], want[128], have[128], msg[300];\n"
              "    int64_t full[CNNC_NPY_MAX_RANK];\n"
              "    int i, ok;\n"
              "    if (cnnc_npy_read_f32(path, a, err, sizeof err) != 0)\n"
              "        return main_error(path, err);\n"
              "    ok = a->rank == %s_INPUT_RANK + 1;\n"
              "    for (i = 0; ok && i < %s_INPUT_RANK; i++)\n"
              "        ok = a->shape[i + 1] == shape[i];\n"
              "    if (ok)\n"
              "        return 0;\n"
              "    full[0] = a->rank > 0 ? a->shape[0] : 1;\n"
              "    for (i = 0; i < %s_INPUT_RANK; i++)\n"
              "        full[i + 1] = shape[i];\n"
              "    cnnc_npy_shape_str(full, %s_INPUT_RANK + 1, want, sizeof want);\n"
              "    cnnc_npy_shape_str(a->shape, a->rank, have, sizeof have);\n"
              "    snprintf(msg, sizeof msg, \"input has shape %%s; the model takes %%s\", have, want);\n"
              "    cnnc_npy_free(a);\n"
              "    return main_error(path, msg);\n"
              "}\n\n",
              P, P, P, P, P);
}

/* Blob mode: the program loads the blob the model was compiled with (the
 * path given to cnnc, or the environment variable <P>_WEIGHTS). */
static void put_blob_loader(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b, "static float *main_weights(void)\n{\n"
                 "    const char *path = getenv(\"%s_WEIGHTS\");\n"
                 "    float *w = malloc((size_t)%s_WEIGHTS_BYTES + 4);\n"
                 "    FILE *f;\n"
                 "    size_t got;\n"
                 "    if (!path)\n"
                 "        path = ",
              P, P);
    char *q = xstrdup(e->opt->weights_blob);
    sb_putc(b, '"');
    for (char *p = q; *p; p++)
        sb_printf(b, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
    sb_putc(b, '"');
    free(q);
    sb_printf(b, ";\n"
                 "    f = fopen(path, \"rb\");\n"
                 "    if (!w || !f) {\n"
                 "        free(w);\n"
                 "        if (f)\n"
                 "            fclose(f);\n"
                 "        main_error(path, \"cannot read the weights\");\n"
                 "        return NULL;\n"
                 "    }\n"
                 "    got = fread(w, 1, (size_t)%s_WEIGHTS_BYTES + 1, f);\n"
                 "    fclose(f);\n"
                 "    if (got != (size_t)%s_WEIGHTS_BYTES) {\n"
                 "        free(w);\n"
                 "        main_error(path, \"the weights file has the wrong size\");\n"
                 "        return NULL;\n"
                 "    }\n"
                 "    return w;\n"
                 "}\n\n",
              P, P);
}

/* An arena ready for the forward pass (weights pointed at, in blob mode). */
static void put_setup(Emit *e, StrBuf *b, const char *fail)
{
    sb_printf(b, "    arena = main_arena(&raw);\n");
    if (e->mode == WEIGHTS_BLOB)
        sb_printf(b, "    weights = main_weights();\n"
                     "    if (!arena || !weights) {\n"
                     "        free(raw);\n"
                     "        free(weights);\n"
                     "        %s\n"
                     "    }\n"
                     "    %s_set_weights(arena, weights);\n",
                  fail, e->P);
    else
        sb_printf(b, "    if (!arena) {\n        %s\n    }\n", fail);
}

/* main_load: IN as a .npy of samples, or as images (a PGM/PPM file or a
 * folder of them) scaled and normalised by runtime/image.c the way `cnnc
 * run` does it. Frees nothing of the caller's: main_unload does. */
static void put_load(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    sb_puts(b, "/* Reads IN (samples of the model's input): a .npy file, or binary PGM/PPM\n"
               " * images, one file or a folder of them, each becoming one sample. */\n"
               "static int main_load(const char *path, CnncNpy *a, CnncImageSet *images)\n"
               "{\n");
    if (!image_input(g)) {
        sb_puts(b, "    memset(images, 0, sizeof *images);\n"
                   "    if (cnnc_is_image_input(path))\n"
                   "        return main_error(path, \"the model's input is not an image (C x H x W); "
                   "give a .npy file\");\n"
                   "    return main_read_input(path, a);\n"
                   "}\n\n");
        return;
    }
    int64_t c, h, w;
    shape_chw(&g->t[g->input].shape, &c, &h, &w);
    bool norm = put_image_norm(e, b);
    sb_printf(b, "    char err[CNNC_IMAGE_ERR_SIZE], where[4096];\n"
                 "    CnncImageSpec spec;\n"
                 "    memset(images, 0, sizeof *images);\n"
                 "    memset(a, 0, sizeof *a);\n"
                 "    if (!cnnc_is_image_input(path))\n"
                 "        return main_read_input(path, a);\n"
                 "    spec.channels = %lld;\n"
                 "    spec.height = %lld;\n"
                 "    spec.width = %lld;\n"
                 "    spec.mean = %s;\n"
                 "    spec.inv_std = %s;\n"
                 "    if (cnnc_image_set_load(path, &spec, images, where, sizeof where, err, sizeof err) != 0)\n"
                 "        return main_error(where, err);\n"
                 "    a->shape[0] = images->n;\n"
                 "    return 0;\n"
                 "}\n\n",
              (long long)c, (long long)h, (long long)w, norm ? "mean" : "NULL",
              norm ? "inv_std" : "NULL");
}

/* The samples main_load read, from whichever holder has them. */
static void put_samples_helpers(StrBuf *b)
{
    sb_puts(b, "static const float *main_samples(const CnncNpy *a, const CnncImageSet *images)\n"
               "{\n"
               "    return images->n ? images->data : (const float *)a->data;\n"
               "}\n\n"
               "static void main_unload(CnncNpy *a, CnncImageSet *images)\n"
               "{\n"
               "    if (images->n)\n"
               "        cnnc_image_set_free(images);\n"
               "    else\n"
               "        cnnc_npy_free(a);\n"
               "}\n\n");
}

/* For images, the top 5 classes of each (a classifier's output, one score
 * per class: probabilities if the model ends in a softmax over the classes,
 * the node the loss would absorb, else logits). */
static void put_top5(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    int p = g->t[g->output].producer;
    if (g->t[g->output].shape.rank != 1)
        return;
    const OpInfo *op = p >= 0 ? op_info(g->n[p].op) : NULL;
    bool probabilities = op && op->fuses_with_loss && op->fuses_with_loss(g, &g->n[p]);
    sb_printf(b, "    for (i = 0; i < images.n; i++)\n"
                 "        cnnc_print_top(stdout, images.paths[i], out + i * %s_OUTPUT_SIZE, %s_OUTPUT_SIZE, 5, %d);\n",
              e->P, e->P, probabilities);
}

/* The shape infer writes: [n, the output's shape], or (a model read as one
 * whole sample) the output's shape alone. */
static void put_output_shape(Emit *e, StrBuf *b)
{
    if (e->g->whole) {
        sb_printf(b, "    for (i = 0; i < %s_OUTPUT_RANK; i++)\n"
                     "        shape[i] = oshape[i];\n", e->P);
        return;
    }
    sb_printf(b, "    shape[0] = n;\n"
                 "    for (i = 0; i < %s_OUTPUT_RANK; i++)\n"
                 "        shape[i + 1] = oshape[i];\n", e->P);
}

static void put_infer(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    put_load(e, b);
    put_samples_helpers(b);
    sb_printf(b,
              "/* infer IN OUT.npy: the model's output for every sample, in chunks of at\n"
              " * most %s_BATCH_MAX; for images, also each one's top classes. */\n"
              "static int main_infer(int argc, char **argv)\n"
              "{\n"
              "    static const int64_t oshape[] = %s_OUTPUT_SHAPE;\n"
              "    int64_t shape[CNNC_NPY_MAX_RANK];\n"
              "    char err[CNNC_NPY_ERR_SIZE];\n"
              "    CnncNpy in;\n"
              "    CnncImageSet images;\n"
              "    const float *x;\n"
              "    float *out, *weights = NULL;\n"
              "    void *raw = NULL, *arena;\n"
              "    int64_t n, i;\n"
              "    int rc = 0;\n"
              "    (void)weights;\n"
              "    if (argc != 4)\n"
              "        return main_error(argv[0], \"usage: infer IN.npy|IMAGE|DIR OUT.npy\");\n"
              "    if (main_load(argv[2], &in, &images) != 0)\n"
              "        return 1;\n"
              "    x = main_samples(&in, &images);\n"
              "    n = %s;\n"
              "    out = malloc((size_t)n * %s_OUTPUT_SIZE * sizeof *out + 1);\n",
              P, P, e->g->whole ? "1; /* one sample, the whole input */" : "in.shape[0]", P);
    put_setup(e, b, "free(out);\n        main_unload(&in, &images);\n        return main_error(argv[0], \"out of memory\");");
    sb_printf(b,
              "    if (!out) {\n"
              "        free(raw);\n"
              "        main_unload(&in, &images);\n"
              "        return main_error(argv[0], \"out of memory\");\n"
              "    }\n"
              "    for (i = 0; i < n; i += %s_BATCH_MAX) {\n"
              "        int64_t k = n - i < %s_BATCH_MAX ? n - i : %s_BATCH_MAX;\n"
              "        %s_forward(arena, x + i * %s_INPUT_SIZE, out + i * %s_OUTPUT_SIZE, (int)k);\n"
              "    }\n",
              P, P, P, P, P, P);
    put_output_shape(e, b);
    sb_printf(b,
              "    if (cnnc_npy_write_f32(argv[3], out, %s_OUTPUT_RANK%s, shape, err, sizeof err) != 0)\n"
              "        rc = main_error(argv[3], err);\n",
              P, e->g->whole ? "" : " + 1");
    put_top5(e, b);
    sb_puts(b, "    free(out);\n"
               "    free(raw);\n"
               "    free(weights);\n"
               "    main_unload(&in, &images);\n"
               "    return rc;\n"
               "}\n\n");
}

static void put_bench(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b,
              "static double main_now_ms(void)\n"
              "{\n"
              "#if defined(CLOCK_MONOTONIC)\n"
              "    struct timespec ts;\n"
              "    clock_gettime(CLOCK_MONOTONIC, &ts);\n"
              "    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;\n"
              "#else\n"
              "    return (double)clock() * 1e3 / CLOCKS_PER_SEC;\n"
              "#endif\n"
              "}\n\n"
              "static int main_compare(const void *a, const void *b)\n"
              "{\n"
              "    double x = *(const double *)a, y = *(const double *)b;\n"
              "    return (x > y) - (x < y);\n"
              "}\n\n"
              "/* bench IN [ITERS]: times the forward pass on IN's first sample. */\n"
              "static int main_bench(int argc, char **argv)\n"
              "{\n"
              "    float out[%s_OUTPUT_SIZE], *weights = NULL;\n"
              "    double *ms;\n"
              "    void *raw = NULL, *arena;\n"
              "    long iters = 100, i;\n"
              "    CnncNpy in;\n"
              "    CnncImageSet images;\n"
              "    (void)weights;\n"
              "    if (argc != 3 && argc != 4)\n"
              "        return main_error(argv[0], \"usage: bench IN.npy|IMAGE|DIR [ITERS]\");\n"
              "    if (argc == 4) {\n"
              "        char *end;\n"
              "        iters = strtol(argv[3], &end, 10);\n"
              "        if (*end || end == argv[3] || iters < 1 || iters > 100000000L)\n"
              "            return main_error(argv[3], \"ITERS must be a positive integer\");\n"
              "    }\n"
              "    if (main_load(argv[2], &in, &images) != 0)\n"
              "        return 1;\n"
              "    if (in.shape[0] < 1) {\n"
              "        main_unload(&in, &images);\n"
              "        return main_error(argv[2], \"no sample to run\");\n"
              "    }\n"
              "    ms = malloc((size_t)iters * sizeof *ms);\n",
              P);
    put_setup(e, b, "free(ms);\n        main_unload(&in, &images);\n        return main_error(argv[0], \"out of memory\");");
    sb_printf(b,
              "    if (!ms) {\n"
              "        free(raw);\n"
              "        main_unload(&in, &images);\n"
              "        return main_error(argv[0], \"out of memory\");\n"
              "    }\n"
              "    %s_forward(arena, main_samples(&in, &images), out, 1); /* warm the caches */\n"
              "    for (i = 0; i < iters; i++) {\n"
              "        double t0 = main_now_ms();\n"
              "        %s_forward(arena, main_samples(&in, &images), out, 1);\n"
              "        ms[i] = main_now_ms() - t0;\n"
              "    }\n"
              "    qsort(ms, (size_t)iters, sizeof *ms, main_compare);\n"
              "    printf(\"iters: %%ld\\nmin_ms: %%.6f\\nmedian_ms: %%.6f\\n\", iters, ms[0], ms[iters / 2]);\n"
              "    free(ms);\n"
              "    free(raw);\n"
              "    free(weights);\n"
              "    main_unload(&in, &images);\n"
              "    return 0;\n"
              "}\n\n",
              P, P);
}

static void put_main(Emit *e, StrBuf *b)
{
    sb_puts(b, "static const struct {\n"
               "    const char *name, *usage;\n"
               "    int (*run)(int argc, char **argv);\n"
               "} main_commands[] = {\n"
               "    {\"infer\", \"infer IN.npy|IMAGE|DIR OUT.npy\", main_infer},\n"
               "    {\"bench\", \"bench IN.npy|IMAGE|DIR [ITERS]\", main_bench},\n");
    if (e->train) /* traingen */
        sb_puts(b, "    {\"grad\", \"grad IN.npy LABELS.npy DIR\", main_grad},\n");
    if (e->train) /* trainer */
        sb_puts(b, "    {\"train\", \"train DATA.npy LABELS.npy [--epochs N] [--batch N] [--lr X] "
                   "[--val-split F | --kfold K] [--seed S] [--schedule const|step|cosine] "
                   "[--step-size N] [--gamma X] [--save DIR] [--resume DIR] [--plot FILE.svg]\", main_train},\n");
    sb_puts(b, "};\n\n"
               "int main(int argc, char **argv)\n"
               "{\n"
               "    size_t i;\n");
    put_runtime_uses(b, cnnc_rt_npy_h);
    put_runtime_uses(b, cnnc_rt_image_h);
    sb_puts(b, "    for (i = 0; argc >= 2 && i < sizeof main_commands / sizeof *main_commands; i++)\n"
               "        if (strcmp(argv[1], main_commands[i].name) == 0)\n"
               "            return main_commands[i].run(argc, argv);\n"
               "    fprintf(stderr, \"%s: error: usage:\\n\", argc > 0 ? argv[0] : \"prog\");\n"
               "    for (i = 0; i < sizeof main_commands / sizeof *main_commands; i++)\n"
               "        fprintf(stderr, \"  %s %s\\n\", argc > 0 ? argv[0] : \"prog\", main_commands[i].usage);\n"
               "    return 2;\n"
               "}\n");
    (void)e;
}

void emit_main(Emit *e, StrBuf *b)
{
    sb_puts(b, "/* ---- the standalone program (cnnc --main) and the runtime it uses ---- */\n"
               "#include <stdio.h>\n#include <stdlib.h>\n#include <time.h>\n\n"
               "#define CNNC_RT_API static\n");
    put_runtime(b, cnnc_rt_cnnc_rt_h);
    put_runtime(b, cnnc_rt_npy_h);
    put_runtime(b, cnnc_rt_npy_c);
    put_runtime(b, cnnc_rt_image_h);
    put_runtime(b, cnnc_rt_image_c);
    sb_puts(b, "\n");
    put_common(e, b);
    if (e->mode == WEIGHTS_BLOB)
        put_blob_loader(e, b);
    put_infer(e, b);
    put_bench(e, b);
    if (e->train) /* traingen */
        emit_train_main_grad(e, b);
    if (e->train) /* trainer */
        emit_main_train(e, b);
    put_main(e, b);
}
