/* dsl_lower.c: checking a .cnn syntax tree and lowering it into the IR.
 *
 * Takes the tree cnn.y built (a model statement holding input, init, layer
 * and train statements); gives a Graph whose nodes carry their attributes
 * (shapes are left to the shape rules), or NULL after reporting every error
 * it found. The layers are first gathered into a list, so that `from` may
 * name a later layer (an `import` reads its network then: dsl_import.c);
 * `freeze` marks the layers it names; names are resolved, input ranks
 * propagated (they decide whether `kernel=3` means 3 or 3x3), nodes
 * created, and the graph sorted, which reports cycles. docs/dsl.md is the
 * reference. */
#include "cnnc.h"
#include "kit/dsl_args.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.tab.h"

/* ---- names: a map from a name to a layer index (util.c's NameMap) ---- */

#define THE_INPUT (-1)  /* a reference to the model input */
#define UNRESOLVED (-2) /* a reference that names nothing */


/* ---- layer kinds ---- */

typedef struct {
    const Stmt *st;
    const DslKind *k; /* NULL when the kind is unknown */
    const char *name;
    Loc loc;
    InitKind init; /* the `init` statement in force here */
    int prev;      /* the layer before, or THE_INPUT */
    int *in, nin;  /* resolved references: layer indices or THE_INPUT */
    int rank;      /* output rank; 0 when unknown */
    int node, out; /* its node and its output tensor (after any softmax) */
    int part, nparts; /* output `part` of a statement with nparts names (split) */
    DslImport *imp;   /* an import statement's network (NULL: none, or failed) */
    int first;        /* an import's first node (its last is `node`) */
    bool frozen;      /* named by a `freeze` statement */
} Layer;

typedef struct {
    DslParse *p;
    Graph *g;
    Layer *layer;
    int nlayer, cap;
    NameMap names;
    const Stmt *input, *train, *seed;
    Loc input_loc;
    int input_rank;
    InitKind init;
    bool cross_checks; /* off after syntax errors: a dropped statement
                          would make its names look undefined */
} Lower;

/* The arguments of one statement, bound to the parameters of its kind. */
/* ---- layer kinds (the families' DslKind rows, ops/registry.c) ---- */

/* The index of the keyword spelt `word` among all keywords; with NULL,
 * how many there are. Unnamed layers are counted per canonical word. */
static int kind_index(const char *word)
{
    const DslKind *k;
    int i = 0;
    for (; (k = dsl_kind_at(i)); i++)
        if (word && strcmp(k->word, word) == 0)
            return i;
    return i;
}

static const char *suggest_kind(const char *word)
{
    DslSuggest s = {0};
    const DslKind *k;
    for (int i = 0; (k = dsl_kind_at(i)); i++)
        dsl_suggest_offer(&s, word, k->word);
    dsl_suggest_offer(&s, word, "import");
    return s.word;
}

/* ---- statements ---- */

static bool layer_wants_softmax(const Stmt *s)
{
    for (const Arg *a = s->args; a; a = a->next)
        if (a->key && strcmp(a->key, "activation") == 0 && a->v->s
            && (a->v->kind == V_IDENT || a->v->kind == V_CALL) && strcmp(a->v->s, "softmax") == 0)
            return true;
    return false;
}

static Loc name_loc(const Lower *L, int ref)
{
    return ref == THE_INPUT ? L->input_loc : L->layer[ref].loc;
}

typedef enum { GIVEN, GENERATED, SOFTMAX_NODE } NameOrigin;

static void declare_name(Lower *L, const char *name, int ref, Loc loc, NameOrigin origin)
{
    int prev;
    if (name_map_add(&L->names, name, ref, &prev))
        return;
    if (origin == GENERATED)
        diag_error(loc, "the name '%.60s' given to this unnamed layer is already taken", name);
    else if (origin == SOFTMAX_NODE)
        diag_error(loc, "activation=softmax adds a node named '%.60s', but that name is taken",
                   name);
    else
        diag_error(loc, "duplicate name '%.60s'", name);
    diag_note(name_loc(L, prev), "'%.60s' first defined here", name);
}

