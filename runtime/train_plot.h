/* train_plot.h: the `--plot FILE.svg` of a `--main` program's `train`
 * command: the loss and the accuracies of every epoch as a self-contained
 * SVG (no script, no font file, no external reference), drawn from the
 * same figures the epoch lines print. Uses stdio: `--main` only. */
#ifndef CNNC_TRAIN_PLOT_H
#define CNNC_TRAIN_PLOT_H

#include "cnnc_rt.h"
#include "train_report.h"

#include <stddef.h>

/* Writes the curves of n epoch logs (fold[i] numbers log i's fold from 1;
 * one fold without k-fold) as an SVG at path: on the left the mean
 * training loss, on the right the training and (when logged) validation
 * accuracy, one line per fold and quantity, a dot per epoch whose tooltip
 * (<title>) gives the figures as the epoch line prints them. The file
 * appears whole or not at all. Returns 0, or -1 with a message in err. */
CNNC_RT_API int cnnc_plot_curves(const char *path, const CnncEpochLog *logs, const int *fold,
                                 int n, char *err, size_t errsize);

#endif
