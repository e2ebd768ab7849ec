/* app.c: a program built against four models that cnnc_add_model()
 * generated, with their headers found through the targets' usage
 * requirements.
 *
 *     app forward lenet|tuned|int8 IN.f32 OUT.f32   raw float32 samples in, outputs out
 *     app loss IN.f32 LABELS.i32               the lenet_t training API's loss, printed */
#include "lenet.h"
#include "lenet_q.h"
#include "lenet_t.h"
#include "tuned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Alignas(lenet_ARENA_ALIGN) unsigned char lenet_arena[lenet_ARENA_BYTES];
static _Alignas(tuned_ARENA_ALIGN) unsigned char tuned_arena[tuned_ARENA_BYTES];
static _Alignas(lenet_q_ARENA_ALIGN) unsigned char int8_arena[lenet_q_ARENA_BYTES];
static _Alignas(lenet_t_ARENA_ALIGN) unsigned char state[lenet_t_TRAIN_STATE_BYTES];
static _Alignas(lenet_t_ARENA_ALIGN) unsigned char train_arena[lenet_t_TRAIN_ARENA_BYTES];
static float grads[lenet_t_TRAIN_GRAD_BYTES / sizeof(float)];

/* The whole file; *n gets its size in bytes. */
static void *slurp(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    void *p = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0 && (*n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = malloc((size_t)*n)) && fread(p, 1, (size_t)*n, f) != (size_t)*n) {
        free(p);
        p = NULL;
    }
    if (f)
        fclose(f);
    if (!p)
        fprintf(stderr, "%s: error: cannot read\n", path);
    return p;
}

static int forward(const char *which, const char *in, const char *out)
{
    long bytes, n, i;
    float *x = slurp(in, &bytes), y[lenet_OUTPUT_SIZE];
    FILE *f = fopen(out, "wb");
    int tuned = strcmp(which, "tuned") == 0, int8 = strcmp(which, "int8") == 0;
    if (!x || !f)
        return 1;
    n = bytes / (long)(sizeof(float) * lenet_INPUT_SIZE);
    for (i = 0; i < n; i++) {
        if (tuned)
            tuned_forward(tuned_arena, x + i * tuned_INPUT_SIZE, y, 1);
        else if (int8)
            lenet_q_forward(int8_arena, x + i * lenet_q_INPUT_SIZE, y, 1);
        else
            lenet_forward(lenet_arena, x + i * lenet_INPUT_SIZE, y, 1);
        fwrite(y, sizeof y, 1, f);
    }
    free(x);
    return fclose(f) != 0;
}

static int loss(const char *in, const char *labels)
{
    long bytes, nlab;
    float *x = slurp(in, &bytes);
    int32_t *y = slurp(labels, &nlab);
    if (!x || !y)
        return 1;
    lenet_t_train_init(state);
    printf("%.9g\n", lenet_t_train_grad(state, train_arena, x, y, (int)(nlab / 4), grads));
    free(x);
    free(y);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "forward") == 0)
        return forward(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "loss") == 0)
        return loss(argv[2], argv[3]);
    fprintf(stderr, "usage: app forward lenet|tuned|int8 IN.f32 OUT.f32 | app loss IN.f32 LABELS.i32\n");
    return 2;
}
