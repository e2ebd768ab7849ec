/* dsl_lower.c: checking a .cnn syntax tree and lowering it into the IR.
 *
 * Takes the tree cnn.y built (a model statement holding input, init, layer
 * and train statements); gives a Graph whose nodes carry their attributes
 * (shapes are left to the shape rules), or NULL after reporting every error
 * it found. The layers are first gathered into a list, so that `from` may
 * name a later layer; names are resolved, input ranks propagated (they
 * decide whether `kernel=3` means 3 or 3x3), nodes created, and the graph
 * sorted, which reports cycles. docs/dsl.md is the reference. */
#include "cnnc.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn.tab.h"

/* ---- names: a small open-addressing map from a name to a layer index ---- */

#define THE_INPUT (-1)  /* a reference to the model input */
#define UNRESOLVED (-2) /* a reference that names nothing */

typedef struct {
    const char **key;
    int *val;
    int n, cap;
} Map;

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int map_find(const Map *m, const char *key)
{
    if (!m->cap)
        return -1;
    for (unsigned i = hash(key) & (unsigned)(m->cap - 1);; i = (i + 1) & (unsigned)(m->cap - 1)) {
        if (!m->key[i])
            return -1;
        if (strcmp(m->key[i], key) == 0)
            return (int)i;
    }
}

static void map_grow(Map *m)
{
    Map old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->key = xcalloc((size_t)m->cap, sizeof *m->key);
    m->val = xcalloc((size_t)m->cap, sizeof *m->val);
    for (int i = 0; i < old.cap; i++) {
        if (!old.key[i])
            continue;
        unsigned j = hash(old.key[i]) & (unsigned)(m->cap - 1);
        while (m->key[j])
            j = (j + 1) & (unsigned)(m->cap - 1);
        m->key[j] = old.key[i];
        m->val[j] = old.val[i];
    }
    free(old.key);
    free(old.val);
}

/* Adds key -> val; if key is already there, leaves it and returns its value
 * through *prev and false. */
static bool map_add(Map *m, const char *key, int val, int *prev)
{
    int i = map_find(m, key);
    if (i >= 0) {
        *prev = m->val[i];
        return false;
    }
    if (2 * (m->n + 1) > m->cap)
        map_grow(m);
    unsigned j = hash(key) & (unsigned)(m->cap - 1);
    while (m->key[j])
        j = (j + 1) & (unsigned)(m->cap - 1);
    m->key[j] = key;
    m->val[j] = val;
    m->n++;
    return true;
}

static void map_free(Map *m)
{
    free(m->key);
    free(m->val);
}

/* ---- suggestions for misspelt words ---- */

/* Levenshtein distance, or a large number for long words. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    int row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

typedef struct {
    const char *word;
    int dist;
} Suggest;

/* Keeps `candidate` if it is the closest so far and close enough to be a
 * likely typo (one edit in short words, two in longer ones). */
static void consider(Suggest *s, const char *typed, const char *candidate)
{
    int d = distance(typed, candidate);
    int limit = strlen(typed) <= 3 ? 1 : 2;
    if (d <= limit && (!s->word || d < s->dist)) {
        s->word = candidate;
        s->dist = d;
    }
}

/* Among the space-separated words of `list`: a pointer into the list. */
static const char *suggest_among(const char *typed, const char *list)
{
    Suggest s = {0};
    const char *best = NULL;
    char word[64];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof word) {
            memcpy(word, p, n);
            word[n] = '\0';
            consider(&s, typed, word);
            if (s.word == word) {
                best = p;
                s.word = p; /* word is reused: keep the list's copy */
            }
        }
        p += n + (p[n] == ' ');
    }
    return best;
}

/* The index of w among the space-separated words, or -1. */
static int word_index(const char *words, const char *w)
{
    int i = 0;
    for (const char *p = words; *p; i++) {
        size_t n = strcspn(p, " ");
        if (strlen(w) == n && strncmp(p, w, n) == 0)
            return i;
        p += n + (p[n] == ' ');
    }
    return -1;
}

/* " (did you mean 'x'?)" for a diagnostic, or "". `hint` points into a
 * space-separated list or is a whole name. */
static const char *did_you_mean(char *buf, size_t size, const char *hint)
{
    if (!hint)
        return "";
    size_t n = strcspn(hint, " ");
    snprintf(buf, size, " (did you mean '%.*s'?)", (int)(n < 60 ? n : 60), hint);
    return buf;
}

/* ---- layer kinds ---- */

typedef struct Ctx Ctx;

typedef struct {
    const char *word; /* as written in the source */
    const char *kind; /* canonical word: names unnamed layers (`conv_1`) */
    int op;
    int rank;         /* input rank required: 0 any, -1 spatial (2 or 3), 1, 2, 3 */
    const char *pos;  /* positional parameters in order; "*" = layer names */
    const char *keys; /* every parameter accepted */
    void (*lower)(Ctx *c, Node *n);
} LayerKind;

