/* strided.c: the data movement transpose and slice share. Takes a strided
 * gather, y[i] = x[base + sum_k i_k xs[k]] with y contiguous of dimensions
 * d[0..rank); gives it simplified (size-1 axes dropped, neighbouring axes
 * that stay neighbours in x merged, so that a channel shuffle is a copy of
 * whole planes), run by the interpreter, and written as C: forward (the
 * gather) and backward (dL/dy scattered back and added into dL/dx).
 *
 * The generated loop nest copies rows with memcpy where x's last axis is
 * y's last axis too; where it is not (a true transpose, NCHW <-> NHWC) it
 * walks tiles of TILE x TILE, so that both the rows read and the rows
 * written stay in cache. */
#include "../ops.h"

#include <string.h>

enum { TILE = 16 };

void strided_simplify(Strided *s)
{
    Strided t = {.rank = 0, .base = s->base};
    for (int k = 0; k < s->rank; k++)
        if (s->d[k] != 1) {
            t.d[t.rank] = s->d[k];
            t.xs[t.rank++] = s->xs[k];
        }
    Strided m = {.rank = 0, .base = t.base};
    for (int k = 0; k < t.rank; k++) {
        int last = m.rank - 1;
        if (last >= 0 && m.xs[last] == t.xs[k] * t.d[k]) {
            m.d[last] *= t.d[k];
            m.xs[last] = t.xs[k];
        } else {
            m.d[m.rank] = t.d[k];
            m.xs[m.rank++] = t.xs[k];
        }
    }
    if (m.rank == 0) { /* one element */
        m.rank = 1;
        m.d[0] = m.xs[0] = 1;
    }
    *s = m;
}

/* Walks y's elements in order; gathers (or scatter-adds back). */
static void walk(const Strided *s, float *x, float *y, bool scatter)
{
    int64_t idx[MAX_RANK] = {0}, at = s->base, count = 1;
    for (int k = 0; k < s->rank; k++)
        count *= s->d[k];
    for (int64_t i = 0; i < count; i++) {
        if (scatter)
            x[at] += y[i];
        else
            y[i] = x[at];
        for (int k = s->rank - 1; k >= 0; k--) {
            at += s->xs[k];
            if (++idx[k] < s->d[k])
                break;
            at -= s->xs[k] * s->d[k];
            idx[k] = 0;
        }
    }
}

void strided_gather(const Strided *s, const float *x, float *y)
{
    walk(s, (float *)x, y, false);
}

void strided_scatter_add(const Strided *s, const float *dy, float *dx)
{
    walk(s, dx, (float *)dy, true);
}

/* ---- generated C ---- */

/* " + i<k> * stride" for each axis in `axes` (a bit set), and the base. */
static const char *offset(Emit *e, const Strided *s, const int64_t *st, unsigned axes,
                          int64_t base)
{
    StrBuf b = {0};
    sb_printf(&b, "%lld", (long long)base);
    for (int k = 0; k < s->rank; k++)
        if (axes >> k & 1u)
            sb_printf(&b, " + i%d * %lld", k, (long long)st[k]);
    return emit_keep(e, b.s);
}

static void open_loop(Emit *e, int k, int64_t d)
{
    emit_line(e, "for (int i%d = 0; i%d < %lld; i%d++) {", k, k, (long long)d, k);
}

/* The tiled pair: y's last axis (l) and x's contiguous one (c). */
static void emit_tiles(Emit *e, const Strided *s, const int64_t *ys, unsigned outer, int c,
                       const char *y, const char *x, bool scatter)
{
    int l = s->rank - 1;
    const char *yo = offset(e, s, ys, outer, 0), *xo = offset(e, s, s->xs, outer, s->base);
    bool tiled = s->d[c] > TILE || s->d[l] > TILE;
    if (tiled) {
        emit_line(e, "for (int t%d = 0; t%d < %lld; t%d += %d)", c, c, (long long)s->d[c], c, TILE);
        emit_line(e, "for (int t%d = 0; t%d < %lld; t%d += %d) {", l, l, (long long)s->d[l], l, TILE);
        for (int k = 0; k < 2; k++) {
            int a = k ? l : c;
            emit_line(e, "const int e%d = t%d + %d < %lld ? t%d + %d : %lld;", a, a, TILE,
                      (long long)s->d[a], a, TILE, (long long)s->d[a]);
        }
    }
    for (int k = 0; k < 2; k++) {
        int a = k ? l : c;
        if (tiled)
            emit_line(e, "for (int i%d = t%d; i%d < e%d; i%d++)", a, a, a, a, a);
        else
            emit_line(e, "for (int i%d = 0; i%d < %lld; i%d++)", a, a, (long long)s->d[a], a);
    }
    const char *yi = emit_keep(e, xasprintf("%s[%s + i%d * %lld + i%d]", y, yo, c,
                                            (long long)ys[c], l));
    const char *xi = emit_keep(e, xasprintf("%s[%s + i%d + i%d * %lld]", x, xo, c, l,
                                            (long long)s->xs[l]));
    emit_line(e, "    %s %s %s;", scatter ? xi : yi, scatter ? "+=" : "=", scatter ? yi : xi);
    if (tiled)
        emit_line(e, "}");
}

void emit_strided(Emit *e, const Strided *s, const char *y, const char *x, bool scatter)
{
    int64_t ys[MAX_RANK];
    Shape yshape = shape_make(s->rank, s->d);
    const_strides(&yshape, ys);
    int l = s->rank - 1, c = -1;
    for (int k = 0; k < l; k++)
        if (s->xs[k] == 1)
            c = k;
    unsigned outer = 0;
    for (int k = 0; k < l; k++)
        if (k != c)
            outer |= 1u << k;
    emit_line(e, "{");
    for (int k = 0; k < l; k++)
        if (k != c)
            open_loop(e, k, s->d[k]);
    if (c >= 0) {
        emit_tiles(e, s, ys, outer, c, y, x, scatter);
    } else {
        const char *yo = offset(e, s, ys, outer, 0), *xo = offset(e, s, s->xs, outer, s->base);
        if (s->xs[l] == 1 && !scatter) {
            emit_line(e, "memcpy(%s + %s, %s + %s, %lld * sizeof(float));", y, yo, x, xo,
                      (long long)s->d[l]);
        } else {
            open_loop(e, l, s->d[l]);
            const char *yi = emit_keep(e, xasprintf("%s[%s + i%d]", y, yo, l));
            const char *xi = emit_keep(e, xasprintf("%s[%s + i%d * %lld]", x, xo, l,
                                                    (long long)s->xs[l]));
            emit_line(e, "%s %s %s;", scatter ? xi : yi, scatter ? "+=" : "=", scatter ? yi : xi);
            emit_line(e, "}");
        }
    }
    for (int k = 0; k < l; k++)
        if (k != c)
            emit_line(e, "}");
    emit_line(e, "}");
}