/* input [NAME:] DIMS [mean=(...), std=(...)] */
static void lower_input(Lower *L, const Stmt *s)
{
    Graph *g = L->g;
    DslArgs c;
    dsl_args_init(&c, s->loc, "%s%s", "input", "");
    dsl_bind(&c, "", "mean std", s->args);
    const Value *v = s->value;
    int64_t d[4] = {0};
    int rank = v->kind == V_INT ? 1 : v->kind == V_DIMS ? v->ndims : 0;
    if (rank == 0 || rank > 4) {
        dsl_bad_value(&c, "the input shape", v,
                      "C x H x W, C x L, C x D x H x W or F (like 3x32x32)");
        return;
    }
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        d[i] = v->kind == V_INT ? v->i : v->dims[i];
        if (d[i] < 1 && !v->overflow) {
            dsl_bad_value(&c, "every dimension", v, "positive");
            return;
        }
        if (v->overflow || mul_overflows(numel, d[i], &numel) || numel > INT32_MAX) {
            char buf[96];
            diag_error(v->loc, "input: %s is too large (more than 2^31 values per sample)",
                       dsl_show(v, buf, sizeof buf));
            return;
        }
    }
    L->input_rank = rank;
    L->input_loc = s->name ? s->name_loc : s->loc;
    const char *name = s->name ? s->name : "input";
    g->input = graph_add_tensor(g, name, T_ACT, L->input_loc);
    g->t[g->input].shape = shape_make(rank, d);
    declare_name(L, name, THE_INPUT, L->input_loc, GIVEN);

    /* Normalisation: one value per channel (d[0]); a missing one is neutral. */
    const Value *mean = dsl_get(&c, "mean", false), *std = dsl_get(&c, "std", false);
    if (!mean && !std)
        return;
    int nc = (int)d[0];
    float *m = xmalloc((size_t)nc * sizeof *m), *sd = xmalloc((size_t)nc * sizeof *sd);
    bool ok = true;
    const Value *given[2] = {mean, std};
    float *into[2] = {m, sd};
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "std" : "mean";
        for (int i = 0; i < nc; i++)
            into[k][i] = (float)k;
        const Value *t = given[k];
        if (!t)
            continue;
        int n = 0;
        if (t->kind == V_TUPLE)
            for (const Arg *e = t->items; e; e = e->next)
                n++;
        if (t->kind != V_TUPLE && !(nc == 1 && (t->kind == V_INT || t->kind == V_FLOAT))) {
            dsl_bad_value(&c, key, t, "a tuple with one value per channel");
            ok = false;
            continue;
        }
        if (t->kind == V_TUPLE && n != nc) {
            diag_error(t->loc, "input: %s has %d value%s, the input has %d channel%s", key, n,
                       n == 1 ? "" : "s", nc, nc == 1 ? "" : "s");
            ok = false;
            continue;
        }
        if (t->kind != V_TUPLE) {
            ok &= dsl_float_value(&c, key, t, k ? DSL_POSITIVE : DSL_ANY, &into[k][0]);
            continue;
        }
        int i = 0;
        for (const Arg *e = t->items; e; e = e->next, i++)
            ok &= dsl_float_value(&c, key, e->v, k ? DSL_POSITIVE : DSL_ANY, &into[k][i]);
    }
    if (!ok) {
        free(m);
        free(sd);
        return;
    }
    g->mean = m;
    g->std = sd;
    g->nnorm = nc;
}

