/* emit_train.c: the training half of `cnnc --train` (docs/training.md).
 * Takes the Emit of a compiled model (its forward layers already written)
 * whose Graph autodiff extended with its backward (passes/autodiff.c);
 * gives OUT.c the training step as specialised C and OUT.h its API.
 *
 * It prints the extended graph in order: each forward node's training
 * function (OpInfo.emit_train where the operator reads the state or draws
 * a mask, else the inference function sample by sample), the loss
 * (runtime/train.c's cnnc_softmax_xent, pasted in with the optimizers),
 * each backward node's function (its forward node's OpInfo.emit_grad).
 * What is differentiated, which write zeroes a gradient and which steps a
 * parameter are the IR's; the ops' bodies call the emit kit (emit_kit.c)
 * for them. Every function takes the step's context (P_ctx) and binds the
 * names its body uses to literal offsets: `P_TA_<tensor>` in the train
 * arena, `P_TS_` / `P_TM_` / `P_TV_` in the state (values, moments),
 * `P_TG_` in P_train_grad's gradients.
 *
 * Why layer by layer over the batch (the inference pass runs sample by
 * sample): BatchNorm normalises with the batch's statistics, so no layer
 * after it can run before every sample went through it.
 *
 * Memory. The state block (persistent): a header (hyperparameters, step,
 * dropout seed), each trainable parameter and buffer in PyTorch's layout,
 * then the optimizer's moments: none for plain SGD, one for momentum, two
 * for Adam (the optimizer is fixed when compiling). The train arena
 * (scratch between calls) is plan/plan.c's plan_train: activations kept
 * until their last backward reader, gradients from first write to last
 * read, layers' scratch, packed by lifetime over the whole step. A
 * parameter's gradient exists whole only in P_train_grad's buffer (the
 * caller's) or when several nodes add to it; otherwise its node steps it
 * block of rows by block of rows. */
#include "emit.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES 64

struct TrainPlan {
    Plan arena;       /* plan_train's: per tensor and per step */
    int nsteps;       /* forward nodes, the loss, backward nodes */
    StrBuf *body;     /* per step: its function's body (empty: none) */
    int64_t *scratch; /* per step: floats of train-arena scratch */
    char **tensor;    /* per tensor: a unique C identifier of its name */
    int64_t *sofs, *mofs, *vofs; /* per tensor: state float offsets, -1 none */
    int64_t *gofs;    /* per tensor: float offset in P_train_grad's buffer, -1 none */
    int64_t state_floats, state_tensor_floats, moment_floats, grad_floats;
    int moments;      /* optimizer moments per trainable parameter: 0, 1, 2 */
    int ntensors;     /* entries of the state's tensor table */
    TrainCfg cfg;     /* what P_train_init starts with */
    InitSource *init; /* per tensor: where its initial values already are */
    bool *frozen_own; /* per tensor: frozen, with a P_frozen_<x> pointer or array */
    FeatureCut cut;   /* the feature cache's cut, or why there is none */
};

/* Whether forward node n trains through its operator's training forward
 * (OpInfo.emit_train) rather than its inference function sample by
 * sample: when it has one, unless its parameters are all frozen (a layer
 * before a --freeze-until cut runs as it does in inference, on its flash
 * weights). */
static bool own_train_forward(const Graph *g, const Node *n)
{
    bool any_frozen = false, any_state = false;
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0) {
            any_frozen |= tensor_frozen(&g->t[n->param[s]]);
            any_state |= tensor_in_train_state(&g->t[n->param[s]]);
        }
    return op_info(n->op)->emit_train && !(any_frozen && !any_state);
}

TrainCfg train_defaults(const Graph *g)
{
    if (g->train.present)
        return g->train;
    return (TrainCfg){.optim = OPT_SGD, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
}

/* ---- names ---- */

/* s as a C identifier: other characters become '_', a leading digit gets
 * one before it. */
static char *c_name(const char *s)
{
    char *r = xasprintf("%s%s", *s >= '0' && *s <= '9' ? "_" : "", s);
    for (char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    return r;
}

/* names[i] = c_name(raw(i)), made unique by appending _<i> to a name an
 * earlier one has. */
static char **unique_names(int n, const char *(*raw)(const Graph *, int), const Graph *g)
{
    char **names = xcalloc((size_t)(n ? n : 1), sizeof *names);
    NameMap taken = {0}; /* borrows names[] */
    for (int i = 0; i < n; i++) {
        names[i] = c_name(raw(g, i));
        int prev;
        if (!name_map_add(&taken, names[i], i, &prev)) {
            char *u = xasprintf("%s_%d", names[i], i);
            free(names[i]);
            names[i] = u;
            name_map_add(&taken, u, i, &prev);
        }
    }
    name_map_free(&taken);
    return names;
}

static const char *tensor_name(const Graph *g, int t)
{
    return g->t[t].name;
}

/* ---- the state and the gradients' buffer ---- */

static int moments_of(const TrainCfg *c)
{
    return c->optim == OPT_ADAM ? 2 : c->momentum != 0 ? 1 : 0;
}

/* Offsets of the state's tensors, moments, and of P_train_grad's buffer. */
static void plan_state(const Graph *g, TrainPlan *tp)
{
    int64_t s = HEADER_BYTES / 4, gr = 0;
    for (int t = 0; t < g->nt; t++) {
        tp->sofs[t] = tp->mofs[t] = tp->vofs[t] = tp->gofs[t] = -1;
        if (!tensor_in_train_state(&g->t[t]))
            continue;
        tp->ntensors++;
        tp->sofs[t] = s;
        s += plan_round_up(shape_numel(&g->t[t].shape));
        if (tensor_trainable(&g->t[t])) {
            tp->gofs[t] = gr;
            gr += plan_round_up(shape_numel(&g->t[t].shape));
        }
    }
    tp->state_tensor_floats = s - HEADER_BYTES / 4;
    int64_t m0 = s;
    for (int t = 0; t < g->nt; t++) {
        if (!tensor_trainable(&g->t[t]))
            continue;
        if (tp->moments >= 1)
            tp->mofs[t] = s, s += plan_round_up(shape_numel(&g->t[t].shape));
        if (tp->moments >= 2)
            tp->vofs[t] = s, s += plan_round_up(shape_numel(&g->t[t].shape));
    }
    tp->moment_floats = s - m0;
    tp->state_floats = s;
    tp->grad_floats = gr;
}

/* ---- the layers' bodies ---- */

/* The chunk size the layers' scratch stays within: the largest activation
 * of the batch, so that scratch never dominates the arena, and 4096
 * floats at least, so that the products keep long rows. */
static int64_t chunk_floats(const Graph *g, int batch)
{
    int64_t most = 4096;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_ACT && g->t[t].producer >= 0 &&
            shape_numel(&g->t[t].shape) * batch > most)
            most = shape_numel(&g->t[t].shape) * batch;
    return most;
}

/* The C type of forward tensor t's elements: an int8 backbone's integers,
 * else float. */
static const char *tensor_c_type(const Graph *g, int t)
{
    return emit_c_type(tensor_dtype(&g->t[t]));
}

/* Whether layer n converts between floats and integers (an int8
 * backbone's entry quantize, its dequantized cut). */
static bool converts(const Graph *g, const Node *n)
{
    return n->nin == 1 && tensor_dtype(&g->t[n->in[0]]) != tensor_dtype(&g->t[n->out]);
}

/* A forward layer without a training emitter: its inference function on
 * each sample, x0.. and y the batch's. Where it converts between floats and
 * integers, the output's pointer goes through P_OPAQUE: GCC 12 at -O2
 * otherwise derives it from the input's (both offsets of the arena, scaled
 * by 4), then takes the store for a null dereference and drops the call. */
static void emit_per_sample(Emit *e, const Node *n, int i)
{
    const Graph *g = e->g;
    const char *fn = emit_layer_fn(e, i);
    StrBuf call = {0};
    int64_t out = shape_numel(&g->t[n->out].shape);
    for (int j = 0; j < n->nin; j++)
        sb_printf(&call, "x%d + (size_t)b * %lld, ", j,
                  (long long)shape_numel(&g->t[n->in[j]].shape));
    bool convert = converts(g, n);
    if (convert)
        sb_puts(&call, "ys");
    else
        sb_printf(&call, "y + (size_t)b * %lld", (long long)out);
    if (e->scratch[i] > 0) /* an integer layer's scratch is bytes, counted in floats */
        sb_printf(&call, node_quantized(g, n) ? ", (int8_t *)%s" : ", %s",
                  emit_train_scratch(e, e->scratch[i]));
    emit_line(e, "int b;");
    if (convert) {
        emit_line(e, "for (b = 0; b < n; b++) {");
        emit_line(e, "    %s *ys = y + (size_t)b * %lld;", tensor_c_type(g, n->out), (long long)out);
        emit_line(e, "    %s_OPAQUE(ys);", e->P);
        emit_line(e, "    %s(%s);", fn, call.s);
        emit_line(e, "}");
    } else {
        emit_line(e, "for (b = 0; b < n; b++)");
        emit_line(e, "    %s(%s);", fn, call.s);
    }
    sb_free(&call);
}

/* Runs `emitter` into step s's body, recording its scratch. */
static void emit_step(Emit *e, int s, int node, const GradNode *gn,
                      void (*emitter)(Emit *, const Node *))
{
    TrainPlan *tp = e->train;
    e->node = node;
    e->body = &tp->body[s];
    e->depth = 0;
    e->grad_node = gn;
    e->train_scratch = 0;
    if (emitter)
        emitter(e, &e->g->n[node]);
    else
        emit_per_sample(e, &e->g->n[node], node);
    tp->scratch[s] = e->train_scratch;
    e->grad_node = NULL;
}

/* Every step's body; false after an error (an operator the training code
 * does not support). */
static bool emit_bodies(Emit *e)
{
    Graph *g = e->g;
    const Backward *bw = g->bw;
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (backward_is_view(g, n))
            continue;
        bool own = own_train_forward(g, n);
        for (int s = 0; s < n->nparam && !own; s++)
            if (n->param[s] >= 0 && tensor_in_train_state(&g->t[n->param[s]]))
                emit_unsupported(e, n, "training a parameter of this operator");
        emit_step(e, i, i, NULL, own ? op_info(n->op)->emit_train : NULL);
    }
    for (int k = 0; k < bw->nnode; k++) {
        const Node *n = &g->n[bw->node[k].node];
        if (!op_info(n->op)->emit_grad) {
            emit_unsupported(e, n, "the backward pass of this operator yet");
            continue;
        }
        emit_step(e, g->nn + 1 + k, bw->node[k].node, &bw->node[k], op_info(n->op)->emit_grad);
    }
    return !e->failed;
}

