/* info_int8.c: `cnnc info --int8` (docs/int8.md). Takes the graph after
 * "quantize"; prints one row per layer of the code that will be generated:
 * whether it computes in int8 or float, its input's and output's scales
 * and zero points, and its weights' scales (the smallest and largest of
 * the per-channel ones); then the weights' bytes in the build against the
 * same parameters as float32. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

enum { COL_LAYER, COL_KIND, COL_TYPE, COL_IN, COL_OUT, COL_WEIGHTS, NCOLS };

static const char *const headings[NCOLS] = {"layer", "kind", "computes", "input scale/zero",
                                            "output scale/zero", "weight scales"};

typedef struct {
    char cell[NCOLS][64];
} Row;

static void quant_cell(char *cell, size_t size, const Quant *q)
{
    if (q)
        snprintf(cell, size, "%.4g %ld", (double)q->scale[0], (long)q->zero_point[0]);
    else
        snprintf(cell, size, "float");
}

static void weight_cell(char *cell, size_t size, const Graph *g, const Node *n)
{
    const Quant *q = n->nparam > 0 && n->param[0] >= 0 ? g->t[n->param[0]].q : NULL;
    snprintf(cell, size, "-");
    if (!q || q->dtype != DT_I8)
        return;
    float lo = q->scale[0], hi = q->scale[0];
    for (int i = 1; i < q->n; i++) {
        lo = q->scale[i] < lo ? q->scale[i] : lo;
        hi = q->scale[i] > hi ? q->scale[i] : hi;
    }
    if (q->n == 1)
        snprintf(cell, size, "%.4g", (double)lo);
    else
        snprintf(cell, size, "%.4g..%.4g (%d)", (double)lo, (double)hi, q->n);
}

static void fill_row(Row *r, const Graph *g, const Node *n)
{
    Act act = node_epilogue(n);
    snprintf(r->cell[COL_LAYER], sizeof r->cell[0], "%s", n->name);
    snprintf(r->cell[COL_KIND], sizeof r->cell[0], "%s%s%s", op_info(n->op)->name,
             act_present(act) ? "+" : "", act_present(act) ? act_name(act.kind) : "");
    bool in_int = n->nin > 0 && g->t[n->in[0]].q, out_int = g->t[n->out].q != NULL;
    snprintf(r->cell[COL_TYPE], sizeof r->cell[0], "%s",
             in_int && out_int ? "int8" : in_int || out_int ? "convert" : "float");
    quant_cell(r->cell[COL_IN], sizeof r->cell[0], n->nin > 0 ? g->t[n->in[0]].q : NULL);
    quant_cell(r->cell[COL_OUT], sizeof r->cell[0], g->t[n->out].q);
    weight_cell(r->cell[COL_WEIGHTS], sizeof r->cell[0], g, n);
}

/* Bytes of the layers' parameters as float32, each tensor once. */
static int64_t float_bytes(const Graph *g)
{
    bool *seen = xcalloc((size_t)g->nt + 1, sizeof *seen);
    int64_t bytes = 0;
    for (int i = 0; i < g->nn; i++)
        for (int s = 0; s < g->n[i].nparam; s++) {
            int t = g->n[i].param[s];
            if (t >= 0 && !seen[t] && g->t[t].kind != T_BUFFER)
                bytes += shape_numel(&g->t[t].shape) * 4;
            if (t >= 0)
                seen[t] = true;
        }
    free(seen);
    return bytes;
}

void info_int8_print(const Graph *g, int64_t weights_bytes, FILE *out)
{
    Row *rows = xcalloc((size_t)g->nn + 1, sizeof *rows);
    int width[NCOLS], ints = 0;
    for (int i = 0; i < g->nn; i++) {
        fill_row(&rows[i], g, &g->n[i]);
        ints += strcmp(rows[i].cell[COL_TYPE], "int8") == 0;
    }
    for (int c = 0; c < NCOLS; c++) {
        width[c] = (int)strlen(headings[c]);
        for (int i = 0; i < g->nn; i++)
            if ((int)strlen(rows[i].cell[c]) > width[c])
                width[c] = (int)strlen(rows[i].cell[c]);
    }
    fputs("\nint8 (after quantize: the layers of the generated code):\n", out);
    for (int i = -1; i < g->nn; i++)
        for (int c = 0; c < NCOLS; c++) {
            const char *text = i < 0 ? headings[c] : rows[i].cell[c];
            if (c + 1 < NCOLS)
                fprintf(out, "%-*s  ", width[c], text);
            else
                fprintf(out, "%s\n", text); /* no trailing blanks */
        }
    fprintf(out, "int8_layers: %d of %d\n", ints, g->nn);
    int64_t fb = float_bytes(g);
    fprintf(out, "int8_weights_bytes: %lld\nfloat32_weights_bytes: %lld (the same parameters "
                 "as float32; int8 takes %.3fx)\n",
            (long long)weights_bytes, (long long)fb, fb ? (double)weights_bytes / (double)fb : 0.0);
    free(rows);
}
