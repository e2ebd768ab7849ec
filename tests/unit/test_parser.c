/* test_parser.c: the DSL front end (grammar/cnn.y, frontend/dsl*.c).
 *
 * Good sources must lower into exactly the nodes, names and attributes
 * docs/dsl.md promises (the expected values are written out by hand from
 * that reference and PyTorch's defaults); bad sources must fail with the
 * expected number of errors, all of them reported in one run. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnnc.h"
#include "check_run.h"

static char path[64];

/* Writes src to a fresh file and loads it; errors go to /dev/null. */
static Graph *load(const char *src)
{
    strcpy(path, "/tmp/test_parser_XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, src, strlen(src)), (ssize_t)strlen(src));
    close(fd);
    diag_reset();
    fflush(stderr);
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    Graph *g = dsl_load(path);
    fclose(stderr);
    stderr = saved;
    unlink(path);
    return g;
}

/* Loads src, which must be bad, and returns the error count. */
static int errors_of(const char *src)
{
    Graph *g = load(src);
    ck_assert_ptr_null(g);
    return diag_error_count();
}

static const Node *node(const Graph *g, const char *name)
{
    for (int i = 0; i < g->nn; i++)
        if (strcmp(g->n[i].name, name) == 0)
            return &g->n[i];
    ck_abort_msg("no node '%s'", name);
    return NULL;
}

/* The name of the tensor feeding input i of node n. */
static const char *in_name(const Graph *g, const Node *n, int i)
{
    return g->t[n->in[i]].name;
}

START_TEST(lenet_lowers)
{
    Graph *g = load("# LeNet\n"
                    "model lenet {\n"
                    "  input 3x32x32\n"
                    "  conv1: conv(8, kernel=5)\n"
                    "  pool1: maxpool(2)\n"
                    "  conv2: conv(16, kernel=5, activation=relu)\n"
                    "  flatten\n"
                    "  fc3: dense(120, activation=relu)\n"
                    "  relu\n"
                    "  dense(10)\n"
                    "  softmax\n"
                    "}\n");
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(g->name, "lenet");
    ck_assert_int_eq(g->nn, 8);
    const Tensor *in = &g->t[g->input];
    ck_assert_str_eq(in->name, "input");
    ck_assert_int_eq(in->kind, T_ACT);
    ck_assert_int_eq(in->shape.rank, 3);
    ck_assert_int_eq(in->shape.d[0], 3);
    ck_assert_int_eq(in->shape.d[2], 32);
    const char *order[] = {"conv1", "pool1", "conv2", "flatten_1", "fc3", "relu_1", "dense_2",
                           "softmax_1"};
    for (int i = 0; i < 8; i++)
        ck_assert_str_eq(g->n[i].name, order[i]);
    const Node *c1 = node(g, "conv1");
    ck_assert_int_eq(c1->op, OP_CONV);
    ck_assert_int_eq(c1->a.filters, 8);
    ck_assert_int_eq(c1->a.kernel[0], 5);
    ck_assert_int_eq(c1->a.kernel[1], 5);
    ck_assert_int_eq(c1->a.stride[0], 1);
    ck_assert_int_eq(c1->a.groups, 1);
    ck_assert(c1->a.bias);
    ck_assert_int_eq(c1->act.kind, ACT_NONE);
    ck_assert_str_eq(in_name(g, c1, 0), "input");
    const Node *p1 = node(g, "pool1");
    ck_assert_int_eq(p1->op, OP_MAXPOOL);
    ck_assert_int_eq(p1->a.kernel[1], 2);
    ck_assert_int_eq(p1->a.stride[0], 2); /* stride defaults to the size */
    ck_assert_int_eq(p1->a.stride[1], 2);
    ck_assert_int_eq(node(g, "conv2")->act.kind, ACT_RELU);
    ck_assert_int_eq(node(g, "fc3")->op, OP_DENSE);
    ck_assert_int_eq(node(g, "fc3")->a.filters, 120);
    ck_assert_str_eq(in_name(g, node(g, "fc3"), 0), "flatten_1");
    ck_assert_int_eq(node(g, "softmax_1")->a.axis, 0);
    ck_assert_str_eq(g->t[g->output].name, "softmax_1");
    ck_assert(!g->train.present);
    ck_assert_int_eq(g->seed, 0);
    graph_verify(g);
    graph_free(g);
}
END_TEST

START_TEST(conv_options)
{
    Graph *g = load("model m {\n"
                    "  input img: 4x16x20\n"
                    "  a: conv(8, kernel=3x5, stride=2x1, dilation=2, padding=(1, 2, 3, 4),\n"
                    "          padding_mode=reflect, groups=2, bias=false, init=he)\n"
                    "  b: conv2d(8, kernel=3, padding=same, groups=depthwise,\n"
                    "            activation=leaky_relu(0.2)) from img\n"
                    "  c: conv(6, kernel=1, padding=2x3, activation=clip(-1, 2.5)) from img\n"
                    "  d: conv(6, kernel=1, activation=elu, padding_mode=replicate) from img\n"
                    "  e: conv(6, kernel=1, activation=relu6, padding=valid) from img\n"
                    "}\n");
    ck_assert_ptr_nonnull(g);
    const Node *a = node(g, "a");
    ck_assert_int_eq(a->a.kernel[0], 3);
    ck_assert_int_eq(a->a.kernel[1], 5);
    ck_assert_int_eq(a->a.stride[0], 2);
    ck_assert_int_eq(a->a.stride[1], 1);
    ck_assert_int_eq(a->a.dilation[0], 2);
    ck_assert_int_eq(a->a.dilation[1], 2);
    /* (top, bottom, left, right) in the DSL; [top, left, bottom, right] in the IR */
    ck_assert_int_eq(a->a.pad[0], 1);
    ck_assert_int_eq(a->a.pad[1], 3);
    ck_assert_int_eq(a->a.pad[2], 2);
    ck_assert_int_eq(a->a.pad[3], 4);
    ck_assert_int_eq(a->a.pad_mode, PAD_REFLECT);
    ck_assert_int_eq(a->a.groups, 2);
    ck_assert(!a->a.bias);
    ck_assert_int_eq(a->a.init, INIT_HE);
    ck_assert(!a->a.same_pad);
    const Node *b = node(g, "b");
    ck_assert(b->a.same_pad);
    ck_assert_int_eq(b->a.groups, -1);
    ck_assert_int_eq(b->act.kind, ACT_LEAKY_RELU);
    ck_assert_float_eq(b->act.a, 0.2f);
    ck_assert_str_eq(in_name(g, b, 0), "img");
    const Node *c = node(g, "c");
    ck_assert_int_eq(c->a.pad[0], 2);
    ck_assert_int_eq(c->a.pad[1], 3);
    ck_assert_int_eq(c->a.pad[2], 2);
    ck_assert_int_eq(c->a.pad[3], 3);
    ck_assert_int_eq(c->act.kind, ACT_CLIP);
    ck_assert_float_eq(c->act.a, -1.0f);
    ck_assert_float_eq(c->act.b, 2.5f);
    ck_assert_int_eq(node(g, "d")->act.kind, ACT_ELU);
    ck_assert_float_eq(node(g, "d")->act.a, 1.0f);
    ck_assert_int_eq(node(g, "d")->a.pad_mode, PAD_REPLICATE);
    ck_assert_int_eq(node(g, "e")->act.kind, ACT_CLIP);
    ck_assert_float_eq(node(g, "e")->act.b, 6.0f);
    ck_assert_str_eq(g->t[g->output].name, "e");
    graph_free(g);
}
END_TEST

START_TEST(one_d_layers)
{
    Graph *g = load("model sig {\n"
                    "  input 1x100\n"
                    "  c1: conv(8, kernel=7, stride=2, dilation=3, padding=3)\n"
                    "  c2: conv1d(8, kernel=3, padding=(1, 2))\n"
                    "  p: maxpool1d(2)\n"
                    "  q: avgpool(3, stride=1, padding=1, count_include_pad=false, ceil_mode=true)\n"
                    "  pad(padding=(0, 4), mode=replicate)\n"
                    "  global_avgpool\n"
                    "}\n");
    ck_assert_ptr_nonnull(g);
    const Node *c1 = node(g, "c1");
    ck_assert_int_eq(c1->a.kernel[0], 1);
    ck_assert_int_eq(c1->a.kernel[1], 7);
    ck_assert_int_eq(c1->a.stride[0], 1);
    ck_assert_int_eq(c1->a.stride[1], 2);
    ck_assert_int_eq(c1->a.dilation[0], 1);
    ck_assert_int_eq(c1->a.dilation[1], 3);
    ck_assert_int_eq(c1->a.pad[0], 0);
    ck_assert_int_eq(c1->a.pad[1], 3);
    ck_assert_int_eq(c1->a.pad[2], 0);
    ck_assert_int_eq(c1->a.pad[3], 3);
    const Node *c2 = node(g, "c2");
    ck_assert_int_eq(c2->a.pad[1], 1);
    ck_assert_int_eq(c2->a.pad[3], 2);
    ck_assert_int_eq(c2->a.pad[0] + c2->a.pad[2], 0);
    ck_assert_int_eq(node(g, "p")->a.kernel[0], 1);
    ck_assert_int_eq(node(g, "p")->a.stride[1], 2);
    const Node *q = node(g, "q");
    ck_assert_int_eq(q->op, OP_AVGPOOL);
    ck_assert(!q->a.count_include_pad);
    ck_assert(q->a.ceil_mode);
    ck_assert_int_eq(q->a.pad[1], 1);
    ck_assert_int_eq(q->a.pad[0], 0);
    const Node *pad = node(g, "pad_1");
    ck_assert_int_eq(pad->op, OP_PAD);
    ck_assert_int_eq(pad->a.pad_mode, PAD_REPLICATE);
    ck_assert_int_eq(pad->a.pad[3], 4);
    ck_assert_int_eq(node(g, "global_avgpool_1")->op, OP_GLOBAL_AVGPOOL);
    graph_free(g);
}
END_TEST

START_TEST(defaults_and_activations)
{
    Graph *g = load("model m {\n"
                    "  input 16 mean=(0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5,\n"
                    "                 0.5, 0.5, 0.5, 0.5)\n"
                    "  init xavier seed=42\n"
                    "  batchnorm\n"
                    "  bn2: batchnorm(eps=1e-3, momentum=0.2, activation=tanh)\n"
                    "  dropout\n"
                    "  dropout(0.25)\n"
                    "  leaky_relu\n"
                    "  leaky_relu(alpha=0.3)\n"
                    "  elu\n"
                    "  relu6\n"
                    "  clip(-2, max=3)\n"
                    "  sigmoid; tanh\n"
                    "  maxout(2)\n"
                    "  fc: dense(8, bias=false, init=zeros)\n"
                    "  init default\n"
                    "  dense(4, activation=softmax)\n"
                    "}\n");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->seed, 42);
    ck_assert_int_eq(g->nnorm, 16);
    ck_assert_float_eq(g->mean[15], 0.5f);
    ck_assert_float_eq(g->std[0], 1.0f); /* std not given: neutral */
    const Node *bn = node(g, "batchnorm_1");
    ck_assert_float_eq(bn->a.eps, 1e-5f);
    ck_assert_float_eq(bn->a.momentum, 0.1f);
    ck_assert_float_eq(node(g, "bn2")->a.eps, 1e-3f);
    ck_assert_float_eq(node(g, "bn2")->a.momentum, 0.2f);
    ck_assert_int_eq(node(g, "bn2")->act.kind, ACT_TANH);
    ck_assert_float_eq(node(g, "dropout_1")->a.rate, 0.5f);
    ck_assert_float_eq(node(g, "dropout_2")->a.rate, 0.25f);
    ck_assert_float_eq(node(g, "leaky_relu_1")->act.a, 0.01f);
    ck_assert_float_eq(node(g, "leaky_relu_2")->act.a, 0.3f);
    ck_assert_float_eq(node(g, "elu_1")->act.a, 1.0f);
    ck_assert_int_eq(node(g, "relu6_1")->op, OP_CLIP);
    ck_assert_float_eq(node(g, "relu6_1")->act.a, 0.0f);
    ck_assert_float_eq(node(g, "relu6_1")->act.b, 6.0f);
    ck_assert_float_eq(node(g, "clip_1")->act.a, -2.0f);
    ck_assert_float_eq(node(g, "clip_1")->act.b, 3.0f);
    ck_assert_int_eq(node(g, "sigmoid_1")->op, OP_SIGMOID);
    ck_assert_int_eq(node(g, "tanh_1")->op, OP_TANH);
    ck_assert_int_eq(node(g, "maxout_1")->a.k, 2);
    ck_assert_int_eq(node(g, "fc")->a.init, INIT_ZEROS);
    ck_assert(!node(g, "fc")->a.bias);
    /* the init statement in force; a later one changes later layers */
    ck_assert_int_eq(node(g, "bn2")->a.init, INIT_XAVIER);
    const Node *d = node(g, "dense_2");
    ck_assert_int_eq(d->a.init, INIT_DEFAULT);
    ck_assert_int_eq(d->act.kind, ACT_NONE);
    const Node *sm = node(g, "dense_2_softmax");
    ck_assert_int_eq(sm->op, OP_SOFTMAX);
    ck_assert_str_eq(in_name(g, sm, 0), "dense_2");
    ck_assert_str_eq(g->t[g->output].name, "dense_2_softmax");
    graph_free(g);
}
END_TEST