/* Why the loss has no gradient: no trainable parameter at all, or only
 * ones on branches the output does not read (named, the first of them). */
static void refuse_untrainable(const Graph *g)
{
    int first = -1, count = 0;
    for (int t = 0; t < g->nt; t++)
        if (tensor_trainable(&g->t[t]) && count++ == 0)
            first = t;
    Loc loc = {g->file, 0, 0};
    if (count == 0)
        diag_error(loc, "--train: the model has no trainable parameter");
    else if (count == 1)
        diag_error(loc, "--train: no trainable parameter reaches the output: '%s' lies on a branch "
                        "the output does not read", g->t[first].name);
    else
        diag_error(loc, "--train: no trainable parameter reaches the output: '%s' and %d more lie on "
                        "branches the output does not read", g->t[first].name, count - 1);
}

static bool plan_training(Emit *e)
{
    Graph *g = e->g;
    TrainPlan *tp = e->train;
    int batch = e->opt->batch > 0 ? e->opt->batch : 1;
    size_t nt = (size_t)(g->nt ? g->nt : 1);
    if (!autodiff(g))
        return false;
    if (g->bw->dlogits.t < 0) {
        refuse_untrainable(g);
        return false;
    }
    tp->cfg = e->opt->hparams ? *e->opt->hparams : train_defaults(g);
    tp->moments = moments_of(&tp->cfg);
    tp->nsteps = g->nn + 1 + g->bw->nnode;
    tp->body = xcalloc((size_t)tp->nsteps, sizeof *tp->body);
    tp->scratch = xcalloc((size_t)tp->nsteps, sizeof *tp->scratch);
    tp->tensor = unique_names(g->nt, tensor_name, g);
    tp->sofs = xmalloc(nt * sizeof *tp->sofs);
    tp->mofs = xmalloc(nt * sizeof *tp->mofs);
    tp->vofs = xmalloc(nt * sizeof *tp->vofs);
    tp->gofs = xmalloc(nt * sizeof *tp->gofs);
    plan_state(g, tp);
    tp->init = xcalloc(nt, sizeof *tp->init);
    tp->frozen_own = xcalloc(nt, sizeof *tp->frozen_own);
    emit_train_init_sources(e, tp->init);
    e->train_chunk = chunk_floats(g, batch);
    if (!emit_bodies(e))
        return false;
    plan_train(g, tp->scratch, batch, &tp->arena);
    feature_cut_find(g, &tp->cut);
    return true;
}

/* ---- names and comments in OUT.c ---- */

/* "8x28x28" for an activation (per sample), "[8,3,5,5]" for the rest. */
static char *shape_text(const Graph *g, int t)
{
    char buf[128];
    const Tensor *x = &g->t[t];
    bool act = x->kind == T_ACT || (x->kind == T_GRAD && g->t[x->grad_of].kind == T_ACT);
    if (act)
        return xasprintf("n x %s", shape_str(&x->shape, buf, sizeof buf));
    StrBuf s = {0};
    sb_putc(&s, '[');
    for (int i = 0; i < x->shape.rank; i++)
        sb_printf(&s, "%s%lld", i ? "," : "", (long long)x->shape.d[i]);
    sb_putc(&s, ']');
    return s.s;
}

/* "conv1 (conv 3x32x32 -> 8x28x28, then relu)" */
static char *layer_text(const Graph *g, const Node *n)
{
    char s0[128];
    StrBuf b = {0};
    sb_printf(&b, "%s (%s ", n->name, op_info(n->op)->name);
    for (int j = 0; j < n->nin; j++)
        sb_printf(&b, "%s%s", j ? ", " : "", shape_str(&g->t[n->in[j]].shape, s0, sizeof s0));
    sb_printf(&b, " -> %s", shape_str(&g->t[n->out].shape, s0, sizeof s0));
    if (n->act.kind != ACT_NONE)
        sb_printf(&b, ", then %s", act_name(n->act.kind));
    sb_putc(&b, ')');
    return b.s;
}

/* The arena expression of forward tensor t's batch. */
static char *value_ptr(const Emit *e, int t)
{
    int r = e->train->arena.root[t];
    if (r == e->g->input)
        return xstrdup("ctx->input");
    if (tensor_dtype(&e->g->t[t]) != DT_F32)
        return xasprintf("(%s *)(ctx->A + %s_TA_%s)", tensor_c_type(e->g, t), e->P,
                         e->train->tensor[r]);
    return xasprintf("ctx->A + %s_TA_%s", e->P, e->train->tensor[r]);
}

/* "train" or "backward": what step s's function is called after its layer. */
static const char *step_role(const Graph *g, int s)
{
    return s < g->nn ? "train" : "backward";
}

static int step_node(const Graph *g, int s)
{
    return s < g->nn ? s : g->bw->node[s - g->nn - 1].node;
}

/* The train arena's and the state's offsets as macros, each with the
 * tensor and its shape. */
static void write_offsets(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    const TrainPlan *tp = e->train;
    const char *P = e->P;
    sb_printf(b, "/* The train arena, in floats (activations and their gradients hold n\n"
                 " * samples, n <= %s_BATCH_MAX): %lld floats. */\n",
              P, (long long)tp->arena.arena_floats);
    for (int t = 0; t < g->nt; t++) {
        if (tp->arena.root[t] != t || tp->arena.offset[t] < 0)
            continue;
        char *shape = shape_text(g, t);
        if (g->t[t].kind == T_GRAD)
            sb_printf(b, "#define %s_TA_%s %lld /* dL/d %s: %s */\n", P, tp->tensor[t],
                      (long long)tp->arena.offset[t], g->t[g->t[t].grad_of].name, shape);
        else
            sb_printf(b, "#define %s_TA_%s %lld /* %s: %s */\n", P, tp->tensor[t],
                      (long long)tp->arena.offset[t], g->t[t].name, shape);
        free(shape);
    }
    for (int s = 0; s < tp->nsteps; s++)
        if (tp->arena.scratch_offset[s] >= 0)
            sb_printf(b, "#define %s_TA_%s_%s_ws %lld /* scratch of %s's %s: %lld floats */\n", P,
                      emit_layer_ident(e, step_node(g, s)), step_role(g, s),
                      (long long)tp->arena.scratch_offset[s], g->n[step_node(g, s)].name,
                      s < g->nn ? "training forward" : "backward", (long long)tp->scratch[s]);
    sb_printf(b, "\n/* The state, in floats: the values (TS), the optimizer's moments (TM\n"
                 " * momentum or Adam's first, TV Adam's second); and the gradients\n"
                 " * P_train_grad writes (TG). */\n");
    for (int t = 0; t < g->nt; t++) {
        if (tp->sofs[t] < 0)
            continue;
        char *shape = shape_text(g, t);
        sb_printf(b, "#define %s_TS_%s %lld /* %s %s */\n", P, tp->tensor[t], (long long)tp->sofs[t],
                  g->t[t].name, shape);
        if (tp->mofs[t] >= 0)
            sb_printf(b, "#define %s_TM_%s %lld\n", P, tp->tensor[t], (long long)tp->mofs[t]);
        if (tp->vofs[t] >= 0)
            sb_printf(b, "#define %s_TV_%s %lld\n", P, tp->tensor[t], (long long)tp->vofs[t]);
        if (tp->gofs[t] >= 0)
            sb_printf(b, "#define %s_TG_%s %lld\n", P, tp->tensor[t], (long long)tp->gofs[t]);
        free(shape);
    }
    sb_puts(b, "\n");
}

