/* main.c: the cnnc command line (contract, sections 1 and 2).
 *
 * Takes argv; parses it against one table of options, each saying which
 * commands accept it, then runs one command: compile (the default), run,
 * grad, weights or info. Gives the exit status: 0 ok, 1 when the model or
 * an input file is at fault (diagnostics say which), 2 for a usage error. */
#include "cnnc.h"
#include "image.h"
#include "npy.h"

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_MODEL = 1, EXIT_USAGE = 2 };

/* The largest --batch: far beyond any useful static plan, small enough
 * that batch * sample sizes stay far from overflow. */
#define BATCH_LIMIT 1000000

typedef enum {
    CMD_COMPILE,
    CMD_RUN,
    CMD_GRAD,
    CMD_WEIGHTS,
    CMD_INFO,
    CMD_EXPORT,
    CMD_QUANTIZE
} Command;

static const char *const command_names[] = {"compile", "run",    "grad",    "weights",
                                            "info",    "export", "quantize"};
/* The last pipeline step each command runs (pipeline.c). */
static const char *const last_step[] = {"emit", "fuse-residual", "autodiff", "init",
                                        "plan", "init",          "calibrate"};

typedef struct {
    Command cmd;
    const char *model, *out, *name, *batch, *weights, *blob, *dump;
    const char *input, *output, *labels, *outdir;
    const char *dot, *dot_format; /* info --dot FILE [--dot-format dot|svg]: ir/dot.c */
    const char *target, *ram_budget, *flash_budget, *cflags; /* report/target.c */
    /* --train's optimizer over the model's train section (docs/training.md) */
    const char *optimizer, *lr, *momentum, *weight_decay, *beta1, *beta2, *eps;
    /* int8 builds (docs/int8.md, contract section 7) */
    const char *calib, *calib_method, *int8_skip;
    const char *max_layers, *max_params; /* the limits a model must keep to */
    const char *freeze_until; /* training part of a network (contract section 8) */
    const char *patch;        /* --patch N: the leading layers in N bands (passes/patch.c) */
    bool train_bias_only;
    int64_t layer_limit, param_limit;    /* ... as numbers (check_limits) */
    bool main, train, split_weights, o0, no_winograd, fuse_blocks, weights_object, int8;
    bool no_batch; /* an ONNX model read as one whole sample (onnx.c's whole-tensor mode) */
} Args;

#define ON(c) (1u << (c))
#define MODEL_CMDS                                                                          \
    (ON(CMD_COMPILE) | ON(CMD_RUN) | ON(CMD_GRAD) | ON(CMD_WEIGHTS) | ON(CMD_INFO) | ON(CMD_EXPORT) | \
     ON(CMD_QUANTIZE))
#define INT8_CMDS (ON(CMD_COMPILE) | ON(CMD_RUN) | ON(CMD_GRAD) | ON(CMD_INFO))
#define CALIB_CMDS (INT8_CMDS | ON(CMD_QUANTIZE))
#define FREEZE_CMDS (ON(CMD_COMPILE) | ON(CMD_GRAD) | ON(CMD_INFO))

typedef struct {
    const char *name;
    bool takes_value; /* the field is a const char *, else a bool */
    size_t field;     /* offsetof(Args, ...) */
    unsigned cmds;    /* the commands that accept it */
} Option;