/* Names may be used before their layer: the graph comes out sorted. */
START_TEST(branches_and_forward_references)
{
    Graph *g = load("model res {\n"
                    "  input 8x4x4\n"
                    "  s: add(b, input, activation=relu)\n"
                    "  a: conv(8, kernel=3, padding=1) from input\n"
                    "  b: relu\n"
                    "  j: concat(s, a, b) from\n"
                    "}\n");
    ck_assert_ptr_null(g); /* `from` needs a name: a syntax error */
    g = load("model res {\n"
             "  input 8x4x4\n"
             "  a: conv(8, kernel=3, padding=1)\n"
             "  s: add(b, input, activation=relu)\n"
             "  b: relu from a\n"
             "  j: concat(s, a, b)\n"
             "}\n");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->nn, 4);
    const char *order[] = {"a", "b", "s", "j"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(g->n[i].name, order[i]);
    const Node *s = node(g, "s");
    ck_assert_int_eq(s->nin, 2);
    ck_assert_str_eq(in_name(g, s, 0), "b");
    ck_assert_str_eq(in_name(g, s, 1), "input");
    ck_assert_int_eq(s->act.kind, ACT_RELU);
    const Node *j = node(g, "j");
    ck_assert_int_eq(j->op, OP_CONCAT);
    ck_assert_int_eq(j->nin, 3);
    ck_assert_str_eq(in_name(g, j, 2), "b");
    ck_assert_int_eq(j->a.axis, 0);
    ck_assert_str_eq(g->t[g->output].name, "j"); /* the last layer in the source */
    graph_verify(g);
    graph_free(g);
}
END_TEST

