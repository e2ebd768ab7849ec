/* split_act.c: unfuses the activations a backward pass cannot differentiate
 * from their output (pass "split-act", run by training builds and `cnnc
 * grad` only).
 *
 * Matches a node whose fused epilogue's derivative needs the epilogue's
 * input (acts.def's from_y false: hardswish; leaky_relu or elu with a
 * negative slope): y = act(z) where z is the node's own result. The node
 * loses its epilogue and writes z; a new activation node "<name>_<act>"
 * computes y from it, and every reader of y (the graph output too) reads
 * the new node. Exact: the same arithmetic in two steps. The backward pass
 * then has z, which it needs (the fusion pass refuses to fuse such an
 * activation back in a training build). Takes and gives a sorted Graph. */
#include "../cnnc.h"
#include "../ops/ops.h"

#include <stdlib.h>

static char *free_name(const Graph *g, const char *base)
{
    char *name = xstrdup(base);
    for (int k = 1; graph_find_tensor(g, name) >= 0; k++) {
        free(name);
        name = xasprintf("%s_%d", base, k);
    }
    return name;
}

void split_epilogue(Graph *g, int id)
{
    Act act = g->n[id].act;
    int z = g->n[id].out;
    char *base = xasprintf("%s_%s", g->n[id].name, act_name(act.kind));
    char *name = free_name(g, base);
    int a = graph_add_node(g, act_info(act.kind)->op, name, g->n[id].loc, &z, 1);
    free(name);
    free(base);
    int y = g->n[a].out;
    g->t[y].shape = g->t[z].shape;
    g->n[a].act = act;
    g->n[id].act = (Act){ACT_NONE, 0, 0};
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; i != a && j < g->n[i].nin; j++)
            if (g->n[i].in[j] == z)
                g->n[i].in[j] = y;
    if (g->output == z)
        g->output = y;
    g->t[y].keep = g->t[z].keep; /* the value it names is y now */
    g->t[z].keep = false;
}

bool split_act(Graph *g, const LoadOptions *opt)
{
    int nn = g->nn;
    for (int i = 0; i < nn; i++) {
        Act act = node_epilogue(&g->n[i]);
        if (act_present(act) && !act_grad_from_output(act))
            split_epilogue(g, i);
    }
    return g->nn == nn || graph_toposort(g);
}