typedef struct {
    const Stmt *st;
    const LayerKind *k; /* NULL when the kind is unknown */
    const char *name;
    Loc loc;
    InitKind init; /* the `init` statement in force here */
    int prev;      /* the layer before, or THE_INPUT */
    int *in, nin;  /* resolved references: layer indices or THE_INPUT */
    int rank;      /* output rank; 0 when unknown */
    int node, out; /* its node and its output tensor (after any softmax) */
} Layer;

typedef struct {
    DslParse *p;
    Graph *g;
    Layer *layer;
    int nlayer, cap;
    Map names;
    const Stmt *input, *train, *seed;
    Loc input_loc;
    int input_rank;
    InitKind init;
    bool cross_checks; /* off after syntax errors: a dropped statement
                          would make its names look undefined */
} Lower;

/* The arguments of one statement, bound to the parameters of its kind. */
#define MAX_KEYS 12
struct Ctx {
    Lower *L;
    char what[128]; /* "conv 'c2'": how messages name the statement */
    Loc loc;
    char keybuf[160];
    const char *key[MAX_KEYS];
    const Arg *arg[MAX_KEYS];
    int nkeys, npos;
    int rank; /* input rank of a layer: 2 means 1-D; 0 unknown */
    InitKind init;
    bool softmax; /* activation=softmax: a separate node */
};

static void ctx_init(Ctx *c, Lower *L, Loc loc, const char *fmt, const char *a, const char *b)
{
    memset(c, 0, sizeof *c);
    c->L = L;
    c->loc = loc;
    snprintf(c->what, sizeof c->what, fmt, a, b);
}

/* Splits "a b c" into c->key; returns how many. */
static int split_keys(Ctx *c, const char *keys)
{
    snprintf(c->keybuf, sizeof c->keybuf, "%s", keys);
    c->nkeys = 0;
    for (char *s = strtok(c->keybuf, " "); s && c->nkeys < MAX_KEYS; s = strtok(NULL, " "))
        c->key[c->nkeys++] = s;
    return c->nkeys;
}

static int key_index(const Ctx *c, const char *key)
{
    for (int i = 0; i < c->nkeys; i++)
        if (strcmp(c->key[i], key) == 0)
            return i;
    return -1;
}

/* Binds args to the keys; `pos` names the positional ones in order (they
 * are a prefix of `keys`), "*" skips positionals (layer names of joins).
 * Reports unknown keys, repeats and surplus positionals. */
static void bind(Ctx *c, const char *pos, const char *keys, const Arg *args)
{
    bool variadic = strcmp(pos, "*") == 0;
    c->npos = variadic ? 0 : split_keys(c, pos);
    split_keys(c, keys);
    int npos = 0;
    bool keyword_seen = false, surplus = false;
    char hint[96];
    for (const Arg *a = args; a; a = a->next) {
        const char *key = a->key;
        if (!key && variadic)
            continue;
        if (!key && keyword_seen) {
            diag_error(a->loc, "%s: positional argument after keyword arguments", c->what);
            continue;
        }
        if (!key && npos >= c->npos) {
            if (!surplus && c->npos == 0)
                diag_error(a->loc, "%s: takes no positional arguments", c->what);
            else if (!surplus)
                diag_error(a->loc, "%s: too many positional arguments (at most %d)", c->what,
                           c->npos);
            surplus = true;
            continue;
        }
        if (!key)
            key = c->key[npos++];
        else
            keyword_seen = true;
        int i = key_index(c, key);
        if (i < 0) {
            diag_error(a->loc, "%s: unknown argument '%.60s'%s", c->what, key,
                       did_you_mean(hint, sizeof hint, suggest_among(key, keys)));
            continue;
        }
        if (c->arg[i]) {
            diag_error(a->loc, "%s: '%s' given twice", c->what, key);
            diag_note(c->arg[i]->loc, "'%s' first given here", key);
            continue;
        }
        c->arg[i] = a;
    }
}

/* The value of `key`, or NULL; reports a missing required one. */
static const Value *get(Ctx *c, const char *key, bool required)
{
    int i = key_index(c, key);
    if (i < 0)
        internal_error("'%s' is not a parameter of %s", key, c->what);
    if (!c->arg[i] && required)
        diag_error(c->loc, "%s: missing required argument '%s'", c->what, key);
    return c->arg[i] ? c->arg[i]->v : NULL;
}

