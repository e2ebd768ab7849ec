/* test_npy.c: the .npy reader/writer of runtime/npy.c.
 *
 * Well-formed files are built byte for byte the way NumPy 1.24 writes them
 * (the header texts below were copied from np.lib.format.write_array's
 * output), so the reader is checked against NumPy, not against our writer.
 * Then every kind of malformed file must give -1, a message naming the
 * problem, and no data; the sanitizer build checks that none of them
 * reads out of bounds or leaks. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"
#include "check_run.h"

static char dir[] = "/tmp/test_npy_XXXXXX";
static char path[512];
static char err[CNNC_NPY_ERR_SIZE];

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/a.npy", dir);
}

static void teardown(void)
{
    char tmp[600];
    unlink(path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    rmdir(dir);
    strcpy(dir, "/tmp/test_npy_XXXXXX");
}

static void write_bytes(const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* A string literal's bytes, without its NUL. */
#define WRITE_LIT(s) write_bytes(s, sizeof(s) - 1)

/* A file as NumPy lays it out: magic, version, header length, the dict
 * padded with spaces to a multiple of 64 and a newline, then `data`. */
static void write_npy(int major, const char *dict, const void *data, size_t ndata)
{
    unsigned char buf[1024];
    size_t lenbytes = major == 1 ? 2 : 4, pre = 8 + lenbytes, n = strlen(dict);
    size_t total = (pre + n + 1 + 63) / 64 * 64, hlen = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < lenbytes; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + pre, dict, n);
    memset(buf + pre + n, ' ', total - pre - n - 1);
    buf[total - 1] = '\n';
    ck_assert_uint_le(total + ndata, sizeof buf);
    if (ndata)
        memcpy(buf + total, data, ndata);
    write_bytes(buf, total + ndata);
}

static const float six[6] = {1.5f, -2, 3, 4, 5, 0.25f};

START_TEST(reads_numpy_f4)
{
    CnncNpy a;
    write_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", six, sizeof six);
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.type, CNNC_NPY_F32);
    ck_assert_int_eq(a.rank, 2);
    ck_assert_int_eq(a.shape[0], 2);
    ck_assert_int_eq(a.shape[1], 3);
    ck_assert_int_eq(a.count, 6);
    ck_assert_mem_eq(a.data, six, sizeof six);
    cnnc_npy_free(&a);
    ck_assert_ptr_null(a.data);
}
END_TEST

START_TEST(reads_format_2_and_3)
{
    CnncNpy a;
    for (int major = 2; major <= 3; major++) {
        write_npy(major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", six, 8);
        ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
        ck_assert_int_eq(a.rank, 1);
        ck_assert_int_eq(a.count, 2);
        ck_assert_float_eq(((float *)a.data)[1], -2.0f);
        cnnc_npy_free(&a);
    }
}
END_TEST

START_TEST(reads_any_key_order_and_double_quotes)
{
    CnncNpy a;
    write_npy(1, "{\"shape\": (3L,2), \"fortran_order\": False, \"descr\": \"<f4\"}", six,
              sizeof six);
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.shape[0], 3);
    ck_assert_int_eq(a.shape[1], 2);
    cnnc_npy_free(&a);
}
END_TEST

START_TEST(reads_zero_d_and_empty)
{
    CnncNpy a;
    float x = 2.5f;
    write_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &x, 4);
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.rank, 0);
    ck_assert_int_eq(a.count, 1);
    ck_assert_float_eq(*(float *)a.data, 2.5f);
    cnnc_npy_free(&a);
    write_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", NULL, 0);
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.count, 0);
    cnnc_npy_free(&a);
}
END_TEST

START_TEST(labels_i8_and_i4)
{
    CnncNpy a;
    int32_t out[3];
    const int64_t l8[3] = {3, 0, 9};
    const int32_t l4[3] = {1, 2, 7};
    write_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", l8, sizeof l8);
    ck_assert_int_eq(cnnc_npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.type, CNNC_NPY_I64);
    ck_assert_int_eq(cnnc_npy_labels(&a, out, 10, err, sizeof err), 0);
    ck_assert_int_eq(out[0], 3);
    ck_assert_int_eq(out[2], 9);
    ck_assert_int_eq(cnnc_npy_labels(&a, out, 9, err, sizeof err), -1);
    ck_assert_str_eq(err, "label 9 at index 2 is outside [0, 9)");
    cnnc_npy_free(&a);

    write_npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", l4, sizeof l4);
    ck_assert_int_eq(cnnc_npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(a.type, CNNC_NPY_I32);
    ck_assert_int_eq(cnnc_npy_labels(&a, out, 10, err, sizeof err), 0);
    ck_assert_int_eq(out[2], 7);
    cnnc_npy_free(&a);
    /* labels are not float data */
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "int32 ('<i4')"));
    ck_assert_ptr_null(a.data);
}
END_TEST

