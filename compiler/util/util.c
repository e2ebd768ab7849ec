/* util.c: allocation that cannot fail, growable strings, checked sizes. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

static _Noreturn void out_of_memory(size_t n)
{
    fprintf(stderr, "cnnc: error: out of memory (asked for %zu bytes)\n", n);
    exit(2);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void grow_array(void *p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return;
    int c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    *(void **)p = xrealloc(*(void **)p, (size_t)c * size);
    *cap = c;
}

static void sb_reserve(StrBuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t c = b->cap ? b->cap : 64;
    while (c < b->len + extra + 1)
        c *= 2;
    b->s = xrealloc(b->s, c);
    b->cap = c;
}

void sb_putc(StrBuf *b, char c)
{
    sb_reserve(b, 1);
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
}

void sb_puts(StrBuf *b, const char *s)
{
    size_t n = strlen(s);
    sb_reserve(b, n);
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void sb_printf(StrBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_free(StrBuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

bool mul_overflows(int64_t a, int64_t b, int64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

/* ---- NameMap: open addressing, FNV-1a ---- */

static unsigned name_hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int name_map_slot(const NameMap *m, const char *key)
{
    if (!m->cap)
        return -1;
    for (unsigned i = name_hash(key) & (unsigned)(m->cap - 1);; i = (i + 1) & (unsigned)(m->cap - 1)) {
        if (!m->key[i])
            return -1;
        if (strcmp(m->key[i], key) == 0)
            return (int)i;
    }
}

static void name_map_grow(NameMap *m)
{
    NameMap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->key = xcalloc((size_t)m->cap, sizeof *m->key);
    m->val = xcalloc((size_t)m->cap, sizeof *m->val);
    for (int i = 0; i < old.cap; i++) {
        if (!old.key[i])
            continue;
        unsigned j = name_hash(old.key[i]) & (unsigned)(m->cap - 1);
        while (m->key[j])
            j = (j + 1) & (unsigned)(m->cap - 1);
        m->key[j] = old.key[i];
        m->val[j] = old.val[i];
    }
    free(old.key);
    free(old.val);
}

bool name_map_add(NameMap *m, const char *key, int val, int *prev)
{
    int i = name_map_slot(m, key);
    if (i >= 0) {
        *prev = m->val[i];
        return false;
    }
    if (2 * (m->n + 1) > m->cap)
        name_map_grow(m);
    unsigned j = name_hash(key) & (unsigned)(m->cap - 1);
    while (m->key[j])
        j = (j + 1) & (unsigned)(m->cap - 1);
    m->key[j] = key;
    m->val[j] = val;
    m->n++;
    return true;
}

void name_map_free(NameMap *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}