/* How a value reads in a message. */
static const char *show(const Value *v, char *buf, size_t size)
{
    switch (v->kind) {
    case V_INT:
        snprintf(buf, size, "%lld", (long long)v->i);
        break;
    case V_FLOAT: /* 1.0 stays 1.0: the message quotes what was written */
        snprintf(buf, size, "%g", v->f);
        if (!strpbrk(buf, ".en"))
            snprintf(buf + strlen(buf), size - strlen(buf), ".0");
        break;
    case V_IDENT:
        snprintf(buf, size, "'%.40s'", v->s);
        break;
    case V_CALL:
        snprintf(buf, size, "'%.40s(...)'", v->s);
        break;
    case V_TUPLE:
        snprintf(buf, size, "a tuple");
        break;
    case V_DIMS: {
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < v->ndims && used < size; i++)
            used += (size_t)snprintf(buf + used, size - used, i ? "x%lld" : "%lld",
                                     (long long)v->dims[i]);
        break;
    }
    }
    return buf;
}

static void bad_value(Ctx *c, const char *key, const Value *v, const char *expected)
{
    char buf[96];
    diag_error(v->loc, "%s: %s must be %s, got %s", c->what, key, expected, show(v, buf, sizeof buf));
}

static bool is_ident(const Value *v, const char *word)
{
    return v->kind == V_IDENT && strcmp(v->s, word) == 0;
}

/* An integer >= min (min is 0 or 1) that fits an int. */
static bool int_value(Ctx *c, const char *key, const Value *v, int min, int *out)
{
    if (v->kind != V_INT) {
        bad_value(c, key, v, "an integer");
        return false;
    }
    if (v->overflow || v->i > INT_MAX) {
        diag_error(v->loc, "%s: %s is too large", c->what, key);
        return false;
    }
    if (v->i < min) {
        bad_value(c, key, v, min > 0 ? "positive" : "non-negative");
        return false;
    }
    *out = (int)v->i;
    return true;
}

static bool get_int(Ctx *c, const char *key, bool required, int min, int *out)
{
    const Value *v = get(c, key, required);
    return v && int_value(c, key, v, min, out);
}

/* K or KHxKW into [H, W]; a 1-D layer takes K only and gets [1, K]. */
static bool get_pair(Ctx *c, const char *key, bool required, int min, int out[2])
{
    const Value *v = get(c, key, required);
    if (!v)
        return false;
    int h, w;
    if (v->kind == V_INT) {
        if (!int_value(c, key, v, min, &w))
            return false;
        out[0] = c->rank == 2 ? 1 : w;
        out[1] = w;
        return true;
    }
    if (v->kind != V_DIMS || v->ndims != 2 || c->rank == 2) {
        bad_value(c, key, v, c->rank == 2 ? "an integer (the input is 1-D)" : "an integer or an HxW pair");
        return false;
    }
    Value part = *v;
    part.kind = V_INT;
    part.i = v->dims[0];
    if (!int_value(c, key, &part, min, &h))
        return false;
    part.i = v->dims[1];
    if (!int_value(c, key, &part, min, &w))
        return false;
    out[0] = h;
    out[1] = w;
    return true;
}

typedef enum { ANY, POSITIVE, NONNEG, UNIT_OPEN, UNIT_CLOSED } Range;

static bool in_range(double x, Range r)
{
    switch (r) {
    case POSITIVE:
        return x > 0;
    case NONNEG:
        return x >= 0;
    case UNIT_OPEN:
        return x >= 0 && x < 1;
    case UNIT_CLOSED:
        return x >= 0 && x <= 1;
    default:
        return true;
    }
}

static const char *const range_text[] = {"a number", "positive", "non-negative", "in [0, 1)",
                                          "in [0, 1]"};

static bool float_value(Ctx *c, const char *key, const Value *v, Range r, float *out)
{
    if (v->kind != V_INT && v->kind != V_FLOAT) {
        bad_value(c, key, v, "a number");
        return false;
    }
    double x = v->kind == V_INT ? (double)v->i : v->f;
    if (v->overflow || !isfinite((float)x)) {
        diag_error(v->loc, "%s: %s is too large", c->what, key);
        return false;
    }
    if (!in_range(x, r)) {
        bad_value(c, key, v, range_text[r]);
        return false;
    }
    *out = (float)x;
    return true;
}

static bool get_float(Ctx *c, const char *key, bool required, Range r, float *out)
{
    const Value *v = get(c, key, required);
    return v && float_value(c, key, v, r, out);
}

/* One of the space-separated words; *out is its index. */
static bool get_word(Ctx *c, const char *key, const char *words, int *out)
{
    const Value *v = get(c, key, false);
    if (!v)
        return false;
    if (v->kind == V_IDENT && (*out = word_index(words, v->s)) >= 0)
        return true;
    char expected[128] = "one of: ";
    for (const char *p = words; *p; p++) /* "a b c" reads "a, b, c" */
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected),
                 *p == ' ' ? ", " : "%c", *p);
    bad_value(c, key, v, expected);
    return false;
}

