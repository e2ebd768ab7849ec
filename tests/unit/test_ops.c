/* test_ops.c: the non-spatial operators (act.c, softmax.c, maxout.c,
 * elementwise.c, concat.c, pad.c, batchnorm.c, reshape.c): shape rules and
 * their errors, and interpreter kernels on small hand-worked numbers.
 * Oracles: arithmetic done by hand in the comments, the course's padding
 * example, PyTorch's documented formulas, and central finite differences
 * for every activation's derivative. */
#include "ops/ops.h"
#include "check_run.h"
#include "fixture.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

static const Loc here = {"test.cnn", 1, 1};

/* A further activation tensor (a second operand). */
static int activation(Graph *g, const char *name, int rank, const int64_t *d)
{
    int t = graph_add_tensor(g, name, T_ACT, here);
    g->t[t].shape = shape_make(rank, d);
    return t;
}

/* A layer named after its operator (fixture.h's add_layer_n). */
static Node *add_node(Graph *g, int op, const int *in, int nin)
{
    int id = add_layer_n(g, op, op_info(op)->name, in, nin);
    return &g->n[id];
}

static bool infer(Graph *g, Node *n)
{
    return op_info(n->op)->infer(g, n);
}

static void run(Graph *g, const Node *n, const float *const *in, float *out, int batch,
                bool training)
{
    op_info(n->op)->run(g, n, in, out, batch, training);
}

/* A constant operand in param slot `slot`, with data. */
static void constant(Graph *g, Node *n, int slot, int rank, const int64_t *d, const float *v)
{
    int id = n - g->n;
    int t = graph_add_tensor(g, "B", T_CONST, here);
    g->t[t].shape = shape_make(rank, d);
    int64_t numel = shape_numel(&g->t[t].shape);
    g->t[t].data = xmalloc((size_t)numel * sizeof(float));
    for (int64_t i = 0; i < numel; i++)
        g->t[t].data[i] = v[i];
    g->n[id].param[slot] = t;
    g->n[id].nparam = slot + 1;
}

static void assert_close(const float *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= tol, "element %d: got %.9g, want %.9g", i,
                      (double)got[i], want[i]);
}

static void assert_shape(const Graph *g, const Node *n, int rank, const int64_t *d)
{
    Shape want = shape_make(rank, d);
    char a[64], b[64];
    ck_assert_msg(shape_eq(node_out_shape(g, n), &want), "shape %s, want %s",
                  shape_str(node_out_shape(g, n), a, sizeof a), shape_str(&want, b, sizeof b));
}

/* ---- operator table ---- */

/* Each OpInfo's traits are its ops.def row's (the fusion and planning
 * passes read them from the OpInfo). */
START_TEST(traits_match_ops_def)
{
    static const unsigned rows[] = {
#define OP(ID, name, traits) [OP_##ID] = (traits),
#include "ops.def"
#undef OP
    };
    static const int mine[] = {
        OP_BATCHNORM, OP_FLATTEN, OP_RESHAPE, OP_DROPOUT, OP_IDENTITY, OP_RELU,
        OP_LEAKY_RELU, OP_SIGMOID, OP_TANH, OP_ELU, OP_CLIP, OP_SOFTMAX,
        OP_MAXOUT, OP_ADD, OP_MUL, OP_CONCAT, OP_PAD,
    };
    for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) {
        const OpInfo *op = op_info(mine[i]);
        ck_assert_msg(op->traits == rows[mine[i]], "%s", op->name);
        ck_assert_ptr_nonnull(op->infer);
        ck_assert_ptr_nonnull(op->run);
    }
}
END_TEST

/* ---- act.c ---- */