START_TEST(train_section)
{
    Graph *g = load("model m {\n"
                    "  input 4\n"
                    "  dense(2)\n"
                    "  train {\n"
                    "    loss = cross_entropy\n"
                    "    optimizer = sgd(0.05, momentum=0.9, weight_decay=5e-4)\n"
                    "    batch = 16; epochs = 3\n"
                    "    seed = 7\n"
                    "  }\n"
                    "}\n");
    ck_assert_ptr_nonnull(g);
    const TrainCfg *t = &g->train;
    ck_assert(t->present);
    ck_assert_int_eq(t->optim, OPT_SGD);
    ck_assert_float_eq(t->lr, 0.05f);
    ck_assert_float_eq(t->momentum, 0.9f);
    ck_assert_float_eq(t->weight_decay, 5e-4f);
    ck_assert_int_eq(t->batch, 16);
    ck_assert_int_eq(t->epochs, 3);
    ck_assert_int_eq(t->seed, 7);
    ck_assert_int_eq(t->loc.line, 4);
    graph_free(g);

    g = load("model m {\n  input 4\n  dense(2)\n  train {\n    optimizer = adam\n  }\n}\n");
    ck_assert_ptr_nonnull(g);
    t = &g->train;
    ck_assert_int_eq(t->optim, OPT_ADAM);
    ck_assert_float_eq(t->lr, 1e-3f);
    ck_assert_float_eq(t->beta1, 0.9f);
    ck_assert_float_eq(t->beta2, 0.999f);
    ck_assert_float_eq(t->eps, 1e-8f);
    ck_assert_int_eq(t->batch, 32);
    ck_assert_int_eq(t->epochs, 10);
    graph_free(g);

    g = load("model m {\n  input 4\n  dense(2)\n  train {\n"
             "    optimizer = adam(lr=2e-4, betas=(0.5, 0.9), eps=1e-6)\n  }\n}\n");
    ck_assert_ptr_nonnull(g);
    ck_assert_float_eq(g->train.lr, 2e-4f);
    ck_assert_float_eq(g->train.beta1, 0.5f);
    ck_assert_float_eq(g->train.beta2, 0.9f);
    ck_assert_float_eq(g->train.eps, 1e-6f);
    graph_free(g);
}
END_TEST