static void get_bool(Ctx *c, const char *key, bool *out)
{
    int i;
    if (get_word(c, key, "false true", &i))
        *out = i == 1;
}

static void get_init(Ctx *c, const char *key, InitKind *out)
{
    int i;
    static const InitKind kinds[] = {INIT_DEFAULT, INIT_HE, INIT_XAVIER, INIT_ZEROS, INIT_ONES};
    if (get_word(c, key, "default he xavier zeros ones", &i))
        *out = kinds[i];
}

/* padding: valid | same | P | PHxPW | (top, bottom, left, right), 1-D:
 * P | (left, right). Into a->pad = [top, left, bottom, right]. */
static void get_padding(Ctx *c, const char *key, bool required, bool allow_same, Attrs *a)
{
    const Value *v = get(c, key, required);
    if (!v)
        return;
    bool one_d = c->rank == 2;
    int p[4] = {0}; /* top, bottom, left, right */
    if (is_ident(v, "valid"))
        return;
    if (is_ident(v, "same")) {
        if (allow_same)
            a->same_pad = true;
        else
            diag_error(v->loc, "%s: padding=same is only for conv", c->what);
        return;
    }
    if (v->kind == V_INT) {
        if (!int_value(c, key, v, 0, &p[2]))
            return;
        p[0] = p[1] = one_d ? 0 : p[2];
        p[3] = p[2];
    } else if (v->kind == V_DIMS && v->ndims == 2 && !one_d) {
        Value part = *v;
        part.kind = V_INT;
        part.i = v->dims[0];
        if (!int_value(c, key, &part, 0, &p[0]))
            return;
        part.i = v->dims[1];
        if (!int_value(c, key, &part, 0, &p[2]))
            return;
        p[1] = p[0];
        p[3] = p[2];
    } else if (v->kind == V_TUPLE) {
        int want = one_d ? 2 : 4, n = 0;
        for (const Arg *e = v->items; e; e = e->next)
            n++;
        if (n != want) {
            diag_error(v->loc, "%s: %s needs %s, got %d value%s", c->what, key,
                       one_d ? "(left, right) for a 1-D input" : "(top, bottom, left, right)", n,
                       n == 1 ? "" : "s");
            return;
        }
        int i = one_d ? 2 : 0;
        for (const Arg *e = v->items; e; e = e->next, i++) {
            if (e->key) {
                diag_error(e->loc, "%s: %s takes plain values, not '%s='", c->what, key, e->key);
                return;
            }
            if (!int_value(c, key, e->v, 0, &p[i]))
                return;
        }
    } else {
        bad_value(c, key, v,
                  one_d ? "valid, same, an integer or (left, right)"
                        : "valid, same, an integer, a PHxPW pair or (top, bottom, left, right)");
        return;
    }
    a->pad[0] = p[0];
    a->pad[1] = p[2];
    a->pad[2] = p[1];
    a->pad[3] = p[3];
}

/* activation=NAME or NAME(args): a fused epilogue, or a softmax node. */
static void get_activation(Ctx *c, Act *act)
{
    const Value *v = get(c, "activation", false);
    if (!v)
        return;
    static const char words[] = "relu leaky_relu sigmoid tanh elu relu6 clip softmax";
    char hint[96];
    if (v->kind != V_IDENT && v->kind != V_CALL) {
        bad_value(c, "activation", v, "an activation name");
        return;
    }
    Ctx sub;
    ctx_init(&sub, c->L, v->loc, "%s: %s", c->what, v->s);
    if (strcmp(v->s, "leaky_relu") == 0 || strcmp(v->s, "elu") == 0) {
        bool leaky = v->s[0] == 'l';
        *act = (Act){leaky ? ACT_LEAKY_RELU : ACT_ELU, leaky ? 0.01f : 1.0f, 0};
        bind(&sub, "alpha", "alpha", v->items);
        get_float(&sub, "alpha", false, ANY, &act->a);
    } else if (strcmp(v->s, "clip") == 0) {
        if (v->kind == V_IDENT) {
            diag_error(v->loc, "%s: activation clip needs its bounds: clip(min, max)", c->what);
            return;
        }
        *act = (Act){ACT_CLIP, 0, 0};
        bind(&sub, "min max", "min max", v->items);
        if (get_float(&sub, "min", true, ANY, &act->a) && get_float(&sub, "max", true, ANY, &act->b)
            && act->a > act->b)
            diag_error(v->loc, "%s: clip min (%g) is above max (%g)", c->what, act->a, act->b);
    } else {
        bind(&sub, "", "", v->items);
        if (strcmp(v->s, "relu") == 0)
            *act = (Act){ACT_RELU, 0, 0};
        else if (strcmp(v->s, "sigmoid") == 0)
            *act = (Act){ACT_SIGMOID, 0, 0};
        else if (strcmp(v->s, "tanh") == 0)
            *act = (Act){ACT_TANH, 0, 0};
        else if (strcmp(v->s, "relu6") == 0)
            *act = (Act){ACT_CLIP, 0, 6};
        else if (strcmp(v->s, "softmax") == 0)
            c->softmax = true;
        else
            diag_error(v->loc, "%s: unknown activation '%.60s'%s", c->what, v->s,
                       did_you_mean(hint, sizeof hint, suggest_among(v->s, words)));
    }
}