/* The context every training function takes, and the optimizer step the
 * backward functions call on each block of final rows. */
static void write_context(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    int moments = e->train->moments;
    bool opaque = false;
    for (int i = 0; i < e->g->nn; i++)
        opaque |= converts(e->g, &e->g->n[i]);
    if (opaque) /* see emit_per_sample */
        sb_printf(b, "/* A pointer the optimizer may not relate to another (GCC 12's -O2\n"
                     " * miscompiles an int8 layer's per-sample loop without it). */\n"
                     "#if defined(__GNUC__)\n#define %s_OPAQUE(p) __asm__(\"\" : \"+r\"(p))\n"
                     "#else\n#define %s_OPAQUE(p) (void)0\n#endif\n\n", P, P);
    sb_printf(b, "/* One call's context: what every training function reads. */\n"
                 "typedef struct {\n"
                 "    float *S;           /* the state (%s_TS_, %s_TM_, %s_TV_) */\n"
                 "    float *A;           /* the train arena (%s_TA_) */\n"
                 "    float *G;           /* %s_train_grad's gradients (%s_TG_); NULL in a step */\n"
                 "    const float *input; /* the batch */\n"
                 "    int n;              /* its samples */\n"
                 "    int mode;           /* 0 inference, 1 gradients, 2 a training step */\n"
                 "    uint64_t key;       /* this step's dropout key */\n"
                 "    CnncOptim o;        /* a step's optimizer */\n"
                 "    int64_t step;       /* a step's number, from 1 */\n"
                 "} %s_ctx;\n\n",
              P, P, P, P, P, P, P);
    sb_printf(b, "/* The optimizer step (runtime/train.c: PyTorch's SGD or Adam) on count\n"
                 " * floats of a parameter p from float `at`, from their gradient g: m and v\n"
                 " * are its moments (NULL where the optimizer keeps none). */\n"
                 "static void %s_update(const %s_ctx *ctx, float *p, float *m, float *v, const float *g,\n"
                 "                      size_t at, size_t count)\n"
                 "{\n"
                 "    CnncOptim o = ctx->o;\n",
              P, P);
    if (moments < 2) /* what the step let through: the compiler then sees no other path */
        sb_printf(b, "    o.kind = CNNC_SGD; /* %s_train_run refused Adam%s */\n%s", P,
                  moments ? "" : " and momentum", moments ? "" : "    o.momentum = 0;\n");
    sb_puts(b, "    cnnc_optim_step(&o, ctx->step, p + at, g, m ? m + at : NULL, v ? v + at : NULL, count);\n"
               "}\n\n");
}

/* ---- the layer functions ---- */

/* The names a layer function may bind, each with its declaration; the
 * function declares those its body uses. */
typedef struct {
    char *name[48], *decl[48];
    int n;
} Bindings;

static void bind(Bindings *bs, char *name, char *decl)
{
    if (bs->n == 48)
        internal_error("too many names for one training function");
    bs->name[bs->n] = name;
    bs->decl[bs->n++] = decl;
}

static void bindings_free(Bindings *bs)
{
    for (int i = 0; i < bs->n; i++) {
        free(bs->name[i]);
        free(bs->decl[i]);
    }
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether identifier `name` occurs in text as a whole token. */
static bool uses(const char *text, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
        if ((p == text || !ident_char(p[-1])) && !ident_char(p[len]))
            return true;
    return false;
}

/* The names every function may use: n, mode, key, its scratch. */
static void bind_common(const Emit *e, Bindings *bs, int step)
{
    const TrainPlan *tp = e->train;
    bind(bs, xstrdup("n"), xstrdup("const int n = ctx->n;"));
    bind(bs, xstrdup("mode"), xstrdup("const int mode = ctx->mode;"));
    bind(bs, xstrdup("key"), xstrdup("const uint64_t key = ctx->key;"));
    if (tp->arena.scratch_offset[step] >= 0)
        bind(bs, xstrdup("ws"), xasprintf("float *ws = ctx->A + %s_TA_%s_%s_ws;", e->P,
                                          emit_layer_ident(e, step_node(e->g, step)),
                                          step_role(e->g, step)));
}

/* x0.., y and p0.. of node n: the batch's values and the state's copies. */
static void bind_node(const Emit *e, Bindings *bs, const Node *n, bool grad)
{
    const Graph *g = e->g;
    for (int j = 0; j < n->nin; j++) {
        char *v = value_ptr(e, n->in[j]);
        bind(bs, xasprintf("x%d", j), xasprintf("const %s *x%d = %s; /* %s */",
                                                tensor_c_type(g, n->in[j]), j, v,
                                                g->t[n->in[j]].name));
        free(v);
    }
    char *y = value_ptr(e, n->out);
    bind(bs, xstrdup("y"), xasprintf("%s%s *y = %s; /* %s */", grad ? "const " : "",
                                     tensor_c_type(g, n->out), y, g->t[n->out].name));
    free(y);
    for (int s = 0; s < n->nparam; s++) {
        int t = n->param[s];
        if (t < 0)
            continue;
        const char *q = grad || g->t[t].kind == T_BUFFER ? "" : "const ";
        if (e->train->sofs[t] >= 0)
            bind(bs, xasprintf("p%d", s), xasprintf("%sfloat *p%d = ctx->S + %s_TS_%s;", q, s, e->P,
                                                    e->train->tensor[t]));
        else if (tensor_frozen(&g->t[t]))
            bind(bs, xasprintf("p%d", s),
                 xasprintf("const float *p%d = %s_frozen_%s; /* %s: frozen, in flash */", s, e->P,
                           e->train->tensor[t], g->t[t].name));
        else
            bind(bs, xasprintf("p%d", s),
                 xasprintf("const float *p%d = NULL; /* %s: constant */", s, g->t[t].name));
    }
}

/* The gradients backward node gn reads and writes: dy, dx0.., and per
 * trainable parameter its destination g (P_train_grad's buffer; in a step,
 * NULL where the node steps it itself, else the shared accumulator) and
 * moments m, v. */
static void bind_grads(const Emit *e, Bindings *bs, const GradNode *gn)
{
    const Graph *g = e->g;
    const TrainPlan *tp = e->train;
    const Node *n = &g->n[gn->node];
    const char *P = e->P;
    bind(bs, xstrdup("dy"), xasprintf("float *dy = ctx->A + %s_TA_%s;", P, tp->tensor[gn->dy]));
    for (int j = 0; j < n->nin; j++)
        if (gn->dx[j].t >= 0)
            bind(bs, xasprintf("dx%d", j),
                 xasprintf("float *dx%d = ctx->A + %s_TA_%s;", j, P, tp->tensor[gn->dx[j].t]));
    for (int s = 0; s < 4; s++) {
        const GradWrite *w = &gn->dp[s];
        if (w->t < 0)
            continue;
        const char *x = tp->tensor[n->param[s]];
        char *other = w->first && w->last ? xstrdup("NULL")
                                          : xasprintf("ctx->A + %s_TA_%s", P, tp->tensor[w->t]);
        bind(bs, xasprintf("g%d", s),
             xasprintf("float *g%d = ctx->G ? ctx->G + %s_TG_%s : %s;", s, P, x, other));
        free(other);
        bind(bs, xasprintf("m%d", s),
             tp->moments >= 1 ? xasprintf("float *m%d = ctx->S + %s_TM_%s;", s, P, x)
                              : xasprintf("float *m%d = NULL;", s));
        bind(bs, xasprintf("v%d", s),
             tp->moments >= 2 ? xasprintf("float *v%d = ctx->S + %s_TV_%s;", s, P, x)
                              : xasprintf("float *v%d = NULL;", s));
    }
}

/* The dL/dx this node writes first: zeroed before it adds. */
static void zero_first_writes(const Graph *g, const GradNode *gn, StrBuf *pre)
{
    const Node *n = &g->n[gn->node];
    for (int j = 0; j < n->nin; j++) {
        bool again = false;
        for (int k = 0; k < j; k++)
            again |= gn->dx[k].t == gn->dx[j].t;
        if (gn->dx[j].t >= 0 && gn->dx[j].first && !again)
            sb_printf(pre, "    memset(dx%d, 0, sizeof(float) * (size_t)n * %lld);\n", j,
                      (long long)shape_numel(&g->t[gn->dx[j].t].shape));
    }
}

/* static void FN(const P_ctx *ctx): the comment, the bindings the body
 * uses, then the body. */
static void write_function(const Emit *e, StrBuf *b, const char *comment, const char *fn,
                           Bindings *bs, const char *pre, const char *body)
{
    StrBuf all = {0};
    sb_printf(&all, "%s%s", pre ? pre : "", body ? body : "");
    sb_printf(b, "/* %s */\nstatic void %s(const %s_ctx *ctx)\n{\n", comment, fn, e->P);
    for (int i = 0; i < bs->n; i++)
        if (uses(all.s ? all.s : "", bs->name[i]))
            sb_printf(b, "    %s\n", bs->decl[i]);
    sb_printf(b, "%s}\n\n", all.s ? all.s : "");
    sb_free(&all);
}

/* "dL/d a, b" of the tensors gn writes (inputs, or parameters). */
static void list_writes(const Graph *g, const GradNode *gn, bool params, StrBuf *out)
{
    const Node *n = &g->n[gn->node];
    int count = 0;
    for (int j = 0; !params && j < n->nin; j++)
        if (gn->dx[j].t >= 0)
            sb_printf(out, "%s%s", count++ ? ", " : "dL/d ", g->t[n->in[j]].name);
    for (int s = 0; params && s < 4; s++)
        if (gn->dp[s].t >= 0)
            sb_printf(out, "%s%s", count++ ? ", " : "dL/d ", g->t[n->param[s]].name);
}

/* What a backward function does, for its comment. */
static char *backward_text(const Graph *g, const GradNode *gn)
{
    StrBuf dx = {0}, dp = {0}, b = {0};
    list_writes(g, gn, false, &dx);
    list_writes(g, gn, true, &dp);
    bool sole = true;
    for (int s = 0; s < 4; s++)
        sole &= gn->dp[s].t < 0 || (gn->dp[s].first && gn->dp[s].last);
    sb_puts(&b, "backward: ");
    if (dx.s)
        sb_printf(&b, "%s%s", dx.s, dp.s ? " from the old weights, then " : "");
    if (dp.s)
        sb_printf(&b, "%s %s", dp.s,
                  sole ? "block of rows by block of rows, each stepped by the optimizer"
                       : "(added to a gradient other layers share)");
    sb_free(&dx);
    sb_free(&dp);
    return b.s;
}

/* The training functions of forward node i: its forward, then its
 * backward if it has one (side by side, as they are written in ops/). */
static void write_layer_functions(Emit *e, StrBuf *b, int i)
{
    const Graph *g = e->g;
    const TrainPlan *tp = e->train;
    const Node *n = &g->n[i];
    char *what = layer_text(g, n);
    char *fn = xasprintf("%s_%s_train", e->P, emit_layer_ident(e, i));
    char *comment = xasprintf("%s, training forward%s", what,
                              own_train_forward(g, n) ? ""
                                                      : ": its inference function, sample by sample");
    Bindings bs = {0};
    bind_common(e, &bs, i);
    bind_node(e, &bs, n, false);
    write_function(e, b, comment, fn, &bs, NULL, tp->body[i].s);
    bindings_free(&bs);
    free(fn);
    free(comment);
    for (int k = 0; k < g->bw->nnode; k++) {
        const GradNode *gn = &g->bw->node[k];
        if (gn->node != i)
            continue;
        StrBuf pre = {0};
        Bindings gb = {0};
        char *how = backward_text(g, gn);
        comment = xasprintf("%s, %s", what, how);
        fn = xasprintf("%s_%s_backward", e->P, emit_layer_ident(e, i));
        bind_common(e, &gb, g->nn + 1 + k);
        bind_node(e, &gb, n, true);
        bind_grads(e, &gb, gn);
        zero_first_writes(g, gn, &pre);
        write_function(e, b, comment, fn, &gb, pre.s, tp->body[g->nn + 1 + k].s);
        bindings_free(&gb);
        sb_free(&pre);
        free(how);
        free(comment);
        free(fn);
    }
    free(what);
}

/* ---- the drivers ---- */

/* static void FN(const P_ctx *ctx): the training functions of the forward
 * nodes `part` selects (NULL: every node), in order. */
static void write_forward_driver(Emit *e, StrBuf *b, const char *fn, const bool *part, bool want)
{
    const Graph *g = e->g;
    sb_printf(b, "static void %s_%s(const %s_ctx *ctx)\n{\n", e->P, fn, e->P);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (part && part[i] != want)
            continue;
        if (backward_is_view(g, n))
            sb_printf(b, "    /* %s: a view of %s */\n", n->name, g->t[n->in[0]].name);
        else
            sb_printf(b, "    %s_%s_train(ctx);\n", e->P, emit_layer_ident(e, i));
    }
    sb_puts(b, "}\n\n");
}

