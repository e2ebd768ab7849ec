/* test_grad.c: the interpreter's backward pass (interp/grad.c and
 * the ops' *_grad.c files) against central finite differences of its own forward,
 * against numbers worked by hand, and the optimizer step (interp/optim.c)
 * against PyTorch's update rules written out in the comments.
 *
 * Each finite-difference case builds a tiny graph by hand:
 *   input -> pre (a trainable 1x1 conv or dense, so that the operator under
 *   test must pass a correct dL/dinput back) -> operator(s) -> flatten ->
 *   dense(3) -> mean softmax cross-entropy,
 * randomises every parameter, and compares dLoss/dParameter with
 * (L(p + h) - L(p - h)) / 2h for every coordinate (a sample of them for
 * larger tensors). The forward is float32 and the loss is summed in double;
 * h = 1e-3 keeps rounding noise near 1e-5 and the truncation error near
 * h^2, and rarely crosses a kink (relu, max) at this size: 1e-2 did, in
 * five cases (FD_H in the environment overrides h, to explore). Agreement:
 * max |fd - grad| <= 1e-2 * max |grad| + 1e-4 over the tensor. Seeds are
 * fixed, so the run is deterministic. Each kernel was mutated once
 * (BatchNorm's xhat term, the avgpool divisor, reflect read as
 * replicate) to see these tests fail. */
#include "fixture.h"
#include "check_run.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const Loc here = {"labels.npy", 0, 0};
static float fd_h = 1e-3f;

/* ---- building graphs ---- */

static uint64_t seed = 1;

