/* npy.h: reading and writing NumPy .npy files, for cnnc and for the
 * programs it generates (contract, conventions and section 5).
 *
 * Reads format 1.0, 2.0 and 3.0, C order, little-endian `<f4` (data) and
 * `<i4`/`<i8` (class labels). Writes format 1.0 `<f4` of any rank, 0-d
 * included. Nothing here aborts or prints: every failure returns -1 with a
 * one-line message in the caller's buffer, without the file name, so that
 * the caller prints `FILE: error: MESSAGE` (contract, section 4).
 *
 * Pure C99 with <stdio.h> <stdlib.h> <string.h> <stdint.h> <limits.h>
 * only, and no writable globals: generated programs embed this file. */
#ifndef CNNC_NPY_H
#define CNNC_NPY_H

#include "cnnc_rt.h"

#include <stddef.h>
#include <stdint.h>

/* Ranks beyond this are rejected (cnnc's tensors have at most 6 dims plus
 * the batch). */
#define CNNC_NPY_MAX_RANK 8
/* A size for the caller's error buffer that no message exceeds. */
#define CNNC_NPY_ERR_SIZE 256

typedef enum {
    CNNC_NPY_F32, /* '<f4' */
    CNNC_NPY_I32, /* '<i4' */
    CNNC_NPY_I64, /* '<i8' */
} CnncNpyType;

typedef struct {
    CnncNpyType type;
    int rank;
    int64_t shape[CNNC_NPY_MAX_RANK];
    int64_t count; /* product of shape; 1 for a 0-d array */
    void *data;    /* count values of `type`, host byte order, C order */
} CnncNpy;

/* Reads a whole .npy file of any supported type into *a (free it with
 * cnnc_npy_free). On error returns -1 and leaves *a empty. */
CNNC_RT_API int cnnc_npy_read(const char *path, CnncNpy *a, char *err, size_t errsize);
/* The same, but the data must be float32. */
CNNC_RT_API int cnnc_npy_read_f32(const char *path, CnncNpy *a, char *err, size_t errsize);
CNNC_RT_API void cnnc_npy_free(CnncNpy *a);

/* Class labels: a rank-1 integer array (int32 or int64) converted into
 * out[0..a->count), each checked to lie in [0, nclass). */
CNNC_RT_API int cnnc_npy_labels(const CnncNpy *a, int32_t *out, int64_t nclass, char *err,
                                size_t errsize);

/* Writes `data` (C order, shape[0..rank)) as a format 1.0 '<f4' file. The
 * file appears whole or not at all: written to PATH.tmp, then renamed. */
CNNC_RT_API int cnnc_npy_write_f32(const char *path, const float *data, int rank,
                                   const int64_t *shape, char *err, size_t errsize);

/* A shape as a Python tuple, the way .npy headers and NumPy print it:
 * "()", "(5,)", "(2, 3)". Returns the full length, like snprintf. */
CNNC_RT_API size_t cnnc_npy_shape_str(const int64_t *shape, int rank, char *out, size_t size);

/* A parameter's file name (contract, section 5): every byte of `name`
 * outside [A-Za-z0-9._-] written as %XX, upper-case hex. Both return the
 * full length like snprintf (truncating when it does not fit `size`). */
CNNC_RT_API size_t cnnc_npy_escape(const char *name, char *out, size_t size);
/* "DIR/<escaped name>.npy". */
CNNC_RT_API size_t cnnc_npy_param_path(const char *dir, const char *name, char *out, size_t size);

#endif
