/* target.c: the model's footprint on a microcontroller.
 *
 * Takes a loaded Graph; gives two things. `cnnc info MODEL --target
 * cortex-m4 [--train --batch N]` emits the model's C into a temporary
 * folder, cross-compiles it with the Arm toolchain and prints flash and RAM
 * in bytes, measured from the object (arm-none-eabi-size -A, and gcc's call
 * graph for the deepest stack), beside what the compiler predicts (the
 * arena, the weights' bytes; under --train the state block and the train
 * arena, which the caller provides, so only the QEMU test measures them). And
 * --ram-budget / --flash-budget check the plan before anything is written,
 * so that a model too big for the part fails at compile time, naming the
 * layer where the memory peaks. Code size cannot be predicted: it is only
 * measured. */
#define _POSIX_C_SOURCE 200809L
#include "../cnnc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    const char *name;
    const char *cc, *size;  /* the tools, found on PATH */
    const char *flags[8];   /* the code-generation flags, NULL-terminated */
} Target;

static const Target targets[] = {
    {"cortex-m4", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os", NULL}},
};

/* A typical part, for the `fits` line. */
#define PART_RAM_BYTES (256 * 1024)
#define PART_FLASH_BYTES (1024 * 1024)

/* What the code generator predicts. */
typedef struct {
    int64_t arena, weights;
} Prediction;

static bool predict(Graph *g, bool no_winograd, Prediction *p)
{
    MemoryFigures m;
    if (!emit_memory(g, no_winograd, &m))
        return false; /* reported */
    p->arena = m.arena_bytes;
    p->weights = m.weights_bytes;
    return true;
}

/* ---- budgets ---- */

/* "300000", "256K", "1M": bytes; false if malformed. */
static bool parse_bytes(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    int64_t unit = 1;
    if (*end == 'K' || *end == 'k')
        unit = 1024, end++;
    else if (*end == 'M' || *end == 'm')
        unit = 1024 * 1024, end++;
    if (end == s || *end || errno || v < 0 || v > INT64_MAX / unit)
        return false;
    *out = v * unit;
    return true;
}

static const char *step_name(const Graph *g, int step)
{
    if (step < 0)
        return "the input";
    if (step >= g->nn)
        return "the copy to the output";
    return g->n[step].name;
}

/* Notes the largest live set: where it peaks and what it holds. */
static void note_peak(const Graph *g, int64_t arena_bytes)
{
    Plan p = {0};
    plan_alias(g, &p);
    bool *live = xcalloc((size_t)(g->nt ? g->nt : 1), sizeof *live);
    int step;
    int64_t floats = plan_peak(g, &p, 1, &step, live);
    StrBuf list = {0};
    for (int t = 0; t < g->nt; t++)
        if (live[t])
            sb_printf(&list, "%s%s (%lld bytes)", list.len ? ", " : "", g->t[t].name,
                      (long long)shape_numel(&g->t[t].shape) * 4);
    Loc loc = step >= 0 && step < g->nn ? g->n[step].loc : (Loc){g->file, 0, 0};
    diag_note(loc, "the largest live set is %lld bytes, at layer '%s': %s", (long long)floats * 4,
              step_name(g, step), list.s ? list.s : "nothing");
    if (arena_bytes > floats * 4)
        diag_note(loc, "the other %lld bytes of the arena are layers' scratch (a padded copy of "
                       "a convolution's input) and packing slack",
                  (long long)(arena_bytes - floats * 4));
    sb_free(&list);
    free(live);
    plan_free(&p);
}

/* Whether prediction p is within the budgets (-1: none). */
static bool fits(const Prediction *p, int64_t ram, int64_t flash)
{
    return (ram < 0 || p->arena <= ram) && (flash < 0 || p->weights <= flash);
}

bool target_check_budgets(Graph *g, const char *ram_budget, const char *flash_budget,
                          int64_t *ram_bytes, bool *no_winograd)
{
    int64_t ram = -1, flash = -1;
    *ram_bytes = 0;
    Loc file = {g->file, 0, 0};
    if (ram_budget && !parse_bytes(ram_budget, &ram)) {
        diag_error(file, "--ram-budget needs a number of bytes (or with K or M), not '%s'",
                   ram_budget);
        return false;
    }
    if (flash_budget && !parse_bytes(flash_budget, &flash)) {
        diag_error(file, "--flash-budget needs a number of bytes (or with K or M), not '%s'",
                   flash_budget);
        return false;
    }
    if (ram >= 0)
        *ram_bytes = ram;
    if (ram < 0 && flash < 0)
        return true;
    Prediction p, wino;
    if (!predict(g, *no_winograd, &p))
        return false;
    bool switched = false;
    if (!fits(&p, ram, flash) && !*no_winograd) {
        wino = p;
        if (!predict(g, true, &p))
            return false;
        switched = p.arena < wino.arena || p.weights < wino.weights;
        if (!switched)
            p = wino;
        else if (fits(&p, ram, flash))
            diag_note(file, "3x3 convolutions by the direct kernel, not Winograd's, to fit the "
                            "budget (arena %lld bytes instead of %lld, weights %lld instead of %lld)",
                      (long long)p.arena, (long long)wino.arena, (long long)p.weights,
                      (long long)wino.weights);
        *no_winograd = switched;
    }
    bool ok = true;
    if (ram >= 0 && p.arena > ram) {
        diag_error(file, "the model needs a %lld-byte arena, over the RAM budget of %lld bytes",
                   (long long)p.arena, (long long)ram);
        note_peak(g, p.arena);
        ok = false;
    }
    if (flash >= 0 && p.weights > flash) {
        diag_error(file, "the model's weights take %lld bytes, over the flash budget of %lld bytes",
                   (long long)p.weights, (long long)flash);
        diag_note(file, "code comes on top of that; 'cnnc info MODEL --target cortex-m4' measures it");
        ok = false;
    }
    if (!ok && switched)
        diag_note(file, "that is with 3x3 convolutions by the direct kernel; with Winograd's (the "
                        "default) the arena is %lld bytes and the weights %lld",
                  (long long)wino.arena, (long long)wino.weights);
    return ok;
}

/* ---- measuring a cross-compiled object ---- */

/* Runs argv (a PATH lookup), stdout to `out_path` unless NULL; true if it
 * exited 0. */
static bool run_tool(char *const argv[], const char *out_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_path)
        posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ), status = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        diag_error((Loc){0}, "cannot run %s: %s (install gcc-arm-none-eabi)", argv[0],
                   strerror(rc));
        return false;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        diag_error((Loc){0}, "%s failed on the generated code", argv[0]);
        return false;
    }
    return true;
}