/* ---- the layers: each fills its node's attributes from the arguments ---- */

static void lower_conv(Ctx *c, Node *n)
{
    Attrs *a = &n->a;
    get_int(c, "filters", true, 1, &a->filters);
    get_pair(c, "kernel", true, 1, a->kernel);
    get_pair(c, "stride", false, 1, a->stride);
    get_pair(c, "dilation", false, 1, a->dilation);
    get_padding(c, "padding", false, true, a);
    int mode;
    if (get_word(c, "padding_mode", "zeros reflect replicate", &mode))
        a->pad_mode = (PadMode)mode;
    const Value *g = get(c, "groups", false);
    if (g && is_ident(g, "depthwise"))
        a->groups = -1; /* = input channels, resolved by the shape rule */
    else if (g && int_value(c, "groups", g, 1, &a->groups) && a->filters % a->groups != 0)
        diag_error(g->loc, "%s: filters (%d) must be divisible by groups (%d)", c->what,
                   a->filters, a->groups);
    get_bool(c, "bias", &a->bias);
    get_activation(c, &n->act);
    get_init(c, "init", &a->init);
}

static void lower_pool(Ctx *c, Node *n)
{
    Attrs *a = &n->a;
    if (!get_pair(c, "size", true, 1, a->kernel))
        return;
    if (!get_pair(c, "stride", false, 1, a->stride))
        memcpy(a->stride, a->kernel, sizeof a->stride);
    get_padding(c, "padding", false, false, a);
    get_bool(c, "ceil_mode", &a->ceil_mode);
    a->count_include_pad = true;
    if (n->op == OP_AVGPOOL)
        get_bool(c, "count_include_pad", &a->count_include_pad);
    /* PyTorch's rule: a window must see at least one real cell. */
    for (int i = 0; i < 4; i++)
        if (a->pad[i] > a->kernel[i % 2] / 2) {
            diag_error(get(c, "padding", false)->loc,
                       "%s: padding (%d) must be at most half the window (%d)", c->what, a->pad[i],
                       a->kernel[i % 2]);
            break;
        }
}

static void lower_dense(Ctx *c, Node *n)
{
    get_int(c, "units", true, 1, &n->a.filters);
    get_bool(c, "bias", &n->a.bias);
    get_activation(c, &n->act);
    get_init(c, "init", &n->a.init);
}

static void lower_batchnorm(Ctx *c, Node *n)
{
    n->a.eps = 1e-5f;
    n->a.momentum = 0.1f;
    get_float(c, "eps", false, POSITIVE, &n->a.eps);
    get_float(c, "momentum", false, UNIT_CLOSED, &n->a.momentum);
    get_activation(c, &n->act);
}

static void lower_dropout(Ctx *c, Node *n)
{
    n->a.rate = 0.5f;
    get_float(c, "rate", false, UNIT_OPEN, &n->a.rate);
}

static void lower_leaky_relu(Ctx *c, Node *n)
{
    n->a.alpha = 0.01f;
    get_float(c, "alpha", false, ANY, &n->a.alpha);
}

static void lower_elu(Ctx *c, Node *n)
{
    n->a.alpha = 1.0f;
    get_float(c, "alpha", false, ANY, &n->a.alpha);
}

static void lower_relu6(Ctx *c, Node *n)
{
    n->a.lo = 0;
    n->a.hi = 6;
}

static void lower_clip(Ctx *c, Node *n)
{
    if (get_float(c, "min", true, ANY, &n->a.lo) && get_float(c, "max", true, ANY, &n->a.hi)
        && n->a.lo > n->a.hi)
        diag_error(c->loc, "%s: min (%g) is above max (%g)", c->what, n->a.lo, n->a.hi);
}

static void lower_maxout(Ctx *c, Node *n)
{
    get_int(c, "k", true, 1, &n->a.k);
}

static void lower_axis0(Ctx *c, Node *n)
{
    n->a.axis = 0; /* the channel axis of the per-sample shape */
}

