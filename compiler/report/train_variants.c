/* train_variants.c: the table `cnnc info --train --target T` prints beside
 * its ram_train_bytes line: what training part of the network costs, so
 * that a user can pick what fits (sparse updates, as in MIT's
 * tiny-training; TinyTL's bias-only). Takes the model's path, the load
 * options of the command and the --train build it measured; gives, per
 * variant, the training state and the train arena as the compiler plans
 * them (the same figures as <P>_TRAIN_STATE_BYTES and _ARENA_BYTES) and
 * their sum.
 *
 * The variants: full training, --train-bias-only (when the model has
 * biases), and last-k cuts at natural points of the model as written: the
 * input of each of its last three dense layers and of its last conv. Each
 * row is a build of its own (the pipeline up to "plan", no file written),
 * so that its plan is exactly what that compile would give. With --int8
 * (an int8 backbone), a row with a frozen part runs it in int8, as that
 * compile would; the others (full training, bias-only) are float builds. */
#include "cnnc.h"

#include <string.h>

typedef struct {
    const char *cut; /* --freeze-until, NULL: none */
    bool bias_only;
    bool int8; /* its frozen part in int8 (--int8) */
} Variant;

#define MAX_VARIANTS 8

/* The natural cuts: the input of the last three dense layers and of the
 * last conv, latest first, each once. */
static int natural_cuts(const Graph *g, Variant *v, int n)
{
    int dense = 0, conv = 0;
    for (int i = g->nn - 1; i >= 0 && n < MAX_VARIANTS; i--) {
        const Node *node = &g->n[i];
        bool take = (node->op == OP_DENSE && dense++ < 3) || (node->op == OP_CONV && !conv++);
        if (!take || node->in[0] == g->input)
            continue;
        const char *cut = graph_activation_name(g, node->in[0]); /* g outlives v */
        bool seen = false;
        for (int k = 0; k < n; k++)
            seen |= v[k].cut && strcmp(v[k].cut, cut) == 0;
        if (!seen)
            v[n++] = (Variant){cut, false, true};
    }
    return n;
}

/* The DSL's `freeze`: a frozen part without --freeze-until. */
static bool has_frozen(const Graph *g)
{
    for (int t = 0; t < g->nt; t++)
        if (tensor_frozen(&g->t[t]))
            return true;
    return false;
}

static bool has_bias(const Graph *g)
{
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM && g->t[t].bias)
            return true;
    return false;
}

/* The variant's state and arena bytes; false after an error (reported). */
static bool measure(const char *path, const LoadOptions *base, const EmitOptions *build,
                    const Variant *v, int64_t *state, int64_t *arena)
{
    LoadOptions opt = *base;
    opt.freeze_until = v->cut;
    opt.train_bias_only = v->bias_only;
    opt.dump_after = NULL;
    opt.emit = build;
    opt.quant = v->int8 ? base->quant : NULL;
    Pipeline *p = pipeline_new(path, &opt);
    bool ok = pipeline_run(p, "plan") && emit_train_figures(pipeline_emit(p), state, arena);
    pipeline_free(p);
    return ok;
}

bool train_variants_print(const char *path, const LoadOptions *base, const EmitOptions *build,
                          FILE *out)
{
    Graph *g = model_load(path); /* as written: where the cuts are named */
    if (!g)
        return false;
    Variant v[MAX_VARIANTS] = {{NULL, false, has_frozen(g)}};
    int n = 1;
    if (has_bias(g))
        v[n++] = (Variant){NULL, true, false};
    n = natural_cuts(g, v, n);
    fprintf(out, "training variants (batch %d; state + train arena as planned, stack and "
                 ".data/.bss not included):\n"
                 "  %-40s %12s %12s %12s\n",
            build->batch, "variant", "state", "arena", "total");
    for (int i = 0; i < n; i++) {
        int64_t state, arena;
        if (!measure(path, base, build, &v[i], &state, &arena)) {
            graph_free(g);
            return false;
        }
        char label[256];
        if (v[i].cut)
            snprintf(label, sizeof label, "--freeze-until %s", v[i].cut);
        else
            snprintf(label, sizeof label, "%s", v[i].bias_only ? "--train-bias-only" : "full");
        if (v[i].int8 && base->quant)
            strncat(label, ", int8 backbone", sizeof label - strlen(label) - 1);
        fprintf(out, "  %-40s %12lld %12lld %12lld\n", label, (long long)state, (long long)arena,
                (long long)(state + arena));
    }
    graph_free(g);
    return true;
}
