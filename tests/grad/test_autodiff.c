/* test_autodiff.c: the backward pass as IR (passes/autodiff.c), checked on
 * hand-built graphs against what the graph's structure implies:
 *
 * - frozen parameters (Tensor.frozen, set by hand here as issue 16's
 *   --freeze-until will) get no gradient tensor, nothing upstream of a
 *   frozen part gets a backward node, and every other gradient is the one
 *   the unfrozen graph gives, bit for bit (the interpreter's run of both);
 * - a tensor read by several nodes: its first write zeroes, the others add,
 *   in execution order, and a parameter's step follows its last write;
 * - views share their input's gradient and get no backward node;
 * - the loss absorbs a final softmax over the classes, and only that one. */
#include "fixture.h"
#include "check_run.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const Loc here = {"labels.npy", 0, 0};

static int conv(Graph *g, const char *name, int filters)
{
    int id = add_layer(g, OP_CONV, name, g->output);
    g->n[id].a.filters = filters;
    g->n[id].a.kernel[0] = g->n[id].a.kernel[1] = 3;
    return id;
}

static int dense(Graph *g, const char *name, int units)
{
    int id = add_layer(g, OP_DENSE, name, g->output);
    g->n[id].a.filters = units;
    return id;
}

/* input 2x6x6 -> c1 -> c2 -> flatten -> fc(3): three trainable layers. */
static Graph *chain(void)
{
    Graph *g = graph_with_input(3, (int64_t[]){2, 6, 6});
    conv(g, "c1", 3);
    conv(g, "c2", 2);
    add_layer(g, OP_FLATTEN, "flat", g->output);
    dense(g, "fc", 3);
    ck_assert(shape_infer(g));
    init_weights(g);
    return g;
}

static int node_named(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nn; i++)
        if (strcmp(g->n[i].name, name) == 0)
            return i;
    return -1;
}

static const GradNode *backward_of(const Graph *g, const char *name)
{
    for (int k = 0; k < g->bw->nnode; k++)
        if (g->bw->node[k].node == node_named(g, name))
            return &g->bw->node[k];
    return NULL;
}

static void freeze_layer(Graph *g, const char *name)
{
    const Node *n = &g->n[node_named(g, name)];
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0)
            g->t[n->param[s]].frozen = true;
}

/* No T_GRAD tensor holds the gradient of t. */
static bool has_no_gradient(const Graph *g, int t)
{
    for (int u = 0; u < g->nt; u++)
        if (g->t[u].kind == T_GRAD && g->t[u].grad_of == t)
            return false;
    return g->bw->grad[t] < 0;
}

static Grads grads_of(Graph *g)
{
    float x[2 * 72];
    for (int i = 0; i < 2 * 72; i++)
        x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    int32_t labels[2] = {2, 0};
    Grads gr;
    ck_assert(interp_grad(g, x, labels, 2, false, here, &gr));
    return gr;
}

static void expect_same_gradient(const Graph *a, const Grads *ga, const Graph *b,
                                 const Grads *gb, const char *param)
{
    int ta = graph_find_tensor(a, param), tb = graph_find_tensor(b, param);
    ck_assert_ptr_nonnull(ga->dparam[ta]);
    ck_assert_ptr_nonnull(gb->dparam[tb]);
    ck_assert_msg(memcmp(ga->dparam[ta], gb->dparam[tb],
                         sizeof(float) * (size_t)shape_numel(&a->t[ta].shape)) == 0,
                  "%s: the gradient changed when other layers were frozen", param);
}

/* The first two layers frozen: no gradient for their parameters, no
 * backward node for them, and fc's gradients as in the full model. */
START_TEST(frozen_prefix)
{
    Graph *full = chain(), *part = chain();
    freeze_layer(part, "c1");
    freeze_layer(part, "c2");
    Grads gf = grads_of(full), gp = grads_of(part);
    for (int t = 0; t < part->bw->nfwd_tensors; t++)
        if (part->t[t].frozen) {
            ck_assert_msg(has_no_gradient(part, t), "%s has a gradient", part->t[t].name);
            ck_assert_ptr_null(gp.dparam[t]);
        }
    ck_assert_ptr_null(backward_of(part, "c1"));
    ck_assert_ptr_null(backward_of(part, "c2"));
    ck_assert_int_eq(part->bw->nnode, 1);
    /* fc writes no dL/dx: nothing before it is trained */
    ck_assert_int_eq(backward_of(part, "fc")->dx[0].t, -1);
    ck_assert(has_no_gradient(part, part->n[node_named(part, "c2")].out));
    expect_same_gradient(full, &gf, part, &gp, "fc.weight");
    expect_same_gradient(full, &gf, part, &gp, "fc.bias");
    grads_free(full, &gf);
    grads_free(part, &gp);
    graph_free(full);
    graph_free(part);
}
END_TEST

