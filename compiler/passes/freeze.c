/* freeze.c: which parameters a training build and `cnnc grad` train (pass
 * "freeze", contract section 8, docs/training.md). Takes the shaped Graph
 * as written (before any fusion) and the command's options; gives it with
 * Tensor.frozen set on every parameter not to train. Autodiff, the
 * interpreter, the planner and the emitters honour the flag: a frozen
 * parameter gets no gradient, nothing upstream of a frozen part gets a
 * backward node (so nothing there is saved for it), and the generated code
 * keeps it a constant (flash), out of the training state.
 *
 * --freeze-until TENSOR: the cut is TENSOR, a view's output standing for
 * its input (the same values). Every parameter of every node the cut
 * depends on is frozen, and the cut is kept (Tensor.keep): no fusion merges
 * a layer before it with one after it, so the layers after the cut train
 * exactly as in the model as written.
 * --train-bias-only (TinyTL): every parameter that is not a bias
 * (Tensor.bias) is frozen as well; with a cut, the biases after it train.
 *
 * Errors: a cut that names no tensor, the output as the cut, nothing left
 * to train, --train-bias-only on a model without biases.
 *
 * freeze_part gives, on any later graph, the frozen part: what an int8
 * backbone quantizes (passes/calibrate.c) and a feature cache computes once
 * (emit/emit_train_cache.c). */
#include "../cnnc.h"

#include <stdlib.h>

/* A note naming the tensors a cut may be (the layers' outputs). */
static void note_candidates(const Graph *g)
{
    StrBuf b = {0};
    int shown = 0;
    for (int i = 0; i < g->nn && shown < 12; i++)
        if (!backward_is_view(g, &g->n[i]) && g->n[i].out != g->output)
            sb_printf(&b, "%s'%s'", shown++ ? ", " : "", graph_activation_name(g, g->n[i].out));
    if (shown)
        diag_note((Loc){g->file, 0, 0}, "the model's tensors include %s%s", b.s,
                  shown == 12 ? ", ..." : "");
    sb_free(&b);
}

/* The cut's tensor, or -1 after an error (reported). */
static int find_cut(const Graph *g, const char *name)
{
    int t = graph_find_activation(g, name);
    if (t < 0) {
        diag_error((Loc){g->file, 0, 0}, "--freeze-until: the model has no tensor '%s'", name);
        note_candidates(g);
        return -1;
    }
    int cut = backward_view_root(g, t);
    if (cut == backward_view_root(g, g->output)) {
        diag_error((Loc){g->file, 0, 0},
                   "--freeze-until: '%s' is the model's output: nothing after it would train",
                   name);
        return -1;
    }
    return cut;
}

/* Freezes every parameter of every node tensor `cut` depends on. */
static void freeze_ancestors(Graph *g, int cut)
{
    bool *ancestor = graph_ancestors(g, cut);
    for (int i = 0; i < g->nn; i++)
        for (int s = 0; ancestor[i] && s < g->n[i].nparam; s++) {
            int t = g->n[i].param[s];
            if (t >= 0 && g->t[t].kind == T_PARAM)
                g->t[t].frozen = true;
        }
    free(ancestor);
}

/* --train-bias-only: freezes every weight; false when no bias is left. */
static bool freeze_weights(Graph *g)
{
    bool any_bias = false;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM) {
            any_bias |= g->t[t].bias;
            g->t[t].frozen |= !g->t[t].bias;
        }
    if (!any_bias)
        diag_error((Loc){g->file, 0, 0}, "--train-bias-only: the model has no bias to train "
                                         "(its layers are declared without one)");
    return any_bias;
}

static bool something_trains(const Graph *g)
{
    for (int i = 0; i < g->nn; i++)
        for (int s = 0; s < g->n[i].nparam; s++) {
            int t = g->n[i].param[s];
            if (t >= 0 && tensor_trainable(&g->t[t]))
                return true;
        }
    return false;
}

bool freeze(Graph *g, const LoadOptions *opt)
{
    if (!opt->freeze_until && !opt->train_bias_only)
        return true;
    if (opt->train_bias_only && !freeze_weights(g))
        return false;
    if (opt->freeze_until) {
        int cut = find_cut(g, opt->freeze_until);
        if (cut < 0)
            return false;
        freeze_ancestors(g, cut);
        g->t[cut].keep = true;
    }
    if (opt->freeze_until && !something_trains(g)) { /* else a bias trains */
        diag_error((Loc){g->file, 0, 0},
                   "--freeze-until '%s': nothing is left to train: no layer after it has a "
                   "%s",
                   opt->freeze_until, opt->train_bias_only ? "bias" : "parameter");
        return false;
    }
    return true;
}

/* Per node: computed from the input alone, without a trainable parameter. */
static bool *fixed_nodes(const Graph *g)
{
    bool *fixed = xcalloc((size_t)g->nn + 1, sizeof *fixed);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        bool f = true;
        for (int s = 0; s < n->nparam; s++)
            f &= n->param[s] < 0 || !tensor_trainable(&g->t[n->param[s]]);
        for (int j = 0; j < n->nin; j++) {
            int p = g->t[n->in[j]].producer;
            f &= n->in[j] == g->input || (p >= 0 && fixed[p]);
        }
        fixed[i] = f;
    }
    return fixed;
}

static bool has_frozen_param(const Graph *g, const Node *n)
{
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0 && tensor_frozen(&g->t[n->param[s]]))
            return true;
    return false;
}

/* The fixed nodes a frozen parameter's fixed layer depends on, itself
 * included (a reverse sweep: nodes are in topological order). */
bool *freeze_part(const Graph *g)
{
    bool *fixed = fixed_nodes(g), *wanted = xcalloc((size_t)g->nn + 1, sizeof *wanted);
    for (int i = g->nn - 1; i >= 0; i--) {
        const Node *n = &g->n[i];
        wanted[i] = fixed[i] && (wanted[i] || has_frozen_param(g, n));
        for (int j = 0; wanted[i] && j < n->nin; j++)
            if (g->t[n->in[j]].producer >= 0)
                wanted[g->t[n->in[j]].producer] = true;
    }
    free(fixed);
    return wanted;
}