/* init SCHEME [seed=N] */
static void lower_init(Lower *L, const Stmt *s)
{
    DslArgs c;
    dsl_args_init(&c, s->loc, "%s%s", "init", "");
    dsl_bind(&c, "", "seed", s->args);
    static const char schemes[] = "default he xavier zeros ones";
    static const InitKind scheme_kind[] = {INIT_DEFAULT, INIT_HE, INIT_XAVIER, INIT_ZEROS,
                                           INIT_ONES};
    int i = dsl_word_index(schemes, s->word);
    char hint[96];
    if (i >= 0)
        L->init = scheme_kind[i];
    else
        diag_error(s->word_loc, "init: unknown scheme '%.60s'%s (expected one of: %s)", s->word,
                   dsl_did_you_mean(hint, sizeof hint, dsl_suggest_among(s->word, schemes)), schemes);
    const Value *seed = dsl_get(&c, "seed", false);
    if (!seed)
        return;
    if (L->seed) {
        diag_error(seed->loc, "init: the seed is already set");
        diag_note(L->seed->loc, "set here");
        return;
    }
    L->seed = s;
    if (seed->kind != V_INT || seed->i < 0 || seed->overflow)
        dsl_bad_value(&c, "seed", seed, "a non-negative integer");
    else
        L->g->seed = (uint64_t)seed->i;
}

/* optimizer = sgd(lr, momentum=0, weight_decay=0) | adam(lr=1e-3, betas=(0.9,
 * 0.999), eps=1e-8, weight_decay=0) */
static void lower_optimizer(Lower *L, const Value *v, TrainCfg *t)
{
    if ((v->kind != V_IDENT && v->kind != V_CALL)
        || (strcmp(v->s, "sgd") != 0 && strcmp(v->s, "adam") != 0)) {
        char buf[96];
        diag_error(v->loc, "train: optimizer must be sgd(...) or adam(...), got %s",
                   dsl_show(v, buf, sizeof buf));
        return;
    }
    DslArgs c;
    dsl_args_init(&c, v->loc, "%s%s", v->s, "");
    bool sgd = strcmp(v->s, "sgd") == 0;
    t->optim = sgd ? OPT_SGD : OPT_ADAM;
    dsl_bind(&c, "lr", sgd ? "lr momentum weight_decay" : "lr betas eps weight_decay", v->items);
    dsl_get_float(&c, "lr", sgd, DSL_POSITIVE, &t->lr);
    dsl_get_float(&c, "weight_decay", false, DSL_NONNEG, &t->weight_decay);
    if (sgd) {
        dsl_get_float(&c, "momentum", false, DSL_UNIT_OPEN, &t->momentum);
        return;
    }
    dsl_get_float(&c, "eps", false, DSL_NONNEG, &t->eps);
    const Value *b = dsl_get(&c, "betas", false);
    if (!b)
        return;
    if (b->kind != V_TUPLE || !b->items || !b->items->next || b->items->next->next
        || b->items->key || b->items->next->key) {
        dsl_bad_value(&c, "betas", b, "a pair (beta1, beta2)");
        return;
    }
    float b1, b2;
    if (dsl_float_value(&c, "betas", b->items->v, DSL_UNIT_OPEN, &b1)
        && dsl_float_value(&c, "betas", b->items->next->v, DSL_UNIT_OPEN, &b2)) {
        t->beta1 = b1;
        t->beta2 = b2;
    }
}