static float urand(void) /* U(-1, 1), xorshift */
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (float)((seed >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static Node *layer_n(Graph *g, int op, const char *name, const int *from, int nin)
{
    int id = add_layer_n(g, op, name, from, nin); /* before reading g->n, which moves */
    return &g->n[id];
}

/* A one-input layer reading the current output. Pointers into g->n are
 * valid until the next layer is added. */
static Node *layer(Graph *g, int op, const char *name)
{
    int id = add_layer(g, op, name, g->output);
    return &g->n[id];
}

static Node *conv(Graph *g, const char *name, int filters, int k)
{
    Node *n = layer(g, OP_CONV, name);
    n->a.filters = filters;
    n->a.kernel[0] = n->a.kernel[1] = k;
    return n;
}

static Node *pool(Graph *g, int op, int k, int s, int p)
{
    Node *n = layer(g, op, op == OP_MAXPOOL ? "mp" : "ap");
    n->a.kernel[0] = n->a.kernel[1] = k;
    n->a.stride[0] = n->a.stride[1] = s;
    for (int i = 0; i < 4; i++)
        n->a.pad[i] = p;
    n->a.count_include_pad = true;
    return n;
}

static Node *dense(Graph *g, const char *name, int units)
{
    Node *n = layer(g, OP_DENSE, name);
    n->a.filters = units;
    return n;
}

static Node *batchnorm(Graph *g, const char *name)
{
    Node *n = layer(g, OP_BATCHNORM, name);
    n->a.eps = 1e-5f;
    n->a.momentum = 0.1f;
    return n;
}

/* The classifier every case ends with: flatten, dense(3). */
static void head(Graph *g)
{
    if (g->t[g->output].shape.rank != 1)
        layer(g, OP_FLATTEN, "flat");
    dense(g, "fc", 3);
}

/* Infers shapes, initialises, then randomises every parameter (BatchNorm
 * gammas around 1). Fails the test on any diagnostic. */
static void finish(Graph *g)
{
    ck_assert_msg(shape_infer(g), "shape inference failed");
    init_weights(g);
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM)
            for (int64_t i = 0; i < shape_numel(&g->t[t].shape); i++)
                g->t[t].data[i] = strstr(g->t[t].name, "bn") && strstr(g->t[t].name, "weight")
                                      ? 1 + 0.5f * urand()
                                      : 0.5f * urand();
}

/* ---- finite differences ---- */

static int64_t in_count(const Graph *g, int batch)
{
    return batch * shape_numel(&g->t[g->input].shape);
}

static double loss_at(Graph *g, const float *x, const int32_t *labels, int batch)
{
    double l;
    ck_assert(interp_loss(g, x, labels, batch, here, &l));
    return l;
}

/* Checks every trainable tensor's gradient (up to `sample` coordinates
 * each, spread evenly) against central differences; returns how many
 * coordinates were checked. */
static int check_fd(Graph *g, int batch, int sample)
{
    float *x = xmalloc((size_t)in_count(g, batch) * sizeof *x);
    for (int64_t i = 0; i < in_count(g, batch); i++)
        x[i] = urand();
    int32_t *labels = xmalloc((size_t)batch * sizeof *labels);
    int64_t k = loss_classes(g);
    for (int b = 0; b < batch; b++)
        labels[b] = (int32_t)((b * 7 + 1) % k);
    Grads gr;
    ck_assert(interp_grad(g, x, labels, batch, false, here, &gr));
    ck_assert(isfinite(gr.loss) && gr.loss > 0);
    ck_assert_msg(fabs(gr.loss - loss_at(g, x, labels, batch)) < 1e-9, "grad's loss differs");
    int checked = 0;
    for (int t = 0; t < g->nt; t++) {
        if (g->t[t].kind != T_PARAM)
            continue;
        float *p = g->t[t].data, *an = gr.dparam[t];
        int64_t n = shape_numel(&g->t[t].shape);
        int64_t step = n > sample ? n / sample : 1;
        double scale = 0, err = 0;
        int64_t worst = -1;
        double worst_fd = 0;
        for (int64_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(an[i]));
        for (int64_t i = 0; i < n; i += step) {
            float saved = p[i];
            float up = saved + fd_h, down = saved - fd_h;
            p[i] = up;
            double lp = loss_at(g, x, labels, batch);
            p[i] = down;
            double lm = loss_at(g, x, labels, batch);
            p[i] = saved;
            double fd = (lp - lm) / ((double)up - down);
            if (fabs(fd - an[i]) > err) {
                err = fabs(fd - an[i]);
                worst = i;
                worst_fd = fd;
            }
            checked++;
        }
        ck_assert_msg(err <= 1e-2 * scale + 1e-4,
                      "%s[%lld]: grad %.6g, finite difference %.6g (max |grad| %.3g)",
                      g->t[t].name, (long long)worst, worst >= 0 ? an[worst] : 0, worst_fd, scale);
    }
    grads_free(g, &gr);
    free(labels);
    free(x);
    ck_assert_int_eq(diag_error_count(), 0);
    return checked;
}

/* input C x H x W -> 1x1 conv "pre" with `c` filters (its gradient checks
 * the operator's dL/dinput). */
static Graph *spatial(int c, int h, int w)
{
    Graph *g = graph_with_input(3, (int64_t[]){2, h, w});
    conv(g, "pre", c, 1);
    return g;
}

static Graph *signal(int c, int l)
{
    Graph *g = graph_with_input(2, (int64_t[]){2, l});
    conv(g, "pre", c, 1);
    return g;
}

static void run_case(Graph *g, int batch)
{
    head(g);
    finish(g);
    ck_assert_int_gt(check_fd(g, batch, 48), 0);
    graph_free(g);
}

/* ---- convolution ---- */

START_TEST(fd_conv_plain)
{
    Graph *g = spatial(2, 6, 5);
    conv(g, "c", 3, 3);
    run_case(g, 2);
}
END_TEST

START_TEST(fd_conv_stride_pad_asym)
{
    Graph *g = spatial(2, 7, 6);
    Node *n = conv(g, "c", 3, 3);
    n->a.stride[0] = 2;
    n->a.stride[1] = 3;
    n->a.pad[0] = 1, n->a.pad[1] = 0, n->a.pad[2] = 2, n->a.pad[3] = 1;
    n->a.kernel[1] = 2;
    run_case(g, 2);
}
END_TEST

START_TEST(fd_conv_dilation_groups)
{
    Graph *g = spatial(4, 7, 7);
    Node *n = conv(g, "c", 6, 2);
    n->a.dilation[0] = 2;
    n->a.dilation[1] = 3;
    n->a.groups = 2;
    n->a.pad[1] = n->a.pad[3] = 1;
    run_case(g, 2);
}
END_TEST

START_TEST(fd_conv_depthwise_no_bias)
{
    Graph *g = spatial(3, 5, 5);
    Node *n = conv(g, "c", 3, 3);
    n->a.groups = -1;
    n->a.bias = false;
    run_case(g, 2);
}
END_TEST

/* Reflect and replicate read edge cells again; their gradients must
 * accumulate onto the source cells (seen through pre's gradient). */
START_TEST(fd_conv_pad_modes)
{
    PadMode modes[] = {PAD_REFLECT, PAD_REPLICATE};
    for (int m = 0; m < 2; m++) {
        Graph *g = spatial(2, 5, 6);
        Node *n = conv(g, "c", 2, 3);
        n->a.pad_mode = modes[m];
        n->a.pad[0] = n->a.pad[2] = 1;
        n->a.pad[1] = 2, n->a.pad[3] = 1;
        n->a.stride[1] = 2;
        run_case(g, 2);
    }
}
END_TEST

START_TEST(fd_conv1d)
{
    Graph *g = signal(3, 11);
    Node *n = conv(g, "c", 4, 3);
    n->a.stride[1] = 2;
    n->a.dilation[1] = 2;
    n->a.pad[1] = n->a.pad[3] = 2;
    n->a.pad_mode = PAD_REFLECT;
    run_case(g, 3);
}
END_TEST

/* Every fused epilogue: the derivative comes from the output. */
START_TEST(fd_conv_fused_acts)
{
    Act acts[] = {{ACT_RELU, 0, 0},    {ACT_LEAKY_RELU, 0.1f, 0}, {ACT_SIGMOID, 0, 0},
                  {ACT_TANH, 0, 0},    {ACT_ELU, 0.7f, 0},        {ACT_CLIP, -0.3f, 0.4f}};
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        Graph *g = spatial(2, 5, 5);
        conv(g, "c", 3, 3)->act = acts[i];
        run_case(g, 2);
    }
}
END_TEST

