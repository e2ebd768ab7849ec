/* test_pool.c: max/average pooling and the global pools: shape rules and
 * interpreter kernels, against the course's worked numbers
 * (shared/spec/course-examples.md), numbers worked by hand in the comments
 * and a few values PyTorch 1.13 printed (noted where used). */
#include "fixture.h"
#include "check_run.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- building graphs (the rest is in fixture.h) ---- */

static int add_pool(Graph *g, int op, const char *name, int size, int stride)
{
    int id = add_layer(g, op, name, g->output);
    g->n[id].a.kernel[0] = g->n[id].a.kernel[1] = size;
    g->n[id].a.stride[0] = g->n[id].a.stride[1] = stride;
    g->n[id].a.count_include_pad = true;
    return id;
}

/* One pooling layer over a single input; checks its output. */
static void pool_case(int op, int rank, const int64_t *d, void (*set)(Attrs *), const float *x,
                      const float *want, int count)
{
    Graph *g = graph_with_input(rank, d);
    int p = add_pool(g, op, "p", 2, 2);
    if (set)
        set(&g->n[p].a);
    ck_assert(shape_infer(g));
    ck_assert_int_eq(op_info(op)->macs(g, &g->n[p]), 0);
    expect_output(g, x, 1, want, count);
    graph_free(g);
}

static const float six[36] = {3, 0, 1, 2, 7, 4, 1, 5, 8, 9, 3, 1, 2, 7, 2, 5, 1, 3,
                              0, 1, 3, 1, 7, 8, 4, 2, 1, 6, 2, 8, 2, 4, 5, 2, 3, 9};

START_TEST(course_6x6)
{
    int64_t d[3] = {1, 6, 6};
    pool_case(OP_MAXPOOL, 3, d, NULL, six, (float[]){5, 9, 7, 7, 5, 8, 4, 6, 9}, 9);
    pool_case(OP_AVGPOOL, 3, d, NULL, six,
              (float[]){2.25f, 5, 3.75f, 2.5f, 2.75f, 4.75f, 3, 3.5f, 5.5f}, 9);
}
END_TEST

START_TEST(course_4x4)
{
    static const float x[16] = {5, 3, 1, 9, 2, 4, 5, 6, 7, 8, 5, 6, 1, 3, 4, 5};
    int64_t d[3] = {1, 4, 4};
    pool_case(OP_MAXPOOL, 3, d, NULL, x, (float[]){5, 9, 8, 6}, 4);
    pool_case(OP_AVGPOOL, 3, d, NULL, x, (float[]){3.5f, 5.25f, 4.75f, 5}, 4);
}
END_TEST

START_TEST(two_channels)
{
    /* Channel 1 is the 6x6 transposed: pooling is per channel, so its max
     * is the first channel's result transposed. */
    float x[72];
    memcpy(x, six, sizeof six);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            x[36 + i * 6 + j] = six[j * 6 + i];
    Graph *g = graph_with_input(3, (int64_t[]){2, 6, 6});
    int p = add_pool(g, OP_MAXPOOL, "p", 2, 2);
    ck_assert(shape_infer(g));
    expect_shape(g, p, 3, (int64_t[]){2, 3, 3});
    expect_output(g, x, 1, (float[]){5, 9, 7, 7, 5, 8, 4, 6, 9, 5, 7, 4, 9, 5, 6, 7, 8, 9}, 18);
    graph_free(g);
}
END_TEST

static void ceil_mode(Attrs *a)
{
    a->ceil_mode = true;
}

static void ceil_pad1(Attrs *a)
{
    a->ceil_mode = true;
    a->pad[1] = a->pad[3] = 1;
}

static void k3_s2_pad1_ceil(Attrs *a)
{
    a->kernel[1] = 3;
    a->pad[1] = a->pad[3] = 1;
    a->ceil_mode = true;
}

static void k3_s2_pad1_ceil_exclude(Attrs *a)
{
    k3_s2_pad1_ceil(a);
    a->count_include_pad = false;
}

START_TEST(ceil_mode_1d)
{
    static const float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t d5[2] = {1, 5}, d6[2] = {1, 6};
    /* Length 5, size 2: ceil gives a third window holding only x[4]. */
    pool_case(OP_MAXPOOL, 2, d5, ceil_mode, x, (float[]){2, 4, 5}, 3);
    pool_case(OP_AVGPOOL, 2, d5, ceil_mode, x, (float[]){1.5f, 3.5f, 5}, 3);
    /* With pad 1, ceil((5 + 2 - 2)/2) + 1 = 4, but the 4th window would start
     * at padded 6 >= 5 + 1, inside the right padding: 3 (PyTorch: [1, 3, 5]). */
    pool_case(OP_MAXPOOL, 2, d5, ceil_pad1, x, (float[]){1, 3, 5}, 3);
    /* Size 3, stride 2, pad 1, length 6: 4 windows; the last covers x[5],
     * the right pad and a cell beyond it, which the divisor never counts
     * (PyTorch: [1, 3, 5, 3], and without padding counted [1.5, 3, 5, 6]). */
    pool_case(OP_AVGPOOL, 2, d6, k3_s2_pad1_ceil, x, (float[]){1, 3, 5, 3}, 4);
    pool_case(OP_AVGPOOL, 2, d6, k3_s2_pad1_ceil_exclude, x, (float[]){1.5f, 3, 5, 6}, 4);
}
END_TEST

static void k3_s1_pad1(Attrs *a)
{
    a->kernel[1] = 3;
    a->stride[1] = 1;
    a->pad[1] = a->pad[3] = 1;
}

static void k3_s1_pad1_exclude(Attrs *a)
{
    k3_s1_pad1(a);
    a->count_include_pad = false;
}

