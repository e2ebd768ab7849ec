/* train.h: the training half of cnnc's tiny runtime: the loss, the
 * optimizers, learning-rate schedules, data order (shuffle, validation
 * split, k-fold) and classification metrics. Generated `--train` code and
 * the `--main` program call these; a firmware may call the metrics too.
 *
 * Pure C99 with <stddef.h> <stdint.h> <string.h> <math.h> <float.h> only:
 * no stdio, no malloc, no writable globals. Every buffer is the caller's;
 * each function says how many elements it needs. Anything that prints
 * (the epoch line, the progress bar, the metrics table) is in
 * train_report.h, which only the `--main` part includes.
 *
 * Conventions: counts (samples n, classes k) are int like P_forward's n;
 * labels, predictions and sample indices are int32_t (what cnnc_npy_labels
 * gives); a batch of scores is row-major (n, k). Preconditions (labels in
 * [0, k), n >= 1, k >= 1) are the caller's: the `--main` program checks its
 * files once with cnnc_npy_labels, so nothing here re-checks per batch.
 *
 * How a training step fits together (what the generated code does):
 *
 *     order: cnnc_val_split once (or cnnc_kfold_split per fold), then per
 *            epoch cnnc_shuffle_epoch over the training indices
 *     lr:    opt.lr = cnnc_schedule_lr(&sched, base_lr, epoch)
 *     batch: cnnc_gather + cnnc_gather_labels into the batch buffers;
 *            forward in training mode keeping the logits (the input of a
 *            final softmax, if the model has one: see cnnc_softmax_xent);
 *            loss = cnnc_softmax_xent(logits, y, n, k, dlogits);
 *            backward from dlogits into the parameter gradients;
 *            step++ (once per batch, from 1);
 *            cnnc_optim_step(&opt, step, param, grad, m, v, count) for each
 *            parameter array (or once over one flat array of them all)
 *     eval:  P_forward, cnnc_confusion_add_scores, cnnc_accuracy... */
#ifndef CNNC_TRAIN_H
#define CNNC_TRAIN_H

#include "cnnc_rt.h"

#include <stddef.h>
#include <stdint.h>

/* ---- loss: mean softmax cross-entropy ----
 *
 * loss = (1/n) sum_b [ logsumexp(z_b) - z_b[y_b] ],  logsumexp computed
 * from the row's maximum so no exp overflows; in double, as the reference
 * interpreter (compiler/interp/grad.c) does, so the two agree.
 * dL/dz_b = (softmax(z_b) - onehot(y_b)) / n.
 *
 * A model that ends in softmax: pass the logits that FED the softmax (the
 * generated code keeps that tensor), not the probabilities. This is the
 * fused form of PyTorch's CrossEntropyLoss on the logits and of cnnc grad:
 * it stays exact where a probability underflows to 0, and dL/dz is then
 * the gradient at the softmax's input, so the backward pass skips the
 * softmax node. */

/* Returns the mean loss over the n samples of logits (n, k) against
 * labels[0..n). If dlogits is not NULL it receives dLoss/dlogits, (n, k);
 * it may alias logits (each row is read whole before it is written). */
CNNC_RT_API double cnnc_softmax_xent(const float *logits, const int32_t *labels, int n, int k,
                                     float *dlogits);
/* The loss value alone from probabilities (a softmax model's output, e.g.
 * P_forward's on validation data): (1/n) sum_b -log(max(p_b[y_b],
 * FLT_MIN)). For reporting only; it matches cnnc_softmax_xent on the
 * logits unless a probability underflowed. Training uses the fused form. */
CNNC_RT_API double cnnc_xent_from_probs(const float *probs, const int32_t *labels, int n, int k);

/* ---- optimizers over flat float arrays (torch.optim, PyTorch 1.13) ----
 *
 *   SGD:  d = grad + weight_decay * p
 *         buf = d on step 1, else momentum * buf + d    (dampening 0)
 *         p  -= lr * (momentum != 0 ? buf : d)
 *   Adam: d = grad + weight_decay * p      (L2 in the gradient, not AdamW)
 *         m = beta1 m + (1 - beta1) d,  v = beta2 v + (1 - beta2) d^2
 *         p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * The one implementation of the step: the reference interpreter
 * (compiler/interp/optim.c) calls it too; tests check it against
 * torch.optim. Float updates, the step's scalars in double.
 * The struct is plain data: change lr between steps for a schedule. */

