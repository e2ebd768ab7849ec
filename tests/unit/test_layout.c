/* test_layout.c: the layout and normalisation operators (ops/transpose,
 * slice, matmul, norm; concat's constants, pad's value): shape rules and
 * their errors, and the interpreter on small numbers worked by hand in the
 * comments (the single-layer matrix checks them against PyTorch at size). */
#include "ops/ops.h"
#include "check_run.h"
#include "fixture.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

/* Shapes inferred, parameters initialised (ones and zeros for norms). */
static void ready(Graph *g)
{
    ck_assert(shape_infer(g));
    init_weights(g);
}

static void slice_all(Node *n)
{
    for (int k = 0; k < MAX_RANK; k++) {
        n->a.start[k] = 0;
        n->a.end[k] = INT64_MAX;
        n->a.step[k] = 1;
    }
}

START_TEST(transpose_values)
{
    /* [[0 1 2] [3 4 5]] transposed: [[0 3] [1 4] [2 5]] */
    Graph *g = graph_with_input(2, (int64_t[]){2, 3});
    int t = add_layer(g, OP_TRANSPOSE, "t", g->input);
    g->n[t].a.perm[0] = 1;
    g->n[t].a.perm[1] = 0;
    ready(g);
    expect_shape(g, t, 2, (int64_t[]){3, 2});
    float x[] = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15};
    float want[] = {0, 3, 1, 4, 2, 5, 10, 13, 11, 14, 12, 15};
    expect_output(g, x, 2, want, 12);
    graph_free(g);

    /* [2, 1, 3] by (2, 0, 1): [3, 2, 1], y[k][c][0] = x[c][0][k] */
    g = graph_with_input(3, (int64_t[]){2, 1, 3});
    t = add_layer(g, OP_TRANSPOSE, "t", g->input);
    g->n[t].a.perm[0] = 2;
    g->n[t].a.perm[1] = 0;
    g->n[t].a.perm[2] = 1;
    ready(g);
    expect_shape(g, t, 3, (int64_t[]){3, 2, 1});
    expect_output(g, x, 1, (float[]){0, 3, 1, 4, 2, 5}, 6);
    graph_free(g);
}
END_TEST

START_TEST(transpose_errors)
{
    Graph *g = graph_with_input(3, (int64_t[]){2, 3, 4});
    int t = add_layer(g, OP_TRANSPOSE, "t", g->input);
    g->n[t].a.perm[0] = 0;
    g->n[t].a.perm[1] = 2;
    g->n[t].a.perm[2] = 2;
    expect_infer_error(g, "transpose 't': perm is not a permutation of the 3 axes of input "
                          "2x3x4 (entry 2 is 2)");
}
END_TEST

/* The strided gather simplified: a channel shuffle [2, 3, 4] by (1, 0, 2)
 * copies rows of 4; NHWC <-> NCHW merges H and W. */
START_TEST(strided_simplified)
{
    Strided s = {3, 0, {3, 2, 4}, {4, 12, 1}};
    strided_simplify(&s);
    ck_assert_int_eq(s.rank, 3);
    Strided nhwc = {3, 0, {5, 6, 4}, {6, 1, 30}}; /* [4, 5, 6] by (1, 2, 0) */
    strided_simplify(&nhwc);
    ck_assert_int_eq(nhwc.rank, 2);
    ck_assert_int_eq(nhwc.d[0], 30);
    ck_assert_int_eq(nhwc.xs[0], 1);
    ck_assert_int_eq(nhwc.d[1], 4);
    ck_assert_int_eq(nhwc.xs[1], 30);
    Strided ones = {3, 0, {1, 7, 1}, {7, 1, 1}}; /* only size-1 axes move: a copy */
    strided_simplify(&ones);
    ck_assert_int_eq(ones.rank, 1);
    ck_assert_int_eq(ones.xs[0], 1);
}
END_TEST

