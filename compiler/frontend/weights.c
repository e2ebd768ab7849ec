/* weights.c: a model's parameters and buffers as a folder of .npy files
 * (contract, section 5), for `cnnc weights`, `--weights DIR` and the
 * outputs of `cnnc grad`.
 *
 * Takes a shape-inferred Graph; one file per T_PARAM and T_BUFFER tensor,
 * DIR/<escaped name>.npy, in the tensor's PyTorch shape. T_CONST tensors
 * (ONNX constants: shapes, pads, axes, clip bounds) are left out on purpose:
 * they are part of the model's structure, which shape inference has already
 * relied upon, not weights one could retrain or swap. */
#include "../cnnc.h"
#include "npy.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_weight(const Tensor *t)
{
    return t->kind == T_PARAM || t->kind == T_BUFFER;
}

static char *param_path(const char *dir, const char *name)
{
    size_t n = cnnc_npy_param_path(dir, name, NULL, 0);
    char *path = xmalloc(n + 1);
    cnnc_npy_param_path(dir, name, path, n + 1);
    return path;
}

bool weights_save_dir(const Graph *g, const char *dir)
{
    if (!make_dirs(dir))
        return false;
    bool ok = true;
    char err[CNNC_NPY_ERR_SIZE];
    for (int i = 0; i < g->nt && ok; i++) {
        const Tensor *t = &g->t[i];
        if (!is_weight(t))
            continue;
        if (!t->data)
            internal_error("tensor '%s' has no data to save", t->name);
        char *path = param_path(dir, t->name);
        if (cnnc_npy_write_f32(path, t->data, t->shape.rank, t->shape.d, err, sizeof err) < 0) {
            diag_error((Loc){path, 0, 0}, "%s", err);
            ok = false;
        }
        free(path);
    }
    return ok;
}

/* One tensor from DIR: present, float32, of exactly the tensor's shape. */
static bool load_one(Tensor *t, const char *dir)
{
    char err[CNNC_NPY_ERR_SIZE], have[160], want[160];
    char *path = param_path(dir, t->name);
    CnncNpy a;
    bool ok = false;
    if (access(path, F_OK) != 0)
        diag_error((Loc){path, 0, 0}, "no such file: the weights of %s '%s' are missing",
                   t->kind == T_PARAM ? "parameter" : "buffer", t->name);
    else if (cnnc_npy_read_f32(path, &a, err, sizeof err) < 0)
        diag_error((Loc){path, 0, 0}, "%s", err);
    else if (a.rank != t->shape.rank || memcmp(a.shape, t->shape.d, sizeof(int64_t) * a.rank)) {
        cnnc_npy_shape_str(a.shape, a.rank, have, sizeof have);
        cnnc_npy_shape_str(t->shape.d, t->shape.rank, want, sizeof want);
        diag_error((Loc){path, 0, 0}, "shape %s does not match %s '%s' of shape %s", have,
                   t->kind == T_PARAM ? "parameter" : "buffer", t->name, want);
        cnnc_npy_free(&a);
    } else {
        free(t->data);
        t->data = a.data; /* CnncNpy data is malloc'ed: the Graph owns it now */
        ok = true;
    }
    free(path);
    return ok;
}

/* Warns about the .npy files in DIR that name no parameter or buffer:
 * usually a folder from another model, or a layer renamed since. */
static void warn_extra_files(const Graph *g, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".npy") != 0)
            continue;
        bool known = false;
        for (int i = 0; i < g->nt && !known; i++) {
            if (!is_weight(&g->t[i]))
                continue;
            char *path = param_path("", g->t[i].name);
            known = strcmp(path, e->d_name) == 0;
            free(path);
        }
        if (!known) {
            size_t k = strlen(dir);
            char *path = xasprintf("%s%s%s", dir, k && dir[k - 1] == '/' ? "" : "/", e->d_name);
            diag_warning((Loc){path, 0, 0},
                         "no parameter or buffer of the model has this name; file ignored");
            free(path);
        }
    }
    closedir(d);
}

bool weights_load_dir(Graph *g, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        diag_error((Loc){dir, 0, 0}, "cannot read the weights folder: %s", strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        diag_error((Loc){dir, 0, 0}, "--weights needs a folder of .npy files, this is a file");
        return false;
    }
    bool ok = true;
    for (int i = 0; i < g->nt; i++)
        if (is_weight(&g->t[i]))
            ok &= load_one(&g->t[i], dir);
    if (ok)
        warn_extra_files(g, dir);
    return ok;
}
