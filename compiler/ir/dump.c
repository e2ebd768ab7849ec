/* dump.c: a stable text form of the graph, for --dump-ir and golden tests.
 * One line per node: `name = op(inputs) attrs params [+add] [+act] ->
 * shape`; each operator prints its own attributes (OpInfo.dump). */
#include "../cnnc.h"

/* An integer parameter's type: ":i8" (its scales per channel: ":i8/c"). */
static const char *quant_suffix(const Quant *q)
{
    if (!q)
        return "";
    return q->dtype == DT_I32 ? ":i32" : q->n > 1 ? ":i8/c" : ":i8";
}

/* An integer activation: ` i8 scale=S zero=Z`. */
static void dump_quant(const Tensor *t, FILE *out)
{
    if (t->q)
        fprintf(out, " i8 scale=%.6g zero=%ld", (double)t->q->scale[0], (long)t->q->zero_point[0]);
}

static void dump_attrs(const Graph *g, const Node *n, FILE *out)
{
    if (op_info(n->op)->dump)
        op_info(n->op)->dump(g, n, out);
    for (int i = 0; i < n->nparam; i++)
        if (n->param[i] >= 0)
            fprintf(out, " %s%s", g->t[n->param[i]].name, quant_suffix(g->t[n->param[i]].q));
    if ((op_info(n->op)->traits & OPT_RESIDUAL) && n->nin > 1)
        fputs(" +add", out); /* a fused residual: its second input */
    if (act_present(node_epilogue(n)))
        fprintf(out, " +%s", act_name(n->act.kind));
}

void graph_dump(const Graph *g, FILE *out)
{
    char buf[128];
    fprintf(out, "model %s\n", g->name ? g->name : "?");
    if (g->input >= 0)
        fprintf(out, "input %s: %s\n", g->t[g->input].name,
                shape_str(&g->t[g->input].shape, buf, sizeof buf));
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        fprintf(out, "%s = %s(", n->name, op_info(n->op)->name);
        for (int j = 0; j < n->nin; j++)
            fprintf(out, j ? ", %s" : "%s", g->t[n->in[j]].name);
        fputc(')', out);
        dump_attrs(g, n, out);
        fprintf(out, " -> %s", shape_str(&g->t[n->out].shape, buf, sizeof buf));
        dump_quant(&g->t[n->out], out);
        fputc('\n', out);
    }
    if (g->output >= 0)
        fprintf(out, "output %s\n", g->t[g->output].name);
    if (g->bw)
        backward_dump(g, out);
}
