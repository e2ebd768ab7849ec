/* print.h: text out of the test harnesses, a line at a time, with no
 * printf. Takes strings, decimal and hex numbers, floats as their exact bits;
 * gives them to semihosting on the target (semihost.h), to stdout on the
 * host (the same harness compiled natively is the training test's second
 * reference). */
#ifndef PRINT_H
#define PRINT_H

#include <stdint.h>

#ifdef __arm__
#include "semihost.h"
#define print_text semihost_puts
#else
#include <stdio.h>
static void print_text(const char *s)
{
    fputs(s, stdout);
}
#endif

static char line[128];
static int line_len;

static void flush(void)
{
    line[line_len] = '\0';
    print_text(line);
    line_len = 0;
}

static void put_char(char c)
{
    line[line_len++] = c;
    if (line_len == (int)sizeof line - 1)
        flush();
}

static void put_str(const char *s)
{
    while (*s)
        put_char(*s++);
}

static void put_hex(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4)
        put_char("0123456789abcdef"[(v >> shift) & 15]);
}

static void put_dec(uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put_char(digits[--n]);
}

static uint32_t float_bits(float f)
{
    union {
        float f;
        uint32_t u;
    } u = {f};
    return u.u;
}

#endif
