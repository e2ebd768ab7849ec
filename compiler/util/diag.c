/* diag.c: gcc-style diagnostics, `FILE:LINE:COL: error: msg`, followed by
 * the source line and a caret under the column when the source is known.
 * Errors are counted so that a front end can go on and report them all.
 * Every byte echoed (file, message, source line) is escaped where a
 * terminal would misread it. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

static struct {
    const char *file, *text;
    size_t len;
    int errors;
    bool quiet; /* warnings dropped (diag_quiet_warnings) */
    /* diag_hold: reports kept here, unwritten, and the error count then */
    bool holding;
    StrBuf held;
    int errors_before;
} diag;

void diag_set_source(const char *file, const char *text, size_t len)
{
    diag.file = file;
    diag.text = text;
    diag.len = len;
}

int diag_error_count(void)
{
    return diag.errors;
}

void diag_reset(void)
{
    diag.errors = 0;
    diag.file = diag.text = NULL;
    diag.len = 0;
}

/* ---- echoing bytes safely ----
 * Whatever a diagnostic echoes (names from an ONNX file, a stray run of
 * bytes, the source line) reaches a terminal: control bytes (C0, DEL and
 * the C1 range U+0080-U+009F, which some terminals obey) and bytes that are
 * not valid UTF-8 are written \xNN; valid UTF-8 text passes through. */

size_t utf8_decode(const char *s, size_t n, uint32_t *code)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : p[0] < 0x80;
    if (n == 0 || p[0] > 0xF4 || len > n)
        return 0;
    uint32_t c = len == 1 ? p[0] : p[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    /* the shortest form only, no surrogates, nothing past U+10FFFF */
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)) ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *code = c;
    return len;
}

/* How byte p[0] (n left) is shown: *take bytes of the input, written as
 * they are (returns false) or, for one byte, as \xNN (returns true). */
static bool shown_escaped(const unsigned char *p, size_t n, bool keep_tab, size_t *take)
{
    uint32_t code;
    *take = 1;
    if (p[0] < 0x80)
        return (p[0] < 0x20 && !(keep_tab && p[0] == '\t')) || p[0] == 0x7F;
    size_t len = utf8_decode((const char *)p, n, &code);
    if (len == 0 || code < 0xA0) /* invalid, or a C1 control */
        return true;
    *take = len;
    return false;
}

/* Appends s[0..n) escaped; a tab is kept when keep_tab (source lines,
 * where the caret line repeats it). */
static void put_escaped(StrBuf *b, const char *s, size_t n, bool keep_tab)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, take; i < n; i += take) {
        if (shown_escaped(p + i, n - i, keep_tab, &take))
            sb_printf(b, "\\x%02X", p[i]);
        else
            for (size_t k = 0; k < take; k++)
                sb_putc(b, (char)p[i + k]);
    }
}

/* Appends the blanks under s[0..n) as put_escaped shows it (tabs
 * repeated, an escaped byte four columns, a UTF-8 character one), so that
 * a caret after them stands under the next byte. */
static void put_blank_under(StrBuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0, take; i < n; i += take) {
        if (shown_escaped(p + i, n - i, true, &take))
            sb_puts(b, "    ");
        else
            sb_putc(b, p[i] == '\t' ? '\t' : ' ');
    }
}

/* Long lines are shown as a window around the column (SHOW_MAX bytes, cut
 * at character boundaries). */
#define SHOW_MAX 160

static bool is_continuation(const char *p)
{
    return ((unsigned char)*p & 0xC0) == 0x80;
}

/* The window [*start, *end) of line [p, p + n) shown for byte column col. */
static void source_window(const char *p, size_t n, size_t col, size_t *start, size_t *end)
{
    size_t s = col > SHOW_MAX / 2 ? col - SHOW_MAX / 2 : 0;
    if (s > n)
        s = n;
    size_t e = n - s < SHOW_MAX ? n : s + SHOW_MAX;
    for (int back = 0; back < 3 && s > 0 && s < n && is_continuation(p + s); back++)
        s--;
    for (int more = 0; more < 3 && e < n && is_continuation(p + e); more++)
        e++;
    *start = s;
    *end = e;
}

/* Appends loc's source line and a caret under its column, if the source
 * is known. */
static void put_source_line(StrBuf *b, Loc loc)
{
    if (!diag.text || !loc.file || !diag.file || strcmp(loc.file, diag.file) != 0)
        return;
    const char *p = diag.text, *end = diag.text + diag.len;
    for (int line = 1; line < loc.line && p < end; p++)
        if (*p == '\n')
            line++;
    if (p >= end && loc.line > 1)
        return;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
    size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0, start, stop;
    source_window(p, n, col, &start, &stop);
    sb_puts(b, start ? " ..." : " ");
    put_escaped(b, p + start, stop - start, true);
    sb_puts(b, stop < n ? "...\n" : "\n");
    sb_puts(b, start ? "    " : " ");
    put_blank_under(b, p + start, (col < stop ? col : stop) - start); /* start <= col */
    sb_puts(b, "^\n");
}

/* One diagnostic, built whole and written at once. */
static void vreport(const char *kind, Loc loc, const char *fmt, va_list ap)
{
    StrBuf b = {0};
    if (loc.file) {
        put_escaped(&b, loc.file, strlen(loc.file), false);
        if (loc.line > 0)
            sb_printf(&b, ":%d:%d", loc.line, loc.col > 0 ? loc.col : 1);
        sb_printf(&b, ": %s: ", kind);
    } else {
        sb_printf(&b, "cnnc: %s: ", kind);
    }
    va_list copy;
    va_copy(copy, ap);
    int len = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *msg = xmalloc(len > 0 ? (size_t)len + 1 : 1);
    vsnprintf(msg, len > 0 ? (size_t)len + 1 : 1, fmt, ap);
    put_escaped(&b, msg, len > 0 ? (size_t)len : 0, false);
    free(msg);
    sb_putc(&b, '\n');
    if (loc.line > 0)
        put_source_line(&b, loc);
    if (diag.holding)
        sb_printf(&diag.held, "%.*s", (int)b.len, b.s);
    else
        fwrite(b.s, 1, b.len, stderr);
    sb_free(&b);
}

void diag_hold(void)
{
    diag.holding = true;
    diag.errors_before = diag.errors;
}

void diag_release(bool write)
{
    if (write && diag.held.len)
        fwrite(diag.held.s, 1, diag.held.len, stderr);
    else if (!write)
        diag.errors = diag.errors_before;
    sb_free(&diag.held);
    diag.held = (StrBuf){0};
    diag.holding = false;
}

void diag_verror(Loc loc, const char *fmt, va_list ap)
{
    diag.errors++;
    if (diag.errors > DIAG_MAX_ERRORS)
        return;
    vreport("error", loc, fmt, ap);
    if (diag.errors == DIAG_MAX_ERRORS)
        diag_note((Loc){loc.file ? loc.file : "cnnc", 0, 0}, "too many errors, stopping here");
}

void diag_error(Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(loc, fmt, ap);
    va_end(ap);
}

bool diag_quiet_warnings(bool quiet)
{
    bool was = diag.quiet;
    diag.quiet = quiet;
    return was;
}

void diag_warning(Loc loc, const char *fmt, ...)
{
    if (diag.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vreport("warning", loc, fmt, ap);
    va_end(ap);
}

void diag_note(Loc loc, const char *fmt, ...)
{
    if (diag.errors > DIAG_MAX_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vreport("note", loc, fmt, ap);
    va_end(ap);
}

_Noreturn void internal_error_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cnnc: internal error at %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
