/* train_main.c: times the generated training step (bench/train).
 * Built with the generated MODEL.c (cnnc --train --name m --optimizer sgd
 * --momentum 0.9: the optimizer it sets), which it includes so that one
 * translation unit is compiled at -O3. Takes N1 N2
 * ITERS: times ITERS calls of m_train_step at batch N1, then at N2 (random
 * inputs in [-1, 1), labels cycling over the classes) and prints
 * `median_ms N: X` for each, after 3 warm-up steps. The hyperparameters are
 * set to SGD with momentum 0.9 (lr 0.01), as the PyTorch side does.
 * The clock is the thread's CPU time (the PyTorch side uses the same):
 * the machine is shared, and wall time counts the time others run. */
#define _POSIX_C_SOURCE 199309L
#include MODEL_C

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double time_steps(void *state, void *arena, const float *in, const int32_t *lab, int n,
                         int iters)
{
    double *t = malloc(sizeof *t * (size_t)iters), med;
    for (int i = 0; i < 3; i++)
        m_train_step(state, arena, in, lab, n);
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        m_train_step(state, arena, in, lab, n);
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)iters, sizeof *t, cmp_double);
    med = t[iters / 2];
    free(t);
    return med;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s N1 N2 ITERS\n", argv[0]);
        return 2;
    }
    int ns[2] = {atoi(argv[1]), atoi(argv[2])}, iters = atoi(argv[3]);
    size_t insz = (size_t)m_INPUT_SIZE * m_BATCH_MAX;
    float *in = malloc(insz * sizeof *in);
    int32_t *lab = malloc(sizeof *lab * m_BATCH_MAX);
    void *state = aligned_alloc(m_ARENA_ALIGN, (m_TRAIN_STATE_BYTES + m_ARENA_ALIGN - 1) / m_ARENA_ALIGN * m_ARENA_ALIGN);
    void *arena = aligned_alloc(m_ARENA_ALIGN, (m_TRAIN_ARENA_BYTES + m_ARENA_ALIGN - 1) / m_ARENA_ALIGN * m_ARENA_ALIGN);
    srand(1);
    for (size_t i = 0; i < insz; i++)
        in[i] = (float)rand() / RAND_MAX * 2 - 1;
    for (int i = 0; i < m_BATCH_MAX; i++)
        lab[i] = i % m_OUTPUT_SIZE;
    for (int k = 0; k < 2; k++) {
        m_hparams *h;
        m_train_init(state);
        h = m_train_hparams(state);
        h->optimizer = m_OPT_SGD;
        h->lr = 0.01f;
        h->momentum = 0.9f;
        h->weight_decay = 0;
        printf("median_ms %d: %.4f\n", ns[k], time_steps(state, arena, in, lab, ns[k], iters));
    }
    free(in);
    free(lab);
    free(state);
    free(arena);
    return 0;
}
