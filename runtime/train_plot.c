/* train_plot.c: the SVG of train_plot.h. Takes the epoch logs of a run;
 * gives two panels (loss, accuracy) with axes, ticks, a legend, and one
 * polyline and one dot per epoch for each fold and quantity.
 *
 * Static helpers are prefixed tp_ because generated programs paste several
 * runtime files into one translation unit. */
#include "train_plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The picture's layout, in SVG user units. */
#define TP_W 860
#define TP_H 360
#define TP_PANEL_W 340
#define TP_PANEL_H 230
#define TP_TOP 50

typedef struct {
    FILE *f;
    const CnncEpochLog *logs;
    const int *fold;
    int n, epochs, folds;
} TpPlot;

/* A quantity of an epoch log, and its series' look. */
typedef struct {
    const char *name, *label, *color;
    int right; /* the accuracy panel */
} TpSeries;

static const TpSeries tp_series[] = {
    {"loss", "training loss", "#1f77b4", 0},
    {"train_acc", "training accuracy", "#ff7f0e", 1},
    {"val_acc", "validation accuracy", "#2ca02c", 1},
};

static double tp_value(const CnncEpochLog *e, int s)
{
    return s == 0 ? e->loss : s == 1 ? e->train_acc : e->val_acc;
}

static int tp_has(const CnncEpochLog *e, int s)
{
    return s != 2 || e->has_val;
}

/* 1, 2 or 5 times a power of ten, at least v (and above 0). */
static double tp_nice_ceiling(double v)
{
    double p = 1;
    if (!(v > 0))
        return 1;
    while (p < v)
        p *= 10;
    while (p / 10 >= v)
        p /= 10;
    return p / 5 >= v ? p / 5 : p / 2 >= v ? p / 2 : p;
}

static double tp_x(const TpPlot *p, int panel, int epoch)
{
    double left = 70 + panel * (TP_PANEL_W + 90);
    return left + (p->epochs > 1 ? (double)(epoch - 1) / (p->epochs - 1) : 0.5) * TP_PANEL_W;
}

static double tp_y(double v, double top)
{
    double t = v / top;
    return TP_TOP + (1 - (t < 0 ? 0 : t > 1 ? 1 : t)) * TP_PANEL_H;
}

/* The frame, title and ticks of one panel; its y axis runs 0..top. */
static void tp_axes(const TpPlot *p, int panel, const char *title, double top)
{
    double left = tp_x(p, panel, 1) - (p->epochs > 1 ? 0 : TP_PANEL_W / 2.0);
    int step = p->epochs <= 10 ? 1 : (p->epochs + 9) / 10;
    fprintf(p->f, "<g class=\"axes\">\n<text x=\"%.1f\" y=\"%d\" font-size=\"14\">%s</text>\n",
            left, TP_TOP - 18, title);
    fprintf(p->f, "<rect x=\"%.1f\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                  "stroke=\"#888\"/>\n", left, TP_TOP, TP_PANEL_W, TP_PANEL_H);
    for (int i = 0; i <= 4; i++) {
        double v = top * i / 4, y = tp_y(v, top);
        fprintf(p->f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                left, y, left + TP_PANEL_W, y, left - 6, y + 4, v);
    }
    for (int e = 1; e <= p->epochs; e += step)
        fprintf(p->f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n",
                tp_x(p, panel, e), TP_TOP + TP_PANEL_H + 16, e);
    fprintf(p->f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n</g>\n",
            left + TP_PANEL_W / 2.0, TP_TOP + TP_PANEL_H + 34);
}

/* Series s of one fold: a polyline through its epochs and a dot on each. */
static void tp_curve(const TpPlot *p, int s, int fold, double top)
{
    const TpSeries *se = &tp_series[s];
    fprintf(p->f, "<g class=\"%s\" data-fold=\"%d\">\n<polyline fill=\"none\" stroke=\"%s\" "
                  "stroke-width=\"1.5\"",
            se->name, fold, se->color);
    if (fold > 1) /* folds told apart by their dashes (and the dots' tooltips) */
        fprintf(p->f, " stroke-dasharray=\"%d,3\"", (fold - 2) % 4 * 2 + 2);
    fputs(" points=\"", p->f);
    for (int i = 0; i < p->n; i++)
        if (p->fold[i] == fold && tp_has(&p->logs[i], s))
            fprintf(p->f, " %.1f,%.1f", tp_x(p, se->right, p->logs[i].epoch),
                    tp_y(tp_value(&p->logs[i], s), top));
    fputs("\"/>\n", p->f);
    for (int i = 0; i < p->n; i++) {
        const CnncEpochLog *e = &p->logs[i];
        if (p->fold[i] != fold || !tp_has(e, s))
            continue;
        fprintf(p->f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>",
                tp_x(p, se->right, e->epoch), tp_y(tp_value(e, s), top), se->color);
        if (p->folds > 1)
            fprintf(p->f, "fold %d, ", fold);
        fprintf(p->f, "epoch %d: %s %.4f</title></circle>\n", e->epoch, se->name, tp_value(e, s));
    }
    fputs("</g>\n", p->f);
}

static void tp_legend(const TpPlot *p, int has_val)
{
    for (int s = 0; s < 3; s++) {
        int y = TP_H - 14, x = 70 + 220 * s;
        if (s == 2 && !has_val)
            continue;
        fprintf(p->f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                      "stroke-width=\"3\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
                x, y, x + 24, y, tp_series[s].color, x + 30, y + 4, tp_series[s].label);
    }
}

static void tp_draw(const TpPlot *p)
{
    double loss_max = 0;
    int has_val = 0;
    for (int i = 0; i < p->n; i++) {
        loss_max = p->logs[i].loss > loss_max ? p->logs[i].loss : loss_max;
        has_val |= p->logs[i].has_val;
    }
    double top = tp_nice_ceiling(loss_max);
    fprintf(p->f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                  "<title>training curves</title>\n"
                  "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            TP_W, TP_H, TP_W, TP_H, TP_W, TP_H);
    tp_axes(p, 0, "mean training loss", top);
    tp_axes(p, 1, "accuracy", 1);
    for (int fold = 1; fold <= p->folds; fold++)
        for (int s = 0; s < 3; s++)
            tp_curve(p, s, fold, s == 0 ? top : 1);
    tp_legend(p, has_val);
    fputs("</svg>\n", p->f);
}

CNNC_RT_API int cnnc_plot_curves(const char *path, const CnncEpochLog *logs, const int *fold,
                                 int n, char *err, size_t errsize)
{
    char tmp[4096];
    TpPlot p = {NULL, logs, fold, n, 0, 0};
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        snprintf(err, errsize, "the path is too long");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        p.epochs = logs[i].epochs > p.epochs ? logs[i].epochs : p.epochs;
        p.folds = fold[i] > p.folds ? fold[i] : p.folds;
    }
    if (!(p.f = fopen(tmp, "w"))) {
        snprintf(err, errsize, "cannot write the file");
        return -1;
    }
    tp_draw(&p);
    if (ferror(p.f) | fclose(p.f) || rename(tmp, path) != 0) {
        remove(tmp);
        snprintf(err, errsize, "cannot write the file");
        return -1;
    }
    return 0;
}