static void write_forward_pass(Emit *e, StrBuf *b)
{
    const FeatureCut *fc = &e->train->cut;
    sb_puts(b, "/* The forward pass over ctx->n samples, layer by layer; mode 0: inference\n"
               " * (running statistics, no dropout), 1: gradients (the batch's statistics,\n"
               " * left out of the running ones, no dropout), 2: a training step. */\n");
    write_forward_driver(e, b, "train_fwd", NULL, false);
    if (fc->cut < 0)
        return;
    sb_printf(b, "/* The frozen part alone, up to the cut %s (the feature cache). */\n",
              graph_activation_name(e->g, fc->cut));
    write_forward_driver(e, b, "train_fwd_frozen", fc->part, true);
    sb_printf(b, "/* The layers after the cut, from %s's values in the arena. */\n",
              graph_activation_name(e->g, fc->cut));
    write_forward_driver(e, b, "train_fwd_head", fc->part, false);
}

/* A parameter several nodes add to: stepped after the last one, on the
 * whole accumulated gradient. */
static void write_shared_step(Emit *e, StrBuf *b, const GradNode *gn)
{
    const Graph *g = e->g;
    const TrainPlan *tp = e->train;
    const char *P = e->P;
    for (int s = 0; s < 4; s++) {
        const GradWrite *w = &gn->dp[s];
        if (w->t < 0 || !w->last || w->first)
            continue;
        const char *x = tp->tensor[g->n[gn->node].param[s]];
        sb_printf(b, "    if (!ctx->G) /* %s: its last layer is done */\n"
                     "        %s_update(ctx, ctx->S + %s_TS_%s, ", g->t[g->t[w->t].grad_of].name, P, P, x);
        if (tp->moments >= 1)
            sb_printf(b, "ctx->S + %s_TM_%s, ", P, x);
        else
            sb_puts(b, "NULL, ");
        if (tp->moments >= 2)
            sb_printf(b, "ctx->S + %s_TV_%s, ", P, x);
        else
            sb_puts(b, "NULL, ");
        sb_printf(b, "ctx->A + %s_TA_%s, 0, %lld);\n", P, tp->tensor[w->t],
                  (long long)shape_numel(&g->t[w->t].shape));
    }
}

static void write_backward_pass(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    const Backward *bw = g->bw;
    const TrainPlan *tp = e->train;
    const char *P = e->P;
    sb_printf(b, "/* The loss on the logits (%s): mean softmax cross-entropy%s, and\n"
                 " * dL/dlogits when the backward follows. */\n"
                 "static double %s_train_loss(const %s_ctx *ctx, const int32_t *labels, int backward)\n"
                 "{\n    return cnnc_softmax_xent(",
              g->t[bw->logits].name, bw->fused >= 0 ? ", absorbing the final softmax" : "", P, P);
    char *logits = value_ptr(e, bw->logits);
    sb_printf(b, "%s, labels, ctx->n, %lld, backward ? ctx->A + %s_TA_%s : NULL);\n}\n\n", logits,
              (long long)bw->classes, P, tp->tensor[bw->dlogits.t]);
    free(logits);
    sb_printf(b, "/* The backward pass, layer by layer in reverse; in a step each layer\n"
                 " * steps its parameters as their gradients become final. */\n"
                 "static void %s_train_bwd(const %s_ctx *ctx)\n{\n",
              P, P);
    for (int k = 0; k < bw->nnode; k++) {
        sb_printf(b, "    %s_%s_backward(ctx);\n", P, emit_layer_ident(e, bw->node[k].node));
        write_shared_step(e, b, &bw->node[k]);
    }
    sb_puts(b, "}\n\n");
}

/* ---- the API ---- */

/* `static const float P_<what>_<tensor>[]` holding tensor t in PyTorch's
 * layout. */