START_TEST(act_values)
{
    ck_assert_float_eq(act_apply((Act){ACT_RELU, 0, 0}, -1.5f), 0.0f);
    ck_assert_float_eq(act_apply((Act){ACT_RELU, 0, 0}, 2.5f), 2.5f);
    ck_assert_float_eq_tol(act_apply((Act){ACT_LEAKY_RELU, 0.1f, 0}, -2.0f), -0.2f, 1e-7);
    ck_assert_float_eq(act_apply((Act){ACT_LEAKY_RELU, 0.1f, 0}, 3.0f), 3.0f);
    ck_assert_float_eq(act_apply((Act){ACT_SIGMOID, 0, 0}, 0.0f), 0.5f);
    ck_assert_float_eq_tol(act_apply((Act){ACT_SIGMOID, 0, 0}, 1.0f), 0.7310585786, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_SIGMOID, 0, 0}, -1.0f), 0.2689414214, 1e-7);
    /* far tails: exact limits, no overflow to inf/inf = NaN */
    ck_assert_float_eq(act_apply((Act){ACT_SIGMOID, 0, 0}, -1000.0f), 0.0f);
    ck_assert_float_eq(act_apply((Act){ACT_SIGMOID, 0, 0}, 1000.0f), 1.0f);
    ck_assert_float_eq_tol(act_apply((Act){ACT_TANH, 0, 0}, 0.5f), 0.4621171573, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_ELU, 1.0f, 0}, -1.0f), -0.6321205588, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_ELU, 2.0f, 0}, -1.0f), -1.2642411177, 1e-6);
    ck_assert_float_eq(act_apply((Act){ACT_ELU, 1.0f, 0}, 0.75f), 0.75f);
    Act relu6 = {ACT_CLIP, 0, 6};
    ck_assert_float_eq(act_apply(relu6, -3.0f), 0.0f);
    ck_assert_float_eq(act_apply(relu6, 4.0f), 4.0f);
    ck_assert_float_eq(act_apply(relu6, 7.0f), 6.0f);
    ck_assert_float_eq(act_apply((Act){ACT_NONE, 0, 0}, -7.0f), -7.0f);
    Act hs_torch = {ACT_HARDSIGMOID, 1.0f / 6, 0.5f}, hs_onnx = {ACT_HARDSIGMOID, 0.2f, 0.5f};
    ck_assert_float_eq_tol(act_apply(hs_torch, 1.5f), 0.75f, 1e-7);
    ck_assert_float_eq(act_apply(hs_torch, -4.0f), 0.0f);
    ck_assert_float_eq(act_apply(hs_torch, 4.0f), 1.0f);
    ck_assert_float_eq_tol(act_apply(hs_onnx, 1.0f), 0.7f, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_SILU, 0, 0}, 1.0f), 0.7310585786, 1e-7);
    ck_assert_float_eq(act_apply((Act){ACT_SILU, 0, 0}, -1000.0f), 0.0f);
    ck_assert_float_eq_tol(act_apply((Act){ACT_GELU, 0, 0}, 1.0f), 0.8413447461, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_GELU_TANH, 0, 0}, 1.0f), 0.8411919906, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_ERF, 0, 0}, 0.5f), 0.5204998778, 1e-7);
    ck_assert_float_eq_tol(act_apply((Act){ACT_MISH, 0, 0}, 1.0f), 0.8650983883, 1e-7);
    Act sp_onnx = {ACT_SOFTPLUS, 1, INFINITY};
    ck_assert_float_eq_tol(act_apply(sp_onnx, 0.0f), 0.6931471806, 1e-7);
    ck_assert_float_eq(act_apply(sp_onnx, 1000.0f), 1000.0f); /* e^1000 never formed */
    ck_assert_float_eq(act_apply(sp_onnx, -1000.0f), 0.0f);
    ck_assert_float_eq(act_apply((Act){ACT_SOFTPLUS, 2, 3}, 1.6f), 1.6f); /* threshold */
    ck_assert_float_eq_tol(act_apply((Act){ACT_SOFTPLUS, 2, 3}, 1.0f), 1.0634640055, 1e-6);
    ck_assert_str_eq(act_name(ACT_LEAKY_RELU), "leaky_relu");
    ck_assert_str_eq(act_name(ACT_CLIP), "clip");
    ck_assert_str_eq(act_name(ACT_NONE), "none");
}
END_TEST

/* Central differences in double around points away from the kinks (relative
 * to the slope where it is steep: e^x). */
START_TEST(act_derivatives_match_finite_differences)
{
    static const Act acts[] = {
        {ACT_RELU, 0, 0},        {ACT_LEAKY_RELU, 0.01f, 0}, {ACT_LEAKY_RELU, -0.5f, 0},
        {ACT_SIGMOID, 0, 0},     {ACT_TANH, 0, 0},           {ACT_ELU, 1.0f, 0},
        {ACT_ELU, 0.3f, 0},      {ACT_ELU, -0.5f, 0},        {ACT_CLIP, -1.0f, 2.0f},
        {ACT_HARDSWISH, 0, 0},   {ACT_HARDSIGMOID, 1.0f / 6, 0.5f},
        {ACT_HARDSIGMOID, 0.2f, 0.5f}, {ACT_SILU, 0, 0},     {ACT_GELU, 0, 0},
        {ACT_GELU_TANH, 0, 0},   {ACT_ERF, 0, 0},            {ACT_SOFTPLUS, 1, 20},
        {ACT_SOFTPLUS, 2, 3},    {ACT_SOFTPLUS, -1, 20},     {ACT_MISH, 0, 0},
        {ACT_NEG, 0, 0},         {ACT_ABS, 0, 0},            {ACT_EXP, 0, 0},
        {ACT_POW, 2, 0},         {ACT_POW, 3, 0},
        {ACT_NONE, 0, 0},
    };
    static const float xs[] = {-3.1f, -1.7f, -0.4f, 0.3f, 0.9f, 1.6f, 2.6f, 5.2f};
    const float h = 1e-2f;
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
        for (size_t i = 0; i < sizeof xs / sizeof *xs; i++) {
            Act act = acts[a];
            float x = xs[i], y = act_apply(act, x);
            double fd = ((double)act_apply(act, x + h) - act_apply(act, x - h)) / (2.0 * h);
            float d = act_derivative(act, x, y);
            ck_assert_msg(fabs(d - fd) <= 2e-3 * fmax(1.0, fabs(fd)), "%s(a=%g) at %g: %g, finite differences %g",
                          act_name(act.kind), (double)act.a, (double)x, (double)d, fd);
            if (act_grad_from_output(act))
                ck_assert_float_eq(act_derivative(act, y, y), d);
        }
}
END_TEST

/* At the kinks: PyTorch's conventions (see act.c). */
START_TEST(act_derivative_kinks)
{
    ck_assert_float_eq(act_derivative((Act){ACT_RELU, 0, 0}, 0, 0), 0);
    ck_assert_float_eq(act_derivative((Act){ACT_LEAKY_RELU, 0.2f, 0}, 0, 0), 0.2f);
    ck_assert_float_eq(act_derivative((Act){ACT_ELU, 0.7f, 0}, 0, 0), 0.7f);
    ck_assert_float_eq(act_derivative((Act){ACT_CLIP, 0, 6}, 0, 0), 0);
    ck_assert_float_eq(act_derivative((Act){ACT_CLIP, 0, 6}, 6, 6), 0);
    ck_assert_float_eq(act_derivative((Act){ACT_CLIP, 0, 6}, 5.9f, 5.9f), 1);
    ck_assert(act_grad_from_output((Act){ACT_LEAKY_RELU, 0.01f, 0}));
    ck_assert(!act_grad_from_output((Act){ACT_LEAKY_RELU, -0.01f, 0}));
    ck_assert(!act_grad_from_output((Act){ACT_ELU, -1, 0}));
    /* negative slope: y > 0 for x < 0, so the sign must come from x */
    ck_assert_float_eq(act_derivative((Act){ACT_LEAKY_RELU, -0.5f, 0}, -2, 1), -0.5f);
}
END_TEST

