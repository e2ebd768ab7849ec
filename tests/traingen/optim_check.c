/* optim_check.c: the generated training step against the interpreter's
 * (traingen). Includes a model compiled with `--train --name m` (MODEL_C)
 * and links cnnc_core for the reference: from the same weights, input and
 * labels, three steps of the generated m_train_step and three of
 * interp_grad + optim_step (compiler/interp/optim.c, PyTorch's semantics)
 * must leave the same parameters and BatchNorm running statistics
 * (max|a-b| <= 1e-4 * max|ref|), and the same losses. Run for SGD with
 * momentum and weight decay, and for Adam with weight decay: the model is
 * compiled with --optimizer adam, whose state keeps both moments, so that
 * one build runs both (P_TRAIN_MOMENTS).
 * With the build's --freeze-until T and --train-bias-only given again
 * here, the interpreter's graph is frozen the same way (passes/freeze.c): the
 * state's table must hold exactly its trainable parameters and buffers (a
 * frozen one is a constant of the code, in flash), the interpreter's
 * frozen parameters must come out of the steps bit-identical, and the
 * others must match as above.
 * With the build's --int8 --calib CALIB.npy given again (an int8 backbone),
 * the interpreter runs the build's graph: fused, its frozen part calibrated
 * and quantized as the compile did, so that both step the head on the same
 * integer features.
 *
 * usage: optim_check MODEL.cnn [--freeze-until T] [--train-bias-only]
 *                    [--int8 --calib CALIB.npy] */
#include MODEL_C

#include "cnnc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 3

static _Alignas(64) unsigned char state[m_TRAIN_STATE_BYTES];
static _Alignas(64) unsigned char arena[m_TRAIN_ARENA_BYTES];

/* The state's table against g: exactly the tensors a build keeps there. */
static int check_table(const Graph *g)
{
    int want = 0, bad = 0;
    for (int t = 0; t < g->nt; t++)
        want += tensor_in_train_state(&g->t[t]);
    for (int i = 0; i < m_TRAIN_TENSOR_COUNT; i++) {
        int id = graph_find_tensor(g, m_train_tensor(i)->name);
        if (id < 0 || !tensor_in_train_state(&g->t[id])) {
            printf("%s: in the state, but frozen\n", m_train_tensor(i)->name);
            bad++;
        }
    }
    if (want != m_TRAIN_TENSOR_COUNT) {
        printf("the state holds %d tensors, expected %d\n", m_TRAIN_TENSOR_COUNT, want);
        bad++;
    }
    return bad;
}

/* Copies of the frozen parameters' values (per tensor, NULL: not frozen). */
static float **frozen_copies(const Graph *g)
{
    float **copy = xcalloc((size_t)g->nt, sizeof *copy);
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM && g->t[t].frozen) {
            size_t bytes = sizeof(float) * (size_t)shape_numel(&g->t[t].shape);
            copy[t] = xmalloc(bytes);
            memcpy(copy[t], g->t[t].data, bytes);
        }
    return copy;
}

/* After the steps: g's first tensors are the forward's, those copied. */
static int check_frozen(const Graph *g, float **copy)
{
    int bad = 0;
    for (int t = 0; t < g->bw->nfwd_tensors; t++) {
        if (copy[t] && memcmp(copy[t], g->t[t].data,
                              sizeof(float) * (size_t)shape_numel(&g->t[t].shape)) != 0) {
            printf("%s: frozen, but changed by the steps\n", g->t[t].name);
            bad++;
        }
        free(copy[t]);
    }
    free(copy);
    return bad;
}

/* The interpreter's graph: the model as written, frozen as the build; with
 * --int8, the build's own graph up to the backward (*p owns it). */
static Graph *reference_graph(const char *path, const LoadOptions *freezing, Pipeline **p)
{
    *p = NULL;
    if (!freezing->quant) {
        Graph *g = model_load(path);
        return g && freeze(g, freezing) ? g : NULL;
    }
    LoadOptions opt = *freezing;
    opt.optimize = true;
    *p = pipeline_new(path, &opt);
    return pipeline_run(*p, "autodiff") ? pipeline_graph(*p) : NULL;
}