/* The middle layer frozen: it still passes dL/dx back to c1, but gets no
 * parameter gradient; c1's and fc's are the full model's. */
START_TEST(frozen_middle)
{
    Graph *full = chain(), *part = chain();
    freeze_layer(part, "c2");
    Grads gf = grads_of(full), gp = grads_of(part);
    const GradNode *c2 = backward_of(part, "c2");
    ck_assert_ptr_nonnull(c2);
    ck_assert_int_eq(c2->dp[0].t, -1);
    ck_assert_int_eq(c2->dp[1].t, -1);
    ck_assert_int_ge(c2->dx[0].t, 0);
    ck_assert_ptr_nonnull(backward_of(part, "c1"));
    const char *same[] = {"c1.weight", "c1.bias", "fc.weight", "fc.bias"};
    for (int i = 0; i < 4; i++)
        expect_same_gradient(full, &gf, part, &gp, same[i]);
    grads_free(full, &gf);
    grads_free(part, &gp);
    graph_free(full);
    graph_free(part);
}
END_TEST

/* x read by mul (twice) and by add: sum = add(mul(x, x), x). The add runs
 * backward first and writes dL/dx first (zeroing it); mul's two writes
 * add; the views share their input's gradient and have no node. */
START_TEST(accumulation_order)
{
    Graph *g = graph_with_input(1, (int64_t[]){4});
    dense(g, "pre", 5);
    int x = g->output;
    add_layer_n(g, OP_MUL, "sq", (int[]){x, x}, 2);
    int sq = g->output;
    add_layer_n(g, OP_ADD, "sum", (int[]){sq, x}, 2);
    add_layer(g, OP_IDENTITY, "id", g->output);
    dense(g, "fc", 3);
    ck_assert(shape_infer(g));
    init_weights(g);
    ck_assert(autodiff(g));
    const GradNode *sum = backward_of(g, "sum"), *mul = backward_of(g, "sq");
    ck_assert_ptr_null(backward_of(g, "id"));
    ck_assert_int_eq(backward_of(g, "fc")->dy, g->bw->dlogits.t);
    ck_assert_int_eq(backward_of(g, "fc")->dx[0].t, sum->dy); /* id's gradient is sum's */
    int dx = g->bw->grad[x];
    ck_assert(sum->dx[1].t == dx && sum->dx[1].first && !sum->dx[1].last);
    ck_assert(mul->dx[0].t == dx && !mul->dx[0].first && !mul->dx[0].last);
    ck_assert(mul->dx[1].t == dx && !mul->dx[1].first && mul->dx[1].last);
    const GradNode *pre = backward_of(g, "pre");
    ck_assert_int_eq(pre->dy, dx);
    ck_assert(pre->dp[0].first && pre->dp[0].last); /* one writer: steps inside */
    graph_free(g);
}
END_TEST

/* A final softmax over the classes is absorbed; one over another axis of
 * the output, or one inside the network, is differentiated. */
START_TEST(loss_absorbs_final_softmax)
{
    Graph *g = graph_with_input(1, (int64_t[]){4});
    dense(g, "fc", 3);
    int sm = add_layer(g, OP_SOFTMAX, "sm", g->output);
    ck_assert(shape_infer(g));
    init_weights(g);
    ck_assert(autodiff(g));
    ck_assert_int_eq(g->bw->fused, sm);
    ck_assert_int_eq(g->bw->logits, g->n[node_named(g, "fc")].out);
    ck_assert_ptr_null(backward_of(g, "sm"));
    graph_free(g);

    g = graph_with_input(1, (int64_t[]){4});
    dense(g, "fc", 3);
    add_layer(g, OP_SOFTMAX, "inner", g->output);
    dense(g, "head", 3);
    ck_assert(shape_infer(g));
    init_weights(g);
    ck_assert(autodiff(g));
    ck_assert_int_eq(g->bw->fused, -1);
    ck_assert_ptr_nonnull(backward_of(g, "inner"));
    graph_free(g);
}
END_TEST

/* A second call changes nothing; graph_verify accepts the result. */
START_TEST(once)
{
    Graph *g = chain();
    ck_assert(autodiff(g));
    int nt = g->nt;
    const Backward *bw = g->bw;
    ck_assert(autodiff(g));
    ck_assert_int_eq(g->nt, nt);
    ck_assert_ptr_eq(g->bw, bw);
    graph_verify(g);
    graph_free(g);
}
END_TEST

static Suite *autodiff_suite(void)
{
    Suite *s = suite_create("autodiff");
    TCase *tc = tcase_create("ir");
    tcase_add_test(tc, frozen_prefix);
    tcase_add_test(tc, frozen_middle);
    tcase_add_test(tc, accumulation_order);
    tcase_add_test(tc, loss_absorbs_final_softmax);
    tcase_add_test(tc, once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(autodiff_suite());
}
