/* train_loop.h: the `train` command of a `--main` program (contract,
 * section 3) as ordinary C: argument parsing, loading and checking the
 * data, epochs over seeded shuffles, validation split or k-fold, lr
 * schedule, best-epoch keeping, NaN stop, the final metrics and saving or
 * resuming the weights as a folder of .npy files (contract, section 5).
 *
 * The generated main fills a CnncTrainModel (a few function pointers over
 * its training state) and calls cnnc_train_main, so the loop's logic lives
 * here, tested against a tiny fake model (tests/train/test_train_loop.c),
 * and not as text inside an emitter. Uses stdio and malloc: `--main` only.
 *
 * Output: the epoch lines, the tables and the final `val_accuracy: X` go
 * to `out` (stdout); errors, as `FILE: error: MESSAGE`, and the progress
 * bar (only on a terminal) go to `err` (stderr). */
#ifndef CNNC_TRAIN_LOOP_H
#define CNNC_TRAIN_LOOP_H

#include "cnnc_rt.h"
#include "train.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One tensor of the model's state: a parameter or a buffer (BatchNorm
 * running statistics), named as contract section 5 says (unescaped). */
typedef struct {
    const char *name;
    int rank;
    const int64_t *shape;
    size_t count; /* floats: the product of shape */
} CnncTensorDesc;

/* What the loop needs of a model. ctx is passed back to every call. */
typedef struct {
    void *ctx;
    int input_rank;             /* one sample's shape, without the batch */
    const int64_t *input_shape;
    size_t input_size;          /* floats per sample */
    int classes;                /* the output's size per sample */
    int batch_max;              /* every step and eval gets 1 <= n <= batch_max */
    int ntensors;               /* parameters and buffers, saved and restored */
    const CnncTensorDesc *tensors;
    /* The live storage of tensor i (count floats), read and written. */
    float *(*tensor)(void *ctx, int i);
    /* The frozen parameters (--freeze-until, --train-bias-only): not in
     * the state, never trained, written by --save beside the tensors so
     * that the folder is a complete --weights DIR; --resume skips them.
     * frozen_data copies frozen tensor i's values (count floats). */
    int nfrozen;
    const CnncTensorDesc *frozen;
    void (*frozen_data)(void *ctx, int i, float *dst);
    /* One optimizer step on x (n, input_size), y (n) at learning rate lr:
     * forward in training mode, loss, backward, update. Stores the mean
     * loss in *loss and the batch's outputs in logits (n, classes), for the
     * training accuracy. Returns 0, or -1 when a gradient is not finite
     * (the loop also checks the loss, and stops either way: the weights
     * are then not saved). */
    int (*step)(void *ctx, const float *x, const int32_t *y, int n, double lr, float *logits,
                double *loss);
    /* Inference: scores (n, classes) for x (n, input_size). */
    void (*eval)(void *ctx, const float *x, int n, float *scores);
    /* Back to the optimizer's initial state (step 0, no momentum), for a
     * new fold. It may reset the weights too: the loop restores the fold's
     * starting weights after calling it. */
    void (*restart)(void *ctx);
    /* The feature cache (--cache-features; docs/training.md). A model with
     * a frozen part that can stand cached has feature_size floats per
     * sample of its cut (else 0, and no_cache says why, or is NULL). */
    size_t feature_size;
    const char *no_cache;
    /* The frozen part alone: f (n, feature_size) for x (n, input_size). */
    void (*features)(void *ctx, const float *x, int n, float *f);
    /* step and eval from the features of the batch's samples. */
    int (*step_features)(void *ctx, const float *f, const int32_t *y, int n, double lr,
                         float *logits, double *loss);
    void (*eval_features)(void *ctx, const float *f, int n, float *scores);
} CnncTrainModel;

/* The command's options. Defaults come from the model's train section
 * (cnnc_train_main takes them pre-filled); the command line overrides. */
typedef struct {
    int epochs;       /* >= 1 */
    int batch;        /* 1..batch_max */
    double lr;        /* > 0: the base learning rate */
    uint64_t seed;
    double val_split; /* [0, 1): 0 = no validation (train on everything) */
    int kfold;        /* 0, or the number of folds (>= 2; then val_split is unused) */
    CnncSchedule sched; /* t_max is set from epochs; step_size 0: epochs / 3 */
    const char *save_dir;   /* NULL: do not save */
    const char *resume_dir; /* NULL: start from the compiled-in weights */
    const char *plot_path;  /* NULL: no plot; else the SVG of train_plot.h */
    uint64_t cache_bytes;   /* --cache-features: the cache's budget; 0: no cache */
} CnncTrainOptions;

/* Parses the options after `train DATA LABELS` (argv[0..argc)) into *o,
 * which holds the defaults on entry. On a bad option prints
 * `PROG: error: ...` to err and returns -1. */
CNNC_RT_API int cnnc_train_parse(CnncTrainOptions *o, const CnncTrainModel *m, const char *prog,
                                 int argc, char **argv, FILE *err);

/* What a run found: the accuracy of the kept weights on the validation
 * samples (k-fold: the mean over the folds), or on the training samples
 * when there was no validation (has_val 0). */
typedef struct {
    double accuracy;
    int has_val;
} CnncTrainResult;

/* Trains on x (n, input_size) and y (n) with the options: the whole
 * command after its files are loaded, but for the last line. Every epoch
 * prints a line; a fold keeps the weights of its epoch with the best
 * validation accuracy (the last epoch's without validation) and ends with
 * those in the model. The end prints the confusion matrix and per-class
 * metrics of the kept weights on the validation samples (k-fold: every
 * sample, each predicted by the fold that held it out; no validation: the
 * training samples). With k-fold the model ends with the best fold's
 * weights. Returns 0, or 1 after printing an error (a non-finite loss or
 * gradient names the epoch and the batch). */
CNNC_RT_API int cnnc_train_run(const CnncTrainModel *m, const CnncTrainOptions *o,
                               const float *x, const int32_t *y, int n, const char *prog,
                               FILE *out, FILE *err, CnncTrainResult *res);

/* Writes every tensor, and every frozen one, as DIR/<escaped name>.npy.
 * Returns 0, or -1 after printing `FILE: error:`. */
CNNC_RT_API int cnnc_train_save(const CnncTrainModel *m, const char *dir, FILE *err);
/* Reads every tensor from DIR/<escaped name>.npy, checking its shape;
 * nothing changes unless all are read. Returns 0, or -1 after printing. */
CNNC_RT_API int cnnc_train_load(const CnncTrainModel *m, const char *dir, FILE *err);

/* The command: argv = PROG train DATA.npy LABELS.npy [options]. Loads and
 * checks the files (DATA: samples of the model's input; LABELS: one
 * integer label in [0, classes) per sample), resumes, trains, saves, and
 * prints last `val_accuracy: X` (`train_accuracy: X` without validation).
 * Returns the exit status. */
CNNC_RT_API int cnnc_train_main(const CnncTrainModel *m, const CnncTrainOptions *defaults,
                                int argc, char **argv);

#endif
