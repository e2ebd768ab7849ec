/* dot.c: the graph as a Graphviz digraph (`cnnc info --dot FILE`).
 *
 * One box per layer, labelled with its name, its operator and fused
 * epilogue ("conv+relu"; "conv+add+relu" for a fused residual join) and
 * its parameters (a folded BatchNorm shows as "c1+bn1.weight"); one edge
 * per activation read, labelled with the tensor's per-sample shape; the
 * input and output as ellipses. Render with `dot -Tsvg FILE`. */
#include "../cnnc.h"

/* A name inside a double-quoted DOT string. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void put_node(const Graph *g, int i, FILE *out)
{
    const Node *n = &g->n[i];
    fprintf(out, "  n%d [shape=box, label=\"", i);
    put_escaped(out, n->name);
    fprintf(out, "\\n%s", op_info(n->op)->name);
    if ((op_info(n->op)->traits & OPT_RESIDUAL) && n->nin > 1)
        fputs("+add", out); /* a fused residual join */
    if (act_present(node_epilogue(n)))
        fprintf(out, "+%s", act_name(n->act.kind));
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0) {
            fputs("\\n", out);
            put_escaped(out, g->t[n->param[s]].name);
        }
    fputs("\"];\n", out);
}

/* The DOT id of whatever writes tensor t: a layer, or the input. */
static void put_source(const Graph *g, int t, FILE *out)
{
    if (g->t[t].producer >= 0)
        fprintf(out, "n%d", g->t[t].producer);
    else
        fputs("input", out);
}

static void put_edge(const Graph *g, int t, FILE *out)
{
    char buf[128];
    fprintf(out, " [label=\"%s\"];\n", shape_str(&g->t[t].shape, buf, sizeof buf));
}

void graph_dot(const Graph *g, FILE *out)
{
    fputs("digraph \"", out);
    put_escaped(out, g->name ? g->name : "model");
    fputs("\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n"
          "  edge [fontname=\"Helvetica\", fontsize=10];\n  input [shape=ellipse, label=\"",
          out);
    put_escaped(out, g->t[g->input].name);
    fputs("\"];\n  output [shape=ellipse];\n", out);
    for (int i = 0; i < g->nn; i++)
        put_node(g, i, out);
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nin; j++) {
            fputs("  ", out);
            put_source(g, g->n[i].in[j], out);
            fprintf(out, " -> n%d", i);
            put_edge(g, g->n[i].in[j], out);
        }
    fputs("  ", out);
    put_source(g, g->output, out);
    fputs(" -> output", out);
    put_edge(g, g->output, out);
    fputs("}\n", out);
}