START_TEST(act_ops)
{
    int64_t d[] = {2, 1, 2};
    Graph *g = graph_with_input(3, d);
    Node *n = add_node(g, OP_CLIP, &g->input, 1);
    n->act.a = -1;
    n->act.b = 2;
    ck_assert(infer(g, n));
    assert_shape(g, n, 3, d);
    Act act = node_act(n);
    ck_assert_int_eq(act.kind, ACT_CLIP);
    ck_assert_float_eq(act.a, -1);
    ck_assert_float_eq(act.b, 2);
    float x[8] = {-3, -0.5f, 0, 1, 2, 2.5f, 7, -1};
    float y[8];
    const float *in[] = {x};
    run(g, n, in, y, 2, false);
    double want[8] = {-1, -0.5, 0, 1, 2, 2, 2, -1};
    assert_close(y, want, 8, 0);

    n = add_node(g, OP_LEAKY_RELU, &g->input, 1);
    n->act.a = 0.25f;
    ck_assert(infer(g, n));
    ck_assert_int_eq(node_act(n).kind, ACT_LEAKY_RELU);
    ck_assert_float_eq(node_act(n).a, 0.25f);
    run(g, n, in, y, 2, false);
    double want_leaky[8] = {-0.75, -0.125, 0, 1, 2, 2.5, 7, -0.25};
    assert_close(y, want_leaky, 8, 0);

    static const int ops[] = {OP_RELU, OP_SIGMOID, OP_TANH, OP_ELU};
    static const ActKind kinds[] = {ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_ELU};
    for (int i = 0; i < 4; i++) {
        n = add_node(g, ops[i], &g->input, 1);
        n->act.a = 1;
        ck_assert(infer(g, n));
        ck_assert_int_eq(node_act(n).kind, kinds[i]);
        run(g, n, in, y, 2, false);
        for (int j = 0; j < 8; j++)
            ck_assert_float_eq(y[j], act_apply(node_act(n), x[j]));
    }
    ck_assert_int_eq(node_act(&g->n[0]).kind, ACT_CLIP);
    Node conv = {.op = OP_CONV};
    ck_assert_int_eq(node_act(&conv).kind, ACT_NONE);
    graph_free(g);
}
END_TEST

START_TEST(act_op_errors)
{
    int64_t d[] = {4};
    Graph *g = graph_with_input(1, d);
    Node *n = add_node(g, OP_CLIP, &g->input, 1);
    n->act.a = 3;
    n->act.b = 1;
    ck_assert(!infer(g, n));
    int in[] = {g->input, g->input};
    n = add_node(g, OP_RELU, in, 2);
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 2);
    graph_free(g);
}
END_TEST

/* ---- softmax.c ---- */

START_TEST(softmax_flat)
{
    int64_t d[] = {3};
    Graph *g = graph_with_input(1, d);
    Node *n = add_node(g, OP_SOFTMAX, &g->input, 1);
    ck_assert(infer(g, n));
    assert_shape(g, n, 1, d);
    /* sample 2 is sample 1 shifted by 1000: the same result, no overflow */
    float x[6] = {1, 2, 3, 1001, 1002, 1003};
    float y[6];
    const float *in[] = {x};
    run(g, n, in, y, 2, false);
    /* e^-2, e^-1, 1 over their sum 1.503214724 */
    double want[6] = {0.0900305732, 0.2447284711, 0.6652409558,
                      0.0900305732, 0.2447284711, 0.6652409558};
    assert_close(y, want, 6, 1e-7);
    ck_assert_float_eq_tol(y[0] + y[1] + y[2], 1.0f, 1e-6);
    graph_free(g);
}
END_TEST

/* Axis 0 of [C,H,W] is a softmax per pixel over the channels. */
START_TEST(softmax_channels)
{
    int64_t d[] = {2, 1, 2};
    Graph *g = graph_with_input(3, d);
    Node *n = add_node(g, OP_SOFTMAX, &g->input, 1);
    n->a.axis = 0;
    ck_assert(infer(g, n));
    float x[4] = {0, 1, /* channel 1: */ 1, 1};
    float y[4];
    const float *in[] = {x};
    run(g, n, in, y, 1, false);
    /* pixel 0: softmax(0, 1); pixel 1: softmax(1, 1) */
    double want[4] = {0.2689414214, 0.5, 0.7310585786, 0.5};
    assert_close(y, want, 4, 1e-7);

    n = add_node(g, OP_SOFTMAX, &g->input, 1);
    n->a.axis = -1; /* the width: softmax(0, 1) and softmax(1, 1) per row */
    ck_assert(infer(g, n));
    ck_assert_int_eq(n->a.axis, 2);
    run(g, n, in, y, 1, false);
    double want_w[4] = {0.2689414214, 0.7310585786, 0.5, 0.5};
    assert_close(y, want_w, 4, 1e-7);

    n = add_node(g, OP_SOFTMAX, &g->input, 1);
    n->a.axis = 3;
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 1);
    graph_free(g);
}
END_TEST

/* ---- maxout.c ---- */

