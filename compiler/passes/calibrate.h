/* calibrate.h: what the calibration step's files share (calibrate.c
 * quantizes the graph, calib_stats.c measures it). Internal to passes/. */
#ifndef CNNC_CALIBRATE_H
#define CNNC_CALIBRATE_H

#include "../cnnc.h"

typedef struct CalibStats CalibStats;

/* Reads CALIB (float32 [N, <the model's input shape>], N >= 1, finite:
 * else an error at its path) and runs the float graph over it, recording
 * every activation's range, and for percentile and mse its histogram;
 * NULL after an error. */
CalibStats *calib_run(Graph *g, const QuantOptions *qo);
/* Tensor t's range as the method chooses it, widened to hold 0. */
void calib_range(const CalibStats *st, int t, double *lo, double *hi);
/* Whether tensor t took one value over the whole set (*value). */
bool calib_constant(const CalibStats *st, int t, double *value);
void calib_free(CalibStats *st);

#endif