START_TEST(layout_freedom)
{
    /* one line, ';' separators, a trailing comma, blank lines, a CRLF file */
    Graph *g = load("model m { input 3x8x8; c: conv(4, kernel=3,); relu }");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->nn, 2);
    graph_free(g);
    g = load("\r\n# x\r\nmodel m {\r\n\r\n  input 3x8x8\r\n  relu()\r\n}\r\n");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->nn, 1);
    graph_free(g);
}
END_TEST

START_TEST(errors_are_all_reported)
{
    /* four independent bad values: four errors, not one */
    ck_assert_int_eq(errors_of("model m {\n  input 3x8x8\n  c1: conv(8, kernel=0)\n"
                               "  c2: conv(8, kernel=3, stride=0)\n  p: maxpool(0)\n"
                               "  d: dropout(2)\n}\n"),
                     4);
    /* syntax errors recover at the end of each statement */
    ck_assert_int_eq(errors_of("model m {\n  input 3x8x8\n  conv(8,, kernel=3)\n  relu\n"
                               "  dense(4 5)\n  relu\n  x: : y\n}\n"),
                     3);
    /* a syntax error and semantic errors in the same run */
    ck_assert_int_eq(errors_of("model m {\n  input 3x8x8\n  conv(8 kernel=3)\n"
                               "  c: conv(0, kernel=3)\n  foo\n}\n"),
                     3);
    /* missing and duplicated pieces */
    ck_assert_int_eq(errors_of("model m {\n}\n"), 2); /* no input, no layers */
    ck_assert_int_eq(errors_of("model m {\n  input 4\n  a: relu\n  a: relu\n  b: relu\n"
                               "  b: relu\n}\n"),
                     2);
    ck_assert_int_eq(errors_of("model m {\n  input 4\n  relu\n  train {\n    batch = 1\n"
                               "    batch = 2\n    epochs = 0\n    optimizer = sgd\n  }\n}\n"),
                     3);
    ck_assert_int_eq(errors_of(""), 1);
    ck_assert_int_eq(errors_of("model a { input 4; relu }\nmodel b { input 4; relu }\n"), 1);
}
END_TEST

