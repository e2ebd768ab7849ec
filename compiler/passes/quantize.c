/* quantize.c: step "quantize", the QDQ graph into integer layers. Takes a
 * Graph with quantize/dequantize pairs (from "calibrate", or a
 * pre-quantized ONNX model); gives it with every layer that can compute in
 * integers doing so. Does nothing to a graph without them.
 *
 * A layer n is lowered when every activation it reads is a dequantize's
 * output, its own output is read by one quantize alone (and is not the
 * graph output), and its operator's integer form accepts it
 * (QuantOps.check, asked with n rewired to the integer tensors): then n
 * reads the dequantizes' int8 inputs and writes the quantize's int8 output
 * itself, and the quantize goes. Dequantizes nobody reads any more go too.
 * What remains: a quantize where float data enters the integer part, a
 * dequantize where it leaves (with a whole model lowered, the first and last
 * layers), and float layers, each named in a note saying why. Layers are
 * visited in order, so a chain lowers in one pass. */
#include "../cnnc.h"

#include <stdlib.h>

/* The integer tensor dequantized into activation t, or -1. */
static int dequantized_from(const Graph *g, int t)
{
    int p = g->t[t].producer;
    return p >= 0 && g->n[p].op == OP_DEQUANTIZE ? g->n[p].in[0] : -1;
}

/* The quantize that alone reads tensor t, through views that alone read
 * it (GlobalAveragePool -> Flatten -> QuantizeLinear), or -1. */
static int quantize_reader(const Graph *g, int t)
{
    for (;;) {
        int c = fuse_sole_consumer(g, t);
        if (c < 0 || g->n[c].op == OP_QUANTIZE)
            return c;
        if (!(op_info(g->n[c].op)->traits & OPT_VIEW) || node_quantized(g, &g->n[c]))
            return -1;
        t = g->n[c].out;
    }
}

/* Why node i cannot be lowered, NULL if it can; *qnode is the quantize
 * reading its output. A node not between dequantizes and a quantize gets
 * no reason (*quiet): it is a float layer by design. */
static const char *why_not(Graph *g, int i, int *qnode, bool *quiet)
{
    Node *n = &g->n[i];
    const OpInfo *op = op_info(n->op);
    *quiet = true;
    if (n->op == OP_QUANTIZE || n->op == OP_DEQUANTIZE || node_quantized(g, n))
        return "";
    for (int j = 0; j < n->nin; j++)
        if (dequantized_from(g, n->in[j]) < 0)
            return "";
    int c = quantize_reader(g, n->out);
    if (c < 0)
        return "";
    *quiet = false;
    *qnode = c;
    if (!op->quant)
        return "the operator has no int8 kernel";
    int *saved = xmalloc((size_t)n->nin * sizeof *saved);
    int out = n->out;
    for (int j = 0; j < n->nin; j++) {
        saved[j] = n->in[j];
        n->in[j] = dequantized_from(g, n->in[j]);
    }
    n->out = g->n[c].out;
    const char *why = op->quant->check(g, n);
    for (int j = 0; j < n->nin; j++)
        n->in[j] = saved[j];
    n->out = out;
    free(saved);
    return why;
}

/* Node i reads the integer tensors and writes the quantize's output: its
 * own output tensor takes the integers' Quant (and so do the views between
 * it and the quantize), and the quantize goes (its readers read the last
 * view's output). */
static void lower(Graph *g, int i, int qnode)
{
    Node *n = &g->n[i];
    for (int j = 0; j < n->nin; j++)
        n->in[j] = dequantized_from(g, n->in[j]);
    const Quant *q = g->t[g->n[qnode].out].q;
    for (int t = n->out; t != g->n[qnode].in[0]; t = g->n[fuse_sole_consumer(g, t)].out)
        g->t[t].q = quant_copy(q, 0);
    g->t[g->n[qnode].in[0]].q = quant_copy(q, 0);
    fuse_bypass(g, qnode);
}

/* Dequantizes whose output nothing reads. */
static void drop_unread(Graph *g)
{
    for (int i = g->nn - 1; i >= 0; i--) {
        int readers, t = g->n[i].out;
        if (g->n[i].op != OP_DEQUANTIZE || t == g->output)
            continue;
        readers = graph_consumers(g, t, NULL, 0);
        if (readers == 0)
            fuse_bypass(g, i);
    }
}

bool quantize(Graph *g, const LoadOptions *opt)
{
    bool any = false;
    for (int i = 0; i < g->nn && !any; i++)
        any = g->n[i].op == OP_QUANTIZE;
    if (!any)
        return true;
    for (int i = 0; i < g->nn; i++) {
        int qnode = -1;
        bool quiet;
        const char *why = why_not(g, i, &qnode, &quiet);
        if (!why)
            lower(g, i, qnode);
        else if (!quiet)
            diag_note(g->n[i].loc, "%s '%s' stays float: %s", op_info(g->n[i].op)->name,
                      g->n[i].name, why);
    }
    drop_unread(g);
    fuse_prune(g);
    return true;
}
