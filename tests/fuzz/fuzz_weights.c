/* fuzz_weights.c: libFuzzer on `--weights DIR` (compiler/frontend/
 * weights.c) and what the weights then meet: fusion folding them, code
 * generation printing them, the interpreter computing with them.
 *
 * The model is FUZZ_WEIGHTS_MODEL (tests/cli/bn.cnn: a conv, a BatchNorm
 * with running statistics, a dense layer). The input is cut at FUZZ_SEP
 * into the files of DIR: chunk i is the i-th of the model's parameter and
 * buffer files in the order of their names (make_seeds.py's), a chunk that is exactly "-"
 * leaves that file out, and chunks past the last tensor become extra
 * files (a warning). Every file that is missing, unreadable or of the
 * wrong shape must be an error, never a crash; NaN and infinite weights
 * must compile and run. An odd-sized input is a --train build. */
#include "fuzz.h"

#include "cnnc.h"
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *files[FUZZ_MAX_CHUNKS]; /* "w/<escaped name>.npy" per weight tensor, sorted */
static int nfiles;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Graph *g = model_load(FUZZ_WEIGHTS_MODEL);
    if (!g)
        abort();
    for (int i = 0; i < g->nt && nfiles < FUZZ_MAX_CHUNKS; i++)
        if (g->t[i].kind == T_PARAM || g->t[i].kind == T_BUFFER) {
            size_t n = cnnc_npy_param_path("w", g->t[i].name, NULL, 0);
            files[nfiles] = malloc(n + 1);
            cnnc_npy_param_path("w", g->t[i].name, files[nfiles++], n + 1);
        }
    graph_free(g);
    qsort(files, (size_t)nfiles, sizeof *files, by_name);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzChunk chunks[FUZZ_MAX_CHUNKS];
    size_t n = fuzz_split(data, size, chunks, FUZZ_MAX_CHUNKS);
    mkdir(fuzz_path("w"), 0700);
    for (size_t i = 0; i < n; i++) {
        char extra[32];
        snprintf(extra, sizeof extra, "w/extra%zu.npy", i);
        if (chunks[i].size == 1 && chunks[i].data[0] == '-')
            continue;
        fuzz_write((int)i < nfiles ? files[i] : extra, chunks[i].data, chunks[i].size);
    }
    char *dir = strdup(fuzz_path("w"));
    diag_reset();
    fuzz_model(FUZZ_WEIGHTS_MODEL, dir, size % 2 == 1);
    free(dir);
    fuzz_clear();
    return 0;
}