/* train { loss = ..., optimizer = ..., batch = ..., epochs = ..., seed = ... } */
static void lower_train(Lower *L, const Stmt *s)
{
    TrainCfg *t = &L->g->train;
    *t = (TrainCfg){.present = true, .loss = LOSS_CROSS_ENTROPY, .optim = OPT_ADAM,
                    .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                    .batch = 32, .epochs = 10, .loc = s->loc};
    /* The settings become keyword arguments, to share the checks. */
    int n = 0;
    for (const Stmt *e = s->body; e; e = e->next)
        n++;
    Arg *args = xcalloc((size_t)n + 1, sizeof *args);
    int i = 0;
    for (const Stmt *e = s->body; e; e = e->next, i++) {
        args[i] = (Arg){.key = e->name, .loc = e->name_loc, .v = e->value};
        if (i > 0)
            args[i - 1].next = &args[i];
    }
    DslArgs c;
    dsl_args_init(&c, s->loc, "%s%s", "train", "");
    dsl_bind(&c, "", "loss optimizer batch epochs seed", n ? args : NULL);
    int loss;
    if (dsl_get_word(&c, "loss", "cross_entropy", &loss))
        t->loss = LOSS_CROSS_ENTROPY;
    const Value *opt = dsl_get(&c, "optimizer", false);
    if (opt)
        lower_optimizer(L, opt, t);
    dsl_get_int(&c, "batch", false, 1, &t->batch);
    dsl_get_int(&c, "epochs", false, 1, &t->epochs);
    const Value *seed = dsl_get(&c, "seed", false);
    if (seed && (seed->kind != V_INT || seed->i < 0 || seed->overflow))
        dsl_bad_value(&c, "seed", seed, "a non-negative integer");
    else if (seed)
        t->seed = (uint64_t)seed->i;
    free(args);
}

/* `import` is no operator: a pseudo-kind, so that its input resolves as a
 * layer's does (`from NAME`, else the layer before). */
static const DslKind import_kind = {"import", "import", -1, 0, "path", "path weights until",
                                    NULL, NULL};

/* NAME: import("FILE", ...): the network is read now (dsl_import.c). */
static void collect_import(Lower *L, const Stmt *s)
{
    grow_array(&L->layer, &L->cap, L->nlayer + 1, sizeof *L->layer);
    int id = L->nlayer++;
    Layer *ly = &L->layer[id];
    *ly = (Layer){.st = s, .k = &import_kind, .name = s->name, .loc = s->loc,
                  .prev = id ? id - 1 : THE_INPUT, .node = -1, .out = -1};
    if (!s->name || s->names) {
        diag_error(s->loc, "import: needs one name, like `backbone: import(\"backbone.cnn\")`");
        ly->name = "import";
        return;
    }
    declare_name(L, s->name, id, s->loc, GIVEN);
    ly->imp = dsl_import_load(L->p, s, s->name);
}

/* A layer statement joins the list; names are given and declared. */
static void collect_layer(Lower *L, const Stmt *s, int *count)
{
    char hint[96];
    if (strcmp(s->word, "import") == 0) {
        collect_import(L, s);
        return;
    }
    const DslKind *k = dsl_kind_find(s->word);
    if (!k)
        diag_error(s->word_loc, "unknown layer kind '%.60s'%s", s->word,
                   dsl_did_you_mean(hint, sizeof hint, suggest_kind(s->word)));
    grow_array(&L->layer, &L->cap, L->nlayer + 1, sizeof *L->layer);
    int id = L->nlayer++;
    Layer *ly = &L->layer[id];
    *ly = (Layer){.st = s, .k = k, .loc = s->loc, .init = L->init, .prev = id - 1,
                  .node = -1, .out = -1};
    if (id == 0)
        ly->prev = THE_INPUT;
    if (!k) {
        ly->name = s->name;
        if (s->name)
            declare_name(L, s->name, id, s->loc, GIVEN);
        return;
    }
    int kind = kind_index(k->kind);
    count[kind]++;
    ly->name = s->name;
    if (!s->name) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s_%d", k->kind, count[kind]);
        ly->name = dsl_strndup(L->p, buf, strlen(buf));
    }
    declare_name(L, ly->name, id, s->loc, s->name ? GIVEN : GENERATED);
    if (layer_wants_softmax(s)) {
        char *sm = xasprintf("%s_softmax", ly->name);
        declare_name(L, dsl_strndup(L->p, sm, strlen(sm)), id, s->loc, SOFTMAX_NODE);
        free(sm);
    }
}

/* A statement with several names (a, b: split(...)): a layer per name,
 * located at its name, each reading what the statement reads; the next
 * statement's default input is the last. Only the first part is resolved
 * and bound (so that a mistake is reported once); the others copy it. */