typedef enum { CNNC_SGD, CNNC_ADAM } CnncOptimKind;

typedef struct {
    CnncOptimKind kind;
    float lr;
    float momentum;     /* SGD only; 0 = plain SGD */
    float weight_decay; /* both */
    float beta1, beta2, eps; /* Adam only (PyTorch: 0.9, 0.999, 1e-8) */
} CnncOptim;

/* One step over param[0..count) from grad[0..count). `step` counts
 * optimizer steps from 1 (increment it once per batch, not per array).
 * State, count floats each, caller-owned and kept between steps:
 *   m  SGD with momentum: the momentum buffer; Adam: the first moment.
 *      Unused (may be NULL) for SGD without momentum.
 *   v  Adam: the second moment. Unused (may be NULL) for SGD.
 * Step 1 initialises the state, so it needs no clearing beforehand. */
CNNC_RT_API void cnnc_optim_step(const CnncOptim *o, int64_t step, float *param,
                                 const float *grad, float *m, float *v, size_t count);

/* ---- learning-rate schedules, per epoch (torch.optim.lr_scheduler) ----
 *
 *   constant  base_lr
 *   step      base_lr * gamma^floor(epoch / step_size)         (StepLR)
 *   cosine    eta_min + (base_lr - eta_min) (1 + cos(pi epoch / t_max)) / 2
 *             (CosineAnnealingLR's closed form; t_max = the number of
 *             epochs and eta_min = 0 as cnnc's `train` uses it)
 * `epoch` counts from 0: the value is the lr of the whole epoch, the value
 * PyTorch's scheduler holds after `epoch` calls of scheduler.step(). */

typedef enum { CNNC_SCHED_CONSTANT, CNNC_SCHED_STEP, CNNC_SCHED_COSINE } CnncSchedKind;

typedef struct {
    CnncSchedKind kind;
    int step_size; /* step: epochs per decay (>= 1) */
    double gamma;  /* step: the decay factor */
    int t_max;     /* cosine: the period's half, in epochs (>= 1) */
    double eta_min; /* cosine: the floor */
} CnncSchedule;

CNNC_RT_API double cnnc_schedule_lr(const CnncSchedule *s, double base_lr, int epoch);

/* ---- data order: seeded, the same on every machine ----
 *
 * The generator is splitmix64 (integer arithmetic only, as
 * compiler/passes/init.c); cnnc_rng_below is unbiased (rejection), and the
 * shuffle is Fisher-Yates from the last element down. A stream number
 * separates the uses of one seed, so the split never depends on how many
 * epochs ran. */

typedef struct {
    uint64_t state;
} CnncRng;

enum { CNNC_STREAM_SPLIT = 1, CNNC_STREAM_KFOLD = 2, CNNC_STREAM_EPOCH = 16 };

CNNC_RT_API CnncRng cnnc_rng(uint64_t seed, uint64_t stream);
CNNC_RT_API uint64_t cnnc_rng_next(CnncRng *r);
/* Uniform in [0, bound), bound >= 1. */
CNNC_RT_API uint64_t cnnc_rng_below(CnncRng *r, uint64_t bound);
/* idx[i] = i for i in [0, n). */
CNNC_RT_API void cnnc_iota(int32_t *idx, int n);
CNNC_RT_API void cnnc_shuffle(int32_t *idx, int n, CnncRng *r);
/* Shuffles idx[0..n) in place for `epoch` (from 0) with the stream
 * CNNC_STREAM_EPOCH + epoch of `seed`: call it on the training indices at
 * the start of every epoch. The result depends on idx's order on entry,
 * so a run that shuffles the same array every epoch is reproducible. */
CNNC_RT_API void cnnc_shuffle_epoch(int32_t *idx, int n, uint64_t seed, int epoch);

