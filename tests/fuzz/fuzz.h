/* fuzz.h: what the libFuzzer harnesses of tests/fuzz share (fuzz_util.c).
 *
 * Every harness works in a private temporary folder, made once per
 * process and emptied after each input, since the code under test reads
 * and writes files by path, as cnnc and the generated programs do. An
 * input that stands for several files is cut at FUZZ_SEP. */
#ifndef CNNC_FUZZ_H
#define CNNC_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Between the files of one input (in every dictionary that needs it). */
#define FUZZ_SEP "\n--8<--\n"
#define FUZZ_MAX_CHUNKS 16

typedef struct {
    const uint8_t *data;
    size_t size;
} FuzzChunk;

/* Cuts data at every FUZZ_SEP into at most max chunks (the last one takes
 * the rest); returns how many. */
size_t fuzz_split(const uint8_t *data, size_t size, FuzzChunk *chunks, size_t max);

/* The process's folder (made on the first call, removed at exit). */
const char *fuzz_dir(void);
/* "<fuzz_dir>/<name>" in a buffer that lives until the next call. */
const char *fuzz_path(const char *name);
/* Writes data to fuzz_path(name) (folders on the way must exist); returns
 * the path. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* Removes everything inside fuzz_dir(). */
void fuzz_clear(void);

/* What cnnc does with a model file (.cnn or .onnx) at path: loads it (with
 * `--weights weights_dir` unless NULL) with the optimisation passes, prints
 * its info table, IR dump and Graphviz picture (to /dev/null), emits
 * `--main` C (with --train when train) into the folder, then runs the
 * interpreter forward and, for a classifier, backward on two samples. A
 * model whose weights or activations exceed the harness's budgets
 * (fuzz_util.c) stops after shape inference, one with too many
 * multiply-adds is not interpreted: running it would be slow, not wrong,
 * and the fuzzer would spend its time there. */
void fuzz_model(const char *path, const char *weights_dir, bool train);

#endif