static void lower_add(Ctx *c, Node *n)
{
    get_activation(c, &n->act);
}

static void lower_pad(Ctx *c, Node *n)
{
    get_padding(c, "padding", true, false, &n->a);
    int mode;
    if (get_word(c, "mode", "zeros reflect replicate", &mode))
        n->a.pad_mode = (PadMode)mode;
}

static void lower_reshape(Ctx *c, Node *n)
{
    const Value *v = get(c, "shape", true);
    if (!v)
        return;
    int size;
    if (v->kind == V_INT) {
        if (int_value(c, "shape", v, 1, &size))
            n->a.target = shape_make(1, &v->i);
        return;
    }
    if (v->kind != V_DIMS || v->ndims > MAX_RANK) {
        bad_value(c, "shape", v, "dimensions like 16x5x5");
        return;
    }
    for (int i = 0; i < v->ndims; i++)
        if (v->dims[i] < 1 || v->dims[i] > INT_MAX || v->overflow) {
            bad_value(c, "shape", v, "positive dimensions");
            return;
        }
    n->a.target = shape_make(v->ndims, v->dims);
}

#define CONV_KEYS "filters kernel stride padding padding_mode dilation groups bias activation init"
#define MAXPOOL_KEYS "size stride padding ceil_mode"
#define AVGPOOL_KEYS "size stride padding ceil_mode count_include_pad"

static const LayerKind kinds[] = {
    {"conv", "conv", OP_CONV, -1, "filters", CONV_KEYS, lower_conv},
    {"conv1d", "conv", OP_CONV, 2, "filters", CONV_KEYS, lower_conv},
    {"conv2d", "conv", OP_CONV, 3, "filters", CONV_KEYS, lower_conv},
    {"maxpool", "maxpool", OP_MAXPOOL, -1, "size", MAXPOOL_KEYS, lower_pool},
    {"maxpool1d", "maxpool", OP_MAXPOOL, 2, "size", MAXPOOL_KEYS, lower_pool},
    {"maxpool2d", "maxpool", OP_MAXPOOL, 3, "size", MAXPOOL_KEYS, lower_pool},
    {"avgpool", "avgpool", OP_AVGPOOL, -1, "size", AVGPOOL_KEYS, lower_pool},
    {"avgpool1d", "avgpool", OP_AVGPOOL, 2, "size", AVGPOOL_KEYS, lower_pool},
    {"avgpool2d", "avgpool", OP_AVGPOOL, 3, "size", AVGPOOL_KEYS, lower_pool},
    {"global_avgpool", "global_avgpool", OP_GLOBAL_AVGPOOL, -1, "", "", NULL},
    {"global_maxpool", "global_maxpool", OP_GLOBAL_MAXPOOL, -1, "", "", NULL},
    {"dense", "dense", OP_DENSE, 1, "units", "units bias activation init", lower_dense},
    {"flatten", "flatten", OP_FLATTEN, 0, "", "", NULL},
    {"reshape", "reshape", OP_RESHAPE, 0, "shape", "shape", lower_reshape},
    {"batchnorm", "batchnorm", OP_BATCHNORM, 0, "", "eps momentum activation", lower_batchnorm},
    {"dropout", "dropout", OP_DROPOUT, 0, "rate", "rate", lower_dropout},
    {"relu", "relu", OP_RELU, 0, "", "", NULL},
    {"sigmoid", "sigmoid", OP_SIGMOID, 0, "", "", NULL},
    {"tanh", "tanh", OP_TANH, 0, "", "", NULL},
    {"softmax", "softmax", OP_SOFTMAX, 0, "", "", lower_axis0},
    {"relu6", "relu6", OP_CLIP, 0, "", "", lower_relu6},
    {"leaky_relu", "leaky_relu", OP_LEAKY_RELU, 0, "alpha", "alpha", lower_leaky_relu},
    {"elu", "elu", OP_ELU, 0, "alpha", "alpha", lower_elu},
    {"clip", "clip", OP_CLIP, 0, "min max", "min max", lower_clip},
    {"maxout", "maxout", OP_MAXOUT, 0, "k", "k", lower_maxout},
    {"add", "add", OP_ADD, 0, "*", "activation", lower_add},
    {"concat", "concat", OP_CONCAT, 0, "*", "", lower_axis0},
    {"pad", "pad", OP_PAD, -1, "padding", "padding mode", lower_pad},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

static const LayerKind *find_kind(const char *word)
{
    for (int i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i].word, word) == 0)
            return &kinds[i];
    return NULL;
}