static void write_values(Emit *e, StrBuf *b, const char *what, int t)
{
    const Graph *g = e->g;
    int64_t count = shape_numel(&g->t[t].shape);
    sb_printf(b, "/* %s */\nstatic const float %s_%s_%s[%lld] = {\n", g->t[t].name, e->P, what,
              e->train->tensor[t], (long long)count);
    for (int64_t i = 0; i < count; i++)
        sb_printf(b, "%s%s%s", i % 8 ? " " : "    ", emit_float(e, g->t[t].data[i]),
                  i + 1 < count ? (i % 8 == 7 ? ",\n" : ",") : "\n");
    sb_puts(b, "};\n\n");
}

/* The initial values of the state's tensors that the inference code's
 * constants do not hold already, in PyTorch's layout. */
static void write_initial_values(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    for (int t = 0; t < g->nt; t++)
        if (tensor_in_train_state(&g->t[t]) && !e->train->init[t].array)
            write_values(e, b, "init", t);
}

const char *emit_frozen_packed(Emit *e, const Node *n, int slot)
{
    int t = n->param[slot];
    if (t < 0 || !tensor_frozen(&e->g->t[t]) || node_quantized(e->g, n))
        return NULL;
    return e->train->init[t].copy;
}

/* Whether src's array holds the tensor's floats in order, one run from its
 * base (not repacked). */
static bool source_in_order(const InitSource *src)
{
    return src->nlev == 0 || (src->nlev == 1 && src->stride[0] == 1);
}

/* The frozen parameters the training functions (`code`) read, P_frozen_<x>
 * in PyTorch's layout: the inference code's array where it holds them in
 * that order (no second copy in flash), else an array of their own. */
static void write_frozen_values(Emit *e, StrBuf *b, const char *code)
{
    const Graph *g = e->g;
    for (int t = 0; t < g->nt; t++) {
        if (!tensor_frozen(&g->t[t]))
            continue;
        char *name = xasprintf("%s_frozen_%s", e->P, e->train->tensor[t]);
        const InitSource *src = &e->train->init[t];
        bool in_order = src->array && source_in_order(src);
        e->train->frozen_own[t] = uses(code, name);
        if (uses(code, name) && in_order)
            sb_printf(b, "/* %s, frozen */\nstatic const float *const %s = %s + %lld;\n\n",
                      g->t[t].name, name, src->array, (long long)src->base);
        else if (uses(code, name))
            write_values(e, b, "frozen", t);
        free(name);
    }
}

/* Tensor t's entry of a tensor table: its name, the escaped file name as
 * cnnc_npy_param_path writes it, kind, shape, count and offsets. */
static void write_table_entry(const Emit *e, StrBuf *b, int t, int kind)
{
    const Tensor *x = &e->g->t[t];
    const TrainPlan *tp = e->train;
    sb_puts(b, "    {");
    put_c_string(b, x->name);
    sb_puts(b, ", \"");
    for (const unsigned char *p = (const unsigned char *)x->name; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
        sb_printf(b, plain ? "%c" : "%%%02X", *p);
    }
    sb_printf(b, ".npy\", %d, %d, {", kind, x->shape.rank);
    for (int i = 0; i < 5; i++)
        sb_printf(b, "%s%lld", i ? ", " : "", (long long)(i < x->shape.rank ? x->shape.d[i] : 0));
    sb_printf(b, "}, %lld, %lld, %lld},\n", (long long)shape_numel(&x->shape),
              (long long)(tp->sofs[t] >= 0 ? tp->sofs[t] * 4 : 0),
              (long long)(tp->gofs[t] >= 0 ? tp->gofs[t] * 4 : 0));
}

/* The state's tensor table. */
static void write_tensor_table(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    sb_printf(b, "static const %s_tensor %s_tensors[%d] = {\n", e->P, e->P, e->train->ntensors);
    for (int t = 0; t < g->nt; t++)
        if (tensor_in_train_state(&g->t[t]))
            write_table_entry(e, b, t, g->t[t].kind == T_BUFFER ? 1 : 0);
    sb_puts(b, "};\n\n");
}

/* src's index of element j, "j / 75 % 8 * 16 + j % 75" (emit_train_init.c). */
static char *source_index(const InitSource *src)
{
    StrBuf b = {0};
    int64_t below = 1;
    for (int k = 0; k < src->nlev; below *= src->count[k], k++) {
        if (src->stride[k] == 0)
            continue;
        sb_puts(&b, b.len ? " + " : "");
        bool top = k + 1 == src->nlev;
        if (below > 1)
            sb_printf(&b, "j / %lld", (long long)below);
        else
            sb_puts(&b, "j");
        if (!top)
            sb_printf(&b, " %% %lld", (long long)src->count[k]);
        if (src->stride[k] != 1)
            sb_printf(&b, " * %s%lld%s", src->stride[k] < 0 ? "(" : "", (long long)src->stride[k],
                      src->stride[k] < 0 ? ")" : "");
    }
    if (src->base || !b.len)
        sb_printf(&b, "%s%lld", b.len ? " + " : "", (long long)src->base);
    return b.s;
}

/* Tensor t's initial values into the state: from the inference code's
 * array that holds them (its repacking undone), else from its own. */
static void write_init_copy(Emit *e, StrBuf *b, int t)
{
    const InitSource *src = &e->train->init[t];
    const char *P = e->P, *x = e->train->tensor[t];
    int64_t count = shape_numel(&e->g->t[t].shape);
    if (!src->array) {
        sb_printf(b, "    memcpy(S + %s_TS_%s, %s_init_%s, sizeof %s_init_%s);\n", P, x, P, x, P, x);
        return;
    }
    if (source_in_order(src)) {
        sb_printf(b, "    memcpy(S + %s_TS_%s, %s", P, x, src->array);
        if (src->base)
            sb_printf(b, " + %lld", (long long)src->base);
        sb_printf(b, ", sizeof(float) * %lld); /* %s */\n", (long long)count, e->g->t[t].name);
        return;
    }
    char *index = source_index(src);
    sb_printf(b, "    for (j = 0; j < %lld; j++) /* %s, repacked back */\n"
                 "        S[%s_TS_%s + j] = %s[%s];\n",
              (long long)count, e->g->t[t].name, P, x, src->array, index);
    free(index);
}

/* Per tensor (g->nt entries, the caller's to free): whether a layer that
 * computes in integers reads it; a frozen tensor's float data is then the
 * dequantized values, not the model's. One pass over the layers. */
static bool *read_as_int8(const Graph *g)
{
    bool *as_int8 = xcalloc((size_t)g->nt, sizeof *as_int8);
    for (int i = 0; i < g->nn; i++)
        if (node_quantized(g, &g->n[i]))
            for (int s = 0; s < g->n[i].nparam; s++)
                if (g->n[i].param[s] >= 0)
                    as_int8[g->n[i].param[s]] = true;
    return as_int8;
}

/* Frozen tensor t into dst, in PyTorch's layout: from P_frozen_<x>, else
 * from the inference code's array (its repacking undone), else from a
 * copy of its own that only the `--main` program holds. */
static void write_frozen_copy(Emit *e, StrBuf *b, StrBuf *arrays, int t)
{
    const InitSource *src = &e->train->init[t];
    const char *P = e->P, *x = e->train->tensor[t];
    int64_t count = shape_numel(&e->g->t[t].shape);
    if (e->train->frozen_own[t] || !src->array) {
        if (!e->train->frozen_own[t])
            write_values(e, arrays, "saved", t);
        sb_printf(b, "        memcpy(dst, %s_%s_%s, sizeof(float) * %lld);\n", P,
                  e->train->frozen_own[t] ? "frozen" : "saved", x, (long long)count);
        return;
    }
    if (source_in_order(src)) {
        sb_printf(b, "        memcpy(dst, %s + %lld, sizeof(float) * %lld);\n", src->array,
                  (long long)src->base, (long long)count);
        return;
    }
    char *index = source_index(src);
    sb_printf(b, "        for (j = 0; j < %lld; j++) /* repacked back */\n"
                 "            dst[j] = %s[%s];\n",
              (long long)count, src->array, index);
    free(index);
}

void emit_train_frozen_save(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    StrBuf cases = {0}, arrays = {0};
    bool *as_int8 = read_as_int8(g);
    int n = 0;
    sb_printf(b, "/* The frozen parameters, which the state does not hold, for --save to\n"
                 " * write beside the trained ones (a complete --weights folder). */\n"
                 "static const %s_tensor main_frozen_tensors[] = {\n", e->P);
    for (int t = 0; t < g->nt; t++) {
        if (!tensor_frozen(&g->t[t]) || as_int8[t]) /* what --save writes */
            continue;
        write_table_entry(e, b, t, 2);
        sb_printf(&cases, "    case %d: /* %s */\n", n++, g->t[t].name);
        write_frozen_copy(e, &cases, &arrays, t);
        sb_puts(&cases, "        break;\n");
    }
    if (!n)
        sb_puts(b, "    {NULL, NULL, 2, 0, {0, 0, 0, 0, 0}, 0, 0, 0},\n");
    sb_printf(b, "};\n#define MAIN_FROZEN_COUNT %d\n\n%s", n, arrays.s ? arrays.s : "");
    sb_puts(b, "/* Frozen tensor i's compiled-in values into dst (PyTorch's layout). */\n"
               "static void main_train_frozen(void *ctx, int i, float *dst)\n{\n");
    if (uses(cases.s ? cases.s : "", "j"))
        sb_puts(b, "    int64_t j;\n");
    sb_printf(b, "    (void)ctx;\n    switch (i) {\n%s    default:\n        (void)dst;\n    }\n}\n\n",
              cases.s ? cases.s : "");
    sb_free(&cases);
    sb_free(&arrays);
    free(as_int8);
}