static void collect_parts(Lower *L, const Stmt *s, int *count)
{
    int nparts = 0, prev = L->nlayer - 1;
    for (const Arg *a = s->names; a; a = a->next)
        nparts++;
    int part = 0;
    for (const Arg *a = s->names; a; a = a->next, part++) {
        Stmt *one = dsl_alloc(L->p, sizeof *one);
        *one = *s;
        one->name = a->v->s;
        one->loc = one->name_loc = a->loc;
        int id = L->nlayer;
        collect_layer(L, one, count);
        Layer *ly = &L->layer[id];
        ly->prev = prev >= 0 ? prev : THE_INPUT;
        ly->part = part;
        ly->nparts = nparts;
    }
}

/* Walks the model's statements in order. */
static void collect(Lower *L, const Stmt *model)
{
    int *count = xcalloc((size_t)kind_index(NULL) + 1, sizeof *count);
    const Stmt *first_layer = NULL;
    for (const Stmt *s = model->body; s; s = s->next) {
        switch (s->kind) {
        case S_INPUT:
            if (L->input) {
                diag_error(s->loc, "model '%.60s' has a second input", model->name);
                diag_note(L->input->loc, "the first is here");
                break;
            }
            L->input = s;
            if (first_layer) {
                diag_error(s->loc, "'input' must come before the layers");
                diag_note(first_layer->loc, "the first layer is here");
            }
            lower_input(L, s);
            break;
        case S_INIT:
            lower_init(L, s);
            break;
        case S_LAYER:
            if (!first_layer)
                first_layer = s;
            if (s->names)
                collect_parts(L, s, count);
            else
                collect_layer(L, s, count);
            break;
        case S_FREEZE:
            break; /* once every name is known: apply_freeze */
        case S_TRAIN:
            if (L->train) {
                diag_error(s->loc, "model '%.60s' has a second train section", model->name);
                diag_note(L->train->loc, "the first is here");
                break;
            }
            L->train = s;
            lower_train(L, s);
            break;
        default:
            internal_error("unexpected statement %d", s->kind);
        }
    }
    free(count);
}

/* ---- references and ranks ---- */

/* The declared name closest to a misspelt one, or NULL. */
static const char *suggest_name(const Lower *L, const char *name)
{
    DslSuggest s = {0};
    for (int j = 0; j < L->names.cap; j++)
        if (L->names.key[j])
            dsl_suggest_offer(&s, name, L->names.key[j]);
    return s.word;
}

static int resolve_name(Lower *L, const Layer *ly, const char *name, Loc loc)
{
    int i = name_map_slot(&L->names, name);
    if (i >= 0)
        return L->names.val[i];
    if (L->cross_checks) {
        char hint[96];
        diag_error(loc, "%s '%s': no layer named '%.60s'%s", ly->st->word, ly->name, name,
                   dsl_did_you_mean(hint, sizeof hint, suggest_name(L, name)));
    }
    return UNRESOLVED;
}

/* Fills ly->in from `from`, the join arguments or the layer before. */
static void resolve(Lower *L, Layer *ly)
{
    const Stmt *s = ly->st;
    if (ly->part > 0) {
        const Layer *first = ly - ly->part;
        ly->nin = first->nin;
        ly->in = xmalloc((size_t)ly->nin * sizeof *ly->in);
        memcpy(ly->in, first->in, (size_t)ly->nin * sizeof *ly->in);
        return;
    }
    if (strcmp(ly->k->pos, "*") != 0) {
        ly->nin = 1;
        ly->in = xmalloc(sizeof *ly->in);
        ly->in[0] = s->from ? resolve_name(L, ly, s->from, s->from_loc) : ly->prev;
        return;
    }
    if (s->from)
        diag_error(s->from_loc, "%s '%s': takes its inputs as arguments, not with 'from'", s->word,
                   ly->name);
    int n = 0;
    for (const Arg *a = s->args; a; a = a->next)
        n += !a->key;
    ly->in = xmalloc((size_t)(n ? n : 1) * sizeof *ly->in);
    for (const Arg *a = s->args; a; a = a->next) {
        if (a->key)
            continue;
        if (a->v->kind != V_IDENT) {
            char buf[96];
            diag_error(a->loc, "%s '%s': expected a layer name, got %s", s->word, ly->name,
                       dsl_show(a->v, buf, sizeof buf));
            ly->in[ly->nin++] = UNRESOLVED;
            continue;
        }
        ly->in[ly->nin++] = resolve_name(L, ly, a->v->s, a->loc);
    }
    if (n < 2)
        diag_error(ly->loc, "%s '%s': needs at least two inputs, got %d", s->word, ly->name, n);
}