START_TEST(maxout_channels)
{
    int64_t d[] = {4, 1, 2};
    Graph *g = graph_with_input(3, d);
    Node *n = add_node(g, OP_MAXOUT, &g->input, 1);
    n->a.k = 2;
    ck_assert(infer(g, n));
    int64_t want_shape[] = {2, 1, 2};
    assert_shape(g, n, 3, want_shape);
    float x[16] = {1, 5, 3, 2, -1, -7, -2, -8, /* sample 2 */ 0, 0, 1, -1, 9, 9, 8, 10};
    float y[8];
    const float *in[] = {x};
    run(g, n, in, y, 2, false);
    /* unit c = max(channel 2c, channel 2c+1) at each position */
    double want[8] = {3, 5, -1, -7, 1, 0, 9, 10};
    assert_close(y, want, 8, 0);
    graph_free(g);
}
END_TEST

START_TEST(maxout_flat_and_errors)
{
    int64_t d[] = {6};
    Graph *g = graph_with_input(1, d);
    Node *n = add_node(g, OP_MAXOUT, &g->input, 1);
    n->a.k = 3;
    ck_assert(infer(g, n));
    int64_t two[] = {2};
    assert_shape(g, n, 1, two);
    float x[6] = {1, 7, 2, -4, -3, -9};
    float y[2];
    const float *in[] = {x};
    run(g, n, in, y, 1, false);
    double want[2] = {7, -3};
    assert_close(y, want, 2, 0);
    n = add_node(g, OP_MAXOUT, &g->input, 1);
    n->a.k = 4;
    ck_assert(!infer(g, n));
    n = add_node(g, OP_MAXOUT, &g->input, 1);
    n->a.k = 0;
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 2);
    graph_free(g);
}
END_TEST

/* ---- elementwise.c ---- */

START_TEST(add_broadcast_and_act)
{
    int64_t d[] = {2, 1, 2};
    Graph *g = graph_with_input(3, d);
    int in[] = {g->input, activation(g, "y", 3, d), activation(g, "z", 3, d)};
    Node *n = add_node(g, OP_ADD, in, 3);
    int64_t bd[] = {1, 2, 1, 1}; /* ONNX [1, C, 1, 1]: one value per channel */
    constant(g, n, 0, 4, bd, (const float[]){10, -20});
    n->act = (Act){ACT_RELU, 0, 0};
    ck_assert(infer(g, n));
    assert_shape(g, n, 3, d);
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float b[8] = {0, 0, 0, 30, 0, 0, 0, 0};
    float c[8] = {-20, 1, 1, 1, 1, 1, 1, 1};
    float y[8];
    const float *ins[] = {a, b, c};
    run(g, n, ins, y, 2, false);
    /* sample 1: channel 0 {1+0-20+10, 2+0+1+10}, channel 1 {3+0+1-20, 4+30+1-20};
     * sample 2: {5+1+10, 6+1+10}, {7+1-20, 8+1-20}; then relu */
    double want[8] = {0, 13, 0, 15, 16, 17, 0, 0};
    assert_close(y, want, 8, 0);
    graph_free(g);
}
END_TEST

START_TEST(add_broadcast_trailing)
{
    int64_t d[] = {2, 3};
    Graph *g = graph_with_input(2, d);
    Node *n = add_node(g, OP_ADD, &g->input, 1);
    int64_t bd[] = {3}; /* numpy: aligned with the last dimension */
    constant(g, n, 0, 1, bd, (const float[]){1, 2, 3});
    ck_assert(infer(g, n));
    float x[6] = {0, 0, 0, 10, 20, 30};
    float y[6];
    const float *in[] = {x};
    run(g, n, in, y, 1, false);
    double want[6] = {1, 2, 3, 11, 22, 33};
    assert_close(y, want, 6, 0);
    graph_free(g);
}
END_TEST

START_TEST(add_errors)
{
    int64_t d[] = {2, 1, 2}, e[] = {3, 2, 1}, bd[] = {3};
    Graph *g = graph_with_input(3, d);
    int in[] = {g->input, activation(g, "y", 3, e)};
    Node *n = add_node(g, OP_ADD, in, 2);
    ck_assert(!infer(g, n));
    n = add_node(g, OP_ADD, &g->input, 1); /* one operand */
    ck_assert(!infer(g, n));
    n = add_node(g, OP_ADD, &g->input, 1);
    constant(g, n, 0, 1, bd, (const float[]){1, 2, 3}); /* 3 vs width 2 */
    ck_assert(!infer(g, n));
    int64_t big[] = {2, 2, 1, 2}; /* a leading dimension other than 1 */
    n = add_node(g, OP_ADD, &g->input, 1);
    constant(g, n, 0, 4, big, (const float[]){1, 2, 3, 4, 5, 6, 7, 8});
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 4);
    graph_free(g);
}
END_TEST

/* [C,1,1] x [C,H,W] (squeeze-and-excitation), and two operands that both
 * grow: [1,2] - [3,1] is [3,2]. */