static void write_init(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    const TrainCfg *c = &e->train->cfg;
    const char *P = e->P;
    sb_printf(b, "void %s_train_init(void *state)\n{\n"
                 "    %s_train_header *hd = (%s_train_header *)state;\n"
                 "    float *S = (float *)state;\n",
              P, P, P);
    put_runtime_uses(b, cnnc_rt_train_h);
    sb_printf(b, "    memset(state, 0, %s_TRAIN_STATE_BYTES);\n"
                 "    hd->h.optimizer = %d;\n    hd->h.lr = %s;\n    hd->h.momentum = %s;\n"
                 "    hd->h.weight_decay = %s;\n    hd->h.beta1 = %s;\n    hd->h.beta2 = %s;\n"
                 "    hd->h.eps = %s;\n    hd->seed = %lluu;\n",
              P, c->optim == OPT_ADAM ? 1 : 0, emit_float(e, c->lr), emit_float(e, c->momentum),
              emit_float(e, c->weight_decay), emit_float(e, c->beta1), emit_float(e, c->beta2),
              emit_float(e, c->eps), (unsigned long long)c->seed);
    StrBuf copies = {0};
    for (int t = 0; t < g->nt; t++)
        if (tensor_in_train_state(&g->t[t]))
            write_init_copy(e, &copies, t);
    if (uses(copies.s, "j")) /* a repacking undone */
        sb_puts(b, "    int64_t j;\n");
    sb_puts(b, copies.s);
    sb_free(&copies);
    sb_puts(b, "}\n\n");
}

/* The condition under which a step refuses the state's hyperparameters:
 * an optimizer that needs moments the state has no room for. */
static const char *refusal(const TrainPlan *tp)
{
    return tp->moments == 0   ? "hd->h.optimizer == 1 || hd->h.momentum != 0"
           : tp->moments == 1 ? "hd->h.optimizer == 1"
                              : NULL;
}

/* The train arena's name of the cut's values (a view's are its input's). */
static const char *cut_ident(const Emit *e)
{
    return e->train->tensor[e->train->arena.root[e->train->cut.cut]];
}

static void write_run(Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    const TrainPlan *tp = e->train;
    const char *P = e->P;
    bool cache = tp->cut.cut >= 0;
    sb_printf(b, "/* mode 2: a training step; 1: the loss and, into grads unless NULL, the\n"
                 " * gradients.%s */\n"
                 "static double %s_train_run(void *state, void *arena, const float *input, %sconst int32_t *labels, int n, int mode, float *grads)\n{\n"
                 "    %s_train_header *hd = (%s_train_header *)state;\n"
                 "    %s_ctx ctx;\n"
                 "    double loss;\n"
                 "    int backward = mode == 2 || grads != NULL;\n"
                 "    if (n < 1 || n > %s_BATCH_MAX) /* the plan's bound */\n"
                 "        return NAN;\n",
              cache ? " With features (not NULL), the layers after the cut\n"
                      " * alone, from them." : "",
              P, cache ? "const float *features, " : "", P, P, P, P);
    if (refusal(tp))
        sb_printf(b, "    if (mode == 2 && (%s)) /* moments the state lacks */\n"
                     "        return NAN;\n",
                  refusal(tp));
    sb_printf(b, "    ctx.S = (float *)state;\n    ctx.A = (float *)arena;\n    ctx.G = grads;\n"
                 "    ctx.input = input;\n    ctx.n = n;\n    ctx.mode = mode;\n"
                 "    ctx.key = mode == 2 ? %s_mix(hd->seed ^ %s_mix((uint64_t)hd->step)) : 0;\n"
                 "    ctx.o.kind = hd->h.optimizer == 1 ? CNNC_ADAM : CNNC_SGD;\n"
                 "    ctx.o.lr = hd->h.lr;\n    ctx.o.momentum = hd->h.momentum;\n"
                 "    ctx.o.weight_decay = hd->h.weight_decay;\n    ctx.o.beta1 = hd->h.beta1;\n"
                 "    ctx.o.beta2 = hd->h.beta2;\n    ctx.o.eps = hd->h.eps;\n"
                 "    ctx.step = mode == 2 ? ++hd->step : hd->step;\n",
              P, P);
    if (cache)
        sb_printf(b, "    if (features) {\n"
                     "        memcpy(ctx.A + %s_TA_%s, features, sizeof(float) * %s_FEATURE_SIZE * (size_t)n);\n"
                     "        %s_train_fwd_head(&ctx);\n"
                     "    } else\n    ",
                  P, cut_ident(e), P, P);
    sb_printf(b, "    %s_train_fwd(&ctx);\n"
                 "    loss = %s_train_loss(&ctx, labels, backward);\n"
                 "    if (!backward)\n        return loss;\n",
              P, P);
    for (int t = 0; t < g->bw->nfwd_tensors; t++)
        if (tp->gofs[t] >= 0 && g->bw->grad[t] < 0)
            sb_printf(b, "    if (grads) /* %s: no gradient reaches it */\n"
                         "        memset(grads + %s_TG_%s, 0, sizeof(float) * %lld);\n",
                      g->t[t].name, P, tp->tensor[t], (long long)shape_numel(&g->t[t].shape));
    sb_printf(b, "    %s_train_bwd(&ctx);\n    return loss;\n}\n\n", P);
}

/* P_train_forward: inference with the state's weights from the input; or,
 * with `features`, P_train_forward_features: the layers after the cut from
 * the cut's values. */
static void write_forward_fn(Emit *e, StrBuf *b, bool features)
{
    const TrainPlan *tp = e->train;
    const char *P = e->P;
    sb_printf(b, "void %s_train_forward%s(const void *state, void *arena, const float *%s, float *output, int n)\n{\n"
                 "    %s_ctx ctx;\n"
                 "    if (n < 1 || n > %s_BATCH_MAX) /* the plan's bound */\n        return;\n"
                 "    memset(&ctx, 0, sizeof ctx);\n"
                 "    ctx.S = (float *)(uintptr_t)state;\n    ctx.A = (float *)arena;\n"
                 "    ctx.n = n;\n",
              P, features ? "_features" : "", features ? "features" : "input", P, P);
    if (features)
        sb_printf(b, "    memcpy(ctx.A + %s_TA_%s, features, sizeof(float) * %s_FEATURE_SIZE * (size_t)n);\n"
                     "    %s_train_fwd_head(&ctx);\n",
                  P, cut_ident(e), P, P);
    else
        sb_printf(b, "    ctx.input = input;\n    %s_train_fwd(&ctx);\n", P);
    sb_printf(b, "    memcpy(output, ctx.A + %s_TA_%s, sizeof(float) * %s_OUTPUT_SIZE * (size_t)n);\n}\n\n",
              P, tp->tensor[tp->arena.root[e->g->output]], P);
}

/* The feature cache's calls: the frozen part alone, and the step and the
 * forward from its cut's values. */
static void write_feature_api(Emit *e, StrBuf *b)
{
    const char *P = e->P, *cut = cut_ident(e);
    sb_printf(b, "void %s_train_features(const void *state, void *arena, const float *input, float *features, int n)\n{\n"
                 "    %s_ctx ctx;\n"
                 "    if (n < 1 || n > %s_BATCH_MAX) /* the plan's bound */\n        return;\n"
                 "    memset(&ctx, 0, sizeof ctx);\n"
                 "    ctx.S = (float *)(uintptr_t)state;\n    ctx.A = (float *)arena;\n"
                 "    ctx.input = input;\n    ctx.n = n;\n"
                 "    %s_train_fwd_frozen(&ctx);\n"
                 "    memcpy(features, ctx.A + %s_TA_%s, sizeof(float) * %s_FEATURE_SIZE * (size_t)n);\n}\n\n",
              P, P, P, P, P, cut, P);
    sb_printf(b, "double %s_train_step_features(void *state, void *arena, const float *features, const int32_t *labels, int n)\n{\n"
                 "    return %s_train_run(state, arena, NULL, features, labels, n, 2, NULL);\n}\n\n",
              P, P);
    write_forward_fn(e, b, true);
}