START_TEST(slice_onnx_semantics)
{
    int64_t first, len;
    /* x[-1::-2] of 6: 5, 3, 1 */
    ck_assert(slice_axis(6, -1, INT64_MIN, -2, &first, &len));
    ck_assert_int_eq(first, 5);
    ck_assert_int_eq(len, 3);
    /* start and end beyond either end clamp: 10..-10 by -1 is 5 down to 0 */
    ck_assert(slice_axis(6, 10, -10, -1, &first, &len));
    ck_assert_int_eq(first, 5);
    ck_assert_int_eq(len, 6);
    /* 1:100:4 of 9: 1, 5 */
    ck_assert(slice_axis(9, 1, 100, 4, &first, &len));
    ck_assert_int_eq(first, 1);
    ck_assert_int_eq(len, 2);
    ck_assert(slice_axis(9, 5, 2, 1, &first, &len));
    ck_assert_int_eq(len, 0);
    ck_assert(!slice_axis(9, 0, 9, 0, &first, &len));

    Graph *g = graph_with_input(2, (int64_t[]){2, 6});
    int s = add_layer(g, OP_SLICE, "s", g->input);
    slice_all(&g->n[s]);
    g->n[s].a.start[1] = -1;
    g->n[s].a.end[1] = INT64_MIN;
    g->n[s].a.step[1] = -2;
    ready(g);
    expect_shape(g, s, 2, (int64_t[]){2, 3});
    float x[] = {0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15};
    expect_output(g, x, 1, (float[]){5, 3, 1, 15, 13, 11}, 6);
    graph_free(g);
}
END_TEST

START_TEST(slice_errors)
{
    Graph *g = graph_with_input(2, (int64_t[]){2, 6});
    int s = add_layer(g, OP_SLICE, "s", g->input);
    slice_all(&g->n[s]);
    g->n[s].a.step[0] = 0;
    expect_infer_error(g, "slice 's': the step on axis 0 is 0");
    g = graph_with_input(2, (int64_t[]){2, 6});
    s = add_layer(g, OP_SLICE, "s", g->input);
    slice_all(&g->n[s]);
    g->n[s].a.start[1] = 4;
    g->n[s].a.end[1] = 2;
    expect_infer_error(g, "slice 's': selects nothing on axis 1 of input 2x6 (start 4, end 2, "
                          "step 1)");
}
END_TEST

START_TEST(matmul_values)
{
    /* per sample [[1 2 3] [4 5 6]] times itself transposed, [2, 2]:
     * [[14 32] [32 77]] */
    Graph *g = graph_with_input(2, (int64_t[]){2, 3});
    int t = add_layer(g, OP_TRANSPOSE, "t", g->input);
    g->n[t].a.perm[0] = 1;
    g->n[t].a.perm[1] = 0;
    int m = add_layer_n(g, OP_MATMUL, "m", (int[]){g->input, g->n[t].out}, 2);
    ready(g);
    expect_shape(g, m, 2, (int64_t[]){2, 2});
    expect_output(g, (float[]){1, 2, 3, 4, 5, 6}, 1, (float[]){14, 32, 32, 77}, 4);
    graph_free(g);
}
END_TEST

START_TEST(matmul_errors)
{
    Graph *g = graph_with_input(3, (int64_t[]){2, 3, 4});
    int r = add_layer(g, OP_RESHAPE, "r", g->input);
    g->n[r].a.target = shape_make(3, (int64_t[]){3, 4, 2});
    add_layer_n(g, OP_MATMUL, "m", (int[]){g->input, g->n[r].out}, 2);
    expect_infer_error(g, "matmul 'm': 2x3x4 and 3x4x2: the leading axes do not broadcast");
    g = graph_with_input(2, (int64_t[]){3, 4});
    add_layer_n(g, OP_MATMUL, "m", (int[]){g->input, g->input}, 2);
    expect_infer_error(g, "the columns of the first operand are not the rows of the second");
}
END_TEST

START_TEST(layernorm_values)
{
    /* [1 2 3 4]: mean 2.5, variance 1.25, so (x - 2.5) / sqrt(1.25) (eps
     * 0); gamma 2, beta 1 on every value */
    Graph *g = graph_with_input(1, (int64_t[]){4});
    int l = add_layer(g, OP_LAYERNORM, "l", g->input);
    g->n[l].a.axis = -1;
    g->n[l].a.naxes = 1;
    ready(g);
    ck_assert_int_eq(g->n[l].a.axis, 0);
    fill_param(g, l, 0, 2);
    fill_param(g, l, 1, 1);
    double s = 1 / sqrt(1.25);
    float want[4];
    for (int i = 0; i < 4; i++)
        want[i] = (float)(2 * (i + 1 - 2.5) * s + 1);
    expect_output(g, (float[]){1, 2, 3, 4}, 1, want, 4);
    graph_free(g);

    /* over the channels of [2, 1, 2]: pixel 0 holds (1, 3), pixel 1 (2, 6);
     * each becomes (-1, 1) */
    g = graph_with_input(3, (int64_t[]){2, 1, 2});
    l = add_layer(g, OP_LAYERNORM, "l", g->input);
    g->n[l].a.naxes = 1;
    g->n[l].a.bias = false;
    ready(g);
    expect_output(g, (float[]){1, 2, 3, 6}, 1, (float[]){-1, -1, 1, 1}, 4);
    graph_free(g);
}
END_TEST

