/* step_check.c: a generated training step against the same build's
 * gradients (traingen). Includes a model compiled with `--train --name m
 * --optimizer adam` (MODEL_C; Adam's state runs SGD with momentum too).
 * From the same weights, batch and labels, P_train_step, which steps each
 * parameter inside the backward pass as its rows are final (or after the
 * last of the layers sharing it), must leave every trainable parameter as
 * P_train_grad's gradients do when the runtime's cnnc_optim_step applies
 * them afterwards, whole: max|a-b| <= 1e-5 * max|ref| per tensor (the two
 * sum the same products in other orders), and the same loss. Under Adam
 * an element whose gradient is at rounding-noise level (below 1e-3 of its
 * tensor's largest) is left out: Adam divides it by its own magnitude.
 * Run for SGD with momentum and weight decay and for Adam with weight
 * decay. Models without dropout (a step draws its mask, P_train_grad
 * does not). P_train_grad itself is checked against `cnnc grad`
 * (check_grad.py).
 *
 * usage: step_check (prints ok or what differs) */
#include MODEL_C

#include <math.h>
#include <stdio.h>
#include <string.h>

static _Alignas(64) unsigned char state[m_TRAIN_STATE_BYTES], ref[m_TRAIN_STATE_BYTES];
static _Alignas(64) unsigned char arena[m_TRAIN_ARENA_BYTES];
static float grads[m_TRAIN_GRAD_BYTES / 4 + 1];
static float x[m_INPUT_SIZE * m_BATCH_MAX];
static int32_t y[m_BATCH_MAX];

static void set_hparams(void *s, int optimizer)
{
    m_hparams *h = m_train_hparams(s);
    h->optimizer = optimizer;
    h->lr = optimizer == m_OPT_ADAM ? 0.01f : 0.1f;
    h->momentum = optimizer == m_OPT_ADAM ? 0.0f : 0.9f;
    h->weight_decay = 0.01f;
}

/* ref's parameters stepped from grads as one whole array each. */
static void step_reference(int optimizer)
{
    const m_hparams *h = m_train_hparams(ref);
    CnncOptim o;
    o.kind = optimizer == m_OPT_ADAM ? CNNC_ADAM : CNNC_SGD;
    o.lr = h->lr;
    o.momentum = h->momentum;
    o.weight_decay = h->weight_decay;
    o.beta1 = h->beta1;
    o.beta2 = h->beta2;
    o.eps = h->eps;
    for (int i = 0; i < m_TRAIN_TENSOR_COUNT; i++) {
        const m_tensor *t = m_train_tensor(i);
        static float mom[2][1 << 22];
        if (t->kind != 0 || t->count > (1 << 22))
            continue;
        cnnc_optim_step(&o, 1, m_train_data(ref, i), m_train_gradient(grads, i), mom[0], mom[1],
                        t->count);
    }
}

static int compare(int optimizer, const char *name)
{
    int bad = 0;
    for (int i = 0; i < m_TRAIN_TENSOR_COUNT; i++) {
        const m_tensor *t = m_train_tensor(i);
        if (t->kind != 0)
            continue;
        const float *a = m_train_data(state, i), *b = m_train_data(ref, i);
        const float *g = m_train_gradient(grads, i);
        double err = 0, scale = 0, gmax = 0;
        for (size_t j = 0; j < t->count; j++)
            gmax = fmax(gmax, fabs(g[j]));
        for (size_t j = 0; j < t->count; j++) {
            scale = fmax(scale, fabs(b[j]));
            if (optimizer != m_OPT_ADAM || fabs(g[j]) >= 1e-3 * gmax)
                err = fmax(err, fabs(a[j] - b[j]));
        }
        if (!(err <= 1e-5 * scale)) {
            printf("%s %s: max|a-b| = %g, max|ref| = %g\n", name, t->name, err, scale);
            bad++;
        }
    }
    return bad;
}

static int check_one(int optimizer, const char *name)
{
    m_train_init(state);
    set_hparams(state, optimizer);
    memcpy(ref, state, sizeof ref);
    double want = m_train_grad(ref, arena, x, y, m_BATCH_MAX, grads);
    step_reference(optimizer);
    double got = m_train_step(state, arena, x, y, m_BATCH_MAX);
    int bad = compare(optimizer, name);
    if (!(fabs(got - want) <= 1e-6 * fabs(want))) {
        printf("%s: step's loss %.9g, grad's %.9g\n", name, got, want);
        bad++;
    }
    return bad;
}

int main(void)
{
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(r >> 8) / 16777216.0f * 2 - 1;
    }
    for (int i = 0; i < m_BATCH_MAX; i++)
        y[i] = i % m_OUTPUT_SIZE;
    int bad = check_one(m_OPT_SGD, "sgd") + check_one(m_OPT_ADAM, "adam");
    printf("%s\n", bad ? "FAIL" : "ok");
    return bad != 0;
}
