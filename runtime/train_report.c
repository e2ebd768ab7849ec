/* train_report.c: the printers of train_report.h, for the `--main`
 * program only (stdio, and POSIX behind #if guards for the terminal test
 * and the monotonic clock). Takes numbers from train.c; gives text. */
#include "train_report.h"

#include <stdio.h>
#include <time.h>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define TR_HAVE_ISATTY 1
#endif

#define TR_BAR_CELLS 30

CNNC_RT_API int cnnc_is_tty(int fd)
{
#ifdef TR_HAVE_ISATTY
    return isatty(fd) == 1;
#else
    (void)fd;
    return 0;
#endif
}

CNNC_RT_API double cnnc_seconds(void)
{
#ifdef CLOCK_MONOTONIC /* declared when the program asks for POSIX */
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
        return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
#endif
    return (double)clock() / CLOCKS_PER_SEC;
}

CNNC_RT_API int cnnc_format_epoch(char *out, size_t size, const CnncEpochLog *e)
{
    char val[32] = "";
    if (e->has_val)
        snprintf(val, sizeof val, "  val_acc %.4f", e->val_acc);
    return snprintf(out, size, "epoch %d/%d  loss %.4f  train_acc %.4f%s  %.0f samples/s",
                    e->epoch, e->epochs, e->loss, e->train_acc, val, e->samples_per_sec);
}

CNNC_RT_API void cnnc_print_epoch(FILE *f, const CnncEpochLog *e)
{
    char line[160];
    cnnc_format_epoch(line, sizeof line, e);
    fprintf(f, "%s\n", line);
    fflush(f);
}

CNNC_RT_API void cnnc_progress_begin(CnncProgress *p, FILE *f, int fd, int total)
{
    p->f = f;
    p->enabled = total > 0 && cnnc_is_tty(fd);
    p->total = total;
    p->drawn = -1;
}

CNNC_RT_API void cnnc_progress_update(CnncProgress *p, int done, double loss)
{
    if (!p->enabled)
        return;
    int cells = (int)((long long)done * TR_BAR_CELLS / p->total);
    if (cells == p->drawn && done != p->total)
        return;
    char bar[TR_BAR_CELLS + 1];
    for (int i = 0; i < TR_BAR_CELLS; i++)
        bar[i] = i < cells ? '=' : i == cells ? '>' : ' ';
    bar[TR_BAR_CELLS] = '\0';
    fprintf(p->f, "\r[%s] %d/%d  loss %.4f", bar, done, p->total, loss);
    fflush(p->f);
    p->drawn = cells;
}

CNNC_RT_API void cnnc_progress_end(CnncProgress *p)
{
    if (!p->enabled || p->drawn < 0)
        return;
    /* the bar, counts and loss fit in 80 columns; blank them */
    fprintf(p->f, "\r%80s\r", "");
    fflush(p->f);
    p->drawn = -1;
}

CNNC_RT_API void cnnc_print_metrics(FILE *f, const int64_t *cm, int k, const char *const *names)
{
    fprintf(f, "class     precision  recall      f1   support\n");
    for (int c = 0; c < k; c++) {
        CnncClassMetrics m = cnnc_class_metrics(cm, k, c);
        if (names)
            fprintf(f, "%-9.9s", names[c]);
        else
            fprintf(f, "%-9d", c);
        fprintf(f, " %9.4f  %6.4f  %6.4f  %8lld\n", m.precision, m.recall, m.f1,
                (long long)m.support);
    }
    CnncMetrics all = cnnc_metrics(cm, k);
    fprintf(f, "macro     %9.4f  %6.4f  %6.4f  %8lld\n", all.macro_precision, all.macro_recall,
            all.macro_f1, (long long)all.total);
    fprintf(f, "accuracy  %9.4f\n", all.accuracy);
}

CNNC_RT_API void cnnc_print_confusion(FILE *f, const int64_t *cm, int k)
{
    fprintf(f, "true\\pred");
    for (int p = 0; p < k; p++)
        fprintf(f, " %6d", p);
    fprintf(f, "\n");
    for (int t = 0; t < k; t++) {
        fprintf(f, "%9d", t);
        for (int p = 0; p < k; p++)
            fprintf(f, " %6lld", (long long)cm[(size_t)t * (size_t)k + (size_t)p]);
        fprintf(f, "\n");
    }
}
