/* fixture.h: what the Check tests share: tiny graphs built by hand (an
 * input, then layers appended one by one), checks of a layer's shape and of
 * the interpreter's output, and stderr captured into a string to check
 * warnings. Linked as the static library test_fixture (tests/CMakeLists.txt). */
#ifndef CNNC_TEST_FIXTURE_H
#define CNNC_TEST_FIXTURE_H

#include "cnnc.h"

/* A fresh graph (diagnostics reset) whose input "input" has the given
 * per-sample shape; the input is also the output until a layer is added. */
Graph *graph_with_input(int rank, const int64_t *d);

/* Appends a layer reading tensors in[nin]; its output becomes the graph's
 * output. Returns the node id (pointers into g->n move on the next add). */
int add_layer_n(Graph *g, int op, const char *name, const int *in, int nin);

/* The same for a one-input layer reading tensor `from`. */
int add_layer(Graph *g, int op, const char *name, int from);

/* Parameter slot `slot` of `node` (shape already inferred) set to v[], or
 * filled with the value v. */
void set_param(Graph *g, int node, int slot, const float *v);
void fill_param(Graph *g, int node, int slot, float v);

/* Runs the graph on x[batch] and checks its output against want[count]
 * (tolerance relative to the largest expected value, contract section 6). */
void expect_output(Graph *g, const float *x, int batch, const float *want, int count);

/* Checks that layer `node` produces the per-sample shape d[rank]. */
void expect_shape(const Graph *g, int node, int rank, const int64_t *d);

/* Between capture_stderr() and captured_text(), stderr goes to a temporary
 * file; captured_text() restores it and returns what was written (free it). */
void capture_stderr(void);
char *captured_text(void);

/* shape_infer(g) with its diagnostics captured into *text (free it). */
bool infer_quietly(Graph *g, char **text);

/* Shape inference of g fails with exactly one error, whose text contains
 * msg; frees g. */
void expect_infer_error(Graph *g, const char *msg);

#endif