START_TEST(broadcast_between_activations)
{
    int64_t d[] = {2, 1, 1}, e[] = {2, 1, 3};
    Graph *g = graph_with_input(3, d);
    int in[] = {g->input, activation(g, "y", 3, e)};
    Node *n = add_node(g, OP_MUL, in, 2);
    ck_assert(infer(g, n));
    assert_shape(g, n, 3, e);
    float s[4] = {2, -1, /* sample 2 */ 0.5f, 10};
    float x[12] = {1, 2, 3, 4, 5, 6, /* sample 2 */ 7, 8, 9, 1, 1, 1};
    float y[12];
    const float *ins[] = {s, x};
    run(g, n, ins, y, 2, false);
    double want[12] = {2, 4, 6, -4, -5, -6, 3.5, 4, 4.5, 10, 10, 10};
    assert_close(y, want, 12, 0);

    int64_t r[] = {1, 2}, c[] = {3, 1};
    Graph *h = graph_with_input(2, r);
    int in2[] = {h->input, activation(h, "col", 2, c)};
    n = add_node(h, OP_SUB, in2, 2);
    ck_assert(infer(h, n));
    int64_t want_shape[] = {3, 2};
    assert_shape(h, n, 2, want_shape);
    float a[2] = {10, 20}, b[3] = {1, 2, 3};
    const float *ins2[] = {a, b};
    run(h, n, ins2, y, 1, false);
    double want_sub[6] = {9, 19, 8, 18, 7, 17};
    assert_close(y, want_sub, 6, 0);
    graph_free(h);
    graph_free(g);
}
END_TEST

/* B - x and B / x: the constant first (ONNX Sub(c, x), Div(c, x)). */
START_TEST(constant_first)
{
    int64_t d[] = {2, 2}, bd[] = {2, 1};
    Graph *g = graph_with_input(2, d);
    Node *n = add_node(g, OP_SUB, &g->input, 1);
    constant(g, n, 0, 2, bd, (const float[]){10, 100});
    n->a.const_first = true;
    ck_assert(infer(g, n));
    float x[4] = {1, 2, 4, 5}, y[4];
    const float *in[] = {x};
    run(g, n, in, y, 1, false);
    double want_sub[4] = {9, 8, 96, 95};
    assert_close(y, want_sub, 4, 0);
    n = add_node(g, OP_DIV, &g->input, 1);
    constant(g, n, 0, 2, bd, (const float[]){10, 100});
    n->a.const_first = true;
    ck_assert(infer(g, n));
    run(g, n, in, y, 1, false);
    double want_div[4] = {10, 5, 25, 20};
    assert_close(y, want_div, 4, 0);
    n = add_node(g, OP_DIV, &g->input, 1); /* x / B */
    constant(g, n, 0, 2, bd, (const float[]){2, 4});
    ck_assert(infer(g, n));
    run(g, n, in, y, 1, false);
    double want_x_div[4] = {0.5, 1, 1, 1.25};
    assert_close(y, want_x_div, 4, 0);
    graph_free(g);
}
END_TEST

/* Activations of different ranks (their batch dimensions would not align)
 * and a constant of two more dimensions are errors. */
START_TEST(broadcast_errors)
{
    int64_t d[] = {2, 3}, e[] = {3}, big[] = {1, 1, 2, 3};
    Graph *g = graph_with_input(2, d);
    int in[] = {g->input, activation(g, "flat", 1, e)};
    Node *n = add_node(g, OP_MUL, in, 2);
    ck_assert(!infer(g, n));
    n = add_node(g, OP_DIV, &g->input, 1);
    constant(g, n, 0, 4, big, (const float[]){1, 2, 3, 4, 5, 6});
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 2);
    graph_free(g);
}
END_TEST

START_TEST(mul_forms)
{
    int64_t d[] = {2, 2};
    Graph *g = graph_with_input(2, d);
    int in[] = {g->input, activation(g, "y", 2, d)};
    Node *n = add_node(g, OP_MUL, in, 2);
    ck_assert(infer(g, n));
    float a[4] = {1, 2, 3, 4}, b[4] = {-1, 0.5f, 2, 10};
    float y[4];
    const float *ins[] = {a, b};
    run(g, n, ins, y, 1, false);
    double want[4] = {-1, 1, 6, 40};
    assert_close(y, want, 4, 0);

    n = add_node(g, OP_MUL, &g->input, 1);
    int64_t bd[] = {2, 1}; /* per channel */
    constant(g, n, 0, 2, bd, (const float[]){3, -2});
    ck_assert(infer(g, n));
    run(g, n, ins, y, 1, false);
    double want_b[4] = {3, 6, -6, -8};
    assert_close(y, want_b, 4, 0);

    int three[] = {g->input, g->input, g->input};
    n = add_node(g, OP_MUL, three, 3);
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 1);
    graph_free(g);
}
END_TEST

/* ---- reduce.c ---- */

START_TEST(reduce_shapes_and_values)
{
    int64_t d[] = {2, 2, 3};
    Graph *g = graph_with_input(3, d);
    Node *n = add_node(g, OP_REDUCE_MEAN, &g->input, 1);
    n->a.reduce_axes = 1u << 0 | 1u << 2; /* channels and width */
    ck_assert(infer(g, n));
    int64_t want_shape[] = {2};
    assert_shape(g, n, 1, want_shape);
    float x[12] = {1, 2, 3, 4, 5, 6, /* channel 1 */ 7, 8, 9, 10, 11, 12};
    float y[2];
    const float *in[] = {x};
    run(g, n, in, y, 1, false);
    double want[2] = {(1 + 2 + 3 + 7 + 8 + 9) / 6.0, (4 + 5 + 6 + 10 + 11 + 12) / 6.0};
    assert_close(y, want, 2, 1e-6);
    n = add_node(g, OP_REDUCE_L2, &g->input, 1);
    n->a.reduce_axes = 1u << 1;
    n->a.keepdims = true;
    ck_assert(infer(g, n));
    int64_t keep_shape[] = {2, 1, 3};
    assert_shape(g, n, 3, keep_shape);
    float l2[6];
    run(g, n, in, l2, 1, false);
    double want_l2[6] = {sqrt(17), sqrt(29), sqrt(45), sqrt(149), sqrt(185), sqrt(225)};
    assert_close(l2, want_l2, 6, 1e-5);
    n = add_node(g, OP_REDUCE_SUM, &g->input, 1);
    n->a.reduce_axes = 1u << 3; /* no such axis */
    ck_assert(!infer(g, n));
    n = add_node(g, OP_REDUCE_SUM, &g->input, 1);
    n->a.reduce_axes = 7; /* all, without keepdims: a scalar per sample */
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 2);
    graph_free(g);
}
END_TEST

