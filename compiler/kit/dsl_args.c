/* dsl_args.c: the DSL argument binder (dsl_args.h) and the suggestions for
 * misspelt words that the DSL's messages give. Takes a statement's
 * arguments and the parameter names of its kind; gives each parameter's
 * value, checked, with located errors for every mistake. */
#include "dsl_args.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

/* Keeps `candidate` if it is the closest so far and close enough to be a
 * likely typo (one edit in short words, two in longer ones). */
void dsl_suggest_offer(DslSuggest *s, const char *typed, const char *candidate)
{
    int d = distance(typed, candidate);
    int limit = strlen(typed) <= 3 ? 1 : 2;
    if (d <= limit && (!s->word || d < s->dist)) {
        s->word = candidate;
        s->dist = d;
    }
}

/* Among the space-separated words of `list`: a pointer into the list. */
const char *dsl_suggest_among(const char *typed, const char *list)
{
    DslSuggest s = {0};
    const char *best = NULL;
    char word[64];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        if (n && n < sizeof word) {
            memcpy(word, p, n);
            word[n] = '\0';
            dsl_suggest_offer(&s, typed, word);
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
int dsl_word_index(const char *words, const char *w)
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
const char *dsl_did_you_mean(char *buf, size_t size, const char *hint)
{
    if (!hint)
        return "";
    size_t n = strcspn(hint, " ");
    snprintf(buf, size, " (did you mean '%.*s'?)", (int)(n < 60 ? n : 60), hint);
    return buf;
}


void dsl_args_init(DslArgs *c, Loc loc, const char *fmt, const char *a, const char *b)
{
    memset(c, 0, sizeof *c);
    c->loc = loc;
    snprintf(c->what, sizeof c->what, fmt, a, b);
}

int dsl_part(DslArgs *c, int *nparts)
{
    c->parts_read = true;
    *nparts = c->nparts;
    return c->part;
}

/* Splits "a b c" into c->key; returns how many. */
static int split_keys(DslArgs *c, const char *keys)
{
    snprintf(c->keybuf, sizeof c->keybuf, "%s", keys);
    c->nkeys = 0;
    for (char *s = strtok(c->keybuf, " "); s && c->nkeys < DSL_MAX_KEYS; s = strtok(NULL, " "))
        c->key[c->nkeys++] = s;
    return c->nkeys;
}

static int key_index(const DslArgs *c, const char *key)
{
    for (int i = 0; i < c->nkeys; i++)
        if (strcmp(c->key[i], key) == 0)
            return i;
    return -1;
}

/* Binds args to the keys; `pos` names the positional ones in order (they
 * are a prefix of `keys`), "*" skips positionals (layer names of joins).
 * Reports unknown keys, repeats and surplus positionals. */
void dsl_bind(DslArgs *c, const char *pos, const char *keys, const Arg *args)
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
                       dsl_did_you_mean(hint, sizeof hint, dsl_suggest_among(key, keys)));
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
const Value *dsl_get(DslArgs *c, const char *key, bool required)
{
    int i = key_index(c, key);
    if (i < 0)
        internal_error("'%s' is not a parameter of %s", key, c->what);
    if (!c->arg[i] && required)
        diag_error(c->loc, "%s: missing required argument '%s'", c->what, key);
    return c->arg[i] ? c->arg[i]->v : NULL;
}

/* How a value reads in a message. */
const char *dsl_show(const Value *v, char *buf, size_t size)
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
    case V_STRING:
        snprintf(buf, size, "\"%.40s\"", v->s);
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

void dsl_bad_value(DslArgs *c, const char *key, const Value *v, const char *expected)
{
    char buf[96];
    diag_error(v->loc, "%s: %s must be %s, got %s", c->what, key, expected, dsl_show(v, buf, sizeof buf));
}

bool dsl_is_ident(const Value *v, const char *word)
{
    return v->kind == V_IDENT && strcmp(v->s, word) == 0;
}

/* An integer >= min (min is 0 or 1) that fits an int. */
bool dsl_int_value(DslArgs *c, const char *key, const Value *v, int min, int *out)
{
    if (v->kind != V_INT) {
        dsl_bad_value(c, key, v, "an integer");
        return false;
    }
    if (v->overflow || v->i > INT_MAX) {
        diag_error(v->loc, "%s: %s is too large", c->what, key);
        return false;
    }
    if (v->i < min) {
        dsl_bad_value(c, key, v, min > 0 ? "positive" : "non-negative");
        return false;
    }
    *out = (int)v->i;
    return true;
}

bool dsl_get_int(DslArgs *c, const char *key, bool required, int min, int *out)
{
    const Value *v = dsl_get(c, key, required);
    return v && dsl_int_value(c, key, v, min, out);
}

/* One integer of a list, in [lo, hi]. */
static bool list_int(DslArgs *c, const char *key, const Value *v, int lo, int hi, int *out)
{
    if (v->kind != V_INT) {
        dsl_bad_value(c, key, v, "an integer");
        return false;
    }
    if (v->overflow || v->i < lo || v->i > hi) {
        diag_error(v->loc, "%s: %s holds %s%lld, outside [%d, %d]", c->what, key,
                   v->overflow ? "the too large " : "", (long long)v->i, lo, hi);
        return false;
    }
    *out = (int)v->i;
    return true;
}

int dsl_get_int_list(DslArgs *c, const char *key, bool required, int lo, int hi, int *out,
                     int max)
{
    const Value *v = dsl_get(c, key, required);
    if (!v)
        return -1;
    if (v->kind != V_TUPLE)
        return list_int(c, key, v, lo, hi, out) ? 1 : -1;
    int n = 0;
    for (const Arg *e = v->items; e; e = e->next, n++) {
        if (e->key) {
            diag_error(e->loc, "%s: %s takes plain values, not '%s='", c->what, key, e->key);
            return -1;
        }
        if (n == max) {
            diag_error(v->loc, "%s: %s holds more than %d values", c->what, key, max);
            return -1;
        }
        if (!list_int(c, key, e->v, lo, hi, &out[n]))
            return -1;
    }
    return n;
}

/* K or KHxKW into [H, W]; a 1-D layer takes K only and gets [1, K]. */
bool dsl_get_pair(DslArgs *c, const char *key, bool required, int min, int out[2])
{
    const Value *v = dsl_get(c, key, required);
    if (!v)
        return false;
    int h, w;
    if (v->kind == V_INT) {
        if (!dsl_int_value(c, key, v, min, &w))
            return false;
        out[0] = c->rank == 2 ? 1 : w;
        out[1] = w;
        return true;
    }
    if (v->kind != V_DIMS || v->ndims != 2 || c->rank == 2) {
        dsl_bad_value(c, key, v, c->rank == 2 ? "an integer (the input is 1-D)" : "an integer or an HxW pair");
        return false;
    }
    Value part = *v;
    part.kind = V_INT;
    part.i = v->dims[0];
    if (!dsl_int_value(c, key, &part, min, &h))
        return false;
    part.i = v->dims[1];
    if (!dsl_int_value(c, key, &part, min, &w))
        return false;
    out[0] = h;
    out[1] = w;
    return true;
}

/* One positive-or-min integer of a V_DIMS value. */
static bool dims_part(DslArgs *c, const char *key, const Value *v, int i, int min, int *out)
{
    Value part = *v;
    part.kind = V_INT;
    part.i = v->dims[i];
    return dsl_int_value(c, key, &part, min, out);
}

bool dsl_get_window(DslArgs *c, const char *key, bool required, int min, int hw[2], int *d)
{
    if (c->rank != 4)
        return dsl_get_pair(c, key, required, min, hw);
    const Value *v = dsl_get(c, key, required);
    if (!v)
        return false;
    int k[3];
    if (v->kind == V_INT) {
        if (!dsl_int_value(c, key, v, min, &k[0]))
            return false;
        k[1] = k[2] = k[0];
    } else if (v->kind == V_DIMS && v->ndims == 3) {
        for (int i = 0; i < 3; i++)
            if (!dims_part(c, key, v, i, min, &k[i]))
                return false;
    } else {
        dsl_bad_value(c, key, v, "an integer or a DxHxW triple (the input is 3-D)");
        return false;
    }
    *d = k[0];
    hw[0] = k[1];
    hw[1] = k[2];
    return true;
}

static bool in_range(double x, DslRange r)
{
    switch (r) {
    case DSL_POSITIVE:
        return x > 0;
    case DSL_NONNEG:
        return x >= 0;
    case DSL_UNIT_OPEN:
        return x >= 0 && x < 1;
    case DSL_UNIT_CLOSED:
        return x >= 0 && x <= 1;
    default:
        return true;
    }
}

static const char *const range_text[] = {"a number", "positive", "non-negative", "in [0, 1)",
                                          "in [0, 1]"};

bool dsl_float_value(DslArgs *c, const char *key, const Value *v, DslRange r, float *out)
{
    if (v->kind != V_INT && v->kind != V_FLOAT) {
        dsl_bad_value(c, key, v, "a number");
        return false;
    }
    double x = v->kind == V_INT ? (double)v->i : v->f;
    if (v->overflow || !isfinite((float)x)) {
        diag_error(v->loc, "%s: %s is too large", c->what, key);
        return false;
    }
    if (!in_range(x, r)) {
        dsl_bad_value(c, key, v, range_text[r]);
        return false;
    }
    *out = (float)x;
    return true;
}

bool dsl_get_float(DslArgs *c, const char *key, bool required, DslRange r, float *out)
{
    const Value *v = dsl_get(c, key, required);
    return v && dsl_float_value(c, key, v, r, out);
}

/* One of the space-separated words; *out is its index. */
bool dsl_get_word(DslArgs *c, const char *key, const char *words, int *out)
{
    const Value *v = dsl_get(c, key, false);
    if (!v)
        return false;
    if (v->kind == V_IDENT && (*out = dsl_word_index(words, v->s)) >= 0)
        return true;
    char expected[128] = "one of: ";
    for (const char *p = words; *p; p++) /* "a b c" reads "a, b, c" */
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected),
                 *p == ' ' ? ", " : "%c", *p);
    dsl_bad_value(c, key, v, expected);
    return false;
}

