/* train_report.h: what the `--main` program prints while it trains: the
 * one-line-per-epoch log, a progress bar on a terminal, the metrics table
 * and the confusion matrix. Uses <stdio.h>, so generated model code never
 * includes it (the numbers come from train.h, which prints nothing).
 *
 * Streams: the epoch lines and tables go to stdout (what scripts parse,
 * ending with the program's `val_accuracy: X`); the progress bar goes to
 * stderr, and only when stderr is a terminal, so a redirected run's output
 * holds no carriage returns. */
#ifndef CNNC_TRAIN_REPORT_H
#define CNNC_TRAIN_REPORT_H

#include "cnnc_rt.h"
#include "train.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* 1 if the file descriptor (0 stdin, 1 stdout, 2 stderr) is a terminal;
 * always 0 where POSIX's isatty is unavailable. */
CNNC_RT_API int cnnc_is_tty(int fd);
/* Seconds on a monotonic clock (POSIX clock_gettime), else the processor
 * time of clock(): for samples/s, only differences are meaningful. */
CNNC_RT_API double cnnc_seconds(void);

/* One epoch's summary, printed as
 *     epoch 3/10  loss 0.4321  train_acc 0.8812  val_acc 0.9011  1234 samples/s
 * epoch counts from 1 here; loss is the mean training loss over the
 * epoch's batches (weighted by batch size), train_acc the accuracy of the
 * training forward passes during the epoch (as Keras reports it), val_acc
 * the accuracy on the validation samples after the epoch, left out when
 * has_val is 0; samples/s counts training samples over the epoch's wall
 * time, rounded to an integer. */
typedef struct {
    int epoch, epochs;
    double loss, train_acc;
    int has_val;
    double val_acc;
    double samples_per_sec;
} CnncEpochLog;

/* Writes the line without a newline into out (size bytes); returns the
 * full length, like snprintf. */
CNNC_RT_API int cnnc_format_epoch(char *out, size_t size, const CnncEpochLog *e);
/* The line and a newline on f (flushed, so a pipe sees it at once). */
CNNC_RT_API void cnnc_print_epoch(FILE *f, const CnncEpochLog *e);

/* A progress bar over an epoch's batches:
 *     [==============>               ] 712/1438  loss 0.4321
 * redrawn in place with '\r' when the bar grows by a cell or the last batch
 * is done (not on every batch), and erased by cnnc_progress_end so the
 * epoch line takes its place. Disabled (every call a no-op) unless fd is a
 * terminal: cnnc_progress_begin(&p, stderr, 2, total). */
typedef struct {
    FILE *f;
    int enabled;
    int total;
    int drawn; /* cells drawn at the last redraw, -1 before the first */
} CnncProgress;

CNNC_RT_API void cnnc_progress_begin(CnncProgress *p, FILE *f, int fd, int total);
/* `done` of `total` units finished; loss is the running mean so far. */
CNNC_RT_API void cnnc_progress_update(CnncProgress *p, int done, double loss);
CNNC_RT_API void cnnc_progress_end(CnncProgress *p);

/* The per-class table of a confusion matrix (train.h's layout), e.g.
 *     class     precision  recall      f1   support
 *     0            0.9000  1.0000  0.9474        90
 *     1            0.0000  0.0000  0.0000        10
 *     macro        0.4500  0.5000  0.4737       100
 *     accuracy     0.9000
 * names (k strings) label the rows, or NULL for the class numbers. */
CNNC_RT_API void cnnc_print_metrics(FILE *f, const int64_t *cm, int k, const char *const *names);
/* The matrix itself, rows true classes, columns predicted ones. */
CNNC_RT_API void cnnc_print_confusion(FILE *f, const int64_t *cm, int k);

#endif