/* ---- pools ---- */

START_TEST(fd_maxpool)
{
    Graph *g = spatial(2, 7, 7);
    pool(g, OP_MAXPOOL, 3, 2, 1);
    run_case(g, 2);
    g = spatial(2, 6, 6);
    pool(g, OP_MAXPOOL, 2, 2, 0);
    run_case(g, 2);
}
END_TEST

START_TEST(fd_maxpool_ceil_dilation)
{
    Graph *g = spatial(2, 8, 7);
    Node *n = pool(g, OP_MAXPOOL, 2, 2, 0);
    n->a.ceil_mode = true;
    n->a.dilation[0] = 2;
    run_case(g, 2);
}
END_TEST

START_TEST(fd_avgpool)
{
    for (int include = 0; include < 2; include++)
        for (int ceil = 0; ceil < 2; ceil++) {
            Graph *g = spatial(2, 6, 7);
            Node *n = pool(g, OP_AVGPOOL, 3, 2, 1);
            n->a.count_include_pad = include;
            n->a.ceil_mode = ceil;
            run_case(g, 2);
        }
}
END_TEST

START_TEST(fd_pool1d)
{
    Graph *g = signal(2, 9);
    Node *n = pool(g, OP_AVGPOOL, 1, 1, 0);
    n->a.kernel[1] = 3;
    n->a.stride[1] = 2;
    n->a.pad[1] = n->a.pad[3] = 1;
    n = pool(g, OP_MAXPOOL, 1, 1, 0);
    n->a.kernel[1] = 2;
    n->a.stride[1] = 1;
    run_case(g, 2);
}
END_TEST

START_TEST(fd_global_pools)
{
    Graph *g = spatial(3, 4, 5);
    layer(g, OP_GLOBAL_AVGPOOL, "gap");
    run_case(g, 2);
    g = spatial(3, 4, 5);
    layer(g, OP_GLOBAL_MAXPOOL, "gmp");
    run_case(g, 2);
}
END_TEST

/* ---- dense, batchnorm ---- */

START_TEST(fd_dense)
{
    Graph *g = graph_with_input(1, (int64_t[]){5});
    dense(g, "d1", 4)->act = (Act){ACT_TANH, 0, 0};
    dense(g, "d2", 6)->a.bias = false;
    run_case(g, 3);
}
END_TEST

START_TEST(fd_batchnorm)
{
    Graph *g = spatial(3, 4, 3);
    batchnorm(g, "bn")->act = (Act){ACT_RELU, 0, 0};
    run_case(g, 3);
    g = graph_with_input(1, (int64_t[]){5});
    dense(g, "pre", 4);
    batchnorm(g, "bn");
    run_case(g, 4);
}
END_TEST