/* Ties share the gradient (PyTorch's amax); a NaN wins the maximum. */
START_TEST(reduce_max_ties_and_nan)
{
    int64_t d[] = {4};
    Graph *g = graph_with_input(1, d);
    Node *n = add_node(g, OP_REDUCE_MAX, &g->input, 1);
    n->a.reduce_axes = 1;
    n->a.keepdims = true;
    ck_assert(infer(g, n));
    float x[8] = {1, 3, 3, 2, /* sample 2 */ 0, NAN, 5, 1}, y[2], dy[2] = {1, 1};
    float dx[8] = {0};
    const float *in[] = {x};
    run(g, n, in, y, 2, false);
    ck_assert_float_eq(y[0], 3);
    ck_assert(isnan(y[1]));
    float *din[] = {dx};
    op_info(n->op)->grad(g, n, in, y, dy, din, NULL, 1);
    double want[4] = {0, 0.5, 0.5, 0};
    assert_close(dx, want, 4, 0);
    graph_free(g);
}
END_TEST

/* ---- concat.c ---- */

START_TEST(concat_channels)
{
    int64_t d[] = {1, 1, 2}, e[] = {2, 1, 2};
    Graph *g = graph_with_input(3, d);
    int in[] = {g->input, activation(g, "y", 3, e)};
    Node *n = add_node(g, OP_CONCAT, in, 2);
    ck_assert(infer(g, n));
    int64_t want_shape[] = {3, 1, 2};
    assert_shape(g, n, 3, want_shape);
    float a[4] = {1, 2, /* sample 2 */ 3, 4};
    float b[8] = {10, 11, 12, 13, /* sample 2 */ 20, 21, 22, 23};
    float y[12];
    const float *ins[] = {a, b};
    run(g, n, ins, y, 2, false);
    double want[12] = {1, 2, 10, 11, 12, 13, 3, 4, 20, 21, 22, 23};
    assert_close(y, want, 12, 0);
    graph_free(g);
}
END_TEST

START_TEST(concat_last_axis_and_errors)
{
    int64_t d[] = {2, 1}, e[] = {2, 2};
    Graph *g = graph_with_input(2, d);
    int in[] = {g->input, activation(g, "y", 2, e)};
    Node *n = add_node(g, OP_CONCAT, in, 2);
    n->a.axis = -1;
    ck_assert(infer(g, n));
    int64_t want_shape[] = {2, 3};
    assert_shape(g, n, 2, want_shape);
    float a[2] = {1, 2}, b[4] = {10, 11, 20, 21};
    float y[6];
    const float *ins[] = {a, b};
    run(g, n, ins, y, 1, false);
    double want[6] = {1, 10, 11, 2, 20, 21};
    assert_close(y, want, 6, 0);
    n = add_node(g, OP_CONCAT, in, 2); /* axis 0: widths 1 and 2 differ */
    ck_assert(!infer(g, n));
    int64_t f[] = {2};
    int in3[] = {g->input, activation(g, "z", 1, f)};
    n = add_node(g, OP_CONCAT, in3, 2); /* ranks differ */
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 2);
    graph_free(g);
}
END_TEST

/* ---- pad.c ---- */

/* The course's 1-D example: [10, 20, -30, 40, -50], pad 1. */
START_TEST(pad_course_1d)
{
    int64_t d[] = {1, 5};
    float x[5] = {10, 20, -30, 40, -50};
    const float *in[] = {x};
    static const double want[3][7] = {
        {0, 10, 20, -30, 40, -50, 0},
        {20, 10, 20, -30, 40, -50, 40},
        {10, 10, 20, -30, 40, -50, -50},
    };
    for (int mode = PAD_ZEROS; mode <= PAD_REPLICATE; mode++) {
        Graph *g = graph_with_input(2, d);
        Node *n = add_node(g, OP_PAD, &g->input, 1);
        n->a.pad[1] = n->a.pad[3] = 1;
        n->a.pad_mode = (PadMode)mode;
        ck_assert(infer(g, n));
        int64_t want_shape[] = {1, 7};
        assert_shape(g, n, 2, want_shape);
        float y[7];
        run(g, n, in, y, 1, false);
        assert_close(y, want[mode], 7, 0);
        graph_free(g);
    }
}
END_TEST

