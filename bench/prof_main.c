/* prof_main.c: times a generated model (prefix `m`), whole and per layer.
 *
 * Build: cc -O3 -march=native -DMODEL_C='"model.c"' prof_main.c [model_weights.c]
 * (C99 with POSIX: also builds with -std=c99.)
 * Run:   ./prof ITERS [WEIGHTS.blob] [PROFILE]
 * Prints `median_ms: X` and `min_ms: X` over ITERS unprofiled runs, then,
 * when PROFILE is 1, one `layer I NAME MEDIAN_MS MIN_MS` line per layer
 * (over ITERS profiled runs). The input is a fixed pseudo-random sample in [-1, 1). */
#define _POSIX_C_SOURCE 200112L /* clock_gettime, posix_memalign */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int profiling;
static double layer_t0, *layer_ms; /* [iteration][layer] */
static int iteration;

#define m_PROFILE_BEGIN(layer, name) (profiling ? (void)(layer_t0 = now_ms()) : (void)0)
#define m_PROFILE_END(layer, name)                                                          \
    (profiling ? (void)(layer_ms[iteration * m_LAYER_COUNT + (layer)] = now_ms() - layer_t0) \
               : (void)0)

#include MODEL_C

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#ifdef m_WEIGHTS_BYTES
static void *load_blob(const char *path)
{
    FILE *f = fopen(path, "rb");
    void *p = NULL;
    if (!f || posix_memalign(&p, 64, m_WEIGHTS_BYTES) || fread(p, 1, m_WEIGHTS_BYTES, f) != m_WEIGHTS_BYTES) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    return p;
}
#endif

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 20;
    void *arena = NULL;
    if (posix_memalign(&arena, 64, m_ARENA_BYTES + 64))
        return 1;
    static float input[m_INPUT_SIZE], output[m_OUTPUT_SIZE];
    unsigned s = 12345;

    for (int i = 0; i < m_INPUT_SIZE; i++) {
        s = s * 1103515245u + 12345u;
        input[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
#ifdef m_WEIGHTS_BYTES
    void *blob = load_blob(argc > 2 ? argv[2] : "model.blob");
    m_set_weights(arena, blob);
#endif
    double *runs = malloc(sizeof *runs * (size_t)iters);
    for (int i = 0; i < 3; i++)
        m_forward(arena, input, output, 1);
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        m_forward(arena, input, output, 1);
        runs[i] = now_ms() - t0;
    }
    printf("median_ms: %.4f\n", median(runs, iters));
    printf("min_ms: %.4f\n", runs[0]); /* sorted by median() */
    if (argc > 3 && atoi(argv[3])) {
        layer_ms = calloc((size_t)iters * m_LAYER_COUNT, sizeof *layer_ms);
        profiling = 1;
        for (iteration = 0; iteration < iters; iteration++)
            m_forward(arena, input, output, 1);
        double *col = malloc(sizeof *col * (size_t)iters);
        for (int l = 0; l < m_LAYER_COUNT; l++) {
            for (int i = 0; i < iters; i++)
                col[i] = layer_ms[i * m_LAYER_COUNT + l];
            double ms = median(col, iters);
            if (ms > 0)
                printf("layer %d %s %.4f %.4f\n", l, m_layer_name(l), ms, col[0]);
        }
        free(col);
        free(layer_ms);
    }
    printf("checksum: %.6g\n", (double)output[0] + output[m_OUTPUT_SIZE - 1]);
    free(runs);
    free(arena);
#ifdef m_WEIGHTS_BYTES
    free(blob);
#endif
    return 0;
}