static void write_api(Emit *e, StrBuf *b)
{
    TrainPlan *tp = e->train;
    const char *P = e->P;
    sb_printf(b, "typedef struct {\n    %s_hparams h;\n    int64_t step;\n    uint64_t seed;\n} %s_train_header;\n"
                 "typedef char %s_header_check[sizeof(%s_train_header) <= %d ? 1 : -1];\n"
                 "typedef char %s_train_arena_check[(%s_TRAIN_ARENA_BYTES >= %lld) ? 1 : -1];\n\n",
              P, P, P, P, HEADER_BYTES, P, P, (long long)tp->arena.arena_floats * 4);
    sb_printf(b, "static uint64_t %s_mix(uint64_t z)\n{\n"
                 "    z += 0x9E3779B97F4A7C15u;\n"
                 "    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;\n"
                 "    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;\n"
                 "    return z ^ (z >> 31);\n}\n\n",
              P);
    write_tensor_table(e, b);
    write_init(e, b);
    sb_printf(b, "%s_hparams *%s_train_hparams(void *state)\n{\n    return &((%s_train_header *)state)->h;\n}\n\n"
                 "int64_t %s_train_steps(const void *state)\n{\n    return ((const %s_train_header *)state)->step;\n}\n\n"
                 "const %s_tensor *%s_train_tensor(int i)\n{\n    return i >= 0 && i < %d ? &%s_tensors[i] : NULL;\n}\n\n"
                 "float *%s_train_data(void *state, int i)\n{\n"
                 "    return i >= 0 && i < %d ? (float *)((char *)state + %s_tensors[i].offset) : NULL;\n}\n\n"
                 "const float *%s_train_gradient(const float *grads, int i)\n{\n"
                 "    if (i < 0 || i >= %d || %s_tensors[i].kind != 0)\n        return NULL;\n"
                 "    return (const float *)((const char *)grads + %s_tensors[i].grad_offset);\n}\n\n",
              P, P, P, P, P, P, P, tp->ntensors, P, P, tp->ntensors, P, P, tp->ntensors, P, P);
    write_forward_fn(e, b, false);
    write_run(e, b);
    const char *nofeat = tp->cut.cut >= 0 ? "NULL, " : "";
    sb_printf(b, "double %s_train_step(void *state, void *arena, const float *input, const int32_t *labels, int n)\n{\n"
                 "    return %s_train_run(state, arena, input, %slabels, n, 2, NULL);\n}\n\n"
                 "double %s_train_grad(void *state, void *arena, const float *input, const int32_t *labels, int n, float *grads)\n{\n"
                 "    return %s_train_run(state, arena, input, %slabels, n, 1, grads);\n}\n\n",
              P, P, nofeat, P, P, nofeat);
    if (tp->cut.cut >= 0)
        write_feature_api(e, b);
}

/* ---- entry points (emit.c, emit_main.c) ---- */

bool emit_train_figures(const Emit *e, int64_t *state_bytes, int64_t *arena_bytes)
{
    if (!e->train)
        return false;
    *state_bytes = e->train->state_floats * 4;
    *arena_bytes = e->train->arena.arena_floats * 4;
    return true;
}

bool emit_train_prepare(Emit *e)
{
    e->train = xcalloc(1, sizeof *e->train);
    if (e->mode == WEIGHTS_BLOB) {
        diag_error((Loc){e->g->file, 0, 0}, "--train does not support --weights-blob yet");
        return false;
    }
    return plan_training(e);
}

void emit_train_source(Emit *e, StrBuf *b)
{
    sb_puts(b, "/* ---- training (cnnc --train; docs/training.md) ---- */\n");
    sb_puts(b, "#ifndef CNNC_RT_API\n#define CNNC_RT_API static\n#endif\n");
    put_runtime(b, cnnc_rt_cnnc_rt_h);
    put_runtime(b, cnnc_rt_train_h);
    put_runtime(b, cnnc_rt_train_c);
    sb_puts(b, "\n");
    write_initial_values(e, b);
    write_offsets(e, b);
    write_context(e, b);
    StrBuf layers = {0};
    for (int i = 0; i < e->g->nn; i++)
        if (!backward_is_view(e->g, &e->g->n[i]))
            write_layer_functions(e, &layers, i);
    write_frozen_values(e, b, layers.s ? layers.s : "");
    sb_puts(b, layers.s ? layers.s : "");
    sb_free(&layers);
    write_forward_pass(e, b);
    write_backward_pass(e, b);
    write_api(e, b);
}

const FeatureCut *emit_train_cut(const Emit *e)
{
    return &e->train->cut;
}

/* OUT.h: the feature cache's API, or why the build has none. */
static void write_feature_header(const Emit *e, StrBuf *b)
{
    const FeatureCut *fc = &e->train->cut;
    char shape[128];
    const char *cut = fc->cut >= 0 ? graph_activation_name(e->g, fc->cut) : NULL;
    if (fc->cut < 0) {
        sb_printf(b, "/* No feature cache (P_train_features): %s. */\n", fc->refusal);
        return;
    }
    sb_printf(b, "\n/* The feature cache (docs/training.md): the frozen part computes each\n"
                 " * sample alone and the same way at every step, and the layers after it\n"
                 " * read it through one tensor, the cut %s, alone. */\n"
                 "#define %s_FEATURE_SIZE %lld /* floats per sample of %s: %s */\n",
              cut, e->P, (long long)shape_numel(&e->g->t[fc->cut].shape), cut,
              shape_str(&e->g->t[fc->cut].shape, shape, sizeof shape));
    put_doc(b, e->P,
            "/* The frozen part alone on n samples (1 <= n <= P_BATCH_MAX): their cut\n"
            " * values into features (n x P_FEATURE_SIZE floats), in the train arena. */\n"
            "void P_train_features(const void *state, void *arena, const float *input, float *features, int n);\n"
            "/* P_train_step from the features P_train_features gave for the batch's\n"
            " * samples: the same step (the same weights after it), without running the\n"
            " * frozen part again. */\n"
            "double P_train_step_features(void *state, void *arena, const float *features, const int32_t *labels, int n);\n"
            "/* P_train_forward from the samples' features. */\n"
            "void P_train_forward_features(const void *state, void *arena, const float *features, float *output, int n);\n");
}

