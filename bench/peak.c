/* peak.c: single-core FP32 FMA throughput, the ceiling the kernels are
 * measured against. Twelve independent FMA chains (enough to cover the FMA
 * latency on both FMA pipes), GNU vector extensions, 8 floats (AVX2) and,
 * where the target has AVX-512 (`cc -O3 -march=native` on such a machine),
 * 16 floats: some cores run those at full width (twice the 8-float
 * figure), others split them in two (about the same figure).
 * Prints `peak_v8_gflops: X`, `peak_v16_gflops: X` (AVX-512 only) and
 * `peak_gflops: X`, the widest's (each the best of several runs). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#define CHAINS 12

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* run_vN(iters): CHAINS chains of iters FMAs on N-float vectors; returns
 * the sums' total so the work is kept. */
#define DEFINE_RUN(N)                                                               \
    typedef float v##N __attribute__((vector_size(4 * (N))));                       \
    static float run_v##N(long iters)                                               \
    {                                                                               \
        v##N acc[CHAINS], m = {0}, a = {0};                                         \
        m += 0.999f;                                                                \
        a += 1e-7f;                                                                 \
        for (int i = 0; i < CHAINS; i++)                                            \
            acc[i] = a * (float)(i + 1);                                            \
        for (long n = 0; n < iters; n++) {                                          \
            for (int i = 0; i < CHAINS; i++)                                        \
                acc[i] = acc[i] * m + a;                                            \
            __asm__ volatile("" : "+x"(m)); /* keep the loop, block reassociation */ \
        }                                                                           \
        float s = 0;                                                                \
        for (int i = 0; i < CHAINS; i++)                                            \
            for (int j = 0; j < (N); j++)                                           \
                s += acc[i][j];                                                     \
        return s;                                                                   \
    }

DEFINE_RUN(8)
#ifdef __AVX512F__
DEFINE_RUN(16)
#endif

/* Best GFLOP/s of 7 runs of `run` on `lanes`-float vectors. */
static double best_gflops(float (*run)(long), int lanes, float *sink)
{
    long iters = 20000000;
    double best = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        *sink += run(iters);
        double gf = 2.0 * lanes * CHAINS * iters / (now_s() - t0) * 1e-9;
        if (gf > best)
            best = gf;
    }
    return best;
}

int main(void)
{
    float sink = 0;
    double peak = best_gflops(run_v8, 8, &sink);
    printf("peak_v8_gflops: %.1f\n", peak);
#ifdef __AVX512F__
    double v16 = best_gflops(run_v16, 16, &sink);
    printf("peak_v16_gflops: %.1f\n", v16);
    if (v16 > peak)
        peak = v16;
#endif
    printf("peak_gflops: %.1f\n", peak);
    return sink == 12345.0f; /* use the sums */
}