static int rank_of(const Lower *L, int ref)
{
    return ref == THE_INPUT ? L->input_rank : ref == UNRESOLVED ? 0 : L->layer[ref].rank;
}

static int out_rank(const Layer *ly, int in_rank)
{
    if (ly->k == &import_kind)
        return ly->imp ? dsl_import_rank(ly->imp) : 0;
    if (!ly->k)
        return 0;
    return ly->k->out_rank ? ly->k->out_rank(ly->st->args, in_rank) : in_rank;
}

/* Ranks flow along the references, depth first with an explicit stack
 * (a generated file may chain 100000 layers); in a cycle they stay 0. */
static void compute_ranks(Lower *L)
{
    int *state = xcalloc((size_t)L->nlayer + 1, sizeof *state); /* 1 open, 2 done */
    int *stack = xmalloc(((size_t)L->nlayer + 1) * sizeof *stack);
    for (int i = 0; i < L->nlayer; i++) {
        if (state[i])
            continue;
        int sp = 0;
        stack[sp++] = i;
        state[i] = 1;
        while (sp) {
            Layer *ly = &L->layer[stack[sp - 1]];
            int next = -1;
            for (int j = 0; j < ly->nin && next < 0; j++)
                if (ly->in[j] >= 0 && state[ly->in[j]] == 0)
                    next = ly->in[j];
            if (next >= 0) {
                state[next] = 1;
                stack[sp++] = next;
                continue;
            }
            bool known = ly->nin > 0;
            for (int j = 0; j < ly->nin; j++)
                known &= ly->in[j] < 0 || state[ly->in[j]] == 2;
            ly->rank = known ? out_rank(ly, rank_of(L, ly->in[0])) : 0;
            state[stack[--sp]] = 2;
        }
    }
    free(stack);
    free(state);
}

/* Whether the input's rank suits the layer kind. */
static void check_rank(const Lower *L, const Layer *ly, int r)
{
    const DslKind *k = ly->k;
    if (!r || !k->rank)
        return;
    if (k->rank == -1 && r == 1)
        diag_error(ly->loc, "%s '%s': needs a C x L, C x H x W or C x D x H x W input, got a "
                   "flat one", k->word, ly->name);
    else if (k->rank == 1 && r != 1)
        diag_error(ly->loc, "%s '%s': needs a flat input (add a flatten layer), got a rank-%d one",
                   k->word, ly->name, r);
    else if (k->rank > 1 && r != k->rank)
        diag_error(ly->loc, "%s '%s': needs a %s input, got a rank-%d one (use %s)", k->word,
                   ly->name, k->rank == 2 ? "1-D (C x L)" : k->rank == 3 ? "2-D (C x H x W)"
                                                                         : "3-D (C x D x H x W)",
                   r, k->kind);
}

/* A later part of a statement with several names: the first part's node
 * (bound already) with its own part index. */
static void build_part(Lower *L, Layer *ly)
{
    int *zero = xcalloc((size_t)ly->nin, sizeof *zero);
    ly->node = graph_add_node(L->g, ly->k->op, ly->name, ly->loc, zero, ly->nin);
    free(zero);
    Node *n = &L->g->n[ly->node];
    n->a = L->g->n[(ly - ly->part)->node].a;
    n->a.part = ly->part;
    ly->out = n->out;
}

