/* peak.c: single-core FP32 FMA throughput, the ceiling the kernels are
 * measured against. Twelve independent 8-wide FMA chains (enough to cover
 * the FMA latency on both FMA pipes), GNU vector extensions, so
 * `cc -O3 -march=native` emits vfmadd on AVX2 machines.
 * Prints `peak_gflops: X` (best of several runs). */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

typedef float v8 __attribute__((vector_size(32)));

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHAINS 12

static float run(long iters)
{
    v8 acc[CHAINS], m = {0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f, 0.999f};
    v8 a = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (int i = 0; i < CHAINS; i++)
        acc[i] = a * (float)(i + 1);
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < CHAINS; i++)
            acc[i] = acc[i] * m + a;
        __asm__ volatile("" : "+x"(m)); /* keep the loop, block reassociation */
    }
    float s = 0;
    for (int i = 0; i < CHAINS; i++)
        for (int j = 0; j < 8; j++)
            s += acc[i][j];
    return s;
}

int main(void)
{
    long iters = 20000000;
    double best = 0;
    float sink = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        sink += run(iters);
        double gf = 2.0 * 8 * CHAINS * iters / (now_s() - t0) * 1e-9;
        if (gf > best)
            best = gf;
    }
    printf("peak_gflops: %.1f\n", best);
    return sink == 12345.0f; /* use the sums */
}
