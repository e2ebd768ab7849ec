/* test_upsample.c: conv_transpose, resize and the volume (3-D) windows:
 * shape rules, their errors and the interpreter's values, against numbers
 * worked by hand in the comments. */
#include "fixture.h"
#include "check_run.h"
#include "ops/ops.h"

#include <check.h>

/* ---- conv_transpose ---- */

/* A 1-D conv_transpose of x = [1, 2, 3] by w = [1, 10, 100], stride 2:
 * each input cell scatters x*w at 2i .. 2i+2, the full output
 *   [1, 10, 100+2, 20, 200+3, 30, 300] = [1, 10, 102, 20, 203, 30, 300].
 * Padding (1, 1) crops a cell at each end; output padding 1 gives one of
 * them back at the end. */
static int convt_1d(Graph *g, int pb, int pe, int op)
{
    int id = add_layer(g, OP_CONV_TRANSPOSE, "t", g->input);
    Attrs *a = &g->n[id].a;
    a->filters = 1;
    a->kernel[1] = 3;
    a->stride[1] = 2;
    a->pad[1] = pb;
    a->pad[3] = pe;
    a->out_pad[1] = op;
    a->bias = false;
    return id;
}

START_TEST(convt_scatter_1d)
{
    static const float x[3] = {1, 2, 3}, w[3] = {1, 10, 100};
    struct {
        int pb, pe, op;
        int64_t len;
        float want[7];
    } cases[] = {
        {0, 0, 0, 7, {1, 10, 102, 20, 203, 30, 300}},
        {1, 1, 0, 5, {10, 102, 20, 203, 30}},
        {1, 1, 1, 6, {10, 102, 20, 203, 30, 300}},
        {0, 2, 1, 6, {1, 10, 102, 20, 203, 30}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = graph_with_input(2, (int64_t[]){1, 3});
        int t = convt_1d(g, cases[i].pb, cases[i].pe, cases[i].op);
        ck_assert(shape_infer(g));
        expect_shape(g, t, 2, (int64_t[]){1, cases[i].len});
        set_param(g, t, 0, w);
        /* MACs: 3 input cells x 3 taps x 1 filter */
        ck_assert_int_eq(op_info(OP_CONV_TRANSPOSE)->macs(g, &g->n[t]), 9);
        expect_output(g, x, 1, cases[i].want, (int)cases[i].len);
        graph_free(g);
    }
}
END_TEST

/* Two groups of one channel each, two filters each, kernel 1 with bias:
 * y[f] = x[f / 2] * w[f] + b[f]; weight [C=2, F/G=2, 1, 1]. */
START_TEST(convt_groups_and_bias)
{
    Graph *g = graph_with_input(3, (int64_t[]){2, 1, 2});
    int t = add_layer(g, OP_CONV_TRANSPOSE, "t", g->input);
    g->n[t].a.filters = 4;
    g->n[t].a.groups = 2;
    ck_assert(shape_infer(g));
    expect_shape(g, t, 3, (int64_t[]){4, 1, 2});
    set_param(g, t, 0, (float[]){1, 2, 3, 4});
    set_param(g, t, 1, (float[]){0.5f, 0, 0, -1});
    expect_output(g, (float[]){1, 2, 10, 20}, 1,
                  (float[]){1.5f, 2.5f, 2, 4, 30, 60, 39, 79}, 8);
    graph_free(g);
}
END_TEST

static void expect_convt_error(int filters, int groups, int stride, int op, int pad,
                               const char *msg)
{
    Graph *g = graph_with_input(3, (int64_t[]){2, 3, 3});
    int t = add_layer(g, OP_CONV_TRANSPOSE, "t", g->input);
    Attrs *a = &g->n[t].a;
    a->filters = filters;
    a->groups = groups;
    a->kernel[0] = a->kernel[1] = 2;
    a->stride[0] = a->stride[1] = stride;
    a->out_pad[0] = op;
    a->pad[0] = a->pad[2] = pad;
    expect_infer_error(g, msg);
}

START_TEST(convt_errors)
{
    expect_convt_error(4, 1, 2, 2, 0, "conv_transpose 't': output padding 2 of the height must "
                                      "be smaller than its stride (2) or its dilation (1)");
    /* (3 - 1)*1 + 2 - 2*2 + 0 = 0 */
    expect_convt_error(4, 1, 1, 0, 2, "output height (3 - 1)*1 + 2 - 4 + 0 = 0 is below 1");
    expect_convt_error(3, 2, 1, 0, 0, "3 filters do not split into 2 groups");
    expect_convt_error(0, 1, 1, 0, 0, "needs at least 1 filter, got 0");
}
END_TEST

/* ---- resize ---- */

static int resize(Graph *g, int mode, int coord, int nearest, float scale)
{
    int id = add_layer(g, OP_RESIZE, "r", g->input);
    Attrs *a = &g->n[id].a;
    a->resize_mode = mode;
    a->coord_mode = coord;
    a->nearest_mode = nearest;
    a->scale[0] = a->scale[1] = a->scale[2] = scale;
    return id;
}

static void resize_1d(int mode, int coord, int nearest, float scale, const float *x, int64_t in,
                      const float *want, int64_t out)
{
    Graph *g = graph_with_input(2, (int64_t[]){1, in});
    int r = resize(g, mode, coord, nearest, scale);
    ck_assert(shape_infer(g));
    expect_shape(g, r, 2, (int64_t[]){1, out});
    expect_output(g, x, 1, want, (int)out);
    graph_free(g);
}

/* x = [0, 4] to 4 cells (scale 2):
 *   half_pixel: (o + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped into
 *               [0, 1]: y = [0, 1, 3, 4];
 *   align_corners: o * 1/3: y = [0, 4/3, 8/3, 4];
 *   nearest, asymmetric floor: o/2 -> 0, 0, 1, 1: y = [0, 0, 4, 4].
 * To 6 cells (scale 3), half_pixel nearest: (o + 0.5)/3 - 0.5 = -1/3, 0,
 * 1/3, 2/3, 1, 4/3, rounded: 0, 0, 0, 1, 1, 1 (round_prefer_ceil too, no
 * halves). */
START_TEST(resize_linear_and_nearest_1d)
{
    static const float x[2] = {0, 4};
    resize_1d(RESIZE_LINEAR, COORD_HALF_PIXEL, 0, 2, x, 2, (float[]){0, 1, 3, 4}, 4);
    resize_1d(RESIZE_LINEAR, COORD_PYTORCH_HALF_PIXEL, 0, 2, x, 2, (float[]){0, 1, 3, 4}, 4);
    resize_1d(RESIZE_LINEAR, COORD_ALIGN_CORNERS, 0, 2, x, 2,
              (float[]){0, 4.0f / 3, 8.0f / 3, 4}, 4);
    resize_1d(RESIZE_NEAREST, COORD_ASYMMETRIC, NEAREST_FLOOR, 2, x, 2, (float[]){0, 0, 4, 4},
              4);
    resize_1d(RESIZE_NEAREST, COORD_HALF_PIXEL, NEAREST_ROUND_PREFER_CEIL, 3, x, 2,
              (float[]){0, 0, 0, 4, 4, 4}, 6);
}
END_TEST

/* Halves: x = [10, 20, 30, 40] to 2 cells (scale 0.5), asymmetric: o/0.5 =
 * 0, 2 exactly; half_pixel: (o + 0.5)*2 - 0.5 = 0.5, 2.5: round_prefer_floor
 * reads 0 and 2, round_prefer_ceil 1 and 3, and linear averages the pairs. */
START_TEST(resize_halves)
{
    static const float x[4] = {10, 20, 30, 40};
    resize_1d(RESIZE_NEAREST, COORD_HALF_PIXEL, NEAREST_ROUND_PREFER_FLOOR, 0.5f, x, 4,
              (float[]){10, 30}, 2);
    resize_1d(RESIZE_NEAREST, COORD_HALF_PIXEL, NEAREST_ROUND_PREFER_CEIL, 0.5f, x, 4,
              (float[]){20, 40}, 2);
    resize_1d(RESIZE_LINEAR, COORD_HALF_PIXEL, 0, 0.5f, x, 4, (float[]){15, 35}, 2);
    /* opset 10's nearest rounds up when down-sampling: ceil(0), ceil(2) */
    resize_1d(RESIZE_NEAREST, COORD_ASYMMETRIC, NEAREST_SIMPLE, 0.5f, x, 4, (float[]){10, 30},
              2);
}
END_TEST

/* Bilinear, pytorch_half_pixel, [[0, 2], [4, 6]] doubled: the rows blend
 * [0, 0.5, 1.5, 2] and [4, 4.5, 5.5, 6] with weights (1, 0), (0.75,
 * 0.25), (0.25, 0.75), (0, 1). */
START_TEST(resize_bilinear)
{
    Graph *g = graph_with_input(3, (int64_t[]){1, 2, 2});
    int r = resize(g, RESIZE_LINEAR, COORD_PYTORCH_HALF_PIXEL, 0, 2);
    ck_assert(shape_infer(g));
    expect_shape(g, r, 3, (int64_t[]){1, 4, 4});
    expect_output(g, (float[]){0, 2, 4, 6}, 1,
                  (float[]){0, 0.5f, 1.5f, 2, 1, 1.5f, 2.5f, 3, 3, 3.5f, 4.5f, 5, 4, 4.5f, 5.5f,
                            6}, 16);
    graph_free(g);
}
END_TEST

START_TEST(resize_errors)
{
    Graph *g = graph_with_input(2, (int64_t[]){1, 3});
    resize(g, RESIZE_NEAREST, COORD_ASYMMETRIC, NEAREST_FLOOR, 0);
    expect_infer_error(g, "resize 'r': scale 0 of spatial axis 0 must be positive");
    g = graph_with_input(2, (int64_t[]){1, 3});
    resize(g, RESIZE_NEAREST, COORD_ASYMMETRIC, NEAREST_FLOOR, 0.25f);
    expect_infer_error(g, "spatial axis 0 of 3 cells scaled by 0.25 gives 0 cells");
    g = graph_with_input(1, (int64_t[]){6});
    resize(g, RESIZE_NEAREST, COORD_ASYMMETRIC, NEAREST_FLOOR, 2);
    expect_infer_error(g, "needs a C x L, C x H x W or C x D x H x W input, got 6");
}
END_TEST

/* ---- volumes ---- */

/* A 2x2x2 kernel of ones over a 1 x 2 x 2 x 3 volume (values 0..11) sums
 * each 2x2x2 block: columns 0-1 give 0+1+3+4+6+7+9+10 = 40, columns 1-2
 * 48; a 2x2x2 max pool, stride 1, takes the block's last cell: 10, 11. */
START_TEST(volume_conv_and_pool)
{
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    Graph *g = graph_with_input(4, (int64_t[]){1, 2, 2, 3});
    int c = add_layer(g, OP_CONV, "c", g->input);
    Attrs *a = &g->n[c].a;
    a->filters = 1;
    a->bias = false;
    a->kernel_d = a->kernel[0] = a->kernel[1] = 2;
    ck_assert(shape_infer(g));
    expect_shape(g, c, 4, (int64_t[]){1, 1, 1, 2});
    fill_param(g, c, 0, 1);
    ck_assert_int_eq(op_info(OP_CONV)->macs(g, &g->n[c]), 16);
    expect_output(g, x, 1, (float[]){40, 48}, 2);
    graph_free(g);

    g = graph_with_input(4, (int64_t[]){1, 2, 2, 3});
    int p = add_layer(g, OP_MAXPOOL, "p", g->input);
    a = &g->n[p].a;
    a->kernel_d = a->kernel[0] = a->kernel[1] = 2;
    ck_assert(shape_infer(g));
    expect_shape(g, p, 4, (int64_t[]){1, 1, 1, 2});
    expect_output(g, x, 1, (float[]){10, 11}, 2);
    graph_free(g);
}
END_TEST

START_TEST(volume_errors)
{
    Graph *g = graph_with_input(4, (int64_t[]){1, 2, 4, 4});
    int c = add_layer(g, OP_CONV, "c", g->input);
    g->n[c].a.filters = 1;
    g->n[c].a.kernel_d = 3;
    expect_infer_error(g, "conv 'c': output depth (2 + 0 - 3)/1 + 1 = 0 is below 1");
    g = graph_with_input(4, (int64_t[]){1, 5, 4, 4});
    int p = add_layer(g, OP_AVGPOOL, "p", g->input);
    g->n[p].a.kernel_d = 2;
    g->n[p].a.pad_d[1] = 2;
    expect_infer_error(g, "avgpool 'p': padding 2 is not smaller than the kernel size 2");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upsample");
    TCase *tc = tcase_create("upsample");
    tcase_add_test(tc, convt_scatter_1d);
    tcase_add_test(tc, convt_groups_and_bias);
    tcase_add_test(tc, convt_errors);
    tcase_add_test(tc, resize_linear_and_nearest_1d);
    tcase_add_test(tc, resize_halves);
    tcase_add_test(tc, resize_bilinear);
    tcase_add_test(tc, resize_errors);
    tcase_add_test(tc, volume_conv_and_pool);
    tcase_add_test(tc, volume_errors);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