/* An import's nodes; an input it reads directly must have the shape the
 * imported network takes (a layer's shape is checked by the shape rules). */
static void build_import(Lower *L, Layer *ly)
{
    Graph *g = L->g;
    const Shape *want = dsl_import_input(ly->imp);
    char have[64], need[64];
    if (ly->in[0] == THE_INPUT && g->input >= 0 && !shape_eq(&g->t[g->input].shape, want)) {
        diag_error(ly->loc, "import '%s': the imported network takes a %s input, '%s' is %s",
                   ly->name, shape_str(want, need, sizeof need), g->t[g->input].name,
                   shape_str(&g->t[g->input].shape, have, sizeof have));
        return;
    }
    ly->out = dsl_import_build(g, ly->imp, ly->name, ly->loc, ly->frozen, &ly->first);
    ly->node = g->nn - 1;
}

/* Creates the layer's node (and its softmax node) with placeholder inputs. */
static void build_layer(Lower *L, Layer *ly)
{
    const DslKind *k = ly->k;
    if (k == &import_kind) {
        if (ly->imp)
            build_import(L, ly);
        return;
    }
    if (ly->part > 0) {
        build_part(L, ly);
        return;
    }
    int r = ly->nin ? rank_of(L, ly->in[0]) : 0;
    check_rank(L, ly, r);
    DslArgs c;
    dsl_args_init(&c, ly->loc, "%s '%s'", k->word, ly->name);
    c.rank = r;
    c.part = ly->part;
    c.nparts = ly->nparts ? ly->nparts : 1;
    dsl_bind(&c, k->pos, k->keys, ly->st->args);
    int *zero = xcalloc((size_t)ly->nin, sizeof *zero);
    ly->node = graph_add_node(L->g, k->op, ly->name, ly->loc, zero, ly->nin);
    free(zero);
    Node *n = &L->g->n[ly->node];
    n->a.init = ly->init;
    n->frozen = ly->frozen;
    if (k->bind)
        k->bind(&c, n, k);
    if (c.nparts > 1 && !c.parts_read)
        diag_error(ly->loc, "%s '%s' has one output: give it one name", k->word, ly->name);
    ly->out = n->out;
    if (c.softmax) {
        char *name = xasprintf("%s_softmax", ly->name);
        const DslKind *softmax = dsl_kind_find("softmax");
        int sm = graph_add_node(L->g, softmax->op, name, ly->loc, &ly->out, 1);
        DslArgs none;
        dsl_args_init(&none, ly->loc, "%s '%s'", "softmax", name);
        softmax->bind(&none, &L->g->n[sm], softmax);
        free(name);
        ly->out = L->g->n[sm].out;
    }
}

/* freeze NAME, ...: the named layers' (and imported blocks') parameters are
 * not trained. */
static void apply_freeze(Lower *L, const Stmt *model)
{
    for (const Stmt *s = model->body; s; s = s->next) {
        for (const Arg *a = s->kind == S_FREEZE ? s->names : NULL; a; a = a->next) {
            int slot = name_map_slot(&L->names, a->v->s);
            int ref = slot >= 0 ? L->names.val[slot] : UNRESOLVED;
            if (ref >= 0) {
                L->layer[ref].frozen = true;
            } else if (ref == THE_INPUT) {
                diag_error(a->loc, "freeze: '%.60s' is the input, which has no parameters",
                           a->v->s);
            } else if (L->cross_checks) {
                char hint[96];
                diag_error(a->loc, "freeze: no layer named '%.60s'%s", a->v->s,
                           dsl_did_you_mean(hint, sizeof hint, suggest_name(L, a->v->s)));
            }
        }
    }
}