START_TEST(labels_reject_negative_float_and_2d)
{
    CnncNpy a;
    int32_t out[6];
    const int64_t neg[2] = {1, -1};
    write_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", neg, sizeof neg);
    ck_assert_int_eq(cnnc_npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(cnnc_npy_labels(&a, out, 10, err, sizeof err), -1);
    ck_assert_str_eq(err, "label -1 at index 1 is outside [0, 10)");
    cnnc_npy_free(&a);
    write_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", six, sizeof six);
    ck_assert_int_eq(cnnc_npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(cnnc_npy_labels(&a, out, 10, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "must be integers"));
    cnnc_npy_free(&a);
    write_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }", neg, sizeof neg);
    ck_assert_int_eq(cnnc_npy_read(path, &a, err, sizeof err), 0);
    ck_assert_int_eq(cnnc_npy_labels(&a, out, 10, err, sizeof err), -1);
    ck_assert_str_eq(err, "labels must be one-dimensional, found shape (1, 2)");
    cnnc_npy_free(&a);
}
END_TEST

/* Our writer against NumPy's layout: np.save of this array gives these
 * 152 bytes (a header of 0x76 bytes after the 10-byte prelude). */
START_TEST(writes_numpy_layout)
{
    const int64_t shape[2] = {2, 3};
    ck_assert_int_eq(cnnc_npy_write_f32(path, six, 2, shape, err, sizeof err), 0);
    FILE *f = fopen(path, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    ck_assert_uint_eq(n, 128 + sizeof six);
    ck_assert_mem_eq(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
    ck_assert_mem_eq(buf + 10, dict, strlen(dict));
    for (size_t i = 10 + strlen(dict); i < 127; i++)
        ck_assert_int_eq(buf[i], ' ');
    ck_assert_int_eq(buf[127], '\n');
    ck_assert_mem_eq(buf + 128, six, sizeof six);
    /* no temporary file is left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0);
}
END_TEST

START_TEST(round_trip_ranks_0_to_5)
{
    float data[32];
    for (int i = 0; i < 32; i++)
        data[i] = (float)i * 0.5f - 3.0f;
    const int64_t shape[5] = {2, 1, 2, 2, 4};
    for (int rank = 0; rank <= 5; rank++) {
        CnncNpy a;
        ck_assert_int_eq(cnnc_npy_write_f32(path, data, rank, shape, err, sizeof err), 0);
        ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
        ck_assert_int_eq(a.rank, rank);
        int64_t count = 1;
        for (int i = 0; i < rank; i++) {
            ck_assert_int_eq(a.shape[i], shape[i]);
            count *= shape[i];
        }
        ck_assert_int_eq(a.count, count);
        ck_assert_mem_eq(a.data, data, (size_t)count * 4);
        cnnc_npy_free(&a);
    }
}
END_TEST

START_TEST(write_into_missing_folder_fails)
{
    const int64_t shape[1] = {1};
    ck_assert_int_eq(cnnc_npy_write_f32("/nonexistent-dir/x.npy", six, 1, shape, err, sizeof err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot create"));
}
END_TEST

START_TEST(shape_str_and_escape)
{
    char buf[64];
    const int64_t s[3] = {4, 1, 28};
    ck_assert_uint_eq(cnnc_npy_shape_str(s, 0, buf, sizeof buf), 2);
    ck_assert_str_eq(buf, "()");
    cnnc_npy_shape_str(s, 1, buf, sizeof buf);
    ck_assert_str_eq(buf, "(4,)");
    cnnc_npy_shape_str(s, 3, buf, sizeof buf);
    ck_assert_str_eq(buf, "(4, 1, 28)");

    ck_assert_uint_eq(cnnc_npy_escape("onnx::Conv_193", buf, sizeof buf), 18);
    ck_assert_str_eq(buf, "onnx%3A%3AConv_193");
    cnnc_npy_escape("conv1.weight", buf, sizeof buf);
    ck_assert_str_eq(buf, "conv1.weight");
    cnnc_npy_escape("a b/c\xc3\xa9-Z9", buf, sizeof buf);
    ck_assert_str_eq(buf, "a%20b%2Fc%C3%A9-Z9");
    /* snprintf semantics: the full length, a truncated but terminated text */
    ck_assert_uint_eq(cnnc_npy_escape("a:b", buf, 3), 5);
    ck_assert_str_eq(buf, "a%");

    cnnc_npy_param_path("w", "bn1.running_mean", buf, sizeof buf);
    ck_assert_str_eq(buf, "w/bn1.running_mean.npy");
    ck_assert_uint_eq(cnnc_npy_param_path("out/", "x:y", buf, sizeof buf), 13);
    ck_assert_str_eq(buf, "out/x%3Ay.npy");
    ck_assert_uint_eq(cnnc_npy_param_path("out", "x:y", NULL, 0), 13);
}
END_TEST

/* ---- malformed files: each an error naming the problem, never a crash ---- */

static void expect_error(const char *what)
{
    CnncNpy a;
    memset(&a, 0x5a, sizeof a);
    ck_assert_int_eq(cnnc_npy_read(path, &a, err, sizeof err), -1);
    ck_assert_msg(strstr(err, what) != NULL, "error '%s' lacks '%s'", err, what);
    ck_assert_ptr_null(a.data);
}

static void bad_header(const char *dict, const void *data, size_t n, const char *what)
{
    write_npy(1, dict, data, n);
    expect_error(what);
}

START_TEST(rejects_missing_and_short_files)
{
    CnncNpy a;
    ck_assert_int_eq(cnnc_npy_read("/nonexistent/x.npy", &a, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
    WRITE_LIT("");
    expect_error("bad magic");
    WRITE_LIT("\x93NUM");
    expect_error("bad magic");
    WRITE_LIT("PK\x03\x04 this is a zip");
    expect_error("bad magic");
    WRITE_LIT("\x93NUMPY\x01");
    expect_error("truncated .npy header");
    WRITE_LIT("\x93NUMPY\x02\x00\x10\x00");
    expect_error("truncated .npy header");
}
END_TEST

START_TEST(rejects_bad_version_and_length)
{
    WRITE_LIT("\x93NUMPY\x04\x00\x10\x00{}");
    expect_error("unsupported .npy format version 4.0");
    WRITE_LIT("\x93NUMPY\x01\x01\x10\x00{}");
    expect_error("version 1.1");
    WRITE_LIT("\x93NUMPY\x01\x00\xff\xff{'descr'");
    expect_error("header length 65535 goes beyond the end of the file (18 bytes)");
    WRITE_LIT("\x93NUMPY\x02\x00\xff\xff\xff\xff{}");
    expect_error("header length 4294967295 goes beyond");
}
END_TEST

START_TEST(rejects_malformed_dicts)
{
    bad_header("hello", NULL, 0, "expected '{'");
    bad_header("{'descr': '<f4', 'fortran_order': False}", NULL, 0, "missing key 'shape'");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", six, 4,
               "unexpected or repeated key 'extra'");
    bad_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", six, 4,
               "repeated key 'descr'");
    bad_header("{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", six, 4,
               "expected ':' after 'descr'");
    bad_header("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", six, 4,
               "'fortran_order' is not True or False");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", six, 4,
               "'shape' is not a tuple");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", six, 4,
               "expected ',' or ')'");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (a,)}", six, 4,
               "expected a dimension");
    bad_header("{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}", six, 4,
               "expected ',' or '}'");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", six, 4,
               "text after the closing '}'");
    /* a header cut inside a string: the dict ends where the length says */
    WRITE_LIT("\x93NUMPY\x01\x00\x06\x00{'desc");
    expect_error("unterminated string");
}
END_TEST

