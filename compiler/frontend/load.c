/* load.c: from a model file to a Graph every later stage can use.
 *
 * Takes a path (.cnn or .onnx) and options; gives a Graph that is
 * topologically sorted, shape-inferred, with every parameter and buffer
 * holding data, or NULL after reporting errors. The pipeline is a flat
 * table of passes, QBE-style, with graph_verify between them, so that
 * --dump-ir can name any of them and an optimisation pass is one more row. */
#include "../cnnc.h"

#include <string.h>

static bool pass_sort(Graph *g, const LoadOptions *opt)
{
    return graph_toposort(g);
}

static bool pass_shape(Graph *g, const LoadOptions *opt)
{
    return shape_infer(g);
}

/* Before init, so that the seeded initialisation skips what DIR gives. */
static bool pass_weights(Graph *g, const LoadOptions *opt)
{
    return !opt->weights_dir || weights_load_dir(g, opt->weights_dir);
}

static bool pass_init(Graph *g, const LoadOptions *opt)
{
    init_weights(g);
    return true;
}

typedef struct {
    const char *name;
    bool (*run)(Graph *g, const LoadOptions *opt);
    bool optimization; /* skipped unless opt->optimize */
} Pass;

/* "parse" is the front end itself (no row: it makes the Graph). */
static const Pass passes[] = {
    {"sort", pass_sort, false},
    {"shape", pass_shape, false},
    {"weights", pass_weights, false},
    {"init", pass_init, false},
    /* fusion (passes/fuse_*.c): views first, so that BN and activations
     * meet their producers; activations before pads, which ask whether a
     * maxpool's input is non-negative; residual joins last, carrying the
     * activation fuse-act gave the add into a conv the others are done
     * with (they fold into one-input convs). */
    {"fuse-views", fuse_views, true},
    {"fuse-bn", fuse_batchnorm, true},
    {"fuse-bias", fuse_bias, true},
    {"fuse-act", fuse_act, true},
    {"fuse-pad", fuse_pad, true},
    {"fuse-residual", fuse_residual, true},
};

#define NPASSES (int)(sizeof passes / sizeof passes[0])

const char *model_pass_name(int i)
{
    if (i == 0)
        return "parse";
    return i > 0 && i <= NPASSES ? passes[i - 1].name : NULL;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static Graph *parse(const char *path)
{
    if (has_suffix(path, ".cnn"))
        return dsl_load(path);
    if (has_suffix(path, ".onnx"))
        return onnx_load(path);
    diag_error((Loc){path, 0, 0}, "unknown model format: expected a .cnn or an .onnx file");
    return NULL;
}

static void dump_if(const Graph *g, const char *pass, const LoadOptions *opt)
{
    if (opt->dump_after && strcmp(opt->dump_after, pass) == 0) {
        graph_dump(g, stdout);
        fflush(stdout);
    }
}

Graph *model_load_opts(const char *path, const LoadOptions *opt)
{
    int errors = diag_error_count();
    Graph *g = parse(path);
    if (!g || diag_error_count() > errors) {
        graph_free(g);
        return NULL;
    }
    dump_if(g, "parse", opt);
    for (int i = 0; i < NPASSES; i++) {
        /* A skipped pass still dumps (the graph unchanged), so that -O0
         * and the optimised dumps of one pass compare. */
        bool skip = passes[i].optimization && !opt->optimize;
        if (!skip && (!passes[i].run(g, opt) || diag_error_count() > errors)) {
            graph_free(g);
            return NULL;
        }
        graph_verify(g);
        dump_if(g, passes[i].name, opt);
    }
    return g;
}

bool model_optimize(Graph *g, const LoadOptions *opt)
{
    int errors = diag_error_count();
    for (int i = 0; i < NPASSES; i++) {
        if (!passes[i].optimization || !opt->optimize)
            continue;
        if (!passes[i].run(g, opt) || diag_error_count() > errors)
            return false;
        graph_verify(g);
        dump_if(g, passes[i].name, opt);
    }
    return true;
}

Graph *model_load(const char *path)
{
    LoadOptions opt = {0};
    return model_load_opts(path, &opt);
}