static const Option options[] = {
    {"-o", true, offsetof(Args, out), ON(CMD_COMPILE) | ON(CMD_EXPORT) | ON(CMD_QUANTIZE)},
    {"--name", true, offsetof(Args, name), ON(CMD_COMPILE)},
    {"--main", false, offsetof(Args, main), ON(CMD_COMPILE)},
    {"--train", false, offsetof(Args, train), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--batch", true, offsetof(Args, batch), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--split-weights", false, offsetof(Args, split_weights), ON(CMD_COMPILE)},
    {"--weights-blob", true, offsetof(Args, blob), ON(CMD_COMPILE)},
    {"--weights-object", false, offsetof(Args, weights_object), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"-O0", false, offsetof(Args, o0), ON(CMD_COMPILE) | ON(CMD_RUN) | ON(CMD_INFO) | ON(CMD_QUANTIZE)},
    {"--no-winograd", false, offsetof(Args, no_winograd), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--fuse-blocks", false, offsetof(Args, fuse_blocks), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--patch", true, offsetof(Args, patch), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--dot", true, offsetof(Args, dot), ON(CMD_INFO)},
    {"--dot-format", true, offsetof(Args, dot_format), ON(CMD_INFO)},
    {"--dump-ir", true, offsetof(Args, dump),
     ON(CMD_COMPILE) | ON(CMD_RUN) | ON(CMD_GRAD) | ON(CMD_INFO) | ON(CMD_QUANTIZE)},
    {"--weights", true, offsetof(Args, weights), MODEL_CMDS},
    {"--input", true, offsetof(Args, input), ON(CMD_RUN) | ON(CMD_GRAD)},
    {"--output", true, offsetof(Args, output), ON(CMD_RUN)},
    {"--labels", true, offsetof(Args, labels), ON(CMD_GRAD)},
    {"--outdir", true, offsetof(Args, outdir), ON(CMD_GRAD) | ON(CMD_WEIGHTS)},
    {"--target", true, offsetof(Args, target), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--cflags", true, offsetof(Args, cflags), ON(CMD_INFO)},
    {"--ram-budget", true, offsetof(Args, ram_budget), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--flash-budget", true, offsetof(Args, flash_budget), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--optimizer", true, offsetof(Args, optimizer), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--lr", true, offsetof(Args, lr), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--momentum", true, offsetof(Args, momentum), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--weight-decay", true, offsetof(Args, weight_decay), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--beta1", true, offsetof(Args, beta1), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--beta2", true, offsetof(Args, beta2), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--eps", true, offsetof(Args, eps), ON(CMD_COMPILE) | ON(CMD_INFO)},
    {"--int8", false, offsetof(Args, int8), INT8_CMDS},
    {"--calib", true, offsetof(Args, calib), CALIB_CMDS},
    {"--calib-method", true, offsetof(Args, calib_method), CALIB_CMDS},
    {"--int8-skip", true, offsetof(Args, int8_skip), CALIB_CMDS},
    {"--freeze-until", true, offsetof(Args, freeze_until), FREEZE_CMDS},
    {"--train-bias-only", false, offsetof(Args, train_bias_only), FREEZE_CMDS},
    {"--max-layers", true, offsetof(Args, max_layers), MODEL_CMDS},
    {"--max-params", true, offsetof(Args, max_params), MODEL_CMDS},
    {"--no-batch", false, offsetof(Args, no_batch), MODEL_CMDS},
};

static void print_help(FILE *out)
{
    fputs("usage: cnnc MODEL -o OUT.c [options]     compile MODEL to C: OUT.c and OUT.h\n"
          "       cnnc run MODEL --input IN.npy|IMAGE|DIR --output OUT.npy [--weights DIR]\n"
          "       cnnc grad MODEL --input IN.npy --labels LABELS.npy --outdir DIR [--weights DIR]\n"
          "                 [--freeze-until T] [--train-bias-only]\n"
          "       cnnc weights MODEL --outdir DIR [--weights DIR]\n"
          "       cnnc export MODEL -o OUT.onnx [--weights DIR]\n"
          "       cnnc quantize MODEL --calib CALIB.npy -o OUT.onnx\n"
          "       cnnc info MODEL [--weights DIR] [--dot FILE [--dot-format dot|svg]]\n"
          "                 [--target T [--train [--batch N] [--optimizer sgd|adam ...]]]\n"
          "       cnnc --help | --version\n"
          "\n"
          "MODEL is a .cnn file (the network DSL) or an .onnx file.\n"
          "\n"
          "Compile options:\n"
          "  -o OUT.c             the C file to write; OUT.h is written beside it\n"
          "  --name PREFIX        C symbol prefix (default: OUT's stem, made an identifier)\n"
          "  --main               also emit main(): infer, grad, bench and train commands\n"
          "  --train              also emit the backward pass and the optimizer step\n"
          "  --batch N            the largest batch the static plan holds (default: the\n"
          "                       ONNX input's batch, else the train section's under\n"
          "                       --train, else 1, or 32 under --train)\n"
          "  --weights DIR        take parameters and buffers from DIR/<name>.npy\n"
          "  --split-weights      put the weights in a C file of their own\n"
          "  --weights-blob FILE  put the weights in a binary FILE\n"
          "  --weights-object     put the weights in OUT_weights.bin, linked in by\n"
          "                       OUT_weights.S (.incbin: assemble it with -I set to its\n"
          "                       folder); big models build in seconds (also for info)\n"
          "  -O0                  skip the optimisation (fusion) passes (also for run,\n"
          "                       and for the graph of info --dot)\n"
          "  --no-winograd        3x3 stride-1 convs by the direct kernel, not Winograd's\n"
          "                       F(2x2,3x3): slower, a smaller arena and weights (also\n"
          "                       for info)\n"
          "  --fuse-blocks        each inverted-residual block (1x1 expand, depthwise, 1x1\n"
          "                       project) as one kernel that expands only the rows the\n"
          "                       depthwise window needs: with a Cortex-M --target and\n"
          "                       --int8 where the RAM peaks (less RAM, more instructions);\n"
          "                       on the host, float, where the expanded tensor has 4 MiB\n"
          "                       or more (faster, less RAM) (also for info)\n"
          "  --patch N            run the leading high-resolution layers (the chain of\n"
          "                       convs, pools and activations from the input, up to the\n"
          "                       cut of least estimated peak) in N bands of the cut's\n"
          "                       rows, each band's halo recomputed, so that their full\n"
          "                       tensors never exist (MCUNetV2's patch-based inference;\n"
          "                       N from 2 to 1024; also for info; not with --train)\n"
          "  --target T           build for T: cortex-m0plus, cortex-m3, cortex-m4,\n"
          "                       cortex-m7, cortex-m33, cortex-m55 or host (the default):\n"
          "                       the kernels, Winograd and unrolling measured best there\n"
          "                       (also for info, which compiles that build with T's\n"
          "                       compiler and flags and measures it)\n"
          "  --ram-budget BYTES   fail if the arena needs more (K, M: KiB, MiB); for a\n"
          "                       Cortex-M --target, an arena over it (even with the direct\n"
          "                       3x3 kernels) takes the first that fits of: the fewest\n"
          "                       bands of --patch; with --int8, --fuse-blocks; then\n"
          "                       --fuse-blocks and the fewest bands (a note says which;\n"
          "                       an explicit --patch or --fuse-blocks stays)\n"
          "  --flash-budget BYTES fail if the weights need more (over either budget, 3x3\n"
          "                       convs leave Winograd for the direct kernel if that fits;\n"
          "                       info takes both and reports the build they give)\n"
          "  --int8               compile (run, info) the model in int8: weights per output\n"
          "                       channel, activations per tensor, integer kernels (needs\n"
          "                       --calib; a pre-quantized ONNX model needs neither); with\n"
          "                       --train (also grad), the frozen part alone, the rest\n"
          "                       trains in float\n"
          "  --calib CALIB.npy    the calibration set: float32 samples shaped like the input\n"
          "  --calib-method M     how a tensor's range is chosen from CALIB: minmax (the\n"
          "                       default), percentile (99.99 %) or mse (least error)\n"
          "  --int8-skip L1,...   keep these layers float (their names after fusion)\n"
          "  --optimizer sgd|adam, --lr X, --momentum X, --weight-decay X, --beta1 X,\n"
          "  --beta2 X, --eps X   with --train: the optimizer P_train_init starts with,\n"
          "                       over the model's train section (default: its values,\n"
          "                       else sgd, lr 0.01, momentum 0, weight decay 0, betas\n"
          "                       0.9 and 0.999, eps 1e-8); it is fixed in the build, whose\n"
          "                       state keeps its moments only (also for info --train)\n"
          "  --freeze-until T     with --train (also for grad and info --train): train only\n"
          "                       what follows tensor T (an ONNX tensor or a DSL layer):\n"
          "                       every parameter T depends on stays constant, in flash\n"
          "  --train-bias-only    with --train (also grad, info): train the biases alone\n"
          "                       (TinyTL); with --freeze-until, those after the cut\n"
          "  --max-layers N       refuse a model of more than N layers (nodes) before\n"
          "                       planning it (default: 2000000; also for every command)\n"
          "  --max-params N       refuse a model of more than N parameters before\n"
          "                       allocating its weights (default: 1073741824, 4 GiB of\n"
          "                       float32; also for every command)\n"
          "  --no-batch           read an ONNX model as one sample of its input's whole\n"
          "                       static shape: no axis is a batch, any node may mix\n"
          "                       axis 0 (chosen by itself when the model mixes axis 0);\n"
          "                       run and infer then read IN.npy of exactly the input's\n"
          "                       shape and write the output's (also for every command)\n"
          "  --dump-ir=PASS       print the IR after PASS, a step of the pipeline (after\n"
          "                       plan: the memory plan; after emit: OUT.h), also for run\n"
          "                       (up to fuse-residual), grad (autodiff), weights (init) and\n"
          "                       info (up to plan); autodiff: the backward, under --train\n"
          "                       and grad; the steps:",
          out);
    for (int i = 0; pipeline_step_name(i); i++)
        fprintf(out, " %s", pipeline_step_name(i));
    fputs("\n"
          "\n"
          "Commands:\n"
          "  run      run the reference interpreter on IN.npy, shaped [N, <input shape>],\n"
          "           and write the output [N, ...] to OUT.npy; instead of IN.npy, a\n"
          "           binary PGM/PPM image of the model's size, or a folder of them,\n"
          "           scaled to [0, 1] and normalised with the model's mean and std\n"
          "  grad     mean softmax cross-entropy of a batch: DIR/loss.npy and, per\n"
          "           trainable parameter, DIR/<name>.npy holding dLoss/dParameter\n"
          "  weights  write every parameter and buffer as DIR/<name>.npy\n"
          "  export   write the model as written (and its weights) as ONNX, opset 13 or\n"
          "           the one an operator needs\n"
          "  quantize write the QDQ ONNX model an --int8 build computes, calibrated on\n"
          "           CALIB (ONNX Runtime runs it; cnnc compiles it to the same integers)\n"
          "  info     per-layer table: output shape, activation size, parameters, MACs\n"
          "           of the model as written; --dot FILE (- for stdout) also writes a\n"
          "           Graphviz picture of the graph after fusion, shapes on the edges,\n"
          "           as DOT text, or with --dot-format svg as SVG drawn by Graphviz's\n"
          "           dot (which must be installed);\n"
          "           with --target T, flash and RAM of the code built for T (--cflags\n"
          "           FLAGS: extra flags for T's compiler, after the profile's);\n"
          "           with --train too, the training buffers of a --train build;\n"
          "           with --int8, each layer's scales and the weights' int8 bytes\n"
          "\n"
          "In file names, bytes outside [A-Za-z0-9._-] are written %XX.\n"
          "Exit status: 0 ok, 1 an error in the model or an input, 2 a usage error.\n",
          out);
}

/* A usage error: the message, a hint, exit status 2. */
__attribute__((format(printf, 1, 2))) static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cnnc: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\ncnnc: note: run 'cnnc --help' for usage\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

static const Option *find_option(const char *arg, const char **value)
{
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const Option *o = &options[i];
        size_t n = strlen(o->name);
        if (strncmp(arg, o->name, n) != 0)
            continue;
        if (arg[n] == '\0') {
            *value = NULL;
            return o;
        }
        if (arg[n] == '=' && n > 2) { /* --opt=value, not -o=value */
            *value = arg + n + 1;
            return o;
        }
    }
    return NULL;
}

/* Fills *a from argv; returns 0 or a usage error's exit status. */
static int parse_args(int argc, char **argv, Args *a)
{
    int i = 1;
    for (int c = CMD_RUN; c <= CMD_QUANTIZE; c++)
        if (strcmp(argv[1], command_names[c]) == 0) {
            a->cmd = (Command)c;
            i = 2;
        }
    for (; i < argc; i++) {
        const char *arg = argv[i], *value;
        if (arg[0] != '-' || arg[1] == '\0') {
            if (a->model)
                return usage("more than one model given: '%s' and '%s'", a->model, arg);
            a->model = arg;
            continue;
        }
        const Option *o = find_option(arg, &value);
        if (!o)
            return usage("unknown option '%s'", arg);
        if (!(o->cmds & ON(a->cmd)))
            return usage("option '%s' does not apply to 'cnnc %s'", o->name,
                         command_names[a->cmd]);
        if (!o->takes_value) {
            if (value)
                return usage("option '%s' takes no value", o->name);
            *(bool *)((char *)a + o->field) = true;
            continue;
        }
        if (!value) {
            if (i + 1 == argc)
                return usage("option '%s' needs a value", o->name);
            value = argv[++i];
        }
        *(const char **)((char *)a + o->field) = value;
    }
    return 0;
}

static bool is_identifier(const char *s)
{
    if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return false;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* Contract, section 1: OUT's stem, bytes outside [A-Za-z0-9_] as '_', a
 * leading digit prefixed by '_'. OUT ends in ".c" (checked). */
static char *default_prefix(const char *out)
{
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    size_t n = strlen(base) - 2;
    bool digit = base[0] >= '0' && base[0] <= '9';
    char *p = xmalloc(n + 2), *q = p;
    if (digit)
        *q++ = '_';
    for (size_t i = 0; i < n; i++) {
        char c = base[i];
        bool keep = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9');
        *q++ = keep ? c : '_';
    }
    *q = '\0';
    return p;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* --train's optimizer flags that take a number: where the text is, where
 * the value goes, its range (PyTorch's: every one >= 0, betas below 1). */
static const struct {
    const char *name;
    size_t arg;   /* offsetof(Args, ...) */
    size_t field; /* offsetof(TrainCfg, ...) */
    bool below_one;
} hparam_flags[] = {
    {"--lr", offsetof(Args, lr), offsetof(TrainCfg, lr), false},
    {"--momentum", offsetof(Args, momentum), offsetof(TrainCfg, momentum), false},
    {"--weight-decay", offsetof(Args, weight_decay), offsetof(TrainCfg, weight_decay), false},
    {"--beta1", offsetof(Args, beta1), offsetof(TrainCfg, beta1), true},
    {"--beta2", offsetof(Args, beta2), offsetof(TrainCfg, beta2), true},
    {"--eps", offsetof(Args, eps), offsetof(TrainCfg, eps), false},
};

static const char *hparam_text(const Args *a, int i)
{
    return *(const char *const *)((const char *)a + hparam_flags[i].arg);
}

/* text as a finite float >= 0 (below 1 if asked); false if it is not one. */
static bool parse_hparam(const char *text, bool below_one, float *v)
{
    char *end;
    errno = 0;
    double d = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(d) || d < 0 || d > FLT_MAX ||
        (below_one && d >= 1))
        return false;
    *v = (float)d;
    return true;
}

/* The optimizer flags: only with --train, each a valid value. */
static int check_hparams(const Args *a)
{
    const char *given = a->optimizer ? "--optimizer" : NULL;
    for (int i = 0; i < (int)(sizeof hparam_flags / sizeof *hparam_flags); i++) {
        float v;
        const char *text = hparam_text(a, i);
        if (!text)
            continue;
        given = hparam_flags[i].name;
        if (!parse_hparam(text, hparam_flags[i].below_one, &v))
            return usage("%s needs a number %s, not '%s'", given,
                         hparam_flags[i].below_one ? "from 0 to below 1" : "of at least 0", text);
    }
    if (given && !a->train)
        return usage("%s sets the optimizer of a --train build; add --train", given);
    if (a->optimizer && strcmp(a->optimizer, "sgd") != 0 && strcmp(a->optimizer, "adam") != 0)
        return usage("--optimizer takes sgd or adam, not '%s'", a->optimizer);
    return 0;
}

/* The optimizer P_train_init starts with: the model's (or the default)
 * with the command line's flags over it. */
static TrainCfg train_hparams(const Args *a, const Graph *g)
{
    TrainCfg c = train_defaults(g);
    if (a->optimizer)
        c.optim = strcmp(a->optimizer, "adam") == 0 ? OPT_ADAM : OPT_SGD;
    for (int i = 0; i < (int)(sizeof hparam_flags / sizeof *hparam_flags); i++)
        if (hparam_text(a, i))
            parse_hparam(hparam_text(a, i), hparam_flags[i].below_one,
                         (float *)((char *)&c + hparam_flags[i].field));
    return c;
}

/* --int8 and its options (contract section 7); `quantize` implies --int8. */
static int check_int8(const Args *a)
{
    const char *flag = a->calib ? "--calib" : a->calib_method ? "--calib-method"
                       : a->int8_skip ? "--int8-skip" : NULL;
    bool int8 = a->int8 || a->cmd == CMD_QUANTIZE;
    if (flag && !int8)
        return usage("%s belongs to an int8 build; add --int8", flag);
    if (a->cmd == CMD_QUANTIZE && !a->calib)
        return usage("'cnnc quantize' needs --calib CALIB.npy, samples shaped like the input");
    if (a->int8 && !a->calib)
        return usage("--int8 needs --calib CALIB.npy, samples shaped like the input to choose "
                     "the scales from (a pre-quantized ONNX model needs neither)");
    if (a->calib_method && strcmp(a->calib_method, "minmax") != 0 &&
        strcmp(a->calib_method, "percentile") != 0 && strcmp(a->calib_method, "mse") != 0)
        return usage("--calib-method takes minmax, percentile or mse, not '%s'", a->calib_method);
    return 0;
}

/* --int8's calibration, for the pipeline. */
static QuantOptions quant_options(const Args *a)
{
    const char *m = a->calib_method ? a->calib_method : "minmax";
    return (QuantOptions){.calib = a->calib, .skip = a->int8_skip,
                          .method = strcmp(m, "mse") == 0          ? CALIB_MSE
                                    : strcmp(m, "percentile") == 0 ? CALIB_PERCENTILE
                                                                   : CALIB_MINMAX};
}

/* text as a whole number (decimal, nothing after it) from lo to hi in *v;
 * false if it is not one. The numbers of --batch, --patch and the limits. */
static bool parse_whole(const char *text, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(text, &end, 10);
    return end != text && !*end && !errno && *v >= lo && *v <= hi;
}

/* --max-layers / --max-params: a whole number from 1, or the default. */
static int parse_limit(const char *opt, const char *text, int64_t fallback, int64_t *limit)
{
    long long v;
    *limit = fallback;
    if (!text)
        return 0;
    if (!parse_whole(text, 1, LLONG_MAX, &v))
        return usage("%s needs a whole number from 1, not '%s'", opt, text);
    *limit = v;
    return 0;
}

/* The limits' numbers into a->layer_limit and a->param_limit. */
static int check_limits(Args *a)
{
    int rc = parse_limit("--max-layers", a->max_layers, MAX_LAYERS_DEFAULT, &a->layer_limit);
    return rc ? rc : parse_limit("--max-params", a->max_params, MAX_PARAMS_DEFAULT, &a->param_limit);
}

/* --patch N's number of bands, 0 if N is not one (2..1024). */
static int parse_patch(const char *s)
{
    long long v;
    return parse_whole(s, 2, 1024, &v) ? (int)v : 0;
}

/* The checks that need no file: required options, numbers, names. */
static int check_args(const Args *a, int *batch)
{
    const char *missing = NULL;
    if (!a->model)
        return usage("no model given (a .cnn or .onnx file)");
    if ((a->cmd == CMD_GRAD || a->cmd == CMD_WEIGHTS) && !a->outdir)
        missing = "--outdir DIR";
    if (a->cmd == CMD_GRAD && !a->labels)
        missing = "--labels LABELS.npy";
    if (a->cmd == CMD_RUN && !a->output)
        missing = "--output OUT.npy";
    if ((a->cmd == CMD_RUN || a->cmd == CMD_GRAD) && !a->input)
        missing = "--input IN.npy";
    if (a->cmd == CMD_COMPILE && !a->out)
        return usage("missing -o OUT.c, the file to write");
    if (a->cmd == CMD_QUANTIZE && (!a->out || !has_suffix(a->out, ".onnx")))
        return usage("'cnnc quantize' needs -o OUT.onnx, the QDQ model to write");
    if (a->cmd == CMD_EXPORT && !a->out)
        missing = "-o OUT.onnx";
    if (missing)
        return usage("'cnnc %s' needs %s", command_names[a->cmd], missing);
    if (a->cmd == CMD_EXPORT && !has_suffix(a->out, ".onnx"))
        return usage("the output '%s' must be an .onnx file", a->out);
    if (a->cmd == CMD_COMPILE && !has_suffix(a->out, ".c"))
        return usage("the output '%s' must be a .c file (OUT.h is written beside it)", a->out);
    if (a->name && !is_identifier(a->name))
        return usage("--name '%s' is not a C identifier", a->name);
    if (a->cmd == CMD_COMPILE && !a->name) {
        char *prefix = default_prefix(a->out);
        bool empty = !prefix[0];
        free(prefix);
        if (empty)
            return usage("cannot derive a C prefix from '%s'; give one with --name", a->out);
    }
    if (a->cmd == CMD_INFO && (a->train || a->batch) && !(a->train && a->target))
        return usage("'cnnc info' takes --train and --batch with --target only (and --batch "
                     "with --train)");
    if ((a->freeze_until || a->train_bias_only) && a->cmd != CMD_GRAD && !a->train)
        return usage("%s needs --train: it says which parameters training changes",
                     a->freeze_until ? "--freeze-until" : "--train-bias-only");
    if (a->dot_format && strcmp(a->dot_format, "dot") != 0 && strcmp(a->dot_format, "svg") != 0)
        return usage("--dot-format takes dot or svg, not '%s'", a->dot_format);
    if (a->dot_format && !a->dot)
        return usage("--dot-format needs --dot FILE");
    if (a->cmd == CMD_INFO && (a->ram_budget || a->flash_budget || a->cflags) && !a->target)
        return usage("'cnnc info' takes --ram-budget, --flash-budget and --cflags with --target "
                     "only");
    if (a->split_weights + !!a->blob + a->weights_object > 1)
        return usage("--split-weights, --weights-blob and --weights-object exclude each other");
    if (a->train && (a->blob || a->weights_object))
        return usage("--train and %s exclude each other: P_train_init copies the initial "
                     "weights from arrays compiled into OUT.c",
                     a->blob ? "--weights-blob" : "--weights-object");
    if (a->cmd == CMD_INFO && a->weights_object && !a->target)
        return usage("'cnnc info' takes --weights-object with --target only");
    int rc = check_hparams(a);
    if (rc || (rc = check_int8(a)))
        return rc;
    bool host = !a->target || strcmp(a->target, "host") == 0;
    if (a->fuse_blocks && (a->train || a->int8 == host))
        return usage("--fuse-blocks needs --int8 and a Cortex-M --target, or a float build for "
                     "the host, without --train: the fused kernels are int8 on the parts and "
                     "float on the host");
    if (a->patch && (a->train || !parse_patch(a->patch)))
        return usage(a->train ? "--patch and --train exclude each other: the backward reads "
                                "the full activations"
                              : "--patch needs a whole number of bands from 2 to 1024, not '%s'",
                     a->patch);
    *batch = 0;
    if (a->batch) {
        long long v;
        if (!parse_whole(a->batch, 1, BATCH_LIMIT, &v))
            return usage("--batch needs a whole number from 1 to 1000000, not '%s'", a->batch);
        *batch = (int)v;
    }
    if (a->dump) {
        int step = pipeline_step_index(a->dump);
        if (step < 0)
            return usage("--dump-ir: unknown pass '%s' (see 'cnnc --help' for the list)", a->dump);
        if (step > pipeline_step_index(last_step[a->cmd]))
            return usage("--dump-ir=%s: 'cnnc %s' stops after %s", a->dump,
                         command_names[a->cmd], last_step[a->cmd]);
    }
    return 0;
}

/* The pipeline options of a command (quant: where --int8's go). */
static LoadOptions load_options(const Args *a, bool optimize, QuantOptions *quant)
{
    *quant = quant_options(a);
    return (LoadOptions){
        .weights_dir = a->weights,
        .max_layers = a->layer_limit,
        .max_params = a->param_limit,
        .dump_after = a->dump,
        .optimize = optimize && !a->o0,
        .train = a->train || a->cmd == CMD_GRAD,
        .no_winograd = a->no_winograd,
        .quant = a->int8 || a->cmd == CMD_QUANTIZE ? quant : NULL,
        .freeze_until = a->freeze_until,
        .train_bias_only = a->train_bias_only,
        .grad_cmd = a->cmd == CMD_GRAD,
        .patch = a->patch ? parse_patch(a->patch) : 0,
        .no_batch = a->no_batch,
    };
}

/* Training (--train, grad) averages over a batch of samples: a model read
 * as one whole sample has none. False after the error. */
static bool trains_by_batch(const Args *a, const Graph *g)
{
    if (!g->whole || !(a->train || a->cmd == CMD_GRAD))
        return true;
    diag_error((Loc){a->model, 0, 0}, "the model is read as one sample (no batch axis); "
               "training (--train, grad) needs a batch of samples");
    return false;
}

/* The pipeline of a command, run up to `last`; NULL after an error. */
static Pipeline *load(const Args *a, bool optimize, const char *last)
{
    QuantOptions quant;
    LoadOptions opt = load_options(a, optimize, &quant);
    Pipeline *p = pipeline_new(a->model, &opt);
    if (pipeline_run(p, "parse") && trains_by_batch(a, pipeline_graph(p)) &&
        pipeline_run(p, last))
        return p;
    pipeline_free(p);
    return NULL;
}

/* The batch of a build: --batch, else the ONNX input's, else the train
 * section's under --train, else 1 (32 under --train). */
static int build_batch(const Args *a, const Graph *g, int batch)
{
    if (batch)
        return batch;
    return g->batch_hint ? g->batch_hint
           : a->train   ? (g->train.present && g->train.batch > 0 ? g->train.batch : 32)
                        : 1;
}

/* --target T: the profile (NULL without one: the host's kernels) and, in
 * *no_winograd, whether its build leaves Winograd out. False after an
 * error. */
static bool build_target(const Args *a, Graph *g, const TargetProfile **t, bool *no_winograd)
{
    *t = NULL;
    *no_winograd = a->no_winograd;
    if (!a->target)
        return true;
    if (!(*t = target_find(a->target, a->model)))
        return false;
    *no_winograd = *no_winograd || !target_winograd(g, *t);
    return true;
}

/* The band counts a RAM budget may choose, fewest (least recomputation) first. */
static const int budget_band_counts[] = {2, 3, 4, 6, 8, 12, 16};

/* A build the RAM budget's ladder may choose: the leading layers in
 * `bands` bands (0: none), inverted-residual blocks fused or not. */
typedef struct {
    int bands;
    bool fuse_blocks;
} BudgetStep;

/* The arena of the build in `s.bands` bands, from a pipeline of its own
 * (the patch pass rewrites its graph); -1 after an error. */
static int64_t patched_arena(const Args *a, const TargetProfile *t, bool no_winograd, BudgetStep s)
{
    QuantOptions quant;
    LoadOptions opt = load_options(a, true, &quant);
    opt.patch = s.bands;
    opt.dump_after = NULL;
    EmitOptions build = {.out_c = "", .prefix = "m", .batch = 1, .no_winograd = no_winograd,
                         .count_weights = true, .target = t, .fuse_blocks = s.fuse_blocks};
    Pipeline *p = pipeline_new(a->model, &opt);
    pipeline_set_build(p, &build);
    bool quiet = diag_quiet_warnings(true);
    int64_t arena = pipeline_run(p, "plan") ? emit_figures(pipeline_emit(p)).arena_bytes : -1;
    diag_quiet_warnings(quiet);
    pipeline_free(p);
    return arena;
}

/* The arena of step s of g's build (g not yet banded); -1 after an error.
 * Without bands, with the direct 3x3 kernels: target_check_budgets takes
 * them when Winograd's do not fit. */
static int64_t step_arena(const Args *a, Graph *g, const TargetProfile *t, bool no_winograd,
                          BudgetStep s)
{
    MemoryFigures m;
    if (s.bands)
        return patched_arena(a, t, no_winograd, s);
    return emit_memory(g, true, s.fuse_blocks, t, &m) ? m.arena_bytes : -1;
}

/* Whether step s's arena fits `ram`; if it does, a note says what the
 * budget chose beyond the command line (a->patch, a->fuse_blocks). */
static bool step_fits(const Args *a, Graph *g, const TargetProfile *t, bool no_winograd,
                      BudgetStep s, int64_t ram, int64_t whole)
{
    int64_t arena = step_arena(a, g, t, no_winograd, s);
    if (arena < 0 || arena > ram)
        return false;
    bool bands = s.bands && !a->patch, fused = s.fuse_blocks && !a->fuse_blocks;
    char what[160];
    if (bands && fused)
        snprintf(what, sizeof what, "inverted-residual blocks fused and the leading layers in %d "
                 "bands (--fuse-blocks --patch %d)", s.bands, s.bands);
    else if (bands)
        snprintf(what, sizeof what, "the leading layers in %d bands (--patch %d)", s.bands,
                 s.bands);
    else
        snprintf(what, sizeof what, "inverted-residual blocks fused (--fuse-blocks)");
    diag_note((Loc){a->model, 0, 0}, "%s to fit the RAM budget: arena %lld bytes instead of %lld",
              what, (long long)arena, (long long)whole);
    return true;
}

/* The fewest bands whose arena fits (*s), with fused blocks or without. */
static bool fewest_bands(const Args *a, Graph *g, const TargetProfile *t, bool no_winograd,
                         bool fuse_blocks, int64_t ram, int64_t whole, BudgetStep *s)
{
    for (size_t i = 0; i < sizeof budget_band_counts / sizeof *budget_band_counts; i++) {
        *s = (BudgetStep){budget_band_counts[i], fuse_blocks};
        if (step_fits(a, g, t, no_winograd, *s, ram, whole))
            return true;
    }
    return false;
}

/* The build a microcontroller profile's --ram-budget chooses when the
 * command line's arena is over it (even with the direct 3x3 kernels): the
 * first step of the ladder that fits, with a note: the fewest bands; in an
 * int8 build (the only one with fused blocks), the fused blocks; then the
 * fused blocks and the fewest bands. An explicit --patch or --fuse-blocks
 * stays; steps that would change it are skipped. When nothing fits, the
 * command line's build (target_check_budgets then reports the miss). The
 * host's builds band and fuse only when asked. */
static BudgetStep budget_ladder(const Args *a, Graph *g, const TargetProfile *t, bool no_winograd)
{
    BudgetStep given = {a->patch ? parse_patch(a->patch) : 0, a->fuse_blocks}, s;
    bool may_band = !a->patch, may_fuse = !a->fuse_blocks && a->int8;
    int64_t ram, whole;
    if (!(may_band || may_fuse) || !a->ram_budget || a->train || !t ||
        strcmp(t->name, "host") == 0 || !target_parse_bytes(a->ram_budget, &ram) ||
        (whole = step_arena(a, g, t, no_winograd, given)) < 0 || whole <= ram)
        return given;
    if (may_band && fewest_bands(a, g, t, no_winograd, given.fuse_blocks, ram, whole, &s))
        return s;
    if (!may_fuse)
        return given;
    s = (BudgetStep){given.bands, true};
    if (step_fits(a, g, t, no_winograd, s, ram, whole) ||
        (may_band && fewest_bands(a, g, t, no_winograd, true, ram, whole, &s)))
        return s;
    return given;
}

/* Runs p through "patch": --patch's bands, else those the RAM budget
 * needs; *fuse_blocks: whether the build fuses inverted-residual blocks
 * (--fuse-blocks, or the budget's choice). */
static bool run_patch(const Args *a, Pipeline *p, const TargetProfile *t, bool no_winograd,
                      bool *fuse_blocks)
{
    BudgetStep s = budget_ladder(a, pipeline_graph(p), t, no_winograd);
    if (s.bands)
        pipeline_set_patch(p, s.bands);
    *fuse_blocks = s.fuse_blocks;
    return pipeline_run(p, "patch");
}

static int cmd_compile(const Args *a, int batch)
{
    Pipeline *p = load(a, true, "fuse-residual");
    if (!p)
        return EXIT_MODEL;
    Graph *g = pipeline_graph(p);
    const TargetProfile *target;
    bool no_winograd, fuse_blocks;
    if (!build_target(a, g, &target, &no_winograd) ||
        !run_patch(a, p, target, no_winograd, &fuse_blocks)) {
        pipeline_free(p);
        return EXIT_MODEL;
    }
    TrainCfg hparams = train_hparams(a, g);
    char *prefix = a->name ? xstrdup(a->name) : default_prefix(a->out);
    EmitOptions opt = {
        .out_c = a->out,
        .prefix = prefix,
        .main = a->main,
        .train = a->train,
        .batch = build_batch(a, g, batch),
        .split_weights = a->split_weights,
        .weights_blob = a->blob,
        .weights_object = a->weights_object,
        .no_winograd = no_winograd,
        .fuse_blocks = fuse_blocks,
        .target = target,
        .hparams = a->train ? &hparams : NULL,
    };
    bool ok = target_check_budgets(g, target, a->ram_budget, a->flash_budget, fuse_blocks,
                                   &opt.ram_budget, &opt.no_winograd);
    if (ok) {
        pipeline_set_build(p, &opt);
        ok = pipeline_run(p, "emit");
    }
    free(prefix);
    pipeline_free(p);
    return ok ? 0 : EXIT_MODEL;
}

/* IN.npy of a model read whole (Graph.whole) has exactly its input's
 * shape: one sample, no batch axis. */
static bool check_whole_input(const Graph *g, const CnncNpy *x, const char *path)
{
    const Shape *s = &g->t[g->input].shape;
    bool ok = x->rank == s->rank;
    for (int i = 0; ok && i < s->rank; i++)
        ok = x->shape[i] == s->d[i];
    if (!ok) {
        char have[160], want[160];
        cnnc_npy_shape_str(x->shape, x->rank, have, sizeof have);
        cnnc_npy_shape_str(s->d, s->rank, want, sizeof want);
        diag_error((Loc){path, 0, 0}, "the input has shape %s; the model '%s', read as one "
                   "sample, takes exactly %s", have, g->name ? g->name : "?", want);
    }
    return ok;
}

/* IN.npy must be [N, <the model's input shape>], N >= 1: the batch
 * dimension is required, never guessed, so that a [3, 32, 32] file given to
 * a model of input 32x32 is an error rather than three samples. */
static bool check_input(const Graph *g, const CnncNpy *x, const char *path)
{
    if (g->whole)
        return check_whole_input(g, x, path);
    const Shape *s = &g->t[g->input].shape;
    bool ok = x->rank == s->rank + 1 && x->shape[0] >= 1 && x->shape[0] <= INT_MAX;
    for (int i = 0; ok && i < s->rank; i++)
        ok = x->shape[i + 1] == s->d[i];
    if (!ok) {
        char have[160], want[160];
        int64_t d[MAX_RANK + 1] = {0};
        for (int i = 0; i < s->rank; i++)
            d[i + 1] = s->d[i];
        cnnc_npy_shape_str(x->shape, x->rank, have, sizeof have);
        cnnc_npy_shape_str(d, s->rank + 1, want, sizeof want);
        want[1] = 'N'; /* "(0, 3, 32, 32)" becomes "(N, 3, 32, 32)" */
        diag_error((Loc){path, 0, 0}, "the input has shape %s; the model '%s' takes %s, N >= 1",
                   have, g->name ? g->name : "?", want);
    }
    return ok;
}

/* IMAGE or DIR (runtime/image.c) as float32 [N, C, H, W] in *x, scaled and
 * normalised as the model declares; false after an error. */
static bool read_images(const Graph *g, const char *path, CnncNpy *x)
{
    const Shape *s = &g->t[g->input].shape;
    char err[CNNC_IMAGE_ERR_SIZE], where[4096];
    float inv_std[3]; /* images have 1 or 3 channels */
    if (s->rank != 3 || g->whole) {
        diag_error((Loc){path, 0, 0},
                   "the model's input is not an image (C x H x W); give a .npy file");
        return false;
    }
    CnncImageSpec spec = {(int)s->d[0], (int)s->d[1], (int)s->d[2], NULL, NULL};
    if (g->nnorm == s->d[0] && g->mean && g->std && g->nnorm <= 3) {
        for (int c = 0; c < g->nnorm; c++)
            inv_std[c] = 1.0f / g->std[c]; /* as P_image_to_input multiplies */
        spec.mean = g->mean;
        spec.inv_std = inv_std;
    }
    CnncImageSet set;
    if (cnnc_image_set_load(path, &spec, &set, where, sizeof where, err, sizeof err) != 0) {
        diag_error((Loc){where, 0, 0}, "%s", err);
        return false;
    }
    *x = (CnncNpy){.type = CNNC_NPY_F32, .rank = 4, .shape = {set.n, s->d[0], s->d[1], s->d[2]},
                   .count = (int64_t)set.n * shape_numel(s), .data = set.data};
    set.data = NULL; /* now x's */
    cnnc_image_set_free(&set);
    return true;
}

/* Reads IN (a .npy file, else an image or a folder of images) as float32
 * [N, <input shape>]; false after an error. */
static bool read_input(const Graph *g, const char *path, CnncNpy *x)
{
    char err[CNNC_NPY_ERR_SIZE];
    if (cnnc_is_image_input(path))
        return read_images(g, path, x);
    if (cnnc_npy_read_f32(path, x, err, sizeof err) < 0) {
        diag_error((Loc){path, 0, 0}, "%s", err);
        return false;
    }
    if (!check_input(g, x, path)) {
        cnnc_npy_free(x);
        return false;
    }
    return true;
}

static int cmd_run(const Args *a)
{
    char err[CNNC_NPY_ERR_SIZE];
    Pipeline *p = load(a, true, "fuse-residual");
    Graph *g = p ? pipeline_graph(p) : NULL;
    CnncNpy x;
    if (!g || !read_input(g, a->input, &x)) {
        pipeline_free(p);
        return EXIT_MODEL;
    }
    int rc = EXIT_MODEL, n = g->whole ? 1 : (int)x.shape[0], lead = g->whole ? 0 : 1;
    Activations act = interp_forward(g, x.data, n, false);
    if (act.val) {
        const Shape *s = &g->t[g->output].shape;
        int64_t shape[MAX_RANK + 1] = {n};
        memcpy(shape + lead, s->d, sizeof(int64_t) * s->rank);
        if (cnnc_npy_write_f32(a->output, act.val[g->output], s->rank + lead, shape, err,
                               sizeof err) < 0)
            diag_error((Loc){a->output, 0, 0}, "%s", err);
        else
            rc = 0;
        interp_free(g, &act);
    }
    cnnc_npy_free(&x);
    pipeline_free(p);
    return rc;
}

/* LABELS.npy: n integer class labels in [0, classes); NULL after an error. */
static int32_t *read_labels(const char *path, int64_t n, int64_t classes)
{
    char err[CNNC_NPY_ERR_SIZE];
    CnncNpy y;
    if (cnnc_npy_read(path, &y, err, sizeof err) < 0) {
        diag_error((Loc){path, 0, 0}, "%s", err);
        return NULL;
    }
    int32_t *labels = xmalloc(sizeof *labels * (size_t)(y.count ? y.count : 1));
    bool ok = cnnc_npy_labels(&y, labels, classes, err, sizeof err) == 0;
    if (!ok)
        diag_error((Loc){path, 0, 0}, "%s", err);
    else if (y.count != n) {
        diag_error((Loc){path, 0, 0}, "%lld labels for %lld input samples", (long long)y.count,
                   (long long)n);
        ok = false;
    }
    cnnc_npy_free(&y);
    if (!ok) {
        free(labels);
        return NULL;
    }
    return labels;
}

/* An int8 backbone's gradients are those of the build's fused graph: its
 * integer layers are the fused ones --int8 quantizes. */
static int cmd_grad(const Args *a)
{
    Pipeline *p = load(a, a->int8, "autodiff");
    Graph *g = p ? pipeline_graph(p) : NULL;
    CnncNpy x;
    int64_t classes = g ? g->bw->classes : -1;
    if (classes < 0 || !read_input(g, a->input, &x)) {
        pipeline_free(p);
        return EXIT_MODEL;
    }
    int rc = EXIT_MODEL, n = (int)x.shape[0];
    int32_t *labels = read_labels(a->labels, n, classes);
    Grads gr;
    if (labels && interp_grad(g, x.data, labels, n, false, (Loc){a->labels, 0, 0}, &gr)) {
        if (grads_save_dir(g, &gr, a->outdir))
            rc = 0;
        grads_free(g, &gr);
    }
    free(labels);
    cnnc_npy_free(&x);
    pipeline_free(p);
    return rc;
}

static int cmd_weights(const Args *a)
{
    Pipeline *p = load(a, false, "init");
    if (!p)
        return EXIT_MODEL;
    bool ok = weights_save_dir(pipeline_graph(p), a->outdir);
    pipeline_free(p);
    return ok ? 0 : EXIT_MODEL;
}

/* export MODEL -o OUT.onnx: the model as written (contract section 9). */
static int cmd_export(const Args *a)
{
    Pipeline *p = load(a, false, "init");
    if (!p)
        return EXIT_MODEL;
    bool ok = onnx_export(pipeline_graph(p), a->out);
    pipeline_free(p);
    return ok ? 0 : EXIT_MODEL;
}

/* info --dot FILE: the graph code would be generated from (fused, unless
 * -O0), after the table of the model as written. */
static bool write_dot(const Args *a, const Graph *g)
{
    if (a->dot_format && strcmp(a->dot_format, "svg") == 0)
        return dot_write_svg(g, a->dot);
    bool to_stdout = strcmp(a->dot, "-") == 0;
    FILE *f = to_stdout ? stdout : fopen(a->dot, "w");
    if (!f) {
        diag_error((Loc){a->dot, 0, 0}, "cannot write: %s", strerror(errno));
        return false;
    }
    graph_dot(g, f);
    if (!to_stdout && fclose(f) != 0) {
        diag_error((Loc){a->dot, 0, 0}, "cannot write: %s", strerror(errno));
        return false;
    }
    return true;
}

/* info --train --target: the table of training variants beside the
 * measured build (report/train_variants.c), each planned as that build. */
static bool info_variants(const Args *a, const TargetBuild *b)
{
    QuantOptions quant;
    LoadOptions opt = load_options(a, true, &quant);
    EmitOptions build = {.out_c = "", .prefix = "model", .batch = b->train_batch, .train = true,
                         .count_weights = true, .no_winograd = b->no_winograd, .target = b->t,
                         .hparams = b->hparams};
    return train_variants_print(a->model, &opt, &build, stdout);
}

/* --target: the graph compile emits, cross-compiled (report/target.c). */
static bool info_target(const Args *a, Pipeline *p, int batch)
{
    if (!pipeline_run(p, "fuse-residual"))
        return false;
    Graph *g = pipeline_graph(p);
    const TargetProfile *target;
    int64_t ram_budget;
    bool no_winograd, fuse_blocks;
    if (!build_target(a, g, &target, &no_winograd) ||
        !run_patch(a, p, target, no_winograd, &fuse_blocks) || !pipeline_run(p, "autodiff") ||
        !target_check_budgets(g, target, a->ram_budget, a->flash_budget, fuse_blocks,
                              &ram_budget, &no_winograd))
        return false;
    TrainCfg hparams = train_hparams(a, g);
    TargetBuild b = {target, a->train ? build_batch(a, g, batch) : 0, no_winograd,
                     fuse_blocks, a->cflags, a->weights_object,
                     a->train ? &hparams : NULL};
    return target_report(g, &b, stdout) && (!a->train || info_variants(a, &b));
}

/* The table shows the model as written; the memory lines and the picture,
 * the graph the code generator compiles. */
static bool info_table(const Args *a, Pipeline *p)
{
    info_print(pipeline_graph(p), stdout);
    if (!pipeline_run(p, "plan"))
        return false;
    MemoryFigures m = emit_figures(pipeline_emit(p));
    printf("generated code (after fusion, one sample at a time):\n"
           "arena_bytes: %lld\narena_lower_bound_bytes: %lld\nweights_bytes: %lld\n",
           (long long)m.arena_bytes, (long long)m.bound_bytes, (long long)m.weights_bytes);
    info_layer_bound_print(m.arena_bytes, m.layer_bound_bytes, stdout);
    if (a->int8)
        info_int8_print(pipeline_graph(p), m.weights_bytes, stdout);
    return true;
}

static int cmd_info(const Args *a, int batch)
{
    Pipeline *p = load(a, true, "init");
    if (!p)
        return EXIT_MODEL;
    bool ok = a->target ? info_target(a, p, batch) : info_table(a, p);
    if (ok && a->dot)
        ok = write_dot(a, pipeline_graph(p));
    pipeline_free(p);
    return ok ? 0 : EXIT_MODEL;
}

/* `cnnc quantize`: the QDQ model "calibrate" makes, as ONNX (contract,
 * section 7): what ONNX Runtime runs, to check accuracy in other tools. */
static int cmd_quantize(const Args *a)
{
    Pipeline *p = load(a, true, "calibrate");
    bool ok = p && onnx_export(pipeline_graph(p), a->out);
    pipeline_free(p);
    return ok ? 0 : EXIT_MODEL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("no model given (a .cnn or .onnx file)");
    if (strcmp(argv[1], "--version") == 0) {
        puts("cnnc " CNNC_VERSION);
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
            (i == 1 && strcmp(argv[i], "help") == 0)) {
            print_help(stdout);
            return 0;
        }
    Args a = {0};
    int batch = 0, rc = parse_args(argc, argv, &a);
    if (rc || (rc = check_args(&a, &batch)) || (rc = check_limits(&a)))
        return rc;
    switch (a.cmd) {
    case CMD_COMPILE: rc = cmd_compile(&a, batch); break;
    case CMD_RUN: rc = cmd_run(&a); break;
    case CMD_GRAD: rc = cmd_grad(&a); break;
    case CMD_WEIGHTS: rc = cmd_weights(&a); break;
    case CMD_INFO: rc = cmd_info(&a, batch); break;
    case CMD_EXPORT: rc = cmd_export(&a); break;
    case CMD_QUANTIZE: rc = cmd_quantize(&a); break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        diag_error((Loc){0}, "cannot write to the standard output");
        rc = EXIT_MODEL;
    }
    return rc ? rc : diag_error_count() ? EXIT_MODEL : 0;
}
