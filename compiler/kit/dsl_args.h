/* dsl_args.h: the DSL's argument values and the binder that reads them.
 *
 * Below the operator families: each family's DSL keywords (ops/<family>/
 * *_front.c, a DslKind row each) fill a node's attributes from its layer
 * statement's arguments through these functions; frontend/dsl_lower.c binds
 * the arguments and calls the row. The parser (grammar/cnn.y) builds Value
 * and Arg. Every reader reports its own errors (`conv 'c2': stride must be
 * positive, got 0`) at the value's position and returns false. */
#ifndef CNNC_DSL_ARGS_H
#define CNNC_DSL_ARGS_H

#include "../cnnc.h"

typedef struct Value Value;
typedef struct Arg Arg;

typedef enum { V_INT, V_FLOAT, V_IDENT, V_DIMS, V_TUPLE, V_CALL, V_STRING } ValueKind;

/* A literal or compound value: 3, 1e-3, relu, 3x5, (1, 2), leaky_relu(0.2),
 * "backbone.cnn". */
struct Value {
    ValueKind kind;
    Loc loc;
    bool overflow; /* a literal too large to represent */
    int64_t i;     /* V_INT */
    double f;      /* V_FLOAT */
    const char *s; /* V_IDENT, V_CALL: the name; V_STRING: the text between the quotes */
    int64_t *dims; /* V_DIMS */
    int ndims;
    Arg *items; /* V_TUPLE, V_CALL: the elements / arguments */
};

/* One argument: `value` (key NULL) or `key = value`. */
struct Arg {
    Arg *next;
    const char *key;
    Loc loc; /* of the key, or of the value when positional */
    Value *v;
};

/* The arguments of one statement, bound to the parameters of its kind. */
#define DSL_MAX_KEYS 12
typedef struct {
    char what[128]; /* "conv 'c2'": how messages name the statement */
    Loc loc;
    char keybuf[160];
    const char *key[DSL_MAX_KEYS];
    const Arg *arg[DSL_MAX_KEYS];
    int nkeys, npos;
    int rank;     /* input rank of a layer: 2 means 1-D, 4 3-D; 0 unknown */
    bool softmax; /* activation=softmax: the front end adds a softmax layer */
    int part, nparts; /* the layer is output `part` of a statement with nparts
                         names (`a, b: split(...)`) */
    bool parts_read;  /* the binder read them (dsl_part): else nparts must be 1 */
} DslArgs;

/* A DSL layer keyword (a row of an operator family's table). */
typedef struct DslKind {
    const char *word; /* as written in the source */
    const char *kind; /* canonical word: names unnamed layers (`conv_1`) */
    int op;
    int rank;         /* input rank required: 0 any, -1 spatial (2, 3 or 4), 1, 2, 3, 4 */
    const char *pos;  /* positional parameters in order; "*" = layer names (a join) */
    const char *keys; /* every parameter accepted */
    /* Fills n's attributes (n->a, n->act) from the bound arguments. */
    void (*bind)(DslArgs *c, Node *n, const struct DslKind *k);
    /* The layer's output rank from its arguments and input rank (NULL:
     * the input's). */
    int (*out_rank)(const Arg *args, int in_rank);
} DslKind;

/* Which of the statement's outputs this layer is (its names, in order),
 * and how many there are: for the kinds with several outputs. */
int dsl_part(DslArgs *c, int *nparts);
/* "%s '%s'"-style: how messages name the statement. */
void dsl_args_init(DslArgs *c, Loc loc, const char *fmt, const char *a, const char *b);
/* Binds args to the keys; `pos` names the positional ones in order (they
 * are a prefix of `keys`), "*" skips positionals (layer names of joins).
 * Reports unknown keys, repeats and surplus positionals. */
void dsl_bind(DslArgs *c, const char *pos, const char *keys, const Arg *args);
/* The value of `key`, or NULL; reports a missing required one. */
const Value *dsl_get(DslArgs *c, const char *key, bool required);

typedef enum { DSL_ANY, DSL_POSITIVE, DSL_NONNEG, DSL_UNIT_OPEN, DSL_UNIT_CLOSED } DslRange;

/* Each reads `key` if given (required: else an error); true when a valid
 * value was stored. */
bool dsl_get_int(DslArgs *c, const char *key, bool required, int min, int *out);
/* An integer or a tuple of them (`(1, 2, 0)`), each in [lo, hi], into
 * out[0..max): their count, or -1 when absent or after an error. */
int dsl_get_int_list(DslArgs *c, const char *key, bool required, int lo, int hi, int *out,
                     int max);
/* K or KHxKW into [H, W]; a 1-D layer takes K only and gets [1, K]. */
bool dsl_get_pair(DslArgs *c, const char *key, bool required, int min, int out[2]);
/* A window's kernel, stride or dilation: dsl_get_pair, except that a 3-D
 * layer (rank 4) takes K (every axis) or KDxKHxKW, the depth into *d (left
 * alone below 3-D). */
bool dsl_get_window(DslArgs *c, const char *key, bool required, int min, int hw[2], int *d);
bool dsl_get_float(DslArgs *c, const char *key, bool required, DslRange r, float *out);
/* One of the space-separated words; *out is its index. */
bool dsl_get_word(DslArgs *c, const char *key, const char *words, int *out);
void dsl_get_bool(DslArgs *c, const char *key, bool *out);
void dsl_get_init(DslArgs *c, const char *key, InitKind *out);
/* padding: valid | same | P | PHxPW | (top, bottom, left, right), 1-D:
 * P | (left, right), 3-D: P | PDxPHxPW | (front, back, top, bottom, left,
 * right). Into a->pad = [top, left, bottom, right] and a->pad_d = [front,
 * back]; `same` sets a->same_pad where allowed. */
void dsl_get_padding(DslArgs *c, const char *key, bool required, bool allow_same, Attrs *a);

/* The single-value readers, for values found otherwise (tuples, calls). */
bool dsl_int_value(DslArgs *c, const char *key, const Value *v, int min, int *out);
bool dsl_float_value(DslArgs *c, const char *key, const Value *v, DslRange r, float *out);
bool dsl_is_ident(const Value *v, const char *word);
/* `what: key must be EXPECTED, got V` at v. */
void dsl_bad_value(DslArgs *c, const char *key, const Value *v, const char *expected);
/* How a value reads in a message. */
const char *dsl_show(const Value *v, char *buf, size_t size);

/* ---- suggestions for misspelt words ---- */

/* The index of w among the space-separated words, or -1. */
int dsl_word_index(const char *words, const char *w);
/* The closest of the space-separated words of `list` to `typed`, if close
 * enough to be a typo: a pointer into the list; else NULL. */
const char *dsl_suggest_among(const char *typed, const char *list);
/* Keeps the closest candidate offered so far (dsl_suggest_offer). */
typedef struct {
    const char *word;
    int dist;
} DslSuggest;
void dsl_suggest_offer(DslSuggest *s, const char *typed, const char *candidate);
/* " (did you mean 'x'?)" for a diagnostic, or "". `hint` points into a
 * space-separated list or is a whole name. */
const char *dsl_did_you_mean(char *buf, size_t size, const char *hint);

#endif
