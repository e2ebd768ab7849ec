/* fixture.c: the Check tests' shared graph builder, output and shape
 * checks, and stderr capture (fixture.h says what each gives). */
#define _POSIX_C_SOURCE 200809L /* fileno, dup2 */
#include "fixture.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Graph *graph_with_input(int rank, const int64_t *d)
{
    diag_reset();
    Graph *g = graph_new("test.cnn");
    g->input = graph_add_tensor(g, "input", T_ACT, (Loc){0});
    g->t[g->input].shape = shape_make(rank, d);
    g->output = g->input;
    return g;
}

int add_layer_n(Graph *g, int op, const char *name, const int *in, int nin)
{
    int id = graph_add_node(g, op, name, (Loc){"test.cnn", 1, 1}, in, nin);
    g->output = g->n[id].out;
    return id;
}

int add_layer(Graph *g, int op, const char *name, int from)
{
    return add_layer_n(g, op, name, &from, 1);
}

/* Slot `slot`'s tensor with fresh storage for its whole shape. */
static Tensor *fresh_param(Graph *g, int node, int slot, size_t *n)
{
    Tensor *t = &g->t[g->n[node].param[slot]];
    *n = (size_t)shape_numel(&t->shape);
    free(t->data);
    t->data = xmalloc(*n * sizeof *t->data);
    return t;
}

void set_param(Graph *g, int node, int slot, const float *v)
{
    size_t n;
    Tensor *t = fresh_param(g, node, slot, &n);
    memcpy(t->data, v, n * sizeof *v);
}

void fill_param(Graph *g, int node, int slot, float v)
{
    size_t n;
    Tensor *t = fresh_param(g, node, slot, &n);
    for (size_t i = 0; i < n; i++)
        t->data[i] = v;
}

void expect_output(Graph *g, const float *x, int batch, const float *want, int count)
{
    Activations a = interp_forward(g, x, batch, false);
    ck_assert_ptr_nonnull(a.val);
    ck_assert_int_eq(shape_numel(&g->t[g->output].shape) * batch, count);
    float scale = 0;
    for (int i = 0; i < count; i++)
        scale = fmaxf(scale, fabsf(want[i]));
    for (int i = 0; i < count; i++)
        ck_assert_msg(fabsf(a.val[g->output][i] - want[i]) <= 1e-5f * fmaxf(scale, 1),
                      "output %d: got %g, want %g", i, a.val[g->output][i], want[i]);
    interp_free(g, &a);
}

void expect_shape(const Graph *g, int node, int rank, const int64_t *d)
{
    Shape want = shape_make(rank, d);
    char have[64], wants[64];
    const Shape *s = node_out_shape(g, &g->n[node]);
    ck_assert_msg(shape_eq(s, &want), "layer %s: shape %s, want %s", g->n[node].name,
                  shape_str(s, have, sizeof have), shape_str(&want, wants, sizeof wants));
}

static FILE *captured;
static int saved_stderr = -1;

void capture_stderr(void)
{
    fflush(stderr);
    captured = tmpfile();
    saved_stderr = dup(2);
    dup2(fileno(captured), 2);
}

char *captured_text(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    long n = (fseek(captured, 0, SEEK_END), ftell(captured));
    char *s = xcalloc((size_t)n + 1, 1);
    rewind(captured);
    size_t got = fread(s, 1, (size_t)n, captured);
    s[got] = '\0';
    fclose(captured);
    return s;
}

bool infer_quietly(Graph *g, char **text)
{
    capture_stderr();
    bool ok = shape_infer(g);
    *text = captured_text();
    return ok;
}

void expect_infer_error(Graph *g, const char *msg)
{
    char *err;
    ck_assert(!infer_quietly(g, &err));
    ck_assert_int_eq(diag_error_count(), 1);
    ck_assert_msg(strstr(err, msg), "want '%s' in: %s", msg, err);
    free(err);
    graph_free(g);
}
