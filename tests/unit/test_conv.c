/* test_conv.c: conv and dense shape rules and interpreter kernels, against
 * the course's worked numbers (shared/spec/course-examples.md), numbers
 * worked by hand in the comments, and a few values PyTorch printed. */
#include "fixture.h"
#include "check_run.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- building graphs (the rest is in fixture.h) ---- */

static int add_conv(Graph *g, const char *name, int from, int filters, int kh, int kw)
{
    int id = add_layer(g, OP_CONV, name, from);
    g->n[id].a.filters = filters;
    g->n[id].a.kernel[0] = kh;
    g->n[id].a.kernel[1] = kw;
    return id;
}

/* ---- the course's examples ---- */

START_TEST(course_example_1)
{
    static const float x[16] = {4, 5, 8, 7, 1, 8, 8, 8, 3, 6, 6, 4, 6, 5, 7, 8};
    static const float k[9] = {1, 4, 1, 1, 4, 3, 3, 3, 1};
    Graph *g = graph_with_input(3, (int64_t[]){1, 4, 4});
    int c = add_conv(g, "c1", g->input, 1, 3, 3);
    g->n[c].a.bias = false;
    ck_assert(shape_infer(g));
    set_param(g, c, 0, k);
    expect_output(g, x, 1, (float[]){122, 148, 126, 134}, 4);

    /* The same numbers from the 4x16 convolution matrix times the input. */
    float m[4][16] = {{0}}, y[4] = {0};
    for (int o = 0; o < 4; o++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                m[o][(o / 2 + ky) * 4 + o % 2 + kx] = k[ky * 3 + kx];
    for (int o = 0; o < 4; o++)
        for (int i = 0; i < 16; i++)
            y[o] += m[o][i] * x[i];
    expect_output(g, x, 1, y, 4);
    ck_assert_int_eq(op_conv.macs(g, &g->n[c]), 2 * 2 * 9);
    graph_free(g);
}
END_TEST

START_TEST(course_example_2)
{
    static const float x[25] = {7, 2, 3, 3, 8, 4, 5, 3, 8, 4, 3, 3, 2, 8, 4,
                                2, 8, 7, 2, 7, 5, 4, 4, 5, 4};
    Graph *g = graph_with_input(3, (int64_t[]){1, 5, 5});
    int c = add_conv(g, "c1", g->input, 1, 3, 3);
    ck_assert(shape_infer(g));
    expect_shape(g, c, 3, (int64_t[]){1, 3, 3});
    set_param(g, c, 0, (float[]){1, 0, -1, 1, 0, -1, 1, 0, -1});
    fill_param(g, c, 1, 0);
    /* Top-left 6 is the course's; the rest is PyTorch's conv2d. */
    expect_output(g, x, 1, (float[]){6, -9, -8, -3, -2, -3, -3, 0, -2}, 9);
    graph_free(g);
}
END_TEST

START_TEST(course_example_4)
{
    Graph *g = graph_with_input(3, (int64_t[]){3, 32, 32});
    int c = add_conv(g, "c1", g->input, 6, 5, 5);
    g->n[c].a.stride[0] = g->n[c].a.stride[1] = 3;
    char *err;
    ck_assert(infer_quietly(g, &err));
    ck_assert_str_eq(err, ""); /* (32 - 5) is a multiple of 3: no warning */
    free(err);
    expect_shape(g, c, 3, (int64_t[]){6, 10, 10});
    ck_assert_int_eq(shape_numel(node_out_shape(g, &g->n[c])), 600);
    ck_assert_int_eq(node_param_count(g, &g->n[c]), 456);
    Shape w = shape_make(4, (int64_t[]){6, 3, 5, 5});
    ck_assert(shape_eq(&g->t[g->n[c].param[0]].shape, &w));
    ck_assert_int_eq(op_conv.macs(g, &g->n[c]), 10 * 10 * 6 * 3 * 5 * 5);
    graph_free(g);
}
END_TEST

/* Three conv1d layers (3, 5, 4 filters; kernels 7, 5, 5; no bias) on one
 * channel of length 100. */
static int64_t conv1d_stack(bool same, int64_t *weights)
{
    static const int filters[3] = {3, 5, 4}, kernels[3] = {7, 5, 5};
    Graph *g = graph_with_input(2, (int64_t[]){1, 100});
    int from = g->input, ids[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "c%d", i + 1);
        ids[i] = add_conv(g, name, from, filters[i], kernels[i], kernels[i]);
        g->n[ids[i]].a.bias = false;
        g->n[ids[i]].a.same_pad = same;
        from = g->n[ids[i]].out;
    }
    ck_assert(shape_infer(g));
    int64_t outputs = 0;
    *weights = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(node_out_shape(g, &g->n[ids[i]])->rank, 2);
        ck_assert_int_eq(g->t[g->n[ids[i]].param[0]].shape.rank, 3);
        outputs += shape_numel(node_out_shape(g, &g->n[ids[i]]));
        *weights += node_param_count(g, &g->n[ids[i]]);
    }
    graph_free(g);
    return outputs;
}

