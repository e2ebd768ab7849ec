/* diag.c: gcc-style diagnostics, `FILE:LINE:COL: error: msg`, followed by
 * the source line and a caret under the column when the source is known.
 * Errors are counted so that a front end can go on and report them all. */
#include "../cnnc.h"

#include <stdlib.h>
#include <string.h>

static struct {
    const char *file, *text;
    size_t len;
    int errors;
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

/* Long lines are shown as a window around the column. */
#define SHOW_MAX 160

static void show_source_line(Loc loc)
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
    size_t col = loc.col > 0 ? (size_t)loc.col - 1 : 0;
    size_t start = col > SHOW_MAX / 2 ? col - SHOW_MAX / 2 : 0;
    if (start > n)
        start = n;
    size_t shown = n - start < SHOW_MAX ? n - start : SHOW_MAX;
    fputs(start ? " ..." : " ", stderr);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)p[start + i];
        fputc(c == '\t' || (c >= 32 && c < 127) ? c : '?', stderr);
    }
    fputs(start + shown < n ? "...\n" : "\n", stderr);
    fputs(start ? "    " : " ", stderr);
    for (size_t i = start; i < col && i < start + shown; i++)
        fputc(p[i] == '\t' ? '\t' : ' ', stderr);
    fputs("^\n", stderr);
}

static void vreport(const char *kind, Loc loc, const char *fmt, va_list ap)
{
    if (loc.file && loc.line > 0)
        fprintf(stderr, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col > 0 ? loc.col : 1, kind);
    else if (loc.file)
        fprintf(stderr, "%s: %s: ", loc.file, kind);
    else
        fprintf(stderr, "cnnc: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    if (loc.line > 0)
        show_source_line(loc);
}

void diag_verror(Loc loc, const char *fmt, va_list ap)
{
    diag.errors++;
    if (diag.errors > DIAG_MAX_ERRORS)
        return;
    vreport("error", loc, fmt, ap);
    if (diag.errors == DIAG_MAX_ERRORS)
        fprintf(stderr, "%s: note: too many errors, stopping here\n", loc.file ? loc.file : "cnnc");
}

void diag_error(Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(loc, fmt, ap);
    va_end(ap);
}

void diag_warning(Loc loc, const char *fmt, ...)
{
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
