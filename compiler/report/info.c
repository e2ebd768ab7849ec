/* info.c: `cnnc info`, the course's per-layer table (contract, section 2).
 *
 * Takes a loaded Graph; prints one row per layer (and one for the input):
 * name, operator, output shape per sample, activation size in elements,
 * parameter count (bias included; BatchNorm counts gamma and beta, as
 * PyTorch's parameters() does, not its running statistics) and MACs for
 * one sample. Then the totals on lines of their own, `parameters: N` and
 * `macs: N` with digits only so that scripts can grep them, and the memory
 * a naive plan needs: every activation in its own buffer, plus the weights. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

enum { COL_NAME, COL_KIND, COL_SHAPE, COL_SIZE, COL_PARAMS, COL_MACS, NCOLS };

static const char *const headings[NCOLS] = {"layer", "kind", "output", "size", "params", "MACs"};

typedef struct {
    char cell[NCOLS][96];
} Row;

static void fill(Row *r, const char *name, const char *kind, const Shape *s, int64_t params,
                 int64_t macs)
{
    snprintf(r->cell[COL_NAME], sizeof r->cell[0], "%s", name);
    snprintf(r->cell[COL_KIND], sizeof r->cell[0], "%s", kind);
    shape_str(s, r->cell[COL_SHAPE], sizeof r->cell[0]);
    snprintf(r->cell[COL_SIZE], sizeof r->cell[0], "%lld", (long long)shape_numel(s));
    snprintf(r->cell[COL_PARAMS], sizeof r->cell[0], "%lld", (long long)params);
    snprintf(r->cell[COL_MACS], sizeof r->cell[0], "%lld", (long long)macs);
}

/* Text columns left-aligned, numbers right-aligned. */
static void print_row(const char *const cell[NCOLS], const int *width, FILE *out)
{
    for (int c = 0; c < NCOLS; c++) {
        bool number = c >= COL_SIZE;
        fprintf(out, number ? "%*s" : "%-*s", width[c], cell[c]);
        fputs(c == NCOLS - 1 ? "\n" : "  ", out);
    }
}

void info_print(Graph *g, FILE *out)
{
    int nrows = g->nn + 1;
    Row *rows = xcalloc((size_t)nrows, sizeof *rows);
    int64_t params = 0, macs = 0, act_floats = 0, weight_floats = 0;
    const Tensor *in = &g->t[g->input];
    fill(&rows[0], in->name, "input", &in->shape, 0, 0);
    act_floats += shape_numel(&in->shape);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        const OpInfo *op = op_info(n->op);
        char kind[64];
        Act epilogue = node_epilogue(n);
        snprintf(kind, sizeof kind, "%s%s%s", op->name, act_present(epilogue) ? "+" : "",
                 act_present(epilogue) ? act_name(epilogue.kind) : "");
        int64_t p = node_param_count(g, n), m = op->macs ? op->macs(g, n) : 0;
        fill(&rows[i + 1], n->name, kind, node_out_shape(g, n), p, m);
        params += p;
        macs += m;
        act_floats += shape_numel(node_out_shape(g, n));
    }
    for (int i = 0; i < g->nt; i++)
        if (g->t[i].kind != T_ACT)
            weight_floats += shape_numel(&g->t[i].shape);

    int width[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        width[c] = (int)strlen(headings[c]);
        for (int r = 0; r < nrows; r++)
            if ((int)strlen(rows[r].cell[c]) > width[c])
                width[c] = (int)strlen(rows[r].cell[c]);
    }
    fprintf(out, "model %s (%s)\n\n", g->name ? g->name : "?", g->file);
    print_row(headings, width, out);
    for (int r = 0; r < nrows; r++) {
        const char *cell[NCOLS];
        for (int c = 0; c < NCOLS; c++)
            cell[c] = rows[r].cell[c];
        print_row(cell, width, out);
    }
    fprintf(out, "\nparameters: %lld\n", (long long)params);
    fprintf(out, "macs: %lld\n", (long long)macs);
    fprintf(out, "memory (naive plan, a buffer per layer): activations %lld bytes per sample "
                 "(%lld floats), weights %lld bytes\n",
            (long long)act_floats * 4, (long long)act_floats, (long long)weight_floats * 4);
    free(rows);
}

void info_layer_bound_print(int64_t arena_bytes, int64_t layer_bound_bytes, FILE *out)
{
    fprintf(out, "layer_bound_bytes: %lld\n", (long long)layer_bound_bytes);
    if (layer_bound_bytes > 0)
        fprintf(out, "arena_to_layer_bound: %.3f\n", (double)arena_bytes / (double)layer_bound_bytes);
}