/* ---- activations, softmax, maxout ---- */

START_TEST(fd_activations)
{
    int ops[] = {OP_RELU, OP_LEAKY_RELU, OP_SIGMOID, OP_TANH, OP_ELU, OP_CLIP};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        Graph *g = graph_with_input(1, (int64_t[]){6});
        dense(g, "pre", 8);
        Node *n = layer(g, ops[i], "act");
        /* clip's bounds; leaky_relu's negative slope reads x; elu's alpha */
        n->act.a = ops[i] == OP_CLIP ? -0.25f : ops[i] == OP_LEAKY_RELU ? -0.2f : 0.8f;
        n->act.b = 0.3f;
        run_case(g, 3);
    }
}
END_TEST

START_TEST(fd_softmax_inner)
{
    Graph *g = spatial(3, 2, 4);
    layer(g, OP_SOFTMAX, "sm")->a.axis = 0; /* per pixel, over channels */
    run_case(g, 2);
    g = spatial(2, 3, 4);
    layer(g, OP_SOFTMAX, "sm")->a.axis = 2;
    run_case(g, 2);
}
END_TEST

START_TEST(fd_maxout)
{
    Graph *g = spatial(6, 3, 3);
    layer(g, OP_MAXOUT, "mo")->a.k = 3;
    run_case(g, 2);
}
END_TEST

/* ---- joins and shape operators ---- */

START_TEST(fd_add_concat_mul)
{
    Graph *g = spatial(2, 4, 4);
    int pre = g->output;
    conv(g, "a", 3, 3)->a.pad[0] = 1;
    g->n[g->nn - 1].a.pad[1] = g->n[g->nn - 1].a.pad[2] = g->n[g->nn - 1].a.pad[3] = 1;
    int a = g->output;
    g->output = pre;
    conv(g, "b", 3, 1);
    int b = g->output;
    layer_n(g, OP_ADD, "sum", (int[]){a, b}, 2)->act = (Act){ACT_RELU, 0, 0};
    int s = g->output;
    layer_n(g, OP_MUL, "prod", (int[]){s, a}, 2);
    int p = g->output;
    layer_n(g, OP_CONCAT, "cat", (int[]){p, pre, a}, 3)->a.axis = 0;
    run_case(g, 2);
}
END_TEST

/* A tensor read by two consumers and twice by one node. */
START_TEST(fd_shared_reads)
{
    Graph *g = graph_with_input(1, (int64_t[]){4});
    dense(g, "pre", 5);
    int x = g->output;
    layer_n(g, OP_MUL, "sq", (int[]){x, x}, 2);
    int sq = g->output;
    layer_n(g, OP_ADD, "sum", (int[]){sq, x, x}, 3);
    run_case(g, 3);
}
END_TEST

START_TEST(fd_pad_op)
{
    PadMode modes[] = {PAD_ZEROS, PAD_REFLECT, PAD_REPLICATE};
    for (int m = 0; m < 3; m++) {
        Graph *g = spatial(2, 4, 5);
        Node *n = layer(g, OP_PAD, "pad");
        n->a.pad_mode = modes[m];
        n->a.pad[0] = 1, n->a.pad[1] = 2, n->a.pad[2] = 3, n->a.pad[3] = 1;
        conv(g, "c", 2, 3);
        run_case(g, 2);
    }
}
END_TEST

START_TEST(fd_views)
{
    Graph *g = spatial(2, 3, 4);
    layer(g, OP_DROPOUT, "drop")->a.rate = 0.5f;
    layer(g, OP_IDENTITY, "id");
    layer(g, OP_RESHAPE, "rs")->a.target = shape_make(2, (int64_t[]){4, 6});
    conv(g, "c1d", 3, 3);
    run_case(g, 2);
}
END_TEST

/* ---- the loss ---- */

/* Ending in softmax: the loss is -log p[y] of the model's probabilities,
 * computed from the logits, and its gradient still matches. */