/* Whether the shape rule of DSL-built node n declares a trainable
 * parameter (ops/<family>/: conv, dense, batchnorm, prelu always; the
 * norms when affine; a DSL matmul has no bias). */
static bool declares_params(const Node *n)
{
    switch (n->op) {
    case OP_CONV: case OP_CONV_TRANSPOSE: case OP_DENSE: case OP_BATCHNORM: case OP_PRELU:
        return true;
    case OP_LAYERNORM: case OP_GROUPNORM:
        return n->a.bias;
    default:
        return false;
    }
}

/* A train section with `freeze` needs something left to train. */
static void check_trainable(const Lower *L, const Stmt *model)
{
    const Stmt *freeze = NULL;
    for (const Stmt *s = model->body; s; s = s->next)
        if (s->kind == S_FREEZE)
            freeze = s;
    if (!L->train || !freeze)
        return;
    for (int i = 0; i < L->nlayer; i++) {
        const Layer *ly = &L->layer[i];
        if (ly->frozen)
            continue;
        if (ly->imp ? dsl_import_has_params(ly->imp)
                    : ly->node >= 0 && declares_params(&L->g->n[ly->node]))
            return;
    }
    diag_error(freeze->loc, "freeze: nothing is left to train: every layer with parameters is "
               "frozen");
    diag_note(L->train->loc, "the train section is here");
}

/* References become tensor ids: each layer's output or the input. */
static void link_inputs(Lower *L)
{
    for (int i = 0; i < L->nlayer; i++) {
        Layer *ly = &L->layer[i];
        Node *n = &L->g->n[ly->node];
        if (ly->k == &import_kind) {
            dsl_import_link(L->g, ly->first, ly->node,
                            ly->in[0] == THE_INPUT ? L->g->input : L->layer[ly->in[0]].out);
            continue;
        }
        for (int j = 0; j < ly->nin; j++)
            n->in[j] = ly->in[j] == THE_INPUT ? L->g->input : L->layer[ly->in[j]].out;
    }
    L->g->output = L->layer[L->nlayer - 1].out;
}

static void lower_free(Lower *L)
{
    for (int i = 0; i < L->nlayer; i++) {
        free(L->layer[i].in);
        dsl_import_free(L->layer[i].imp);
    }
    free(L->layer);
    name_map_free(&L->names);
}

Graph *dsl_lower(DslParse *p)
{
    int errors = diag_error_count();
    Lower L = {.p = p, .cross_checks = p->syntax_errors == 0};
    const Stmt *model = p->models.head;
    if (!model) {
        if (L.cross_checks)
            diag_error((Loc){p->path, 1, 1}, "no model in this file (expected 'model NAME { ... }')");
        return NULL;
    }
    for (const Stmt *s = model->next; s; s = s->next) {
        diag_error(s->loc, "a file holds one model; '%.60s' is a second one", s->name);
        diag_note(model->loc, "the first is '%.60s'", model->name);
    }
    Graph *g = L.g = graph_new(p->path);
    g->name = xstrdup(model->name);
    collect(&L, model);
    if (L.cross_checks && !L.input)
        diag_error(model->loc, "model '%.60s' has no 'input' statement", model->name);
    if (L.cross_checks && L.nlayer == 0)
        diag_error(model->loc, "model '%.60s' has no layers", model->name);

    apply_freeze(&L, model);
    for (int i = 0; i < L.nlayer; i++)
        if (L.layer[i].k)
            resolve(&L, &L.layer[i]);
    compute_ranks(&L);
    for (int i = 0; i < L.nlayer; i++)
        if (L.layer[i].k)
            build_layer(&L, &L.layer[i]);

    check_trainable(&L, model);
    if (diag_error_count() == errors && L.cross_checks && L.nlayer > 0 && L.input) {
        link_inputs(&L);
        graph_toposort(g);
    }
    lower_free(&L);
    if (diag_error_count() != errors || p->syntax_errors) {
        graph_free(g);
        return NULL;
    }
    return g;
}
