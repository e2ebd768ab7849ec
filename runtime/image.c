/* image.c: the PGM/PPM reader, the conversion into model inputs, folders
 * of images and the top-k printer declared in image.h.
 *
 * A binary netpbm file is "P5" (grey) or "P6" (RGB), whitespace, the
 * width, height and maxval as decimal numbers separated by whitespace
 * (with `#` comments to the end of a line anywhere among them), exactly
 * one whitespace byte, then the raster: one byte a sample when maxval is
 * below 256, else two, most significant first.
 *
 * The reader trusts nothing: every number is bounded while it is read, the
 * raster's size is checked against the bytes actually present before
 * anything is allocated for it, and a file is read in growing chunks, so a
 * hostile header costs an error message, never a crash or a huge
 * allocation. Static helpers are prefixed im_ because generated programs
 * paste several runtime files into one translation unit. */
#include "image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#include <dirent.h>
#include <sys/stat.h>
#define IM_HAVE_DIRS 1
#endif

/* The largest file read: a maximal 16-bit RGB raster and its header. */
#define IM_MAX_FILE ((size_t)CNNC_IMAGE_MAX_PIXELS * 6 + 4096)

static int im_fail(char *err, size_t errsize, const char *msg)
{
    snprintf(err, errsize, "%s", msg);
    return -1;
}

/* ---- parsing ---- */

typedef struct {
    const unsigned char *p, *end;
} ImCursor;

static int im_is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Whitespace and comments before a header number; at least one byte. */
static int im_skip_gap(ImCursor *c)
{
    const unsigned char *start = c->p;
    while (c->p < c->end) {
        if (*c->p == '#')
            while (c->p < c->end && *c->p != '\n' && *c->p != '\r')
                c->p++;
        else if (im_is_space(*c->p))
            c->p++;
        else
            break;
    }
    return c->p > start ? 0 : -1;
}

/* A header number in [lo, hi]; `what` names it in the message. */
static int im_number(ImCursor *c, const char *what, long lo, long hi, long *v, char *err,
                     size_t errsize)
{
    if (im_skip_gap(c) != 0 || c->p == c->end || *c->p < '0' || *c->p > '9') {
        snprintf(err, errsize, "not a PGM/PPM header: expected the %s, a decimal number", what);
        return -1;
    }
    *v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (*v <= hi)
            *v = *v * 10 + (*c->p - '0'); /* stops growing past hi: no overflow */
        c->p++;
    }
    if (*v < lo || *v > hi) {
        snprintf(err, errsize, "%s %s%ld is out of range (%ld to %ld)", what,
                 *v > hi ? "above " : "", *v > hi ? hi : *v, lo, hi);
        return -1;
    }
    return 0;
}

/* The magic and the three numbers; leaves c at the raster. */
static int im_header(ImCursor *c, CnncImage *im, char *err, size_t errsize)
{
    long w, h, maxval;
    if (c->end - c->p < 2 || c->p[0] != 'P' || (c->p[1] != '5' && c->p[1] != '6'))
        return im_fail(err, errsize,
                       "not a binary PGM/PPM image (the file does not start with P5 or P6)");
    im->channels = c->p[1] == '5' ? 1 : 3;
    c->p += 2;
    if (im_number(c, "width", 1, CNNC_IMAGE_MAX_SIDE, &w, err, errsize) != 0 ||
        im_number(c, "height", 1, CNNC_IMAGE_MAX_SIDE, &h, err, errsize) != 0 ||
        im_number(c, "maxval", 1, 65535, &maxval, err, errsize) != 0)
        return -1;
    if (w * h > CNNC_IMAGE_MAX_PIXELS) {
        snprintf(err, errsize, "%ldx%ld pixels is more than the %ld an image may have", w, h,
                 (long)CNNC_IMAGE_MAX_PIXELS);
        return -1;
    }
    if (c->p == c->end || !im_is_space(*c->p))
        return im_fail(err, errsize, "not a PGM/PPM header: no whitespace after the maxval");
    c->p++;
    im->width = (int)w;
    im->height = (int)h;
    im->maxval = (int)maxval;
    return 0;
}

static int im_raster(ImCursor *c, CnncImage *im, char *err, size_t errsize)
{
    size_t count = (size_t)im->width * (size_t)im->height * (size_t)im->channels;
    size_t width = im->maxval > 255 ? 2 : 1, have = (size_t)(c->end - c->p);
    if (have < count * width) {
        snprintf(err, errsize, "truncated: the %dx%d raster needs %lu bytes, the file holds %lu",
                 im->width, im->height, (unsigned long)(count * width), (unsigned long)have);
        return -1;
    }
    im->samples = malloc(count * sizeof *im->samples);
    if (!im->samples)
        return im_fail(err, errsize, "out of memory");
    for (size_t i = 0; i < count; i++) {
        unsigned v = width == 2 ? (unsigned)c->p[2 * i] << 8 | c->p[2 * i + 1] : c->p[i];
        if (v > (unsigned)im->maxval) {
            snprintf(err, errsize, "sample %lu is %u, above the maxval %d", (unsigned long)i, v,
                     im->maxval);
            free(im->samples);
            im->samples = NULL;
            return -1;
        }
        im->samples[i] = (uint16_t)v;
    }
    return 0;
}