START_TEST(course_example_5_same_valid_1d)
{
    int64_t w;
    ck_assert_int_eq(conv1d_stack(true, &w), 1200);
    ck_assert_int_eq(w, 196);
    ck_assert_int_eq(conv1d_stack(false, &w), 282 + 450 + 344);
    ck_assert_int_eq(w, 21 + 75 + 100);
}
END_TEST

static void padding_mode_case(PadMode mode, const float *want)
{
    Graph *g = graph_with_input(2, (int64_t[]){1, 5});
    int c = add_conv(g, "c1", g->input, 1, 1, 3);
    g->n[c].a.bias = false;
    g->n[c].a.pad_mode = mode;
    g->n[c].a.pad[1] = g->n[c].a.pad[3] = 1;
    ck_assert(shape_infer(g));
    set_param(g, c, 0, (float[]){.1f, .2f, .3f});
    expect_output(g, (float[]){10, 20, -30, 40, -50}, 1, want, 5);
    graph_free(g);
}

START_TEST(padding_modes_1d)
{
    padding_mode_case(PAD_ZEROS, (float[]){8, -4, 8, -10, -6});
    padding_mode_case(PAD_REFLECT, (float[]){10, -4, 8, -10, 6});
    padding_mode_case(PAD_REPLICATE, (float[]){9, -4, 8, -10, -21});
}
END_TEST

/* ---- geometry ---- */

/* x[i][j] = 5i + j on 5x5 (or 7i + j on 7x7); a 3x3 window of ones at
 * (r, c) sums to 9 * x[r+1][c+1]. */
static float *ramp(int n)
{
    float *x = xmalloc((size_t)n * n * sizeof *x);
    for (int i = 0; i < n * n; i++)
        x[i] = (float)i;
    return x;
}

START_TEST(stride_2_and_3)
{
    float *x5 = ramp(5), *x7 = ramp(7);
    Graph *g = graph_with_input(3, (int64_t[]){1, 5, 5});
    int c = add_conv(g, "c1", g->input, 1, 3, 3);
    g->n[c].a.bias = false;
    g->n[c].a.stride[0] = g->n[c].a.stride[1] = 2;
    ck_assert(shape_infer(g));
    fill_param(g, c, 0, 1);
    expect_output(g, x5, 1, (float[]){9 * 6, 9 * 8, 9 * 16, 9 * 18}, 4);
    graph_free(g);

    g = graph_with_input(3, (int64_t[]){1, 7, 7});
    c = add_conv(g, "c1", g->input, 1, 3, 3);
    g->n[c].a.bias = false;
    g->n[c].a.stride[0] = g->n[c].a.stride[1] = 3;
    char *err;
    ck_assert(infer_quietly(g, &err));
    /* (7 - 3) = 4 is not a multiple of 3: the last row and column are lost. */
    ck_assert_ptr_nonnull(strstr(err, "warning: conv 'c1': the last 1 row of the input is never read"));
    ck_assert_ptr_nonnull(strstr(err, "the last 1 column of the input is never read"));
    ck_assert_ptr_nonnull(strstr(err, "(7 + 0 - 3)/3 + 1 = 2"));
    ck_assert_int_eq(diag_error_count(), 0);
    free(err);
    fill_param(g, c, 0, 1);
    expect_output(g, x7, 1, (float[]){9 * 8, 9 * 11, 9 * 29, 9 * 32}, 4);
    graph_free(g);
    free(x5);
    free(x7);
}
END_TEST

START_TEST(dilation)
{
    /* 2x2 ones dilated by 2 read x[r][c] + x[r][c+2] + x[r+2][c] + x[r+2][c+2]
     * = 4 * (5r + c) + 24 on the 5x5 ramp; Keff = 3, so 3x3 outputs. */
    float *x = ramp(5);
    Graph *g = graph_with_input(3, (int64_t[]){1, 5, 5});
    int c = add_conv(g, "c1", g->input, 1, 2, 2);
    g->n[c].a.bias = false;
    g->n[c].a.dilation[0] = g->n[c].a.dilation[1] = 2;
    ck_assert(shape_infer(g));
    expect_shape(g, c, 3, (int64_t[]){1, 3, 3});
    fill_param(g, c, 0, 1);
    float want[9];
    for (int r = 0; r < 3; r++)
        for (int col = 0; col < 3; col++)
            want[r * 3 + col] = 4.0f * (5 * r + col) + 24;
    expect_output(g, x, 1, want, 9);
    graph_free(g);
    free(x);
}
END_TEST

