/* fuzz_program.c: libFuzzer on a generated program's command line and the
 * files it reads: `--main --train` C of tests/train/tiny.cnn (a conv, a
 * BatchNorm, a dense layer, batch maximum 4), its main() renamed
 * fz_program_main at build time, with its infer, bench, grad and train
 * commands (contract section 3).
 *
 * The input is cut at FUZZ_SEP: chunk 0 is the command line (words
 * separated by blanks, argv[1] on); chunk 1 becomes x.npy, chunk 2 y.npy,
 * and chunks 3 on the files of folder w/, the model's tensors in the order
 * of their file names (make_seeds.py's; "-" leaves one out), for `train --resume w` and as `grad`'s folder.
 * The program runs in the harness's folder (its working directory for the
 * run). Each run must end in an exit
 * status (errors on stderr), never a crash, a leak or a hang.
 *
 * Skipped, as slow rather than wrong: a word starting with '/' or holding
 * "..", which could write outside the folder; bench with more than
 * MAX_ITERS iterations; train with more than MAX_EPOCHS epochs or
 * MAX_FOLDS folds. */
#include "fuzz.h"

#include FUZZ_PROGRAM_HEADER

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WORDS 32
#define MAX_ITERS 100
#define MAX_EPOCHS 4
#define MAX_FOLDS 16

int fz_program_main(int argc, char **argv);

static const char *files[fz_TRAIN_TENSOR_COUNT]; /* the tensors' file names, sorted */
static char home[4096]; /* libFuzzer's folder, where its paths are relative to */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!getcwd(home, sizeof home))
        abort();
    for (int i = 0; i < fz_TRAIN_TENSOR_COUNT; i++)
        files[i] = fz_train_tensor(i)->file;
    qsort(files, fz_TRAIN_TENSOR_COUNT, sizeof *files, by_name);
    return 0;
}

/* Splits the command line into argv[1..]; returns argc (0: too many). */
static int split_words(const FuzzChunk *line, char *text, char **argv)
{
    int argc = 1;
    memcpy(text, line->data, line->size);
    text[line->size] = '\0';
    argv[0] = "prog";
    for (char *w = strtok(text, " \t\n\r"); w; w = strtok(NULL, " \t\n\r")) {
        if (argc == MAX_WORDS)
            return 0;
        argv[argc++] = w;
    }
    argv[argc] = NULL;
    return argc;
}

static bool over(const char *value, long limit)
{
    return value && strtol(value, NULL, 10) > limit;
}

static bool skipped(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (argv[i][0] == '/' || strstr(argv[i], ".."))
            return true;
        if ((strcmp(argv[i], "--epochs") == 0 && over(next, MAX_EPOCHS)) ||
            (strcmp(argv[i], "--kfold") == 0 && over(next, MAX_FOLDS)))
            return true;
    }
    return argc >= 4 && strcmp(argv[1], "bench") == 0 && over(argv[3], MAX_ITERS);
}

static void write_files(const FuzzChunk *chunks, size_t n)
{
    mkdir("w", 0700);
    for (size_t i = 1; i < n; i++) {
        char name[256];
        if (chunks[i].size == 1 && chunks[i].data[0] == '-')
            continue;
        if (i < 3)
            strcpy(name, i == 1 ? "x.npy" : "y.npy");
        else if (i - 3 < fz_TRAIN_TENSOR_COUNT)
            snprintf(name, sizeof name, "w/%s", files[i - 3]);
        else
            snprintf(name, sizeof name, "w/extra%zu.npy", i);
        fuzz_write(name, chunks[i].data, chunks[i].size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzChunk chunks[FUZZ_MAX_CHUNKS];
    size_t n = fuzz_split(data, size, chunks, FUZZ_MAX_CHUNKS);
    char *text = malloc(chunks[0].size + 1), *argv[MAX_WORDS + 1];
    int argc = split_words(&chunks[0], text, argv);
    if (argc > 0 && !skipped(argc, argv)) {
        if (chdir(fuzz_dir()) != 0)
            abort();
        write_files(chunks, n);
        fz_program_main(argc, argv);
        fuzz_clear();
        if (chdir(home) != 0)
            abort();
    }
    free(text);
    return 0;
}