START_TEST(fd_fused_softmax)
{
    Graph *g = graph_with_input(1, (int64_t[]){4});
    dense(g, "fc", 3);
    layer(g, OP_SOFTMAX, "sm");
    finish(g);
    float x[8];
    for (int i = 0; i < 8; i++)
        x[i] = urand();
    int32_t labels[2] = {2, 0};
    Activations a = interp_forward(g, x, 2, true);
    double want = -(log(a.val[g->output][2]) + log(a.val[g->output][3])) / 2;
    interp_free(g, &a);
    ck_assert_double_eq_tol(loss_at(g, x, labels, 2), want, 1e-6);
    ck_assert_int_gt(check_fd(g, 2, 48), 0);
    graph_free(g);
}
END_TEST

/* Logits far apart: the fused form stays finite where log(p) would not. */
START_TEST(loss_stable)
{
    Graph *g = graph_with_input(1, (int64_t[]){2});
    Node *n = dense(g, "fc", 2);
    n->a.bias = false;
    layer(g, OP_SOFTMAX, "sm");
    finish(g);
    float *w = g->t[g->n[0].param[0]].data;
    w[0] = 1, w[1] = 0, w[2] = 0, w[3] = 1; /* identity: logits = input */
    float x[2] = {0, 200};
    int32_t label = 0;
    Grads gr;
    ck_assert(interp_grad(g, x, &label, 1, false, here, &gr));
    ck_assert_double_eq_tol(gr.loss, 200, 1e-9);
    /* dL/dz = p - onehot = (-1, 1); dL/dW = dz x^T = [[0, -200], [0, 200]] */
    float *dw = gr.dparam[g->n[0].param[0]];
    ck_assert_float_eq_tol(dw[1], -200, 1e-3);
    ck_assert_float_eq_tol(dw[3], 200, 1e-3);
    ck_assert_float_eq_tol(dw[0], 0, 1e-6);
    grads_free(g, &gr);
    graph_free(g);
}
END_TEST

START_TEST(loss_bad_label)
{
    Graph *g = graph_with_input(1, (int64_t[]){2});
    dense(g, "fc", 3);
    finish(g);
    float x[4] = {0};
    int32_t labels[2] = {1, 3};
    Grads gr;
    ck_assert(!interp_grad(g, x, labels, 2, false, here, &gr));
    ck_assert_int_eq(diag_error_count(), 1);
    ck_assert_ptr_null(gr.dparam);
    graph_free(g);
}
END_TEST

/* BatchNorm's running statistics: untouched by a grad run, updated when
 * the caller keeps them. */
START_TEST(grad_keeps_stats)
{
    Graph *g = graph_with_input(1, (int64_t[]){2});
    batchnorm(g, "bn");
    finish(g);
    float x[4] = {1, 2, 3, 6};
    int32_t labels[2] = {0, 1};
    Grads gr;
    const float *mean = g->t[g->n[0].param[2]].data;
    ck_assert(interp_grad(g, x, labels, 2, false, here, &gr));
    grads_free(g, &gr);
    ck_assert_float_eq(mean[0], 0);
    ck_assert(interp_grad(g, x, labels, 2, true, here, &gr));
    grads_free(g, &gr);
    ck_assert_float_eq_tol(mean[0], 0.2f, 1e-6); /* 0.9 * 0 + 0.1 * mean(1, 3) */
    ck_assert_float_eq_tol(mean[1], 0.4f, 1e-6);
    graph_free(g);
}
END_TEST

/* ---- hand-worked kernels ---- */

/* The course's 4x4 input and 3x3 kernel (output [[122,148],[126,134]]):
 * with dL/dO = [[1,0],[0,2]], dL/dW = X[0:3,0:3] + 2 X[1:4,1:4], and dL/dX
 * is the full convolution of dL/dO with the rotated kernel, i.e. W placed
 * at (0,0) plus 2 W placed at (1,1). */