void emit_train_header(Emit *e, StrBuf *b)
{
    TrainPlan *tp = e->train;
    const char *P = e->P;
    static const char *const optimizers[] = {"plain SGD (no moment)",
                                             "SGD with momentum (one moment)",
                                             "Adam (two moments)"};
    sb_printf(b, "\n/* ---- training (--train): see docs/training.md ----\n"
                 " * Memory: the state (persistent) holds the parameters, buffers and the\n"
                 " * optimizer's moments; the train arena (scratch of one call) the batch's\n"
                 " * activations while backward needs them, their gradients and the layers'\n"
                 " * scratch, packed by lifetime over the step (%lld bytes; the largest set\n"
                 " * live at once is %lld). Both aligned to %s_ARENA_ALIGN.\n"
                 " * The optimizer is fixed here: the state has room for %s. */\n",
              (long long)tp->arena.arena_floats * 4, (long long)tp->arena.bound_floats * 4, P,
              optimizers[tp->moments]);
    sb_printf(b, "#define %s_TRAIN_STATE_BYTES %lld /* header %d, tensors %lld, optimizer %lld */\n"
                 "#define %s_TRAIN_ARENA_BYTES %lld\n"
                 "#define %s_TRAIN_GRAD_BYTES %lld /* the gradients %s_train_grad writes */\n"
                 "#define %s_TRAIN_TENSOR_COUNT %d\n"
                 "#define %s_TRAIN_MOMENTS %d /* optimizer moments per parameter in the state */\n"
                 "#define %s_OPT_SGD 0\n#define %s_OPT_ADAM 1\n\n",
              P, (long long)tp->state_floats * 4, HEADER_BYTES, (long long)tp->state_tensor_floats * 4,
              (long long)tp->moment_floats * 4, P, (long long)tp->arena.arena_floats * 4, P,
              (long long)tp->grad_floats * 4, P, P, tp->ntensors, P, tp->moments, P, P);
    sb_printf(b, "/* The optimizer's hyperparameters, read at every step (PyTorch 1.13's SGD\n"
                 " * with momentum and L2 weight decay, or Adam). */\n"
                 "typedef struct {\n    int optimizer; /* %s_OPT_SGD or %s_OPT_ADAM */\n"
                 "    float lr, momentum, weight_decay, beta1, beta2, eps;\n} %s_hparams;\n\n",
              P, P, P);
    sb_printf(b, "/* One entry per parameter and buffer in the state. A frozen parameter\n"
                 " * (--freeze-until, --train-bias-only) has none: it is not in the state\n"
                 " * but a constant of this code, in flash, as the model gave it; training\n"
                 " * never changes it, so saving the state saves what training changed. */\n"
                 "typedef struct {\n"
                 "    const char *name;   /* as cnnc names it (contract, section 5) */\n"
                 "    const char *file;   /* \"<name>.npy\", escaped with %%XX */\n"
                 "    int kind;           /* 0: trainable parameter, 1: buffer (running statistics) */\n"
                 "    int rank;\n"
                 "    int64_t shape[5];   /* PyTorch's layout (a 3-D conv's weight has 5 dims) */\n"
                 "    size_t count;       /* floats */\n"
                 "    size_t offset;      /* bytes from the state's start */\n"
                 "    size_t grad_offset; /* trainable parameters: bytes from the start of\n"
                 "                           %s_train_grad's gradients */\n"
                 "} %s_tensor;\n\n",
              P, P);
    put_doc(b, P,
                 "/* Fills the state (P_TRAIN_STATE_BYTES, aligned to P_ARENA_ALIGN): the baked\n"
                 " * weights and buffers, zero optimizer state, step 0, the hyperparameters and\n"
                 " * dropout seed of the model's train section (or cnnc's command line). */\n"
                 "void P_train_init(void *state);\n"
                 "/* The hyperparameters in the state: change them between steps (schedules).\n"
                 " * The optimizer is the one compiled in: P_TRAIN_MOMENTS says how many\n"
                 " * moments the state keeps (0 plain SGD, 1 SGD with momentum, 2 Adam, which\n"
                 " * may also run SGD with momentum); a step asked for an optimizer that needs\n"
                 " * more refuses: it returns NaN and changes nothing. */\n"
                 "P_hparams *P_train_hparams(void *state);\n"
                 "/* Optimizer steps taken. */\n"
                 "int64_t P_train_steps(const void *state);\n"
                 "/* Entry i of the tensor table (0 <= i < P_TRAIN_TENSOR_COUNT), else NULL. */\n"
                 "const P_tensor *P_train_tensor(int i);\n"
                 "/* Tensor i's floats in the state (read them to save, write them to restore). */\n"
                 "float *P_train_data(void *state, int i);\n"
                 "/* dLoss/dParameter of tensor i in the gradients P_train_grad wrote to grads;\n"
                 " * NULL for a buffer. */\n"
                 "const float *P_train_gradient(const float *grads, int i);\n"
                 "/* One training step on n samples (1 <= n <= P_BATCH_MAX, labels in\n"
                 " * [0, classes)): forward in training mode (BatchNorm batch statistics,\n"
                 " * running statistics updated; Dropout with its seeded mask), mean softmax\n"
                 " * cross-entropy, backward, each parameter stepped by the optimizer as its\n"
                 " * gradient is complete (no gradient is kept). Returns the loss before the\n"
                 " * update. The train arena holds P_TRAIN_ARENA_BYTES. */\n"
                 "double P_train_step(void *state, void *arena, const float *input, const int32_t *labels, int n);\n"
                 "/* The loss and, into grads (P_TRAIN_GRAD_BYTES, aligned to 4; NULL: the loss\n"
                 " * alone), dLoss/dParameter of every trainable parameter (cnnc grad): Dropout\n"
                 " * the identity, the state left unchanged. */\n"
                 "double P_train_grad(void *state, void *arena, const float *input, const int32_t *labels, int n, float *grads);\n"
                 "/* Inference with the state's weights (running statistics, no dropout) on\n"
                 " * n <= P_BATCH_MAX samples, in the train arena. */\n"
                 "void P_train_forward(const void *state, void *arena, const float *input, float *output, int n);\n");
    write_feature_header(e, b);
}

void emit_train_free(Emit *e)
{
    TrainPlan *tp = e->train;
    if (!tp)
        return;
    for (int s = 0; tp->body && s < tp->nsteps; s++)
        sb_free(&tp->body[s]);
    for (int t = 0; tp->tensor && t < e->g->nt; t++)
        free(tp->tensor[t]);
    free(tp->body);
    free(tp->scratch);
    free(tp->tensor);
    free(tp->sofs);
    free(tp->mofs);
    free(tp->vofs);
    free(tp->gofs);
    for (int t = 0; tp->init && t < e->g->nt; t++) {
        free(tp->init[t].array);
        free(tp->init[t].copy);
    }
    free(tp->init);
    free(tp->frozen_own);
    plan_free(&tp->arena);
    feature_cut_free(&tp->cut);
    free(tp);
    e->train = NULL;
}
void emit_train_main_grad(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b,
              "/* grad IN.npy LABELS.npy DIR: the loss and dLoss/dParameter of the baked\n"
              " * weights on IN (at most %s_BATCH_MAX samples), as `cnnc grad` writes them. */\n"
              "static int main_grad(int argc, char **argv)\n"
              "{\n"
              "    static const int64_t no_shape[1] = {0};\n"
              "    char err[CNNC_NPY_ERR_SIZE], msg[4096];\n"
              "    CnncNpy in, lab;\n"
              "    int32_t *labels = NULL;\n"
              "    void *sraw = NULL, *araw = NULL, *state, *arena;\n"
              "    float *grads = NULL;\n"
              "    float loss;\n"
              "    int64_t n;\n"
              "    int i, rc = 0;\n"
              "    if (argc != 5)\n"
              "        return main_error(argv[0], \"usage: grad IN.npy LABELS.npy DIR\");\n"
              "    if (main_read_input(argv[2], &in) != 0)\n"
              "        return 1;\n"
              "    n = in.shape[0];\n"
              "    if (n > %s_BATCH_MAX || n < 1) {\n"
              "        snprintf(msg, sizeof msg, \"%%lld samples, but the program takes 1 to %%d at once (the batch maximum; compile with --batch)\", (long long)n, %s_BATCH_MAX);\n"
              "        cnnc_npy_free(&in);\n"
              "        return main_error(argv[2], msg);\n"
              "    }\n"
              "    if (cnnc_npy_read(argv[3], &lab, err, sizeof err) != 0) {\n"
              "        cnnc_npy_free(&in);\n"
              "        return main_error(argv[3], err);\n"
              "    }\n"
              "    labels = malloc((size_t)(lab.count > 0 ? lab.count : 1) * sizeof *labels);\n"
              "    if (!labels || cnnc_npy_labels(&lab, labels, %lld, err, sizeof err) != 0 || lab.count != n) {\n"
              "        if (labels && lab.count != n && !err[0])\n"
              "            snprintf(err, sizeof err, \"%%lld labels for %%lld samples\", (long long)lab.count, (long long)n);\n"
              "        rc = main_error(argv[3], labels ? err : \"out of memory\");\n"
              "        goto done;\n"
              "    }\n"
              "    sraw = malloc((size_t)%s_TRAIN_STATE_BYTES + %s_ARENA_ALIGN);\n"
              "    araw = malloc((size_t)%s_TRAIN_ARENA_BYTES + %s_ARENA_ALIGN);\n"
              "    grads = malloc((size_t)%s_TRAIN_GRAD_BYTES + 4);\n"
              "    if (!sraw || !araw || !grads) {\n"
              "        rc = main_error(argv[0], \"out of memory\");\n"
              "        goto done;\n"
              "    }\n"
              "    state = (void *)(((uintptr_t)sraw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "    arena = (void *)(((uintptr_t)araw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "    %s_train_init(state);\n"
              "    loss = (float)%s_train_grad(state, arena, (const float *)in.data, labels, (int)n, grads);\n"
              "    snprintf(msg, sizeof msg, \"%%s/loss.npy\", argv[4]);\n"
              "    if (cnnc_npy_write_f32(msg, &loss, 0, no_shape, err, sizeof err) != 0) {\n"
              "        rc = main_error(msg, err);\n"
              "        goto done;\n"
              "    }\n"
              "    for (i = 0; i < %s_TRAIN_TENSOR_COUNT; i++) {\n"
              "        const %s_tensor *t = %s_train_tensor(i);\n"
              "        if (t->kind != 0)\n"
              "            continue;\n"
              "        snprintf(msg, sizeof msg, \"%%s/%%s\", argv[4], t->file);\n"
              "        if (cnnc_npy_write_f32(msg, %s_train_gradient(grads, i), t->rank, t->shape, err, sizeof err) != 0) {\n"
              "            rc = main_error(msg, err);\n"
              "            goto done;\n"
              "        }\n"
              "    }\n"
              "done:\n"
              "    free(labels);\n"
              "    free(sraw);\n"
              "    free(araw);\n"
              "    free(grads);\n"
              "    cnnc_npy_free(&lab);\n"
              "    cnnc_npy_free(&in);\n"
              "    return rc;\n"
              "}\n\n",
              P, P, P, (long long)e->g->bw->classes, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P);
}