static const char *suggest_kind(const char *word)
{
    Suggest s = {0};
    for (int i = 0; i < NKINDS; i++)
        consider(&s, word, kinds[i].word);
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
    if (map_add(&L->names, name, ref, &prev))
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
    Ctx c;
    ctx_init(&c, L, s->loc, "%s%s", "input", "");
    bind(&c, "", "mean std", s->args);
    const Value *v = s->value;
    int64_t d[3] = {0};
    int rank = v->kind == V_INT ? 1 : v->kind == V_DIMS ? v->ndims : 0;
    if (rank == 0 || rank > 3) {
        bad_value(&c, "the input shape", v, "C x H x W, C x L or F (like 3x32x32)");
        return;
    }
    int64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        d[i] = v->kind == V_INT ? v->i : v->dims[i];
        if (d[i] < 1 && !v->overflow) {
            bad_value(&c, "every dimension", v, "positive");
            return;
        }
        if (v->overflow || mul_overflows(numel, d[i], &numel) || numel > INT32_MAX) {
            char buf[96];
            diag_error(v->loc, "input: %s is too large (more than 2^31 values per sample)",
                       show(v, buf, sizeof buf));
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
    const Value *mean = get(&c, "mean", false), *std = get(&c, "std", false);
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
            bad_value(&c, key, t, "a tuple with one value per channel");
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
            ok &= float_value(&c, key, t, k ? POSITIVE : ANY, &into[k][0]);
            continue;
        }
        int i = 0;
        for (const Arg *e = t->items; e; e = e->next, i++)
            ok &= float_value(&c, key, e->v, k ? POSITIVE : ANY, &into[k][i]);
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
    Ctx c;
    ctx_init(&c, L, s->loc, "%s%s", "init", "");
    bind(&c, "", "seed", s->args);
    static const char schemes[] = "default he xavier zeros ones";
    static const InitKind scheme_kind[] = {INIT_DEFAULT, INIT_HE, INIT_XAVIER, INIT_ZEROS,
                                           INIT_ONES};
    int i = word_index(schemes, s->word);
    char hint[96];
    if (i >= 0)
        L->init = scheme_kind[i];
    else
        diag_error(s->word_loc, "init: unknown scheme '%.60s'%s (expected one of: %s)", s->word,
                   did_you_mean(hint, sizeof hint, suggest_among(s->word, schemes)), schemes);
    const Value *seed = get(&c, "seed", false);
    if (!seed)
        return;
    if (L->seed) {
        diag_error(seed->loc, "init: the seed is already set");
        diag_note(L->seed->loc, "set here");
        return;
    }
    L->seed = s;
    if (seed->kind != V_INT || seed->i < 0 || seed->overflow)
        bad_value(&c, "seed", seed, "a non-negative integer");
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
                   show(v, buf, sizeof buf));
        return;
    }
    Ctx c;
    ctx_init(&c, L, v->loc, "%s%s", v->s, "");
    bool sgd = strcmp(v->s, "sgd") == 0;
    t->optim = sgd ? OPT_SGD : OPT_ADAM;
    bind(&c, "lr", sgd ? "lr momentum weight_decay" : "lr betas eps weight_decay", v->items);
    get_float(&c, "lr", sgd, POSITIVE, &t->lr);
    get_float(&c, "weight_decay", false, NONNEG, &t->weight_decay);
    if (sgd) {
        get_float(&c, "momentum", false, UNIT_OPEN, &t->momentum);
        return;
    }
    get_float(&c, "eps", false, NONNEG, &t->eps);
    const Value *b = get(&c, "betas", false);
    if (!b)
        return;
    if (b->kind != V_TUPLE || !b->items || !b->items->next || b->items->next->next
        || b->items->key || b->items->next->key) {
        bad_value(&c, "betas", b, "a pair (beta1, beta2)");
        return;
    }
    float b1, b2;
    if (float_value(&c, "betas", b->items->v, UNIT_OPEN, &b1)
        && float_value(&c, "betas", b->items->next->v, UNIT_OPEN, &b2)) {
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
    Ctx c;
    ctx_init(&c, L, s->loc, "%s%s", "train", "");
    bind(&c, "", "loss optimizer batch epochs seed", n ? args : NULL);
    int loss;
    if (get_word(&c, "loss", "cross_entropy", &loss))
        t->loss = LOSS_CROSS_ENTROPY;
    const Value *opt = get(&c, "optimizer", false);
    if (opt)
        lower_optimizer(L, opt, t);
    get_int(&c, "batch", false, 1, &t->batch);
    get_int(&c, "epochs", false, 1, &t->epochs);
    const Value *seed = get(&c, "seed", false);
    if (seed && (seed->kind != V_INT || seed->i < 0 || seed->overflow))
        bad_value(&c, "seed", seed, "a non-negative integer");
    else if (seed)
        t->seed = (uint64_t)seed->i;
    free(args);
}