/* Validation samples for a fraction f of n: round(n f), at least 1 when
 * f > 0, and at most n - 1 (so training keeps a sample); 0 when f <= 0.
 * f must be < 1. */
CNNC_RT_API int cnnc_val_count(int n, double f);
/* idx (n): a seeded permutation of [0, n) (stream CNNC_STREAM_SPLIT) whose
 * first n - cnnc_val_count(n, f) entries are the training samples and the
 * rest the validation samples ("the last fraction after a seeded
 * shuffle"). Returns the number of training samples. */
CNNC_RT_API int cnnc_val_split(int32_t *idx, int n, double f, uint64_t seed);

/* k-fold cross-validation, as sklearn's KFold(k, shuffle=True): the seeded
 * permutation order (n, from cnnc_kfold_order) is cut into k contiguous
 * folds, the first n % k of them one sample longer. Fold `fold` (0..k-1)
 * validates; the others, in order, train. 2 <= k <= n. */
CNNC_RT_API void cnnc_kfold_order(int32_t *order, int n, uint64_t seed);
/* Fills train (n - nval) and val (nval) for one fold; returns nval. */
CNNC_RT_API int cnnc_kfold_split(const int32_t *order, int n, int k, int fold, int32_t *train,
                                 int32_t *val);

/* A batch from a data set: dst (n, sample_size) gets the samples
 * src[idx[i]]; labels likewise. */
CNNC_RT_API void cnnc_gather(float *dst, const float *src, const int32_t *idx, int n,
                             size_t sample_size);
CNNC_RT_API void cnnc_gather_labels(int32_t *dst, const int32_t *src, const int32_t *idx, int n);

/* ---- metrics ----
 *
 * The confusion matrix cm is k*k counts, row = true class, column =
 * predicted class (sklearn's layout), cm[t * k + p]; clear it with memset
 * and accumulate batches into it.
 *   accuracy     = trace / total                    (0 for an empty matrix)
 *   precision_c  = cm[c][c] / column c's sum        (0 if c is never predicted)
 *   recall_c     = cm[c][c] / row c's sum           (0 if c never occurs)
 *   f1_c         = 2 P R / (P + R)                  (0 if P + R = 0)
 *   macro        = the plain mean over the classes that occur or are
 *                  predicted (row or column non-zero), as sklearn's
 *                  average='macro' with zero_division=0 over the labels it
 *                  sees; 0 if there are none. */

/* The index of the largest of x[0..k) (the first one on ties); NaNs are
 * never chosen unless all are NaN (then 0). */
CNNC_RT_API int cnnc_argmax(const float *x, int k);
/* How many rows of scores (n, k) have their argmax at the label. */
CNNC_RT_API int cnnc_count_correct(const float *scores, const int32_t *labels, int n, int k);
CNNC_RT_API void cnnc_confusion_add(int64_t *cm, int k, const int32_t *labels,
                                    const int32_t *pred, int n);
/* The same with the predictions taken as the argmax of scores (n, k). */
CNNC_RT_API void cnnc_confusion_add_scores(int64_t *cm, int k, const int32_t *labels,
                                           const float *scores, int n);

typedef struct {
    double precision, recall, f1;
    int64_t support; /* samples of the class (row sum) */
} CnncClassMetrics;

typedef struct {
    double accuracy;
    double macro_precision, macro_recall, macro_f1;
    int64_t total;
} CnncMetrics;

CNNC_RT_API double cnnc_accuracy(const int64_t *cm, int k);
CNNC_RT_API CnncClassMetrics cnnc_class_metrics(const int64_t *cm, int k, int c);
CNNC_RT_API CnncMetrics cnnc_metrics(const int64_t *cm, int k);

/* ---- numerical health ---- */

/* The index of the first NaN or infinity in x[0..n), or -1 if all are
 * finite: check the loss and the gradients before a step, so a diverging
 * run stops with a message instead of writing NaN weights. */
CNNC_RT_API ptrdiff_t cnnc_find_nonfinite(const float *x, size_t n);

#endif
