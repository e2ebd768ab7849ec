/* pipeline.c: the compiler as one table of steps, from a model file to C.
 *
 * Takes a model path and the options of a command; gives the Graph after
 * the steps the command needs, in the order of `steps` below: a front end
 * parses the file ("parse"), passes sort, shape, load or initialise the
 * weights and fuse; "plan" generates every layer's code into memory and
 * lays the arena out around it; "emit" writes OUT.c and OUT.h. A command
 * runs the table up to the step it needs (`cnnc run` stops after the
 * fusion, `cnnc grad` after "autodiff", a compile goes to "emit"), and may run
 * it further later (`cnnc info` prints the model as written, then plans
 * it). graph_verify runs after every step; --dump-ir=STEP prints the graph
 * after STEP (after "plan", the memory plan; after "emit", OUT.h). QBE's
 * main.c is the model: the pipeline reads as one list, and an optimisation
 * is one more row. */
#include "cnnc.h"

#include <stdlib.h>
#include <string.h>

struct Pipeline {
    const char *path;
    LoadOptions opt;
    QuantOptions quant; /* what opt.quant points to */
    Graph *g;
    Emit *e;
    int next; /* the next step to run */
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool step_parse(Pipeline *p)
{
    if (has_suffix(p->path, ".cnn"))
        p->g = dsl_load(p->path);
    else if (has_suffix(p->path, ".onnx"))
        p->g = onnx_load(p->path, p->opt.no_batch);
    else
        diag_error((Loc){p->path, 0, 0}, "unknown model format: expected a .cnn or an .onnx file");
    if (p->g && p->opt.max_layers > 0 && p->g->nn > p->opt.max_layers) {
        diag_error((Loc){p->path, 0, 0}, "the model has %d layers, more than --max-layers %lld",
                   p->g->nn, (long long)p->opt.max_layers);
        return false;
    }
    return p->g != NULL;
}

/* Before any weight is allocated (an ONNX file's initializers are its own). */
static bool check_params(Pipeline *p)
{
    int64_t params = 0;
    for (int t = 0; t < p->g->nt; t++)
        if (p->g->t[t].kind == T_PARAM)
            params += shape_numel(&p->g->t[t].shape);
    if (p->opt.max_params > 0 && params > p->opt.max_params) {
        diag_error((Loc){p->path, 0, 0},
                   "the model has %lld parameters, more than --max-params %lld",
                   (long long)params, (long long)p->opt.max_params);
        return false;
    }
    return true;
}

static bool step_sort(Pipeline *p)
{
    return graph_toposort(p->g);
}

static bool step_shape(Pipeline *p)
{
    return shape_infer(p->g);
}

/* Before init, so that the seeded initialisation skips what DIR gives. */
static bool step_weights(Pipeline *p)
{
    return check_params(p) && (!p->opt.weights_dir || weights_load_dir(p->g, p->opt.weights_dir));
}

static bool step_init(Pipeline *p)
{
    init_weights(p->g);
    return true;
}

/* --freeze-until, --train-bias-only (passes/freeze.c): on the model as
 * written, before any fusion. */
static bool step_freeze(Pipeline *p)
{
    return freeze(p->g, &p->opt);
}

/* The fusion passes (passes/fuse_*.c). */
#define FUSION_STEP(name, pass)                                                                \
    static bool name(Pipeline *p)                                                              \
    {                                                                                          \
        return pass(p->g, &p->opt);                                                            \
    }
FUSION_STEP(step_split_act, split_act)
FUSION_STEP(step_fuse_norm, fuse_norm)
FUSION_STEP(step_fuse_transpose, fuse_transpose)
FUSION_STEP(step_fuse_views, fuse_views)
FUSION_STEP(step_fuse_bn, fuse_batchnorm)
FUSION_STEP(step_fuse_math, fuse_math)
FUSION_STEP(step_fuse_bias, fuse_bias)
FUSION_STEP(step_fuse_act, fuse_act)
FUSION_STEP(step_fuse_pad, fuse_pad)
FUSION_STEP(step_fuse_residual, fuse_residual)
FUSION_STEP(step_calibrate, calibrate)
FUSION_STEP(step_quantize, quantize)
#undef FUSION_STEP

/* The layer-wise bound is recorded first: `cnnc info` compares the arena
 * with what the model needs layer by layer, not with the banded graph's. */
static bool step_patch(Pipeline *p)
{
    p->g->unbanded_layer_bound = plan_layer_bound(p->g, 1);
    return patch(p->g, &p->opt);
}

/* Without emit options (cnnc info), a one-sample build as `cnnc info`
 * reports it. */
static bool step_plan(Pipeline *p)
{
    EmitOptions info = {.out_c = "", .prefix = "m", .batch = 1,
                        .no_winograd = p->opt.no_winograd};
    p->e = emit_plan(p->g, p->opt.emit ? p->opt.emit : &info);
    return p->e != NULL;
}

/* The backward pass as IR (passes/autodiff.c), for --train and cnnc grad. */
static bool step_autodiff(Pipeline *p)
{
    return autodiff(p->g);
}

static bool step_emit(Pipeline *p)
{
    return emit_write(p->e);
}

typedef enum { GRAPH, PLAN, FILES } Dump;

typedef enum { ALWAYS, OPTIMIZATION, TRAINING, INT8, PATCH } When;

typedef struct {
    const char *name;
    bool (*run)(Pipeline *p);
    When when; /* OPTIMIZATION: unless -O0; TRAINING: --train and cnnc grad; INT8: --int8;
                  PATCH: --patch */
    Dump dump; /* what --dump-ir=name prints */
} Step;

static const Step steps[] = {
    {"parse", step_parse, ALWAYS, GRAPH},
    {"sort", step_sort, ALWAYS, GRAPH},
    {"shape", step_shape, ALWAYS, GRAPH},
    {"weights", step_weights, ALWAYS, GRAPH},
    {"init", step_init, ALWAYS, GRAPH},
    {"freeze", step_freeze, TRAINING, GRAPH},
    {"split-act", step_split_act, TRAINING, GRAPH},
    /* fusion: norms first take their affine terms, so that the transposes
     * around them cancel next, leaving views behind; views next, so that BN
     * and activations meet their producers; arithmetic patterns that are
     * one activation before fuse-act moves it;
     * activations before pads, which ask whether a maxpool's input is
     * non-negative; residual joins last, carrying the activation fuse-act
     * gave the add into a conv the others are done with (they fold into
     * one-input convs). */
    {"fuse-norm", step_fuse_norm, OPTIMIZATION, GRAPH},
    {"fuse-transpose", step_fuse_transpose, OPTIMIZATION, GRAPH},
    {"fuse-views", step_fuse_views, OPTIMIZATION, GRAPH},
    {"fuse-bn", step_fuse_bn, OPTIMIZATION, GRAPH},
    {"fuse-math", step_fuse_math, OPTIMIZATION, GRAPH},
    {"fuse-bias", step_fuse_bias, OPTIMIZATION, GRAPH},
    {"fuse-act", step_fuse_act, OPTIMIZATION, GRAPH},
    {"fuse-pad", step_fuse_pad, OPTIMIZATION, GRAPH},
    /* int8 (docs/int8.md): after the fusions, so that conv + BN + relu is one
     * layer with one output scale; before fuse-residual, whose joins the
     * integer kernels keep as adds (each input rescaled). "quantize" lowers
     * a pre-quantized ONNX model without --int8 too. */
    {"calibrate", step_calibrate, INT8, GRAPH},
    {"quantize", step_quantize, ALWAYS, GRAPH},
    {"fuse-residual", step_fuse_residual, OPTIMIZATION, GRAPH},
    /* patch-based inference: on the graph the code generator compiles, after
     * `cnnc run`'s last step, which is its oracle. */
    {"patch", step_patch, PATCH, GRAPH},
    {"autodiff", step_autodiff, TRAINING, GRAPH},
    {"plan", step_plan, ALWAYS, PLAN},
    {"emit", step_emit, ALWAYS, FILES},
};

#define NSTEPS (int)(sizeof steps / sizeof steps[0])

const char *pipeline_step_name(int i)
{
    return i >= 0 && i < NSTEPS ? steps[i].name : NULL;
}

int pipeline_step_index(const char *name)
{
    for (int i = 0; i < NSTEPS; i++)
        if (strcmp(steps[i].name, name) == 0)
            return i;
    return -1;
}

static void dump(Pipeline *p, const Step *s)
{
    if (!p->opt.dump_after || strcmp(p->opt.dump_after, s->name) != 0)
        return;
    if (s->dump == GRAPH)
        graph_dump(p->g, stdout);
    else if (s->dump == PLAN)
        emit_dump_plan(p->e, stdout);
    else
        emit_dump_api(p->e, stdout);
    fflush(stdout);
}

Pipeline *pipeline_new(const char *path, const LoadOptions *opt)
{
    Pipeline *p = xcalloc(1, sizeof *p);
    p->path = path;
    p->opt = *opt;
    if (opt->quant) { /* the caller's may not outlive the pipeline */
        p->quant = *opt->quant;
        p->opt.quant = &p->quant;
    }
    return p;
}

bool pipeline_run(Pipeline *p, const char *last)
{
    int errors = diag_error_count(), end = pipeline_step_index(last);
    if (end < 0)
        internal_error("no pipeline step '%s'", last);
    for (; p->next <= end; p->next++) {
        const Step *s = &steps[p->next];
        /* A skipped step still dumps (the graph unchanged), so that -O0
         * and the optimised dumps of one step compare. */
        bool skip = (s->when == OPTIMIZATION && !p->opt.optimize) ||
                    (s->when == TRAINING && !p->opt.train) || (s->when == INT8 && !p->opt.quant) ||
                    (s->when == PATCH && !p->opt.patch);
        if (!skip && (!s->run(p) || diag_error_count() > errors))
            return false;
        graph_verify(p->g);
        dump(p, s);
    }
    return true;
}

Graph *pipeline_graph(Pipeline *p)
{
    return p->g;
}

void pipeline_set_build(Pipeline *p, const EmitOptions *opt)
{
    p->opt.emit = opt;
}

void pipeline_set_patch(Pipeline *p, int bands)
{
    if (p->next > pipeline_step_index("patch"))
        internal_error("--patch set after the patch step ran");
    p->opt.patch = bands;
}

Emit *pipeline_emit(Pipeline *p)
{
    return p->e;
}

void pipeline_free(Pipeline *p)
{
    if (!p)
        return;
    emit_free(p->e);
    graph_free(p->g);
    free(p);
}

Graph *model_load(const char *path)
{
    LoadOptions opt = {0};
    Pipeline *p = pipeline_new(path, &opt);
    Graph *g = pipeline_run(p, "init") ? p->g : NULL;
    if (g)
        p->g = NULL; /* the caller's now */
    pipeline_free(p);
    return g;
}