typedef struct {
    int64_t code, weights, other, data; /* .text, the weights' .rodata, the rest, .data+.bss */
    int64_t stack;                      /* the deepest call chain from model_forward */
    int64_t train_stack;                /* ... from model_train_step (--train) */
    int64_t train_state, train_arena;   /* model.h's <P>_TRAIN_STATE_BYTES, _ARENA_BYTES */
    bool stack_dynamic;                 /* some frame's size is not static */
} Measure;

/* `size -A` of an object built with -ffunction-sections -fdata-sections:
 * one line per section, so the weights (model_w*) are told apart. */
static bool read_sizes(const char *path, Measure *m)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024], name[512];
    long long bytes;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%511s %lld", name, &bytes) != 2 || name[0] != '.' || bytes < 0)
            continue;
        if (strncmp(name, ".text", 5) == 0)
            m->code += bytes;
        else if (strncmp(name, ".rodata.model_w", 15) == 0)
            m->weights += bytes;
        else if (strncmp(name, ".rodata", 7) == 0)
            m->other += bytes;
        else if (strncmp(name, ".data", 5) == 0 || strncmp(name, ".bss", 4) == 0)
            m->data += bytes;
    }
    fclose(f);
    return true;
}

/* ---- the deepest stack, from gcc's call graph ----
 * -fcallgraph-info=su writes model.ci (VCG): a node per function with its
 * frame ("N bytes (static)"; functions defined elsewhere have none) and an
 * edge per call. The deepest stack from a root is the heaviest path. The
 * calls into libm, string functions and libgcc are leaves of size 0: newlib
 * ships without stack data, so they are not counted. */