void dsl_get_bool(DslArgs *c, const char *key, bool *out)
{
    int i;
    if (dsl_get_word(c, key, "false true", &i))
        *out = i == 1;
}

void dsl_get_init(DslArgs *c, const char *key, InitKind *out)
{
    int i;
    static const InitKind kinds[] = {INIT_DEFAULT, INIT_HE, INIT_XAVIER, INIT_ZEROS, INIT_ONES};
    if (dsl_get_word(c, key, "default he xavier zeros ones", &i))
        *out = kinds[i];
}

/* A 3-D layer's padding: P, PDxPHxPW or (front, back, top, bottom, left,
 * right). */
static void padding_3d(DslArgs *c, const char *key, const Value *v, Attrs *a)
{
    int p[6] = {0}; /* front, back, top, bottom, left, right */
    if (v->kind == V_INT) {
        if (!dsl_int_value(c, key, v, 0, &p[0]))
            return;
        for (int i = 1; i < 6; i++)
            p[i] = p[0];
    } else if (v->kind == V_DIMS && v->ndims == 3) {
        for (int i = 0; i < 3; i++) {
            if (!dims_part(c, key, v, i, 0, &p[2 * i]))
                return;
            p[2 * i + 1] = p[2 * i];
        }
    } else if (v->kind == V_TUPLE) {
        int n = 0;
        for (const Arg *e = v->items; e; e = e->next)
            n++;
        if (n != 6) {
            diag_error(v->loc, "%s: %s needs (front, back, top, bottom, left, right) for a 3-D "
                       "input, got %d value%s", c->what, key, n, n == 1 ? "" : "s");
            return;
        }
        int i = 0;
        for (const Arg *e = v->items; e; e = e->next, i++) {
            if (e->key) {
                diag_error(e->loc, "%s: %s takes plain values, not '%s='", c->what, key, e->key);
                return;
            }
            if (!dsl_int_value(c, key, e->v, 0, &p[i]))
                return;
        }
    } else {
        dsl_bad_value(c, key, v, "valid, same, an integer, a PDxPHxPW triple or (front, back, "
                                 "top, bottom, left, right)");
        return;
    }
    a->pad_d[0] = p[0];
    a->pad_d[1] = p[1];
    a->pad[0] = p[2];
    a->pad[1] = p[4];
    a->pad[2] = p[3];
    a->pad[3] = p[5];
}

