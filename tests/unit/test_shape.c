/* test_shape.c: the shape-inference pass and the interpreter driver: the
 * course's LeNet table built by hand (shapes, activation sizes, parameter
 * counts, total 62958), error recovery, and the interpreter's guards. */
#include "fixture.h"
#include "check_run.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- building graphs (the rest is in fixture.h) ---- */

static int add_window(Graph *g, int op, const char *name, int filters, int size, int stride)
{
    int id = add_layer(g, op, name, g->output);
    Attrs *a = &g->n[id].a;
    a->filters = filters;
    a->kernel[0] = a->kernel[1] = size;
    a->stride[0] = a->stride[1] = stride;
    return id;
}

static int add_dense(Graph *g, const char *name, int units)
{
    int id = add_layer(g, OP_DENSE, name, g->output);
    g->n[id].a.filters = units;
    return id;
}

/* The course's LeNet (input 3x32x32); node ids in *ids, in table order. */
static Graph *lenet(int ids[9])
{
    Graph *g = graph_with_input(3, (int64_t[]){3, 32, 32});
    ids[0] = add_window(g, OP_CONV, "conv1", 8, 5, 1);
    ids[1] = add_window(g, OP_MAXPOOL, "pool1", 0, 2, 2);
    ids[2] = add_window(g, OP_CONV, "conv2", 16, 5, 1);
    ids[3] = add_window(g, OP_MAXPOOL, "pool2", 0, 2, 2);
    ids[4] = add_layer(g, OP_FLATTEN, "flatten", g->output);
    ids[5] = add_dense(g, "fc3", 120);
    ids[6] = add_dense(g, "fc4", 84);
    ids[7] = add_dense(g, "fc5", 10);
    ids[8] = add_layer(g, OP_SOFTMAX, "softmax", g->output);
    g->n[ids[0]].act.kind = g->n[ids[2]].act.kind = ACT_RELU;
    g->n[ids[5]].act.kind = g->n[ids[6]].act.kind = ACT_RELU;
    return g;
}

START_TEST(lenet_table)
{
    static const struct {
        const char *shape;
        int64_t size, params, macs;
    } want[9] = {
        {"8x28x28", 6272, 608, 28 * 28 * 8 * 3 * 25},
        {"8x14x14", 1568, 0, 0},
        {"16x10x10", 1600, 3216, 10 * 10 * 16 * 8 * 25},
        {"16x5x5", 400, 0, 0},
        {"400", 400, 0, -1}, /* flatten: MACs are not ours to say */
        {"120", 120, 48120, 400 * 120},
        {"84", 84, 10164, 120 * 84},
        {"10", 10, 850, 84 * 10},
        {"10", 10, 0, -1},
    };
    int ids[9];
    Graph *g = lenet(ids);
    ck_assert(shape_infer(g));
    ck_assert_int_eq(shape_numel(&g->t[g->input].shape), 3072);
    int64_t total = 0;
    for (int i = 0; i < 9; i++) {
        const Node *n = &g->n[ids[i]];
        char buf[64];
        ck_assert_str_eq(shape_str(node_out_shape(g, n), buf, sizeof buf), want[i].shape);
        ck_assert_int_eq(shape_numel(node_out_shape(g, n)), want[i].size);
        ck_assert_int_eq(node_param_count(g, n), want[i].params);
        if (want[i].macs >= 0)
            ck_assert_int_eq(op_info(n->op)->macs(g, n), want[i].macs);
        total += node_param_count(g, n);
    }
    ck_assert_int_eq(total, 62958);
    ck_assert_int_eq(g->output, g->n[ids[8]].out);

    /* Running the pass again changes nothing and declares nothing twice. */
    int nt = g->nt;
    ck_assert(shape_infer(g));
    ck_assert_int_eq(g->nt, nt);
    ck_assert_int_eq(node_param_count(g, &g->n[ids[5]]), 48120);
    graph_free(g);
}
END_TEST

/* Deterministic small weights, so that no activation saturates. */
static void fill_weights(Graph *g)
{
    for (int i = 0; i < g->nt; i++) {
        Tensor *t = &g->t[i];
        if (t->kind != T_PARAM)
            continue;
        int64_t n = shape_numel(&t->shape);
        t->data = xmalloc((size_t)n * sizeof *t->data);
        for (int64_t j = 0; j < n; j++)
            t->data[j] = 0.1f * sinf((float)(j + 7 * i));
    }
}