typedef struct {
    char **title;
    int64_t *bytes, *depth; /* depth: -1 not yet, -2 being computed */
    int n;
    int (*edge)[2];
    int ne;
} CallGraph;

static int cg_node(CallGraph *cg, const char *title)
{
    for (int i = 0; i < cg->n; i++)
        if (strcmp(cg->title[i], title) == 0)
            return i;
    cg->title = xrealloc(cg->title, sizeof *cg->title * (size_t)(cg->n + 1));
    cg->bytes = xrealloc(cg->bytes, sizeof *cg->bytes * (size_t)(cg->n + 1));
    cg->depth = xrealloc(cg->depth, sizeof *cg->depth * (size_t)(cg->n + 1));
    cg->title[cg->n] = xstrdup(title);
    cg->bytes[cg->n] = 0;
    cg->depth[cg->n] = -1;
    return cg->n++;
}

/* The first quoted string after `key` in line, into buf. */
static bool quoted_after(const char *line, const char *key, char *buf, size_t size)
{
    const char *s = strstr(line, key);
    if (!s || !(s = strchr(s + strlen(key), '"')))
        return false;
    const char *e = strchr(++s, '"');
    if (!e || (size_t)(e - s) >= size)
        return false;
    memcpy(buf, s, (size_t)(e - s));
    buf[e - s] = '\0';
    return true;
}

static bool cg_read(const char *path, CallGraph *cg, bool *dynamic)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096], a[1024], b[1024];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "node:", 5) == 0 && quoted_after(line, "title:", a, sizeof a)) {
            int i = cg_node(cg, a);
            const char *bytes = strstr(line, " bytes (");
            if (bytes) {
                const char *num = bytes;
                while (num > line && num[-1] >= '0' && num[-1] <= '9')
                    num--;
                cg->bytes[i] = strtoll(num, NULL, 10);
                *dynamic |= strncmp(bytes, " bytes (dynamic", 15) == 0;
            }
        } else if (strncmp(line, "edge:", 5) == 0 && quoted_after(line, "sourcename:", a, sizeof a) &&
                   quoted_after(line, "targetname:", b, sizeof b)) {
            int from = cg_node(cg, a), to = cg_node(cg, b);
            cg->edge = xrealloc(cg->edge, sizeof *cg->edge * (size_t)(cg->ne + 1));
            cg->edge[cg->ne][0] = from;
            cg->edge[cg->ne][1] = to;
            cg->ne++;
        }
    }
    fclose(f);
    return true;
}

/* The heaviest path from node i; -1 if it meets a cycle (recursion: the
 * generated code has none). */
static int64_t cg_depth(CallGraph *cg, int i)
{
    if (cg->depth[i] == -2)
        return -1;
    if (cg->depth[i] >= 0)
        return cg->depth[i];
    cg->depth[i] = -2;
    int64_t deepest = 0;
    for (int e = 0; e < cg->ne; e++) {
        if (cg->edge[e][0] != i)
            continue;
        int64_t d = cg_depth(cg, cg->edge[e][1]);
        if (d < 0)
            return -1;
        if (d > deepest)
            deepest = d;
    }
    return cg->depth[i] = cg->bytes[i] + deepest;
}

/* The deepest stack of function `root` (an exported name), -1 if unknown. */
static int64_t cg_stack(CallGraph *cg, const char *root)
{
    for (int i = 0; i < cg->n; i++)
        if (strcmp(cg->title[i], root) == 0)
            return cg_depth(cg, i);
    return -1;
}