START_TEST(hand_conv_course)
{
    Graph *g = graph_with_input(3, (int64_t[]){1, 4, 4});
    Node *n = conv(g, "c", 1, 3);
    n->a.bias = false;
    ck_assert(shape_infer(g));
    init_weights(g);
    n = &g->n[0];
    float x[16] = {4, 5, 8, 7, 1, 8, 8, 8, 3, 6, 6, 4, 6, 5, 7, 8};
    float w[9] = {1, 4, 1, 1, 4, 3, 3, 3, 1};
    memcpy(g->t[n->param[0]].data, w, sizeof w);
    float out[4], dout[4] = {1, 0, 0, 2}, dx[16] = {0}, dw[9] = {0};
    const float *in[1] = {x};
    op_info(OP_CONV)->run(g, n, in, out, 1, false);
    ck_assert_float_eq(out[0], 122);
    ck_assert_float_eq(out[3], 134);
    float *din[1] = {dx}, *dp[4] = {dw, NULL, NULL, NULL};
    op_info(OP_CONV)->grad(g, n, in, out, dout, din, dp, 1);
    float want_dw[9] = {4 + 16, 5 + 16, 8 + 16, 1 + 12, 8 + 12, 8 + 8, 3 + 10, 6 + 14, 6 + 16};
    float want_dx[16] = {1, 4, 1, 0, 1, 4 + 2, 3 + 8, 2, 3, 3 + 2, 1 + 8, 6, 0, 6, 6, 2};
    for (int i = 0; i < 9; i++)
        ck_assert_msg(dw[i] == want_dw[i], "dW[%d] = %g, want %g", i, dw[i], want_dw[i]);
    for (int i = 0; i < 16; i++)
        ck_assert_msg(dx[i] == want_dx[i], "dX[%d] = %g, want %g", i, dx[i], want_dx[i]);
    graph_free(g);
}
END_TEST

/* The course's 4x4 pooling example (max [[5,9],[8,6]]): max routes each
 * window's gradient to its 5, 9, 8 and 6; average spreads a quarter to
 * each cell of the window. */
