/* test_diag.c: what diagnostics echo (compiler/util/diag.c). Control bytes
 * and bytes that are not valid UTF-8 come out as \xNN, valid UTF-8 as it
 * is, in the file name, the message and the source line, with the caret
 * under the right character. Expected texts are written by hand from the
 * UTF-8 rules (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF) and from what a terminal would obey (C0, DEL, C1). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* The message "[<bytes>]" reported at no position, as printed. */
static char *report(const char *bytes)
{
    diag_reset();
    capture_stderr();
    diag_error((Loc){"m.cnn", 0, 0}, "[%s]", bytes);
    return captured_text();
}

static void expect_echo(const char *bytes, const char *shown)
{
    char *got = report(bytes), want[256];
    snprintf(want, sizeof want, "m.cnn: error: [%s]\n", shown);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(control_bytes_escaped)
{
    expect_echo("a\x1b[31mb", "a\\x1B[31mb");
    expect_echo("tab\there", "tab\\x09here");
    expect_echo("del\x7f", "del\\x7F");
    expect_echo("bell\a", "bell\\x07");
}
END_TEST

START_TEST(c1_controls_escaped)
{
    expect_echo("\xc2\x85", "\\xC2\\x85");      /* U+0085 NEL */
    expect_echo("\xc2\x9b" "2J", "\\xC2\\x9B2J"); /* U+009B CSI */
    expect_echo("\xc2\xa0", "\xc2\xa0");        /* U+00A0, the first one after them */
}
END_TEST

START_TEST(invalid_utf8_escaped)
{
    expect_echo("caf\xe9", "caf\\xE9");             /* Latin-1 */
    expect_echo("\xc0\xaf", "\\xC0\\xAF");          /* overlong '/' */
    expect_echo("\xe0\x80\xaf", "\\xE0\\x80\\xAF"); /* overlong, 3 bytes */
    expect_echo("\xed\xa0\x80", "\\xED\\xA0\\x80"); /* surrogate U+D800 */
    expect_echo("\xf4\x90\x80\x80", "\\xF4\\x90\\x80\\x80"); /* past U+10FFFF */
    expect_echo("\xe2\x82", "\\xE2\\x82");          /* truncated */
    expect_echo("\x80" "a", "\\x80a");              /* a lone continuation byte */
}
END_TEST

START_TEST(valid_utf8_kept)
{
    expect_echo("\xce\xbb", "\xce\xbb");                 /* λ */
    expect_echo("\xe2\x9c\x93", "\xe2\x9c\x93");         /* ✓ */
    expect_echo("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* U+1F600 */
    expect_echo("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last */
}
END_TEST

START_TEST(file_name_escaped)
{
    diag_reset();
    capture_stderr();
    diag_error((Loc){"a\nb.onnx", 0, 0}, "x");
    char *got = captured_text();
    ck_assert_str_eq(got, "a\\x0Ab.onnx: error: x\n");
    free(got);
}
END_TEST

/* The source line keeps tabs and UTF-8 and escapes the rest; the caret
 * stands under the byte at the column, counting an escape as four columns
 * and a UTF-8 character as one. */
START_TEST(source_line_and_caret)
{
    static const char text[] = "model m {\n\t\xce\xbb\x01 @x\n}\n";
    diag_reset();
    diag_set_source("m.cnn", text, sizeof text - 1);
    capture_stderr();
    diag_error((Loc){"m.cnn", 2, 6}, "here"); /* the '@': byte 6 of line 2 */
    char *got = captured_text();
    ck_assert_str_eq(got, "m.cnn:2:6: error: here\n"
                          " \t\xce\xbb\\x01 @x\n"
                          " \t      ^\n");
    free(got);
    diag_reset();
}
END_TEST

/* A long line is shown as a window that never starts or ends inside a
 * UTF-8 character. */
START_TEST(window_cut_at_characters)
{
    char text[512] = "a";
    size_t n = 1;
    for (int i = 0; i < 100; i++) { /* 100 x "λ": bytes 1 to 200 */
        text[n++] = '\xce';
        text[n++] = '\xbb';
    }
    text[n++] = 'b';
    text[n++] = '@'; /* byte 202: an 80-byte margin starts the window at 122, inside a λ */
    text[n] = '\0';
    diag_reset();
    diag_set_source("m.cnn", text, n);
    capture_stderr();
    diag_error((Loc){"m.cnn", 1, 203}, "here");
    char *got = captured_text();
    ck_assert_ptr_null(strstr(got, "\\x")); /* no half character escaped */
    ck_assert_ptr_nonnull(strstr(got, " ...\xce\xbb"));
    ck_assert_ptr_nonnull(strstr(got, "\xce\xbb" "b@\n"));
    free(got);
    diag_reset();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("diag");
    TCase *tc = tcase_create("escaping");
    tcase_add_test(tc, control_bytes_escaped);
    tcase_add_test(tc, c1_controls_escaped);
    tcase_add_test(tc, invalid_utf8_escaped);
    tcase_add_test(tc, valid_utf8_kept);
    tcase_add_test(tc, file_name_escaped);
    tcase_add_test(tc, source_line_and_caret);
    tcase_add_test(tc, window_cut_at_characters);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
