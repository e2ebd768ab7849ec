/* image.h: binary PGM and PPM images (netpbm's P5 and P6, 8- and 16-bit)
 * as model inputs, for `cnnc run` and for the `infer` command of the
 * programs cnnc generates (contract, section 3).
 *
 * An image goes in as it is: its size must be the model's (no resize) and
 * its kind the model's channels (P5 for 1, P6 for 3; no colour
 * conversion). Each sample is scaled to [0, 1] by the file's maxval, then
 * normalised per channel as (x - mean) * inv_std, the way the generated
 * P_image_to_input does, into one C x H x W sample.
 *
 * Like npy.h, nothing here aborts or prints but cnnc_print_top: every
 * failure returns -1 with a one-line message without the file name in the
 * caller's buffer, and the loaders say which file it was about, so that
 * the caller prints `FILE: error: MESSAGE` (contract, section 4).
 * Directories need POSIX (opendir); elsewhere a folder is an error. */
#ifndef CNNC_IMAGE_H
#define CNNC_IMAGE_H

#include "cnnc_rt.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The largest width or height, and the most pixels, an image may have:
 * far beyond any model input, small enough that a hostile header cannot
 * make the reader allocate more than a few hundred megabytes. */
#define CNNC_IMAGE_MAX_SIDE 32768
#define CNNC_IMAGE_MAX_PIXELS (1L << 26)
#define CNNC_IMAGE_ERR_SIZE 256

typedef struct {
    int width, height, channels; /* channels: 1 (P5) or 3 (P6) */
    int maxval;                  /* 1..65535; above 255, two bytes a sample */
    uint16_t *samples;           /* height * width * channels, row-major HWC */
} CnncImage;

/* Parses a whole P5/P6 file held in memory. Samples above maxval, a short
 * raster and any malformed header are errors; bytes after the raster (a
 * second image of a netpbm stream) are ignored. */
CNNC_RT_API int cnnc_image_parse(const unsigned char *data, size_t size, CnncImage *im, char *err,
                                 size_t errsize);
CNNC_RT_API int cnnc_image_read(const char *path, CnncImage *im, char *err, size_t errsize);
CNNC_RT_API void cnnc_image_free(CnncImage *im);

/* What the model takes: channels x height x width, and per channel the
 * mean and 1/std to normalise with (both NULL: scaling to [0, 1] only). */
typedef struct {
    int channels, height, width;
    const float *mean, *inv_std;
} CnncImageSpec;

/* -1 with a message naming both sizes (or kinds) unless im fits spec. */
CNNC_RT_API int cnnc_image_check(const CnncImage *im, const CnncImageSpec *spec, char *err,
                                 size_t errsize);
/* One fitting image into spec->channels * height * width floats. */
CNNC_RT_API void cnnc_image_to_input(const CnncImage *im, const CnncImageSpec *spec, float *out);

/* 1 if `path` is a folder or names an image (.pgm .ppm .pnm, or a file
 * that starts with P5 or P6): the inputs that take this path instead of
 * the .npy reader. */
CNNC_RT_API int cnnc_is_image_input(const char *path);

/* Every image of a path: the file itself, or a folder's .pgm/.ppm/.pnm
 * files in byte order of their names. */
typedef struct {
    int n;
    char **paths; /* n file paths */
    float *data;  /* n samples of spec's shape, one after another */
} CnncImageSet;

/* Loads and converts every image of `path`; on error returns -1 with the
 * message in err and the file it is about in where. */
CNNC_RT_API int cnnc_image_set_load(const char *path, const CnncImageSpec *spec, CnncImageSet *s,
                                    char *where, size_t wheresize, char *err, size_t errsize);
CNNC_RT_API void cnnc_image_set_free(CnncImageSet *s);

/* Prints the `top` highest-scoring of k classes of one sample, each with
 * its probability (the scores themselves when `probs`, else their
 * softmax), as
 *     cat.ppm: top 5 of 10 classes
 *       class 3: 0.4123
 *       ...
 * ties in order of the class number. */
CNNC_RT_API void cnnc_print_top(FILE *f, const char *name, const float *scores, int k, int top,
                                int probs);

#endif