/* 2-D against PyTorch's ReflectionPad2d/ReplicationPad2d on 1..9 in 3x3. */
START_TEST(pad_2d)
{
    int64_t d[] = {1, 3, 3};
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const float *in[] = {x};
    float y[25];
    Graph *g = graph_with_input(3, d);
    Node *n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[0] = n->a.pad[1] = n->a.pad[2] = n->a.pad[3] = 1;
    n->a.pad_mode = PAD_REFLECT;
    ck_assert(infer(g, n));
    run(g, n, in, y, 1, false);
    double reflect[25] = {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5,
                          8, 7, 8, 9, 8, 5, 4, 5, 6, 5};
    assert_close(y, reflect, 25, 0);

    /* top 1, right 2: ReplicationPad2d((0, 2, 1, 0)) */
    n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[0] = 1;
    n->a.pad[3] = 2;
    n->a.pad_mode = PAD_REPLICATE;
    ck_assert(infer(g, n));
    int64_t shape4x5[] = {1, 4, 5};
    assert_shape(g, n, 3, shape4x5);
    run(g, n, in, y, 1, false);
    double replicate[20] = {1, 2, 3, 3, 3, 1, 2, 3, 3, 3, 4, 5, 6, 6, 6, 7, 8, 9, 9, 9};
    assert_close(y, replicate, 20, 0);

    /* left 2, bottom 1: ReflectionPad2d((2, 0, 0, 1)) */
    n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[1] = 2;
    n->a.pad[2] = 1;
    n->a.pad_mode = PAD_REFLECT;
    ck_assert(infer(g, n));
    run(g, n, in, y, 1, false);
    double reflect2[20] = {3, 2, 1, 2, 3, 6, 5, 4, 5, 6, 9, 8, 7, 8, 9, 6, 5, 4, 5, 6};
    assert_close(y, reflect2, 20, 0);
    graph_free(g);
}
END_TEST

START_TEST(pad_errors)
{
    int64_t d[] = {1, 3}, f[] = {3};
    Graph *g = graph_with_input(2, d);
    Node *n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[1] = 3; /* reflect needs pad < 3 */
    n->a.pad_mode = PAD_REFLECT;
    ck_assert(!infer(g, n));
    n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[3] = -1;
    ck_assert(!infer(g, n));
    n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[0] = 1; /* top on a 1-D input */
    ck_assert(!infer(g, n));
    n = add_node(g, OP_PAD, &g->input, 1);
    n->a.pad[1] = 3; /* zeros and replicate take any size */
    n->a.pad_mode = PAD_REPLICATE;
    ck_assert(infer(g, n));
    int flat = activation(g, "flat", 1, f);
    n = add_node(g, OP_PAD, &flat, 1);
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 4);
    graph_free(g);
}
END_TEST

/* ---- batchnorm.c ---- */

static Node *batchnorm(Graph *g, float eps)
{
    Node *n = add_node(g, OP_BATCHNORM, &g->input, 1);
    n->a.eps = eps;
    n->a.momentum = 0.1f;
    ck_assert(infer(g, n));
    init_weights(g);
    return n;
}

START_TEST(batchnorm_params)
{
    int64_t d[] = {3, 2, 2};
    Graph *g = graph_with_input(3, d);
    Node *n = batchnorm(g, 1e-5f);
    static const char *const names[] = {"batchnorm.weight", "batchnorm.bias",
                                        "batchnorm.running_mean", "batchnorm.running_var"};
    static const TensorKind kinds[] = {T_PARAM, T_PARAM, T_BUFFER, T_BUFFER};
    static const float values[] = {1, 0, 0, 1};
    for (int s = 0; s < 4; s++) {
        const Tensor *t = &g->t[n->param[s]];
        ck_assert_str_eq(t->name, names[s]);
        ck_assert_int_eq(t->kind, kinds[s]);
        ck_assert_int_eq(t->shape.rank, 1);
        ck_assert_int_eq(t->shape.d[0], 3);
        for (int c = 0; c < 3; c++)
            ck_assert_float_eq(t->data[c], values[s]);
    }
    assert_shape(g, n, 3, d);
    graph_free(g);
}
END_TEST

START_TEST(batchnorm_inference)
{
    int64_t d[] = {2, 1, 2};
    Graph *g = graph_with_input(3, d);
    Node *n = batchnorm(g, 0);
    const float gamma[] = {2, 0.5f}, beta[] = {1, -1}, mean[] = {1, 2}, var[] = {4, 0.25f};
    const float *src[] = {gamma, beta, mean, var};
    for (int s = 0; s < 4; s++)
        for (int c = 0; c < 2; c++)
            g->t[n->param[s]].data[c] = src[s][c];
    float x[4] = {3, -1, 2, 3};
    float y[4];
    const float *in[] = {x};
    run(g, n, in, y, 1, false);
    /* channel 0: (x - 1) / 2 * 2 + 1; channel 1: (x - 2) / 0.5 * 0.5 - 1 */
    double want[4] = {3, -1, -1, 0};
    assert_close(y, want, 4, 1e-6);
    ck_assert_float_eq(g->t[n->param[2]].data[0], 1); /* untouched */
    ck_assert_float_eq(g->t[n->param[3]].data[1], 0.25f);

    n->act = (Act){ACT_RELU, 0, 0};
    run(g, n, in, y, 1, false);
    double want_relu[4] = {3, 0, 0, 0};
    assert_close(y, want_relu, 4, 1e-6);
    graph_free(g);
}
END_TEST

START_TEST(batchnorm_training)
{
    int64_t d[] = {2, 1, 2};
    Graph *g = graph_with_input(3, d);
    Node *n = batchnorm(g, 1e-5f);
    /* channel 0 holds {1, 2, 3, 6}: mean 3, biased var 14/4 = 3.5,
     * unbiased 14/3; channel 1 holds {0, 0, 2, 2}: mean 1, var 1, unbiased 4/3 */
    float x[8] = {1, 2, 0, 0, /* sample 2 */ 3, 6, 2, 2};
    float y[8];
    const float *in[] = {x};
    run(g, n, in, y, 2, true);
    double s0 = sqrt(3.5 + 1e-5), s1 = sqrt(1 + 1e-5);
    double want[8] = {-2 / s0, -1 / s0, -1 / s1, -1 / s1, 0, 3 / s0, 1 / s1, 1 / s1};
    assert_close(y, want, 8, 1e-6);
    const float *rm = g->t[n->param[2]].data, *rv = g->t[n->param[3]].data;
    /* 0.9 * 0 + 0.1 * mean;  0.9 * 1 + 0.1 * unbiased */
    ck_assert_float_eq_tol(rm[0], 0.3, 1e-7);
    ck_assert_float_eq_tol(rm[1], 0.1, 1e-7);
    ck_assert_float_eq_tol(rv[0], 0.9 + 1.4 / 3, 1e-6);
    ck_assert_float_eq_tol(rv[1], 0.9 + 0.4 / 3, 1e-6);
    /* gamma and beta apply after normalising */
    g->t[n->param[0]].data[1] = 3;
    g->t[n->param[1]].data[1] = 0.5f;
    run(g, n, in, y, 2, true);
    ck_assert_float_eq_tol(y[7], 3 / s1 + 0.5, 1e-6);
    ck_assert_float_eq_tol(rm[1], 0.9 * 0.1 + 0.1, 1e-7);
    graph_free(g);
}
END_TEST