START_TEST(hand_pool_course)
{
    Graph *g = graph_with_input(3, (int64_t[]){1, 4, 4});
    pool(g, OP_MAXPOOL, 2, 2, 0);
    ck_assert(shape_infer(g));
    float x[16] = {5, 3, 1, 9, 2, 4, 5, 6, 7, 8, 5, 6, 1, 3, 4, 5};
    float dout[4] = {1, 2, 3, 4}, dx[16] = {0};
    const float *in[1] = {x};
    float *din[1] = {dx}, *dp[4] = {0};
    op_info(OP_MAXPOOL)->grad(g, &g->n[0], in, NULL, dout, din, dp, 1);
    float want[16] = {1, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++)
        ck_assert_msg(dx[i] == want[i], "max dX[%d] = %g, want %g", i, dx[i], want[i]);
    /* ties go to the first cell in window order */
    float flat[16] = {2, 2, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memset(dx, 0, sizeof dx);
    in[0] = flat;
    op_info(OP_MAXPOOL)->grad(g, &g->n[0], in, NULL, dout, din, dp, 1);
    ck_assert_float_eq(dx[0], 1);
    ck_assert_float_eq(dx[1] + dx[4] + dx[5], 0);
    ck_assert_float_eq(dx[2], 2); /* window of zeros: its first cell */
    g->n[0].op = OP_AVGPOOL;
    memset(dx, 0, sizeof dx);
    op_info(OP_AVGPOOL)->grad(g, &g->n[0], in, NULL, dout, din, dp, 1);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(dx[i], dout[(i / 8) * 2 + (i % 4) / 2] / 4);
    graph_free(g);
}
END_TEST

/* ---- optimizer ---- */

/* A graph holding one trainable parameter "p" = v[count]; its id in *t. */
static Graph *one_param(const float *v, int64_t count, int *t)
{
    Graph *g = graph_with_input(1, (int64_t[]){1});
    *t = graph_add_tensor(g, "p", T_PARAM, (Loc){0});
    g->t[*t].shape = shape_make(1, &count);
    g->t[*t].data = xmalloc((size_t)count * sizeof(float));
    memcpy(g->t[*t].data, v, (size_t)count * sizeof(float));
    return g;
}

/* Two steps on one parameter p = [1, -2] with gradients [0.5, 0.25] then
 * [-1, 2], worked with torch.optim's formulas (see optim.c). */
START_TEST(optim_sgd_momentum)
{
    int t;
    Graph *g = one_param((float[]){1, -2}, 2, &t);
    TrainCfg cfg = {.optim = OPT_SGD, .lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
    OptimState s;
    optim_init(&s, g);
    float g1[2] = {0.5f, 0.25f}, g2[2] = {-1, 2};
    float *dp[2] = {NULL, g1};
    optim_step(g, &cfg, &s, dp);
    /* d = 0.5 + 0.01 = 0.51, buf = 0.51, p = 1 - 0.051 = 0.949;
     * d = 0.25 - 0.02 = 0.23, p = -2 - 0.023 = -2.023 */
    ck_assert_float_eq_tol(g->t[t].data[0], 0.949f, 1e-6);
    ck_assert_float_eq_tol(g->t[t].data[1], -2.023f, 1e-6);
    dp[1] = g2;
    optim_step(g, &cfg, &s, dp);
    /* d = -1 + 0.00949 = -0.99051, buf = 0.459 - 0.99051 = -0.53151,
     * p = 0.949 + 0.053151 = 1.002151 */
    ck_assert_float_eq_tol(g->t[t].data[0], 1.002151f, 1e-6);
    optim_free(g, &s);
    graph_free(g);
}
END_TEST

START_TEST(optim_adam)
{
    int t;
    Graph *g = one_param((float[]){1}, 1, &t);
    TrainCfg cfg = {.optim = OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                    .eps = 1e-8f};
    OptimState s;
    optim_init(&s, g);
    float g1 = 0.5f, g2 = -0.25f;
    float *dp[2] = {NULL, &g1};
    optim_step(g, &cfg, &s, dp);
    /* step 1: m/(1-b1) = g, sqrt(v/(1-b2)) = |g|: p -= lr * sign(g) */
    ck_assert_float_eq_tol(g->t[t].data[0], 0.99f, 1e-6);
    dp[1] = &g2;
    optim_step(g, &cfg, &s, dp);
    /* m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225;
     * p -= 0.01/0.19 * 0.02 / (sqrt(0.00031225)/sqrt(0.001999) + 1e-8) */
    double want = 0.99 - 0.01 / 0.19 * 0.02 / (sqrt(0.00031225) / sqrt(1 - 0.999 * 0.999) + 1e-8);
    ck_assert_float_eq_tol(g->t[t].data[0], (float)want, 1e-6);
    optim_free(g, &s);
    graph_free(g);
}
END_TEST

static Suite *grad_suite(void)
{
    Suite *s = suite_create("grad");
    TCase *fd = tcase_create("finite_differences");
    tcase_set_timeout(fd, 60);
    tcase_add_test(fd, fd_conv_plain);
    tcase_add_test(fd, fd_conv_stride_pad_asym);
    tcase_add_test(fd, fd_conv_dilation_groups);
    tcase_add_test(fd, fd_conv_depthwise_no_bias);
    tcase_add_test(fd, fd_conv_pad_modes);
    tcase_add_test(fd, fd_conv1d);
    tcase_add_test(fd, fd_conv_fused_acts);
    tcase_add_test(fd, fd_maxpool);
    tcase_add_test(fd, fd_maxpool_ceil_dilation);
    tcase_add_test(fd, fd_avgpool);
    tcase_add_test(fd, fd_pool1d);
    tcase_add_test(fd, fd_global_pools);
    tcase_add_test(fd, fd_dense);
    tcase_add_test(fd, fd_batchnorm);
    tcase_add_test(fd, fd_activations);
    tcase_add_test(fd, fd_softmax_inner);
    tcase_add_test(fd, fd_maxout);
    tcase_add_test(fd, fd_add_concat_mul);
    tcase_add_test(fd, fd_shared_reads);
    tcase_add_test(fd, fd_pad_op);
    tcase_add_test(fd, fd_views);
    tcase_add_test(fd, fd_fused_softmax);
    suite_add_tcase(s, fd);
    TCase *loss = tcase_create("loss");
    tcase_add_test(loss, loss_stable);
    tcase_add_test(loss, loss_bad_label);
    tcase_add_test(loss, grad_keeps_stats);
    suite_add_tcase(s, loss);
    TCase *hand = tcase_create("hand");
    tcase_add_test(hand, hand_conv_course);
    tcase_add_test(hand, hand_pool_course);
    tcase_add_test(hand, optim_sgd_momentum);
    tcase_add_test(hand, optim_adam);
    suite_add_tcase(s, hand);
    return s;
}

int main(void)
{
    if (getenv("FD_H"))
        fd_h = strtof(getenv("FD_H"), NULL);
    return run_suite(grad_suite());
}