static void cg_free(CallGraph *cg)
{
    for (int i = 0; i < cg->n; i++)
        free(cg->title[i]);
    free(cg->title);
    free(cg->bytes);
    free(cg->depth);
    free(cg->edge);
}

static bool read_stack(const char *path, bool train, Measure *m)
{
    CallGraph cg = {0};
    bool ok = cg_read(path, &cg, &m->stack_dynamic);
    if (ok) {
        m->stack = cg_stack(&cg, "model_forward");
        m->train_stack = train ? cg_stack(&cg, "model_train_step") : 0;
        ok = m->stack >= 0 && m->train_stack >= 0;
    }
    cg_free(&cg);
    return ok;
}

/* The training blocks' sizes, as the generated header states them. */
static bool read_train_sizes(const char *path, Measure *m)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    long long v;
    m->train_state = m->train_arena = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "#define model_TRAIN_STATE_BYTES %lld", &v) == 1)
            m->train_state = v;
        if (sscanf(line, "#define model_TRAIN_ARENA_BYTES %lld", &v) == 1)
            m->train_arena = v;
    }
    fclose(f);
    return m->train_state >= 0 && m->train_arena >= 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *ent; (ent = readdir(d));) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char *path = xasprintf("%s/%s", dir, ent->d_name);
        remove(path);
        free(path);
    }
    closedir(d);
    rmdir(dir);
}

/* The compiler command for one file: cc, the target's flags, ours. */
static void cc_argv(const Target *t, const char *src, const char *obj, char **argv)
{
    int n = 0;
    argv[n++] = (char *)t->cc;
    for (int i = 0; t->flags[i]; i++)
        argv[n++] = (char *)t->flags[i];
    const char *common[] = {"-std=c99", "-ffunction-sections", "-fdata-sections",
                            "-fcallgraph-info=su", "-c"};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        argv[n++] = (char *)common[i];
    argv[n++] = (char *)src;
    argv[n++] = "-o";
    argv[n++] = (char *)obj;
    argv[n] = NULL;
}

/* Emits the model in dir (with --train code when train_batch > 0), its
 * weights in a translation unit of their own (--split-weights, as
 * docs/firmware.md builds it: the code cannot fold a small table into
 * instructions, so the weights' bytes are exactly the prediction),
 * cross-compiles both and fills *m. */
static bool measure(Graph *g, const Target *t, int train_batch, const TrainCfg *hparams,
                    bool no_winograd, const char *dir, Measure *m)
{
    char *c = xasprintf("%s/model.c", dir), *o = xasprintf("%s/model.o", dir);
    char *h = xasprintf("%s/model.h", dir);
    char *wc = xasprintf("%s/model_weights.c", dir), *wo = xasprintf("%s/model_weights.o", dir);
    char *ci = xasprintf("%s/model.ci", dir), *sizes = xasprintf("%s/model.size", dir);
    EmitOptions opt = {.out_c = c, .prefix = "model", .batch = train_batch ? train_batch : 1,
                       .train = train_batch > 0, .split_weights = true,
                       .no_winograd = no_winograd, .hparams = hparams};
    char *cc[24], *wcc[24];
    cc_argv(t, c, o, cc);
    cc_argv(t, wc, wo, wcc);
    char *size[] = {(char *)t->size, "-A", o, wo, NULL};
    bool ok = emit_c(g, &opt) && run_tool(cc, NULL) && run_tool(wcc, NULL) &&
              run_tool(size, sizes);
    if (ok && !(read_sizes(sizes, m) && read_stack(ci, train_batch > 0, m) &&
                (!train_batch || read_train_sizes(h, m)))) {
        diag_error((Loc){0}, "cannot read the sizes of the cross-compiled model");
        ok = false;
    }
    free(c);
    free(o);
    free(h);
    free(wc);
    free(wo);
    free(ci);
    free(sizes);
    return ok;
}

static const char *yes_no(int64_t ram, int64_t flash)
{
    return ram <= PART_RAM_BYTES && flash <= PART_FLASH_BYTES ? "yes" : "no";
}