CNNC_RT_API int cnnc_image_parse(const unsigned char *data, size_t size, CnncImage *im, char *err,
                                 size_t errsize)
{
    ImCursor c = {data, data + size};
    memset(im, 0, sizeof *im);
    if (im_header(&c, im, err, errsize) != 0 || im_raster(&c, im, err, errsize) != 0) {
        memset(im, 0, sizeof *im);
        return -1;
    }
    return 0;
}

CNNC_RT_API void cnnc_image_free(CnncImage *im)
{
    free(im->samples);
    memset(im, 0, sizeof *im);
}

/* The whole file into *buf (malloc), in doubling chunks up to IM_MAX_FILE. */
static int im_slurp(FILE *f, unsigned char **buf, size_t *size, char *err, size_t errsize)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap >= IM_MAX_FILE) {
            free(b);
            return im_fail(err, errsize, "the file is larger than any image cnnc reads");
        }
        unsigned char *grown = realloc(b, cap * 2);
        if (!grown)
            free(b);
        b = grown;
        cap *= 2;
    }
    if (!b)
        return im_fail(err, errsize, "out of memory");
    if (ferror(f)) {
        free(b);
        return im_fail(err, errsize, "read error");
    }
    *buf = b;
    *size = n;
    return 0;
}

CNNC_RT_API int cnnc_image_read(const char *path, CnncImage *im, char *err, size_t errsize)
{
    unsigned char *buf;
    size_t size;
    FILE *f = fopen(path, "rb");
    int rc;
    memset(im, 0, sizeof *im);
    if (!f)
        return im_fail(err, errsize, "cannot open the file");
    rc = im_slurp(f, &buf, &size, err, errsize);
    fclose(f);
    if (rc != 0)
        return -1;
    rc = cnnc_image_parse(buf, size, im, err, errsize);
    free(buf);
    return rc;
}

/* ---- into the model ---- */

static const char *im_kind(int channels)
{
    return channels == 1 ? "grey (P5)" : channels == 3 ? "RGB (P6)" : "other";
}

CNNC_RT_API int cnnc_image_check(const CnncImage *im, const CnncImageSpec *spec, char *err,
                                 size_t errsize)
{
    if (spec->channels != 1 && spec->channels != 3) {
        snprintf(err, errsize, "the model takes %d channels; an image has 1 (P5) or 3 (P6)",
                 spec->channels);
        return -1;
    }
    if (im->channels != spec->channels) {
        snprintf(err, errsize, "a %s image for a model that takes %s images (%d channels)",
                 im_kind(im->channels), im_kind(spec->channels), spec->channels);
        return -1;
    }
    if (im->width != spec->width || im->height != spec->height) {
        snprintf(err, errsize,
                 "the image is %dx%d (width x height); the model takes %dx%d (resize it first)",
                 im->width, im->height, spec->width, spec->height);
        return -1;
    }
    return 0;
}

CNNC_RT_API void cnnc_image_to_input(const CnncImage *im, const CnncImageSpec *spec, float *out)
{
    size_t plane = (size_t)spec->height * (size_t)spec->width;
    float scale = (float)im->maxval;
    for (int c = 0; c < spec->channels; c++)
        for (size_t p = 0; p < plane; p++) {
            float x = (float)im->samples[p * (size_t)spec->channels + (size_t)c] / scale;
            out[(size_t)c * plane + p] = spec->mean ? (x - spec->mean[c]) * spec->inv_std[c] : x;
        }
}

/* ---- paths and folders ---- */

static int im_has_image_suffix(const char *name)
{
    static const char *const suffixes[] = {".pgm", ".ppm", ".pnm"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t k = 0;
        while (k < 4 && n >= 4 && (name[n - 4 + k] | 0x20) == suffixes[i][k])
            k++;
        if (k == 4)
            return 1;
    }
    return 0;
}

static int im_is_dir(const char *path)
{
#ifdef IM_HAVE_DIRS
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
#else
    (void)path;
    return 0;
#endif
}

