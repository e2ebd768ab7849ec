/* dump.c: a stable text form of the graph, for --dump-ir and golden tests.
 * One line per node: `name = op(inputs) attrs -> shape`. */
#include "../cnnc.h"

static void dump_attrs(const Graph *g, const Node *n, FILE *out)
{
    const Attrs *a = &n->a;
    switch (n->op) {
    case OP_CONV:
    case OP_MAXPOOL:
    case OP_AVGPOOL:
        fprintf(out, " kernel=%dx%d stride=%dx%d pad=%d,%d,%d,%d", a->kernel[0], a->kernel[1],
                a->stride[0], a->stride[1], a->pad[0], a->pad[1], a->pad[2], a->pad[3]);
        if (n->op == OP_CONV)
            fprintf(out, " dilation=%dx%d groups=%d mode=%d", a->dilation[0], a->dilation[1],
                    a->groups, (int)a->pad_mode);
        else
            fprintf(out, " ceil=%d include_pad=%d", a->ceil_mode, a->count_include_pad);
        break;
    case OP_DENSE:
        fprintf(out, " units=%d", a->filters);
        break;
    case OP_BATCHNORM:
        fprintf(out, " eps=%g momentum=%g", a->eps, a->momentum);
        break;
    case OP_LEAKY_RELU:
    case OP_ELU:
        fprintf(out, " alpha=%g", a->alpha);
        break;
    case OP_CLIP:
        fprintf(out, " min=%g max=%g", a->lo, a->hi);
        break;
    case OP_DROPOUT:
        fprintf(out, " rate=%g", a->rate);
        break;
    case OP_MAXOUT:
        fprintf(out, " k=%d", a->k);
        break;
    case OP_CONCAT:
    case OP_SOFTMAX:
        fprintf(out, " axis=%d", a->axis);
        break;
    case OP_PAD:
        fprintf(out, " pad=%d,%d,%d,%d mode=%d", a->pad[0], a->pad[1], a->pad[2], a->pad[3],
                (int)a->pad_mode);
        break;
    default:
        break;
    }
    for (int i = 0; i < n->nparam; i++)
        if (n->param[i] >= 0)
            fprintf(out, " %s", g->t[n->param[i]].name);
    if (n->op == OP_CONV && n->nin > 1)
        fputs(" +add", out); /* a fused residual: its second input */
    if (n->act.kind != ACT_NONE)
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
        fprintf(out, " -> %s\n", shape_str(&g->t[n->out].shape, buf, sizeof buf));
    }
    if (g->output >= 0)
        fprintf(out, "output %s\n", g->t[g->output].name);
}
