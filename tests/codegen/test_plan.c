/* test_plan.c: the static memory plan (plan/plan.c) on hand-built graphs
 * and on every example model. The oracle is the definition of a correct
 * plan, checked independently of how plan.c builds it: buffers that are
 * live at the same step never share a byte, views, in-place elementwise
 * nodes and depthwise convs use their input's storage only when that
 * input dies there, the caller's input is never written, and the arena is
 * no smaller than the largest sum of live buffers (and, for these models,
 * no larger). */
#include "fixture.h"
#include "check_run.h"

#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

static const char *examples_dir, *models_dir;

/* The tensor a new layer writes (the plan speaks of tensors, not nodes). */
static int layer_out(Graph *g, int op, const char *name, const int *in, int nin)
{
    int id = add_layer_n(g, op, name, in, nin); /* before reading g->n, which moves */
    return g->n[id].out;
}

/* Steps at which tensor t's storage is live: from its producer to its last
 * reader, through every alias (the output to the end). */
static void live_range(const Graph *g, const Plan *p, int r, int *first, int *last)
{
    *first = g->t[r].producer;
    *last = *first;
    for (int t = 0; t < g->nt; t++) {
        if (g->t[t].kind != T_ACT || p->root[t] != r)
            continue;
        if (t == g->output)
            *last = g->nn;
        for (int i = 0; i < g->nn; i++)
            for (int j = 0; j < g->n[i].nin; j++)
                if (g->n[i].in[j] == t && i > *last)
                    *last = i;
    }
}

static void check_plan(const Graph *g, const Plan *p)
{
    for (int a = 0; a < g->nt; a++) {
        if (g->t[a].kind != T_ACT)
            continue;
        ck_assert_int_eq(p->offset[a], p->offset[p->root[a]]);
        if (p->root[a] == g->input) {
            ck_assert_int_eq(p->offset[a], -1);
            continue;
        }
        if (p->root[a] != a)
            continue;
        int64_t size = shape_numel(&g->t[a].shape);
        ck_assert(p->offset[a] >= 0 && p->offset[a] % PLAN_ALIGN_FLOATS == 0);
        ck_assert(p->offset[a] + size <= p->arena_floats);
        int fa, la;
        live_range(g, p, a, &fa, &la);
        for (int b = a + 1; b < g->nt; b++) {
            if (g->t[b].kind != T_ACT || p->root[b] != b || b == g->input)
                continue;
            int fb, lb;
            live_range(g, p, b, &fb, &lb);
            if (fa > lb || fb > la)
                continue;
            int64_t sb = shape_numel(&g->t[b].shape);
            ck_assert_msg(p->offset[a] + size <= p->offset[b] || p->offset[b] + sb <= p->offset[a],
                          "'%s' and '%s' are live together and overlap", g->t[a].name,
                          g->t[b].name);
        }
    }
    ck_assert(p->arena_floats >= p->bound_floats);
}

/* conv -> relu -> conv: relu runs in place, and the two convs' outputs
 * (live at different times, relu's aliasing the first) may share. */
START_TEST(test_inplace_chain)
{
    Graph *g = graph_with_input(3, (int64_t[]){3, 8, 8});
    int x = g->input;
    int c1 = layer_out(g, OP_CONV, "c1", &x, 1);
    int r = layer_out(g, OP_RELU, "r", &c1, 1);
    int f = layer_out(g, OP_FLATTEN, "f", &r, 1);
    int d = layer_out(g, OP_DENSE, "d", &f, 1);
    g->n[0].a.filters = 4;
    g->n[0].a.kernel[0] = g->n[0].a.kernel[1] = 3;
    g->n[3].a.filters = 5;
    ck_assert(shape_infer(g));
    Plan p;
    plan_alias(g, &p);
    ck_assert_int_eq(p.root[r], c1); /* in place: c1 dies at r */
    ck_assert_int_eq(p.root[f], c1); /* a view */
    ck_assert_int_eq(p.root[d], d);
    plan_pack(g, NULL, 1, &p);
    check_plan(g, &p);
    /* Live at once: c1's storage (4x6x6 = 144) and d (5, rounded to 16). */
    ck_assert_int_eq(p.bound_floats, 144 + 16);
    ck_assert_int_eq(p.arena_floats, 144 + 16);
    plan_free(&p);
    graph_free(g);
}
END_TEST

/* A residual join: relu(x) read again later must not be overwritten in
 * place by the relu after it; add may write over one dying operand. */