START_TEST(bad_inputs_fail)
{
    const char *bad[] = {
        "model m {\n  input 3x8x8\n  c: conv(8, kernel=3, groups=0)\n}\n",
        "model m {\n  input 3x8x8\n  c: conv(8, kernel=3, padding_mode=circular)\n}\n",
        "model m {\n  input 3x8x8\n  c: conv(8, kernel=3.5)\n}\n",
        "model m {\n  input 3x8x8\n  p: maxpool(3, stride=0)\n}\n",
        "model m {\n  input 3x8x8\n  r: reshape(0x3)\n}\n",
        "model m {\n  input 3x8x8\n  a: add(input, 3)\n}\n",
        "model m {\n  input 3x8x8\n  batchnorm(eps=0)\n}\n",
        "model m {\n  input 3x8x8\n  batchnorm(momentum=1.5)\n}\n",
        "model m {\n  input 3x8x8\n  maxout(0)\n}\n",
        "model m {\n  input 3x8x8\n  clip(min=0)\n}\n",
        "model m {\n  input 3x8x8\n  global_maxpool(2)\n}\n",
        "model m {\n  input 3x8x8\n  pad\n}\n",
        "model m {\n  input 3x8x8\n  c: conv(8, kernel=3, activation=leaky_relu(slope=1))\n}\n",
        "model m {\n  input 3x8x8\n  c: conv(8, kernel=3, init=orthogonal)\n}\n",
        "model m {\n  input 3x8x8 scale=2\n  relu\n}\n",
        "model m {\n  input 3x8x8\n  relu\n  train {\n    optimizer = adam(eps=-1)\n  }\n}\n",
        "model m {\n  input 3x8x8\n  relu\n  train {\n    seed = -1\n  }\n}\n",
        "model m {\n  input 3x8x8\n  relu\n  train {\n    optimizer = sgd(lr=1e99)\n  }\n}\n",
        "model m {\n  input 99999x99999x99999\n  relu\n}\n",
        "model m {\n  input 3x8x8\n  relu\n  train {\n    batch = 4\n    epochs\n  }\n}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(errors_of(bad[i]) >= 1, "accepted: %s", bad[i]);
}
END_TEST

START_TEST(unreadable_file)
{
    diag_reset();
    FILE *saved = stderr;
    stderr = fopen("/dev/null", "w");
    Graph *g = dsl_load("/nonexistent/model.cnn");
    Graph *d = dsl_load("/tmp");
    fclose(stderr);
    stderr = saved;
    ck_assert_ptr_null(g);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(diag_error_count(), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parser");
    TCase *tc = tcase_create("parser");
    tcase_add_test(tc, lenet_lowers);
    tcase_add_test(tc, conv_options);
    tcase_add_test(tc, one_d_layers);
    tcase_add_test(tc, defaults_and_activations);
    tcase_add_test(tc, branches_and_forward_references);
    tcase_add_test(tc, train_section);
    tcase_add_test(tc, layout_freedom);
    tcase_add_test(tc, errors_are_all_reported);
    tcase_add_test(tc, bad_inputs_fail);
    tcase_add_test(tc, unreadable_file);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