/* padding: valid | same | P | PHxPW | (top, bottom, left, right), 1-D:
 * P | (left, right). Into a->pad = [top, left, bottom, right]. */
void dsl_get_padding(DslArgs *c, const char *key, bool required, bool allow_same, Attrs *a)
{
    const Value *v = dsl_get(c, key, required);
    if (!v)
        return;
    bool one_d = c->rank == 2;
    int p[4] = {0}; /* top, bottom, left, right */
    if (dsl_is_ident(v, "valid"))
        return;
    if (dsl_is_ident(v, "same")) {
        if (allow_same)
            a->same_pad = true;
        else
            diag_error(v->loc, "%s: padding=same is only for conv", c->what);
        return;
    }
    if (c->rank == 4) {
        padding_3d(c, key, v, a);
        return;
    }
    if (v->kind == V_INT) {
        if (!dsl_int_value(c, key, v, 0, &p[2]))
            return;
        p[0] = p[1] = one_d ? 0 : p[2];
        p[3] = p[2];
    } else if (v->kind == V_DIMS && v->ndims == 2 && !one_d) {
        Value part = *v;
        part.kind = V_INT;
        part.i = v->dims[0];
        if (!dsl_int_value(c, key, &part, 0, &p[0]))
            return;
        part.i = v->dims[1];
        if (!dsl_int_value(c, key, &part, 0, &p[2]))
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
            if (!dsl_int_value(c, key, e->v, 0, &p[i]))
                return;
        }
    } else {
        dsl_bad_value(c, key, v,
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