START_TEST(test_no_inplace_when_read_later)
{
    Graph *g = graph_with_input(1, (int64_t[]){32});
    int x = g->input;
    int r1 = layer_out(g, OP_RELU, "r1", &x, 1);  /* input is read-only */
    int s1 = layer_out(g, OP_SIGMOID, "s1", &r1, 1);
    int j[2] = {s1, r1};
    int sum = layer_out(g, OP_ADD, "sum", j, 2);
    ck_assert(shape_infer(g));
    Plan p;
    plan_alias(g, &p);
    ck_assert_int_eq(p.root[r1], r1);  /* not over the caller's input */
    ck_assert_int_eq(p.root[s1], s1);  /* r1 is read again by sum */
    ck_assert_int_eq(p.root[sum], sum); /* the graph output keeps its own */
    plan_pack(g, (int64_t[]){0, 100, 0}, 1, &p);
    check_plan(g, &p);
    /* s1's scratch (100 -> 112) is live with r1 and s1. */
    ck_assert(p.scratch_offset[1] >= 0);
    ck_assert(p.scratch_offset[1] >= p.offset[r1] + 32 || p.scratch_offset[1] + 112 <= p.offset[r1]);
    ck_assert(p.scratch_offset[1] >= p.offset[s1] + 32 || p.scratch_offset[1] + 112 <= p.offset[s1]);
    ck_assert_int_eq(p.bound_floats, 32 + 32 + 112);
    plan_free(&p);
    graph_free(g);
}
END_TEST

/* A conv layer reading `in`: f filters, a k x k window, stride s, padding
 * pad on every side, `groups` groups (-1: depthwise). Returns its node. */
static int conv_layer(Graph *g, const char *name, int in, int f, int k, int s, int pad,
                      int groups)
{
    int id = add_layer(g, OP_CONV, name, in);
    Attrs *a = &g->n[id].a;
    a->filters = f;
    a->kernel[0] = a->kernel[1] = k;
    a->stride[0] = a->stride[1] = s;
    a->pad[0] = a->pad[1] = a->pad[2] = a->pad[3] = pad;
    a->groups = groups;
    return id;
}

/* Depthwise convs write over an input that dies at them (OpInfo
 * .writes_over_input): 3x3 'same' at stride 1, stride 2, and one filter
 * per group of two channels. */
START_TEST(test_depthwise_in_place)
{
    Graph *g = graph_with_input(3, (int64_t[]){3, 8, 8});
    int stem = conv_layer(g, "stem", g->input, 6, 3, 1, 1, 1);
    int dw = conv_layer(g, "dw", g->n[stem].out, 6, 3, 1, 1, -1);
    int dw2 = conv_layer(g, "dw2", g->n[dw].out, 6, 3, 2, 1, -1);
    int g2 = conv_layer(g, "g2", g->n[dw2].out, 3, 3, 1, 1, 3);
    int head = conv_layer(g, "head", g->n[g2].out, 4, 1, 1, 0, 1);
    ck_assert(shape_infer(g));
    Plan p;
    plan_alias(g, &p);
    int s = g->n[stem].out;
    ck_assert_int_eq(p.root[g->n[dw].out], s);
    ck_assert_int_eq(p.root[g->n[dw2].out], s);
    ck_assert_int_eq(p.root[g->n[g2].out], s);
    ck_assert_int_eq(p.root[g->n[head].out], g->n[head].out);
    plan_pack(g, NULL, 1, &p);
    check_plan(g, &p);
    /* One 6x8x8 buffer for the stem and the three convs over it, the head's
     * 4x4x4 beside it: 384 + 64 (not 384 + 384 at dw). */
    ck_assert_int_eq(p.bound_floats, 384 + 64);
    ck_assert_int_eq(p.arena_floats, 384 + 64);
    plan_free(&p);
    graph_free(g);
}
END_TEST

/* Where a depthwise conv may not write over its input: the caller's input,
 * an input read again later, the graph output, a layer whose one-group copy
 * is no smaller than its output (one group), a 1x1 stride-1 one (the
 * pointwise GEMM reads it in place), several filters per group. An int8
 * one may (its kernel copies one channel with its border, conv_int8_dw.c). */