START_TEST(lenet_runs_per_sample)
{
    /* A batch of 2 gives each sample what it gets alone, and the
     * probabilities sum to 1. */
    int ids[9];
    Graph *g = lenet(ids);
    ck_assert(shape_infer(g));
    fill_weights(g);
    float *x = xmalloc(2 * 3072 * sizeof *x);
    for (int i = 0; i < 2 * 3072; i++)
        x[i] = cosf(0.01f * (float)i);
    Activations both = interp_forward(g, x, 2, false);
    ck_assert_ptr_nonnull(both.val);
    for (int s = 0; s < 2; s++) {
        Activations one = interp_forward(g, x + s * 3072, 1, false);
        ck_assert_ptr_nonnull(one.val);
        for (int t = 0; t < g->nt; t++) {
            if (!one.val[t])
                continue;
            int64_t n = shape_numel(&g->t[t].shape);
            ck_assert(memcmp(one.val[t], both.val[t] + s * n, (size_t)n * sizeof(float)) == 0);
        }
        double sum = 0;
        for (int k = 0; k < 10; k++)
            sum += one.val[g->output][k];
        ck_assert_double_eq_tol(sum, 1.0, 1e-5);
        interp_free(g, &one);
    }
    /* The input is copied, conv1 is relu'd. */
    ck_assert(memcmp(both.val[g->input], x, 2 * 3072 * sizeof *x) == 0);
    const float *c1 = both.val[g->n[ids[0]].out];
    bool any_positive = false;
    for (int i = 0; i < 2 * 6272; i++) {
        ck_assert(c1[i] >= 0);
        any_positive |= c1[i] > 0;
    }
    ck_assert(any_positive);
    interp_free(g, &both);
    ck_assert_ptr_null(both.val);
    free(x);
    graph_free(g);
}
END_TEST

START_TEST(errors_are_all_reported)
{
    /* Two independent mistakes on the input (a kernel larger than the
     * image, twice; a dense layer on an image), and a layer depending on
     * the first, which is skipped rather than blamed. */
    Graph *g = graph_with_input(3, (int64_t[]){1, 8, 8});
    int bad = add_window(g, OP_CONV, "big", 4, 9, 1);
    add_window(g, OP_MAXPOOL, "after", 0, 2, 2);
    int d = add_layer(g, OP_DENSE, "fc", g->input);
    g->n[d].a.filters = 10;
    char *err;
    ck_assert(!infer_quietly(g, &err));
    ck_assert_int_eq(diag_error_count(), 3);
    ck_assert_ptr_nonnull(strstr(err, "conv 'big': output height (8 + 0 - 9)/1 + 1 = 0 is below 1"));
    ck_assert_ptr_nonnull(strstr(err, "dense 'fc': needs a flat input, got 1x8x8"));
    ck_assert_ptr_null(strstr(err, "after"));
    ck_assert_int_eq(g->t[g->n[bad].out].shape.rank, 0);
    free(err);
    graph_free(g);
}
END_TEST

START_TEST(bad_graph_input)
{
    static const struct {
        int rank;
        int64_t d[5];
        const char *msg;
    } cases[] = {
        {5, {1, 2, 3, 4, 5},
         "input 'input': shape 1x2x3x4x5 is not C x H x W, C x L, C x D x H x W or F"},
        {3, {3, 0, 4}, "dimension 1 of shape 3x0x4 is below 1"},
        {1, {(int64_t)1 << 40}, "is too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Graph *g = graph_with_input(cases[i].rank, cases[i].d);
        add_layer(g, OP_GLOBAL_MAXPOOL, "p", g->input);
        expect_infer_error(g, cases[i].msg);
    }
}
END_TEST

START_TEST(interp_guards)
{
    /* 2^40 floats per sample is a legal shape; 2^30 samples of it overflow. */
    Graph *g = graph_with_input(3, (int64_t[]){1024, 32768, 32768});
    add_layer(g, OP_GLOBAL_MAXPOOL, "p", g->input);
    ck_assert(shape_infer(g));
    capture_stderr();
    Activations a = interp_forward(g, NULL, 1 << 30, false);
    char *err = captured_text();
    ck_assert_ptr_null(a.val);
    ck_assert_ptr_nonnull(strstr(err, "tensor 'input': 1073741824 samples of 1099511627776 floats "
                                      "do not fit in memory"));
    free(err);
    capture_stderr();
    a = interp_forward(g, NULL, 0, false);
    err = captured_text();
    ck_assert_ptr_null(a.val);
    ck_assert_ptr_nonnull(strstr(err, "batch size 0 is below 1"));
    free(err);
    graph_free(g);

    /* A parameter nobody initialised is cnnc's bug, reported, not read. */
    g = graph_with_input(1, (int64_t[]){4});
    int d = add_layer(g, OP_DENSE, "fc", g->input);
    g->n[d].a.filters = 2;
    ck_assert(shape_infer(g));
    capture_stderr();
    a = interp_forward(g, (float[]){1, 2, 3, 4}, 1, false);
    err = captured_text();
    ck_assert_ptr_null(a.val);
    ck_assert_ptr_nonnull(strstr(err, "internal error: parameter 'fc.weight' has no value"));
    free(err);
    graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shape");
    TCase *tc = tcase_create("shape");
    tcase_add_test(tc, lenet_table);
    tcase_add_test(tc, lenet_runs_per_sample);
    tcase_add_test(tc, errors_are_all_reported);
    tcase_add_test(tc, bad_graph_input);
    tcase_add_test(tc, interp_guards);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