static void k2_s1_pad1(Attrs *a)
{
    a->stride[1] = 1;
    a->pad[1] = a->pad[3] = 1;
}

START_TEST(padding)
{
    int64_t d4[2] = {1, 4}, d3[2] = {1, 3};
    /* [0 | 1 2 3 4 | 0], size 3: (0+1+2)/3, 2, 3, (3+4+0)/3; without the
     * padded cells in the divisor: 3/2, 2, 3, 7/2. */
    pool_case(OP_AVGPOOL, 2, d4, k3_s1_pad1, (float[]){1, 2, 3, 4},
              (float[]){1, 2, 3, 7.0f / 3}, 4);
    pool_case(OP_AVGPOOL, 2, d4, k3_s1_pad1_exclude, (float[]){1, 2, 3, 4},
              (float[]){1.5f, 2, 3, 3.5f}, 4);
    /* maxpool never picks a padding cell, even over negative inputs. */
    pool_case(OP_MAXPOOL, 2, d3, k2_s1_pad1, (float[]){-1, -2, -3}, (float[]){-1, -1, -2, -3}, 4);
}
END_TEST

/* PyTorch's max_pool2d: a window holding a NaN gives NaN, wherever the
 * NaN sits (after a larger value, or first before one); a window of -inf
 * gives -inf. */
START_TEST(maxpool_nan_and_inf)
{
    Graph *g = graph_with_input(3, (int64_t[]){1, 2, 6});
    add_pool(g, OP_MAXPOOL, "p", 2, 2);
    ck_assert(shape_infer(g));
    const float x[12] = {1, NAN, NAN, 9, -INFINITY, -INFINITY,
                         5, 2,   1,   2, -INFINITY, -INFINITY};
    Activations a = interp_forward(g, x, 1, false);
    ck_assert_ptr_nonnull(a.val);
    const float *y = a.val[g->output];
    ck_assert(isnan(y[0]));
    ck_assert(isnan(y[1]));
    ck_assert(isinf(y[2]) && y[2] < 0);
    interp_free(g, &a);
    graph_free(g);
}
END_TEST

START_TEST(global_pools)
{
    static const float x[8] = {1, 2, 3, 6, -1, -2, -3, -6};
    Graph *g = graph_with_input(3, (int64_t[]){2, 2, 2});
    int p = add_layer(g, OP_GLOBAL_AVGPOOL, "gap", g->input);
    ck_assert(shape_infer(g));
    expect_shape(g, p, 3, (int64_t[]){2, 1, 1});
    expect_output(g, x, 1, (float[]){3, -3}, 2);
    graph_free(g);

    g = graph_with_input(2, (int64_t[]){2, 4});
    p = add_layer(g, OP_GLOBAL_MAXPOOL, "gmp", g->input);
    ck_assert(shape_infer(g));
    expect_shape(g, p, 2, (int64_t[]){2, 1});
    expect_output(g, x, 1, (float[]){6, -1}, 2);
    graph_free(g);
}
END_TEST

START_TEST(unread_rows_warning)
{
    Graph *g = graph_with_input(3, (int64_t[]){1, 5, 5});
    int p = add_pool(g, OP_MAXPOOL, "p1", 2, 2);
    char *err;
    ck_assert(infer_quietly(g, &err));
    ck_assert_ptr_nonnull(strstr(err, "warning: maxpool 'p1': the last 1 row of the input is never read"));
    ck_assert_ptr_nonnull(strstr(err, "(5 + 0 - 2)/2 + 1 = 2"));
    ck_assert_int_eq(diag_error_count(), 0);
    expect_shape(g, p, 3, (int64_t[]){1, 2, 2});
    free(err);
    graph_free(g);

    /* 5 + 2 - 3 = 4 is a multiple of 2, and ResNet's stem (size 3, stride
     * 2, pad 1 on 112) leaves only a padding cell unread: no warning. */
    g = graph_with_input(3, (int64_t[]){1, 112, 112});
    p = add_pool(g, OP_MAXPOOL, "stem", 3, 2);
    g->n[p].a.pad[0] = g->n[p].a.pad[1] = g->n[p].a.pad[2] = g->n[p].a.pad[3] = 1;
    ck_assert(infer_quietly(g, &err));
    ck_assert_str_eq(err, "");
    expect_shape(g, p, 3, (int64_t[]){1, 56, 56});
    free(err);
    graph_free(g);
}
END_TEST

static void expect_pool_error(int op, int size, int stride, int pad, const char *msg)
{
    Graph *g = graph_with_input(2, (int64_t[]){1, 3});
    int p = add_pool(g, op, "p", size, stride);
    g->n[p].a.pad[1] = pad;
    expect_infer_error(g, msg);
}

START_TEST(errors)
{
    expect_pool_error(OP_MAXPOOL, 2, 2, 2, "maxpool 'p': padding 2 is not smaller than the kernel size 2");
    expect_pool_error(OP_AVGPOOL, 0, 1, 0, "kernel length, stride and dilation must be at least 1, got 0, 1, 1");
    expect_pool_error(OP_MAXPOOL, 2, 0, 0, "got 2, 0, 1");
    expect_pool_error(OP_MAXPOOL, 5, 1, 0, "maxpool 'p': output length (3 + 0 - 5)/1 + 1 = -1 is below 1");
    expect_pool_error(OP_AVGPOOL, 2, 2, -1, "padding must not be negative");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, course_6x6);
    tcase_add_test(tc, course_4x4);
    tcase_add_test(tc, two_channels);
    tcase_add_test(tc, ceil_mode_1d);
    tcase_add_test(tc, padding);
    tcase_add_test(tc, maxpool_nan_and_inf);
    tcase_add_test(tc, global_pools);
    tcase_add_test(tc, unread_rows_warning);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