static void print_report(const Target *t, int train_batch, const Prediction *p,
                         const Measure *m, FILE *out)
{
    fprintf(out, "target: %s (%s", t->name, t->cc);
    for (int i = 0; t->flags[i]; i++)
        fprintf(out, " %s", t->flags[i]);
    int64_t flash = m->code + m->weights + m->other, ram = p->arena + m->data + m->stack;
    fprintf(out, ")\n"
                 "flash_code_bytes: %lld\n"
                 "flash_weights_bytes: %lld\n"
                 "predicted_weights_bytes: %lld\n"
                 "flash_other_bytes: %lld\n"
                 "flash_bytes: %lld\n"
                 "ram_arena_bytes: %lld\n"
                 "ram_data_bytes: %lld\n"
                 "ram_stack_bytes: %lld\n"
                 "ram_bytes: %lld\n",
            (long long)m->code, (long long)m->weights, (long long)p->weights,
            (long long)m->other, (long long)flash, (long long)p->arena, (long long)m->data,
            (long long)m->stack, (long long)ram);
    fprintf(out, "fits 256 KiB RAM, 1 MiB flash: %s\n", yes_no(ram, flash));
    if (train_batch) {
        int64_t train_ram = m->train_state + m->train_arena + m->data + m->train_stack;
        fprintf(out, "train_batch: %d\n"
                     "ram_train_state_bytes: %lld\n"
                     "ram_train_arena_bytes: %lld\n"
                     "ram_train_stack_bytes: %lld\n"
                     "ram_train_bytes: %lld\n"
                     "training fits 256 KiB RAM, 1 MiB flash: %s\n",
                train_batch, (long long)m->train_state, (long long)m->train_arena,
                (long long)m->train_stack, (long long)train_ram, yes_no(train_ram, flash));
    }
    fputs("# flash: code (.text, measured) + weights (.rodata, measured; predicted by cnnc)\n"
          "# + other constants (layer names); libm and the C library not counted. The\n"
          "# weights are compiled as their own file (--split-weights).\n"
          "# ram: the arena the caller provides (<P>_ARENA_BYTES) + the model's own .data\n"
          "# and .bss + the deepest stack (gcc -fcallgraph-info=su: the heaviest call chain\n"
          "# from model_forward; libm calls not counted).\n",
          out);
    if (train_batch)
        fputs("# --train: the code above includes the training code. ram_train: the state\n"
              "# block (<P>_TRAIN_STATE_BYTES: parameters, buffers, optimizer moments; keep\n"
              "# it to persist training) + the train arena (<P>_TRAIN_ARENA_BYTES: scratch of\n"
              "# a step of train_batch samples), both as the compiler plans them, + .data/.bss\n"
              "# + the deepest stack of model_train_step. The inference arena is not needed\n"
              "# for training (model_train_forward runs in the train arena).\n",
              out);
    if (m->stack_dynamic)
        fputs("# note: some frame has a dynamic size; the stack figure is a lower bound\n", out);
}

bool target_report(Graph *g, const char *target, int train_batch, const TrainCfg *hparams,
                   bool no_winograd, FILE *out)
{
    const Target *t = NULL;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++)
        if (strcmp(targets[i].name, target) == 0)
            t = &targets[i];
    if (!t) {
        diag_error((Loc){g->file, 0, 0}, "unknown target '%s' (known: cortex-m4)", target);
        return false;
    }
    Prediction p;
    if (!predict(g, no_winograd, &p))
        return false;
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/cnnc-target-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        diag_error((Loc){dir, 0, 0}, "cannot create a temporary folder: %s", strerror(errno));
        free(dir);
        return false;
    }
    Measure m = {0};
    bool ok = measure(g, t, train_batch, hparams, no_winograd, dir, &m);
    if (ok)
        print_report(t, train_batch, &p, &m, out);
    remove_dir(dir);
    free(dir);
    return ok;
}