START_TEST(groups_and_depthwise)
{
    /* 4 channels of 1x2, 2 groups of 2, 1x1 kernels: f0 reads channels 0, 1,
     * f1 reads 2, 3. */
    Graph *g = graph_with_input(3, (int64_t[]){4, 1, 2});
    int c = add_conv(g, "c1", g->input, 2, 1, 1);
    g->n[c].a.groups = 2;
    ck_assert(shape_infer(g));
    Shape w = shape_make(4, (int64_t[]){2, 2, 1, 1});
    ck_assert(shape_eq(&g->t[g->n[c].param[0]].shape, &w));
    set_param(g, c, 0, (float[]){1, 10, 100, 1000});
    set_param(g, c, 1, (float[]){0.5f, -0.5f});
    expect_output(g, (float[]){1, 2, 3, 4, 5, 6, 7, 8}, 1,
                  (float[]){1 + 30 + 0.5f, 2 + 40 + 0.5f, 500 + 7000 - 0.5f, 600 + 8000 - 0.5f}, 4);
    ck_assert_int_eq(op_conv.macs(g, &g->n[c]), 1 * 2 * 2 * 2);
    graph_free(g);

    /* groups = -1: depthwise, one filter per channel. */
    g = graph_with_input(3, (int64_t[]){3, 1, 1});
    c = add_conv(g, "dw", g->input, 3, 1, 1);
    g->n[c].a.groups = -1;
    ck_assert(shape_infer(g));
    ck_assert_int_eq(g->n[c].a.groups, 3);
    w = shape_make(4, (int64_t[]){3, 1, 1, 1});
    ck_assert(shape_eq(&g->t[g->n[c].param[0]].shape, &w));
    set_param(g, c, 0, (float[]){2, 3, 4});
    set_param(g, c, 1, (float[]){1, 1, 1});
    expect_output(g, (float[]){1, 2, 3}, 1, (float[]){3, 7, 13}, 3);
    graph_free(g);

    /* 3 channels do not split in 2 groups; 3 filters do not either. */
    g = graph_with_input(3, (int64_t[]){3, 4, 4});
    c = add_conv(g, "c1", g->input, 3, 1, 1);
    g->n[c].a.groups = 2;
    char *err;
    ck_assert(!infer_quietly(g, &err));
    ck_assert_int_eq(diag_error_count(), 2);
    ck_assert_ptr_nonnull(strstr(err, "3 input channels do not split into 2 groups"));
    ck_assert_ptr_nonnull(strstr(err, "3 filters do not split into 2 groups"));
    free(err);
    graph_free(g);
}
END_TEST

START_TEST(same_padding_even_kernel)
{
    /* Length 5, kernel 2: total 1, all of it at the end (SAME_UPPER). */
    Graph *g = graph_with_input(2, (int64_t[]){1, 5});
    int c = add_conv(g, "c1", g->input, 1, 2, 2);
    g->n[c].a.same_pad = true;
    g->n[c].a.bias = false;
    ck_assert(shape_infer(g));
    ck_assert(!g->n[c].a.same_pad);
    ck_assert_int_eq(g->n[c].a.pad[1], 0);
    ck_assert_int_eq(g->n[c].a.pad[3], 1);
    expect_shape(g, c, 2, (int64_t[]){1, 5});
    fill_param(g, c, 0, 1);
    expect_output(g, (float[]){1, 2, 3, 4, 5}, 1, (float[]){3, 5, 7, 9, 5}, 5);
    graph_free(g);

    /* 4x6, kernel 4 (total 3: 1 before, 2 after); stride 2 on width 6:
     * total (3 - 1)*2 + 4 - 6 = 2, split 1 and 1, width 3. */
    g = graph_with_input(3, (int64_t[]){1, 4, 6});
    c = add_conv(g, "c1", g->input, 1, 4, 4);
    g->n[c].a.same_pad = true;
    g->n[c].a.stride[1] = 2;
    ck_assert(shape_infer(g));
    const int *p = g->n[c].a.pad;
    ck_assert(p[0] == 1 && p[2] == 2 && p[1] == 1 && p[3] == 1);
    expect_shape(g, c, 3, (int64_t[]){1, 4, 3});
    graph_free(g);
}
END_TEST