START_TEST(batchnorm_flat_and_onnx_shapes)
{
    int64_t d[] = {2};
    Graph *g = graph_with_input(1, d);
    Node *n = batchnorm(g, 0);
    float x[4] = {1, 10, 3, 30}; /* feature 0 {1, 3}, feature 1 {10, 30} */
    float y[4];
    const float *in[] = {x};
    run(g, n, in, y, 2, true);
    double want[4] = {-1, -1, 1, 1};
    assert_close(y, want, 4, 1e-6);

    /* a tensor the front end put in a slot must have shape [C] */
    int64_t c3[] = {3};
    n = add_node(g, OP_BATCHNORM, &g->input, 1);
    n->param[0] = graph_add_tensor(g, "scale", T_PARAM, here);
    g->t[n->param[0]].shape = shape_make(1, c3);
    n->nparam = 1;
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 1);
    graph_free(g);
}
END_TEST

/* ---- reshape.c ---- */

START_TEST(views)
{
    int64_t d[] = {2, 3, 4};
    Graph *g = graph_with_input(3, d);
    float x[48], y[48];
    for (int i = 0; i < 48; i++)
        x[i] = (float)i - 10;
    const float *in[] = {x};

    Node *n = add_node(g, OP_FLATTEN, &g->input, 1);
    ck_assert(infer(g, n));
    int64_t flat[] = {24};
    assert_shape(g, n, 1, flat);

    n = add_node(g, OP_RESHAPE, &g->input, 1);
    n->a.target = shape_make(2, (int64_t[]){-1, 4});
    ck_assert(infer(g, n));
    int64_t six_four[] = {6, 4};
    assert_shape(g, n, 2, six_four);

    n = add_node(g, OP_RESHAPE, &g->input, 1);
    n->a.target = shape_make(3, (int64_t[]){4, 3, 2});
    ck_assert(infer(g, n));

    n = add_node(g, OP_DROPOUT, &g->input, 1);
    n->a.rate = 0.5f;
    ck_assert(infer(g, n));
    assert_shape(g, n, 3, d);

    n = add_node(g, OP_IDENTITY, &g->input, 1);
    ck_assert(infer(g, n));

    for (int i = 0; i < g->nn; i++) {
        for (int j = 0; j < 48; j++)
            y[j] = 99;
        run(g, &g->n[i], in, y, 2, true);
        for (int j = 0; j < 48; j++)
            ck_assert_float_eq(y[j], x[j]);
    }
    graph_free(g);
}
END_TEST

START_TEST(view_errors)
{
    int64_t d[] = {2, 3, 4};
    Graph *g = graph_with_input(3, d);
    static const int64_t bad[][2] = {{5, 5}, {-1, 5}, {-1, -1}, {0, 24}, {-2, -12}};
    for (int i = 0; i < 5; i++) {
        Node *n = add_node(g, OP_RESHAPE, &g->input, 1);
        n->a.target = shape_make(2, bad[i]);
        ck_assert_msg(!infer(g, n), "target %d accepted", i);
    }
    Node *n = add_node(g, OP_DROPOUT, &g->input, 1);
    n->a.rate = 1;
    ck_assert(!infer(g, n));
    n = add_node(g, OP_DROPOUT, &g->input, 1);
    n->a.rate = -0.1f;
    ck_assert(!infer(g, n));
    ck_assert_int_eq(diag_error_count(), 7);
    graph_free(g);
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"table", traits_match_ops_def},
        {"act", act_values},
        {"act", act_derivatives_match_finite_differences},
        {"act", act_derivative_kinks},
        {"act", act_ops},
        {"act", act_op_errors},
        {"softmax", softmax_flat},
        {"softmax", softmax_channels},
        {"maxout", maxout_channels},
        {"maxout", maxout_flat_and_errors},
        {"elementwise", add_broadcast_and_act},
        {"elementwise", add_broadcast_trailing},
        {"elementwise", add_errors},
        {"elementwise", mul_forms},
        {"elementwise", broadcast_between_activations},
        {"elementwise", constant_first},
        {"elementwise", broadcast_errors},
        {"reduce", reduce_shapes_and_values},
        {"reduce", reduce_max_ties_and_nan},
        {"concat", concat_channels},
        {"concat", concat_last_axis_and_errors},
        {"pad", pad_course_1d},
        {"pad", pad_2d},
        {"pad", pad_errors},
        {"batchnorm", batchnorm_params},
        {"batchnorm", batchnorm_inference},
        {"batchnorm", batchnorm_training},
        {"batchnorm", batchnorm_flat_and_onnx_shapes},
        {"views", views},
        {"views", view_errors},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_add_checked_fixture(tc, diag_reset, NULL);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return run_suite(ops_suite());
}