static int check_one(const char *path, const LoadOptions *freezing, OptimKind kind)
{
    Pipeline *p;
    Graph *g = reference_graph(path, freezing, &p);
    if (!g)
        return 1;
    float **frozen = frozen_copies(g);
    int n = m_BATCH_MAX, k = m_OUTPUT_SIZE;
    float *x = xmalloc(sizeof(float) * m_INPUT_SIZE * (size_t)n);
    int32_t *y = xmalloc(sizeof(int32_t) * (size_t)n);
    uint32_t r = 12345;
    for (int i = 0; i < m_INPUT_SIZE * n; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(r >> 8) / 16777216.0f * 2 - 1;
    }
    for (int i = 0; i < n; i++)
        y[i] = i % k;
    TrainCfg cfg = {.optim = kind, .lr = kind == OPT_ADAM ? 0.01f : 0.1f, .momentum = 0.9f,
                    .weight_decay = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    m_train_init(state);
    m_hparams *h = m_train_hparams(state);
    h->optimizer = kind == OPT_ADAM ? m_OPT_ADAM : m_OPT_SGD;
    h->lr = cfg.lr;
    h->momentum = kind == OPT_ADAM ? 0 : cfg.momentum;
    h->weight_decay = cfg.weight_decay;
    if (kind == OPT_ADAM)
        cfg.momentum = 0;
    OptimState os;
    optim_init(&os, g);
    int bad = 0;
    for (int s = 0; s < STEPS; s++) {
        double got = m_train_step(state, arena, x, y, n);
        Grads gr;
        if (!interp_grad(g, x, y, n, true, (Loc){0}, &gr))
            return 1;
        optim_step(g, &cfg, &os, gr.dparam);
        if (fabs(got - gr.loss) > 1e-4 * fabs(gr.loss) + 1e-6) {
            printf("step %d: loss %g, expected %g\n", s, got, gr.loss);
            bad++;
        }
        grads_free(g, &gr);
    }
    for (int i = 0; i < m_TRAIN_TENSOR_COUNT; i++) {
        const m_tensor *t = m_train_tensor(i);
        int id = graph_find_tensor(g, t->name);
        const float *a = m_train_data(state, i), *b = g->t[id].data;
        double err = 0, scale = 0;
        for (size_t j = 0; j < t->count; j++) {
            err = fmax(err, fabs(a[j] - b[j]));
            scale = fmax(scale, fabs(b[j]));
        }
        if (!(err <= 1e-4 * scale)) {
            printf("%s %s: max|a-b| = %g, max|ref| = %g\n", kind == OPT_ADAM ? "adam" : "sgd",
                   t->name, err, scale);
            bad++;
        }
    }
    if (m_train_steps(state) != STEPS)
        bad++;
    bad += check_table(g) + check_frozen(g, frozen);
    optim_free(g, &os);
    if (p)
        pipeline_free(p);
    else
        graph_free(g);
    free(x);
    free(y);
    return bad;
}

int main(int argc, char **argv)
{
    LoadOptions freezing = {.train = true};
    QuantOptions quant = {.method = CALIB_MINMAX};
    bool int8 = false;
    int i = 2;
    for (; i < argc; i++)
        if (strcmp(argv[i], "--freeze-until") == 0 && i + 1 < argc)
            freezing.freeze_until = argv[++i];
        else if (strcmp(argv[i], "--train-bias-only") == 0)
            freezing.train_bias_only = true;
        else if (strcmp(argv[i], "--int8") == 0)
            int8 = true;
        else if (strcmp(argv[i], "--calib") == 0 && i + 1 < argc)
            quant.calib = argv[++i];
        else
            break;
    if (argc < 2 || i < argc || int8 != (quant.calib != NULL)) {
        fprintf(stderr, "usage: optim_check MODEL.cnn [--freeze-until T] [--train-bias-only] "
                        "[--int8 --calib CALIB.npy]\n");
        return 2;
    }
    freezing.quant = int8 ? &quant : NULL;
    int bad = check_one(argv[1], &freezing, OPT_SGD) + check_one(argv[1], &freezing, OPT_ADAM);
    printf("%s\n", bad ? "FAIL" : "ok");
    return bad != 0;
}