START_TEST(output_below_1_is_an_error)
{
    Graph *g = graph_with_input(3, (int64_t[]){1, 32, 32});
    add_conv(g, "c1", g->input, 1, 35, 35);
    char *err;
    ck_assert(!infer_quietly(g, &err));
    ck_assert_int_eq(diag_error_count(), 2);
    ck_assert_ptr_nonnull(strstr(err, "test.cnn:1:1: error: conv 'c1': output width "
                                      "(32 + 0 - 35)/1 + 1 = -2 is below 1"));
    ck_assert_ptr_nonnull(strstr(err, "output height (32 + 0 - 35)/1 + 1 = -2 is below 1"));
    free(err);
    graph_free(g);
}
END_TEST

START_TEST(bad_inputs_are_errors)
{
    struct {
        int rank;
        int64_t d[4];
        int op;
        void (*set)(Attrs *a);
        const char *msg;
    } cases[] = {
        {1, {120}, OP_CONV, NULL,
         "needs a C x H x W (2-D), C x L (1-D) or C x D x H x W (3-D) input, got 120"},
        {2, {1, 3}, OP_CONV, NULL, "reflect padding 3 must be below the input length 3"},
        {3, {16, 5, 5}, OP_DENSE, NULL, "needs a flat input, got 16x5x5; add `flatten`"},
        {4, {1, 3, 5, 5}, OP_CONV, NULL, "reflect padding 3 must be below the input depth 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = graph_with_input(cases[i].rank, cases[i].d);
        int id = add_layer(g, cases[i].op, "l", g->input);
        g->n[id].a.filters = 2;
        if (i == 1) {
            g->n[id].a.pad_mode = PAD_REFLECT;
            g->n[id].a.pad[1] = 3;
        }
        if (i == 3) {
            g->n[id].a.pad_mode = PAD_REFLECT;
            g->n[id].a.pad_d[1] = 3;
        }
        expect_infer_error(g, cases[i].msg);
    }
}
END_TEST

START_TEST(batch_and_bias)
{
    /* Two samples; 1x1 conv with weight 2 and bias 1: y = 2x + 1. */
    Graph *g = graph_with_input(3, (int64_t[]){1, 1, 2});
    int c = add_conv(g, "c1", g->input, 1, 1, 1);
    ck_assert(shape_infer(g));
    set_param(g, c, 0, (float[]){2});
    set_param(g, c, 1, (float[]){1});
    expect_output(g, (float[]){1, 2, 3, 4}, 2, (float[]){3, 5, 7, 9}, 4);
    graph_free(g);
}
END_TEST

START_TEST(fused_relu)
{
    /* Needs act_apply (ops/act.c). */
    Graph *g = graph_with_input(3, (int64_t[]){1, 1, 3});
    int c = add_conv(g, "c1", g->input, 1, 1, 1);
    g->n[c].act.kind = ACT_RELU;
    ck_assert(shape_infer(g));
    set_param(g, c, 0, (float[]){1});
    set_param(g, c, 1, (float[]){-1});
    expect_output(g, (float[]){0, 1, 3}, 1, (float[]){0, 0, 2}, 3);
    graph_free(g);
}
END_TEST

START_TEST(dense_forward)
{
    /* W = [[1, 2, 3], [-1, 0, 1]], b = [0.5, 0]: x = (1, 2, 3) gives
     * (14.5, 2); with relu, x = (3, 2, 1) gives (10.5, 0). */
    Graph *g = graph_with_input(1, (int64_t[]){3});
    int d = add_layer(g, OP_DENSE, "fc", g->input);
    g->n[d].a.filters = 2;
    g->n[d].act.kind = ACT_RELU;
    ck_assert(shape_infer(g));
    Shape w = shape_make(2, (int64_t[]){2, 3});
    ck_assert(shape_eq(&g->t[g->n[d].param[0]].shape, &w));
    ck_assert_int_eq(op_dense.macs(g, &g->n[d]), 6);
    set_param(g, d, 0, (float[]){1, 2, 3, -1, 0, 1});
    set_param(g, d, 1, (float[]){0.5f, 0});
    expect_output(g, (float[]){1, 2, 3, 3, 2, 1}, 2, (float[]){14.5f, 2, 10.5f, 0}, 4);
    graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_add_test(tc, course_example_1);
    tcase_add_test(tc, course_example_2);
    tcase_add_test(tc, course_example_4);
    tcase_add_test(tc, course_example_5_same_valid_1d);
    tcase_add_test(tc, padding_modes_1d);
    tcase_add_test(tc, stride_2_and_3);
    tcase_add_test(tc, dilation);
    tcase_add_test(tc, groups_and_depthwise);
    tcase_add_test(tc, same_padding_even_kernel);
    tcase_add_test(tc, output_below_1_is_an_error);
    tcase_add_test(tc, bad_inputs_are_errors);
    tcase_add_test(tc, batch_and_bias);
    tcase_add_test(tc, fused_relu);
    tcase_add_test(tc, dense_forward);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