/* A layer statement joins the list; names are given and declared. */
static void collect_layer(Lower *L, const Stmt *s, int *count)
{
    char hint[96];
    const LayerKind *k = find_kind(s->word);
    if (!k)
        diag_error(s->word_loc, "unknown layer kind '%.60s'%s", s->word,
                   did_you_mean(hint, sizeof hint, suggest_kind(s->word)));
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
    int kind = (int)(find_kind(k->kind) - kinds);
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

/* Walks the model's statements in order. */
static void collect(Lower *L, const Stmt *model)
{
    int count[NKINDS] = {0};
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
            collect_layer(L, s, count);
            break;
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
}

/* ---- references and ranks ---- */

static int resolve_name(Lower *L, const Layer *ly, const char *name, Loc loc)
{
    int i = map_find(&L->names, name);
    if (i >= 0)
        return L->names.val[i];
    if (L->cross_checks) {
        Suggest s = {0};
        for (int j = 0; j < L->names.cap; j++)
            if (L->names.key[j])
                consider(&s, name, L->names.key[j]);
        char hint[96];
        diag_error(loc, "%s '%s': no layer named '%.60s'%s", ly->st->word, ly->name, name,
                   did_you_mean(hint, sizeof hint, s.word));
    }
    return UNRESOLVED;
}

/* Fills ly->in from `from`, the join arguments or the layer before. */
static void resolve(Lower *L, Layer *ly)
{
    const Stmt *s = ly->st;
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
                       show(a->v, buf, sizeof buf));
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
    if (!ly->k)
        return 0;
    switch (ly->k->op) {
    case OP_FLATTEN:
    case OP_DENSE:
        return 1;
    case OP_RESHAPE: {
        const Value *v = NULL;
        for (const Arg *a = ly->st->args; a; a = a->next)
            if (!a->key || strcmp(a->key, "shape") == 0)
                v = a->v;
        return v && v->kind == V_DIMS ? v->ndims : 1;
    }
    default:
        return in_rank;
    }
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
    const LayerKind *k = ly->k;
    if (!r || !k->rank)
        return;
    if (k->rank == -1 && r == 1)
        diag_error(ly->loc, "%s '%s': needs a C x L or C x H x W input, got a flat one", k->word,
                   ly->name);
    else if (k->rank == 1 && r != 1)
        diag_error(ly->loc, "%s '%s': needs a flat input (add a flatten layer), got a rank-%d one",
                   k->word, ly->name, r);
    else if (k->rank > 1 && r != k->rank)
        diag_error(ly->loc, "%s '%s': needs a %s input, got a rank-%d one (use %s)", k->word,
                   ly->name, k->rank == 2 ? "1-D (C x L)" : "2-D (C x H x W)", r, k->kind);
}

/* Creates the layer's node (and its softmax node) with placeholder inputs. */
static void build_layer(Lower *L, Layer *ly)
{
    const LayerKind *k = ly->k;
    int r = ly->nin ? rank_of(L, ly->in[0]) : 0;
    check_rank(L, ly, r);
    Ctx c;
    ctx_init(&c, L, ly->loc, "%s '%s'", k->word, ly->name);
    c.rank = r;
    bind(&c, k->pos, k->keys, ly->st->args);
    int *zero = xcalloc((size_t)ly->nin, sizeof *zero);
    ly->node = graph_add_node(L->g, k->op, ly->name, ly->loc, zero, ly->nin);
    free(zero);
    Node *n = &L->g->n[ly->node];
    n->a.init = ly->init;
    if (k->lower)
        k->lower(&c, n);
    ly->out = n->out;
    if (c.softmax) {
        char *name = xasprintf("%s_softmax", ly->name);
        int sm = graph_add_node(L->g, OP_SOFTMAX, name, ly->loc, &ly->out, 1);
        free(name);
        ly->out = L->g->n[sm].out;
    }
}

/* References become tensor ids: each layer's output or the input. */
static void link_inputs(Lower *L)
{
    for (int i = 0; i < L->nlayer; i++) {
        Layer *ly = &L->layer[i];
        Node *n = &L->g->n[ly->node];
        for (int j = 0; j < ly->nin; j++)
            n->in[j] = ly->in[j] == THE_INPUT ? L->g->input : L->layer[ly->in[j]].out;
    }
    L->g->output = L->layer[L->nlayer - 1].out;
}

static void lower_free(Lower *L)
{
    for (int i = 0; i < L->nlayer; i++)
        free(L->layer[i].in);
    free(L->layer);
    map_free(&L->names);
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

    for (int i = 0; i < L.nlayer; i++)
        if (L.layer[i].k)
            resolve(&L, &L.layer[i]);
    compute_ranks(&L);
    for (int i = 0; i < L.nlayer; i++)
        if (L.layer[i].k)
            build_layer(&L, &L.layer[i]);

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