START_TEST(test_depthwise_not_in_place)
{
    Graph *g = graph_with_input(3, (int64_t[]){4, 8, 8});
    int on_input = conv_layer(g, "on_input", g->input, 4, 3, 1, 1, -1);
    int x = g->n[on_input].out;
    int read_later = conv_layer(g, "read_later", x, 4, 3, 1, 1, -1);
    int j[2] = {g->n[read_later].out, x};
    int sum = layer_out(g, OP_ADD, "sum", j, 2);
    int one_group = conv_layer(g, "one_group", sum, 1, 3, 1, 1, 1);
    int c = conv_layer(g, "c", g->n[one_group].out, 4, 3, 1, 1, 1);
    int pw = conv_layer(g, "pw", g->n[c].out, 4, 1, 1, 0, -1);
    int mult = conv_layer(g, "mult", g->n[pw].out, 8, 3, 1, 1, 4);
    int q = conv_layer(g, "q", g->n[mult].out, 8, 3, 1, 1, -1);
    int last = conv_layer(g, "last", g->n[q].out, 8, 3, 1, 1, -1);
    ck_assert(shape_infer(g));
    Quant *qa = xcalloc(1, sizeof *qa), *qb = xcalloc(1, sizeof *qb);
    qa->dtype = qb->dtype = DT_I8;
    g->t[g->n[mult].out].q = qa; /* q computes in int8 */
    g->t[g->n[q].out].q = qb;
    Plan p = {0};
    plan_alias(g, &p);
    int ids[] = {on_input, read_later, one_group, pw, mult, last};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
        ck_assert_msg(p.root[g->n[ids[i]].out] == g->n[ids[i]].out, "%s in place",
                      g->n[ids[i]].name);
    ck_assert_int_eq(p.root[g->n[q].out], g->n[mult].out); /* int8 in place */
    ck_assert_int_eq(p.root[sum], g->n[read_later].out); /* add still may */
    plan_free(&p);
    graph_free(g);
}
END_TEST

/* The codegen tests' in-place models (tests/codegen/models/inplace_*.cnn)
 * compiled as the code generator sees them (fused): every conv named dw*
 * writes over its input, so that those tests run the in-place kernels. */
START_TEST(test_inplace_models)
{
    DIR *d = opendir(models_dir);
    ck_assert_ptr_nonnull(d);
    int layers = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (strncmp(de->d_name, "inplace_", 8) != 0)
            continue;
        char *path = xasprintf("%s/%s", models_dir, de->d_name);
        diag_reset();
        LoadOptions opt = {.optimize = true, .max_layers = MAX_LAYERS_DEFAULT,
                           .max_params = MAX_PARAMS_DEFAULT};
        Pipeline *pl = pipeline_new(path, &opt);
        ck_assert_msg(pipeline_run(pl, "autodiff"), "%s does not load", path);
        Graph *g = pipeline_graph(pl);
        Plan p = {0};
        plan_alias(g, &p);
        for (int i = 0; i < g->nn; i++) {
            const Node *n = &g->n[i];
            if (n->op != OP_CONV || strncmp(n->name, "dw", 2) != 0)
                continue;
            ck_assert_msg(p.root[n->out] == p.root[n->in[0]], "%s: %s not in place", path,
                          n->name);
            layers++;
        }
        plan_free(&p);
        pipeline_free(pl);
        free(path);
    }
    closedir(d);
    ck_assert_int_eq(layers, 13);
}
END_TEST

START_TEST(test_examples)
{
    DIR *d = opendir(examples_dir);
    ck_assert_ptr_nonnull(d);
    int models = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".cnn") != 0)
            continue;
        char *path = xasprintf("%s/%s", examples_dir, de->d_name);
        diag_reset();
        Graph *g = model_load(path);
        ck_assert_msg(g != NULL, "%s does not load", path);
        Plan p;
        plan_alias(g, &p);
        plan_pack(g, NULL, 1, &p);
        check_plan(g, &p);
        ck_assert_msg(p.arena_floats == p.bound_floats, "%s: arena %lld > bound %lld", path,
                      (long long)p.arena_floats, (long long)p.bound_floats);
        plan_free(&p);
        graph_free(g);
        free(path);
        models++;
    }
    closedir(d);
    ck_assert_int_ge(models, 5);
}
END_TEST

int main(int argc, char **argv)
{
    examples_dir = argc > 1 ? argv[1] : "examples";
    models_dir = argc > 2 ? argv[2] : "tests/codegen/models";
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, test_inplace_chain);
    tcase_add_test(tc, test_no_inplace_when_read_later);
    tcase_add_test(tc, test_depthwise_in_place);
    tcase_add_test(tc, test_depthwise_not_in_place);
    tcase_add_test(tc, test_inplace_models);
    tcase_add_test(tc, test_examples);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
