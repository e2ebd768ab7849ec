/* optim_driver.c: runs interp/optim.c's optimizer on files, so that
 * check_grad.py can compare it with torch.optim on the same gradients.
 *
 *   optim_driver DIR sgd|adam LR MOMENTUM WEIGHT_DECAY BETA1 BETA2 EPS STEPS
 *
 * Reads DIR/p.npy (the parameter) and DIR/g0.npy .. g<STEPS-1>.npy (one
 * gradient per step), takes STEPS steps, writes DIR/out.npy. */
#include "cnnc.h"
#include "npy.h"

#include <stdlib.h>
#include <string.h>

static bool read_f32(const char *dir, const char *name, CnncNpy *a)
{
    char path[4096], err[CNNC_NPY_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (cnnc_npy_read_f32(path, a, err, sizeof err) == 0)
        return true;
    fprintf(stderr, "%s: error: %s\n", path, err);
    return false;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: optim_driver DIR sgd|adam LR MOMENTUM WD BETA1 BETA2 EPS STEPS\n");
        return 2;
    }
    const char *dir = argv[1];
    TrainCfg cfg = {
        .optim = strcmp(argv[2], "adam") == 0 ? OPT_ADAM : OPT_SGD,
        .lr = strtof(argv[3], NULL), .momentum = strtof(argv[4], NULL),
        .weight_decay = strtof(argv[5], NULL), .beta1 = strtof(argv[6], NULL),
        .beta2 = strtof(argv[7], NULL), .eps = strtof(argv[8], NULL),
    };
    int steps = atoi(argv[9]);
    CnncNpy p;
    if (!read_f32(dir, "p.npy", &p))
        return 1;
    Graph *g = graph_new("optim");
    int t = graph_add_tensor(g, "p", T_PARAM, (Loc){0});
    g->t[t].shape = shape_make(1, (int64_t[]){p.count});
    g->t[t].data = p.data; /* the Graph owns it now */
    float **dparam = xcalloc((size_t)g->nt, sizeof *dparam);
    OptimState s;
    optim_init(&s, g);
    int rc = 0;
    for (int i = 0; i < steps && !rc; i++) {
        char name[32];
        CnncNpy grad;
        snprintf(name, sizeof name, "g%d.npy", i);
        if (!read_f32(dir, name, &grad) || grad.count != p.count) {
            rc = 1;
            break;
        }
        dparam[t] = grad.data;
        optim_step(g, &cfg, &s, dparam);
        cnnc_npy_free(&grad);
    }
    char path[4096], err[CNNC_NPY_ERR_SIZE];
    snprintf(path, sizeof path, "%s/out.npy", dir);
    if (!rc && cnnc_npy_write_f32(path, g->t[t].data, 1, g->t[t].shape.d, err, sizeof err) < 0) {
        fprintf(stderr, "%s: error: %s\n", path, err);
        rc = 1;
    }
    optim_free(g, &s);
    free(dparam);
    graph_free(g);
    return rc;
}