START_TEST(rejects_unsupported_dtypes)
{
    bad_header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", six, 4,
               "big-endian dtype '>f4'");
    bad_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", six, 8,
               "unsupported dtype '<f8'");
    bad_header("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }", six, 1,
               "unsupported dtype '|u1'");
    bad_header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", six, 4,
               "structured dtypes");
    bad_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", six, sizeof six,
               "fortran_order True");
}
END_TEST

START_TEST(accepts_fortran_order_of_vectors)
{
    CnncNpy a;
    write_npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6), }", six, sizeof six);
    ck_assert_int_eq(cnnc_npy_read_f32(path, &a, err, sizeof err), 0);
    ck_assert_mem_eq(a.data, six, sizeof six);
    cnnc_npy_free(&a);
}
END_TEST

START_TEST(rejects_bad_shapes_and_sizes)
{
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }", six, 8,
               "negative dimension");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
               six, 8, "dimension too large");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, "
               "1099511627776), }",
               six, 8, "has too many elements");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2305843009213693952,), }",
               six, 8, "has too many elements");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), "
               "}",
               six, 4, "more than 8 dimensions");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", six, 20,
               "float32 ('<f4') data of shape (2, 3) needs 24 bytes, the file holds 20");
    bad_header("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", six, 24,
               "needs 32 bytes, the file holds 24");
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", six, 24,
               "needs 20 bytes, the file holds 24");
    /* a huge shape with too little data is refused before allocating */
    bad_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000), }", six,
               24, "needs 4000000000000 bytes");
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reads_numpy_f4);
    tcase_add_test(tc, reads_format_2_and_3);
    tcase_add_test(tc, reads_any_key_order_and_double_quotes);
    tcase_add_test(tc, reads_zero_d_and_empty);
    tcase_add_test(tc, labels_i8_and_i4);
    tcase_add_test(tc, labels_reject_negative_float_and_2d);
    tcase_add_test(tc, writes_numpy_layout);
    tcase_add_test(tc, round_trip_ranks_0_to_5);
    tcase_add_test(tc, write_into_missing_folder_fails);
    tcase_add_test(tc, shape_str_and_escape);
    tcase_add_test(tc, rejects_missing_and_short_files);
    tcase_add_test(tc, rejects_bad_version_and_length);
    tcase_add_test(tc, rejects_malformed_dicts);
    tcase_add_test(tc, rejects_unsupported_dtypes);
    tcase_add_test(tc, accepts_fortran_order_of_vectors);
    tcase_add_test(tc, rejects_bad_shapes_and_sizes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(npy_suite());
}