CNNC_RT_API int cnnc_is_image_input(const char *path)
{
    char magic[2] = {0, 0};
    FILE *f;
    if (im_is_dir(path) || im_has_image_suffix(path))
        return 1;
    f = fopen(path, "rb");
    if (!f)
        return 0;
    if (fread(magic, 1, 2, f) != 2)
        magic[0] = 0;
    fclose(f);
    return magic[0] == 'P' && (magic[1] == '5' || magic[1] == '6');
}

static int im_compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *im_join(const char *dir, const char *name)
{
    size_t n = strlen(dir), k = strlen(name);
    char *p = malloc(n + k + 2);
    if (p) {
        memcpy(p, dir, n);
        p[n] = '/';
        memcpy(p + n + 1, name, k + 1);
    }
    return p;
}

/* The folder's image files, sorted, into s->paths and s->n. */
static int im_list_dir(const char *path, CnncImageSet *s, char *err, size_t errsize)
{
#ifdef IM_HAVE_DIRS
    DIR *d = opendir(path);
    struct dirent *ent;
    int cap = 0;
    if (!d)
        return im_fail(err, errsize, "cannot open the folder");
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.' || !im_has_image_suffix(ent->d_name))
            continue;
        if (s->n == cap) {
            char **grown = cap < (1 << 20) ? realloc(s->paths, (size_t)(cap * 2 + 16) * sizeof *grown) : NULL;
            if (!grown)
                break;
            s->paths = grown;
            cap = cap * 2 + 16;
        }
        if (!(s->paths[s->n] = im_join(path, ent->d_name)))
            break;
        s->n++;
    }
    closedir(d);
    if (ent)
        return im_fail(err, errsize, "out of memory, or too many files in the folder");
    if (s->n == 0)
        return im_fail(err, errsize, "the folder holds no .pgm, .ppm or .pnm image");
    qsort(s->paths, (size_t)s->n, sizeof *s->paths, im_compare_names);
    return 0;
#else
    (void)path;
    (void)s;
    return im_fail(err, errsize, "folders of images need a POSIX system; give one image");
#endif
}

static int im_list(const char *path, CnncImageSet *s, char *err, size_t errsize)
{
    if (im_is_dir(path))
        return im_list_dir(path, s, err, errsize);
    s->paths = malloc(sizeof *s->paths);
    if (!s->paths || !(s->paths[0] = malloc(strlen(path) + 1)))
        return im_fail(err, errsize, "out of memory");
    strcpy(s->paths[0], path);
    s->n = 1;
    return 0;
}

CNNC_RT_API int cnnc_image_set_load(const char *path, const CnncImageSpec *spec, CnncImageSet *s,
                                    char *where, size_t wheresize, char *err, size_t errsize)
{
    size_t size = (size_t)spec->channels * (size_t)spec->height * (size_t)spec->width;
    memset(s, 0, sizeof *s);
    snprintf(where, wheresize, "%s", path);
    if (im_list(path, s, err, errsize) != 0)
        goto fail;
    if (!(s->data = malloc((size_t)s->n * size * sizeof *s->data + 1))) {
        im_fail(err, errsize, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->n; i++) {
        CnncImage im;
        snprintf(where, wheresize, "%s", s->paths[i]);
        if (cnnc_image_read(s->paths[i], &im, err, errsize) != 0)
            goto fail;
        if (cnnc_image_check(&im, spec, err, errsize) != 0) {
            cnnc_image_free(&im);
            goto fail;
        }
        cnnc_image_to_input(&im, spec, s->data + (size_t)i * size);
        cnnc_image_free(&im);
    }
    return 0;
fail:
    cnnc_image_set_free(s);
    return -1;
}

CNNC_RT_API void cnnc_image_set_free(CnncImageSet *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->data);
    memset(s, 0, sizeof *s);
}

/* ---- classes out ---- */

CNNC_RT_API void cnnc_print_top(FILE *f, const char *name, const float *scores, int k, int top,
                                int probs)
{
    double max = scores[0], sum = 0;
    unsigned char *taken = calloc((size_t)k + 1, 1);
    for (int c = 1; c < k; c++)
        max = scores[c] > max ? scores[c] : max;
    for (int c = 0; c < k && !probs; c++)
        sum += exp((double)scores[c] - max);
    if (top > k)
        top = k;
    fprintf(f, "%s: top %d of %d classes\n", name, top, k);
    for (int t = 0; t < top && taken; t++) {
        int best = -1;
        for (int c = 0; c < k; c++) /* strictly greater: the lower class wins a tie */
            if (!taken[c] && (best < 0 || scores[c] > scores[best]))
                best = c;
        taken[best] = 1;
        fprintf(f, "  class %d: %.4f\n", best,
                probs ? (double)scores[best] : exp((double)scores[best] - max) / sum);
    }
    free(taken);
}