START_TEST(groupnorm_values)
{
    /* 4 channels in 2 groups: (1, 3) and (5, 9) each become (-1, 1); then
     * gamma (1, 2, 3, 4), beta (0, 0, 0, 1) per channel */
    Graph *g = graph_with_input(3, (int64_t[]){4, 1, 1});
    int n = add_layer(g, OP_GROUPNORM, "g", g->input);
    g->n[n].a.groups = 2;
    ready(g);
    set_param(g, n, 0, (float[]){1, 2, 3, 4});
    set_param(g, n, 1, (float[]){0, 0, 0, 1});
    expect_output(g, (float[]){1, 3, 5, 9}, 1, (float[]){-1, 2, -3, 5}, 4);
    graph_free(g);

    g = graph_with_input(2, (int64_t[]){6, 5});
    n = add_layer(g, OP_GROUPNORM, "g", g->input);
    g->n[n].a.groups = 4;
    expect_infer_error(g, "groupnorm 'g': 4 groups do not divide the 6 channels of input 6x5");
    g = graph_with_input(2, (int64_t[]){6, 5});
    n = add_layer(g, OP_GROUPNORM, "g", g->input);
    g->n[n].a.groups = -1; /* instance norm: one group per channel */
    ready(g);
    ck_assert_int_eq(g->n[n].a.groups, 6);
    graph_free(g);
}
END_TEST

START_TEST(layernorm_errors)
{
    Graph *g = graph_with_input(2, (int64_t[]){3, 4});
    int l = add_layer(g, OP_LAYERNORM, "l", g->input);
    g->n[l].a.axis = 1;
    g->n[l].a.naxes = 2;
    expect_infer_error(g, "layernorm 'l': axes 1 to 2 are out of range for input 3x4");
}
END_TEST

/* A constant operand between two uses of the input: [x, c, x]. */
START_TEST(concat_constant)
{
    Graph *g = graph_with_input(2, (int64_t[]){1, 2});
    int c = add_layer_n(g, OP_CONCAT, "c", (int[]){g->input, g->input}, 2);
    int k = graph_add_tensor(g, "k", T_CONST, (Loc){0});
    g->t[k].shape = shape_make(2, (int64_t[]){1, 1});
    g->t[k].data = xmalloc(sizeof(float));
    g->t[k].data[0] = 7;
    g->n[c].param[0] = k;
    g->n[c].nparam = 1;
    g->n[c].a.axis = 1;
    g->n[c].a.const_at = 1u << 1;
    ready(g);
    expect_shape(g, c, 2, (int64_t[]){1, 5});
    expect_output(g, (float[]){1, 2, 3, 4}, 2, (float[]){1, 2, 7, 1, 2, 3, 4, 7, 3, 4}, 10);
    graph_free(g);
}
END_TEST

START_TEST(pad_value)
{
    /* (1, 1) around [a b] with 7: [7 a b 7] */
    Graph *g = graph_with_input(2, (int64_t[]){1, 2});
    int p = add_layer(g, OP_PAD, "p", g->input);
    g->n[p].a.pad[1] = g->n[p].a.pad[3] = 1;
    g->n[p].a.pad_value = 7;
    ready(g);
    expect_output(g, (float[]){1, 2}, 1, (float[]){7, 1, 2, 7}, 4);
    graph_free(g);
}
END_TEST

static Suite *layout_suite(void)
{
    Suite *s = suite_create("layout");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"transpose", transpose_values},   {"transpose", transpose_errors},
        {"transpose", strided_simplified}, {"slice", slice_onnx_semantics},
        {"slice", slice_errors},           {"matmul", matmul_values},
        {"matmul", matmul_errors},         {"norm", layernorm_values},
        {"norm", groupnorm_values},        {"norm", layernorm_errors},
        {"concat", concat_constant},       {"pad", pad_value},
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
    return run_suite(layout_suite());
}
