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

/* The profiles. Each choice was measured in QEMU (instructions per
 * inference by -icount, the proxy for cycles) and by size, on the examples
 * and the MLPerf Tiny networks (docs/firmware.md, "Target profiles"):
 * - vector_ext false: the scalar register-blocked kernels (conv, dense) and
 *   the plain loops elsewhere. Without SIMD registers for them gcc lowers
 *   the GNU vector types to scalar code that keeps the vectors on the
 *   stack: on the M4, ResNet-8 20.0 M instructions, 14 KB of code and a
 *   288-byte stack against 42.2 M, 175 KB and 5.4 KB; the M55's MVE does
 *   no better with them (MobileNetV1 VWW 15.4 against 37.5 M);
 * - winograd false: its tiles double a ResNet's arena and, on these cores,
 *   cost instructions too (ResNet-8 on the M4: 29.2 M, 535 KB of RAM);
 * - unroll_taps: 25 (5x5 windows unrolled: LeNet 1.53 M instructions
 *   against 2.01 M for 6 KB more code); 9 on the soft-float cores, where a
 *   multiply-add is two library calls (LeNet on the M3: 25 KB of code for
 *   2.4 % fewer instructions);
 * - -Os: -O2 runs more instructions on the M4 and M7 (ResNet-8 21.5 M) and
 *   the M55 (23.2 M, its auto-vectorised loops), with more code.
 * The part sizes are a typical part's, for the `fits` line. The host keeps
 * the desktop kernels (the default build). */
#define M_FLAGS(cpu) "-mcpu=" cpu, "-mthumb"
static const TargetProfile profiles[] = {
    {"cortex-m0plus", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {M_FLAGS("cortex-m0plus"), "-mfloat-abi=soft", "-Os", NULL},
     false, false, 9, 32 * 1024, 256 * 1024},
    {"cortex-m3", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {M_FLAGS("cortex-m3"), "-mfloat-abi=soft", "-Os", NULL},
     false, false, 9, 64 * 1024, 512 * 1024},
    {"cortex-m4", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {M_FLAGS("cortex-m4"), "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os", NULL},
     false, false, 25, 256 * 1024, 1024 * 1024},
    {"cortex-m7", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {M_FLAGS("cortex-m7"), "-mfloat-abi=hard", "-mfpu=fpv5-d16", "-Os", NULL},
     false, false, 25, 512 * 1024, 2048 * 1024},
    {"cortex-m33", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {M_FLAGS("cortex-m33"), "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16", "-Os", NULL},
     false, false, 25, 256 * 1024, 1024 * 1024},
    {"cortex-m55", "arm-none-eabi-gcc", "arm-none-eabi-size",
     {M_FLAGS("cortex-m55"), "-mfloat-abi=hard", "-Os", NULL},
     false, false, 25, 512 * 1024, 2048 * 1024},
    {"host", "cc", "size", {"-O2", "-march=native", NULL}, true, true, 25, 0, 0},
};

const TargetProfile *target_profile(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const TargetProfile *target_find(const char *name, const char *file)
{
    const TargetProfile *t = target_profile(name);
    if (!t) {
        StrBuf known = {0};
        for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
            sb_printf(&known, "%s%s", i ? ", " : "", profiles[i].name);
        diag_error((Loc){file, 0, 0}, "unknown target '%s' (known: %s)", name, known.s);
        sb_free(&known);
    }
    return t;
}

/* What the code generator predicts. */
typedef struct {
    int64_t arena, weights, layer_bound;
} Prediction;

static bool predict(Graph *g, bool no_winograd, bool fuse_blocks, const TargetProfile *t,
                    Prediction *p)
{
    MemoryFigures m;
    if (!emit_memory(g, no_winograd, fuse_blocks, t, &m))
        return false; /* reported */
    p->arena = m.arena_bytes;
    p->weights = m.weights_bytes;
    p->layer_bound = m.layer_bound_bytes;
    return true;
}

bool target_winograd(Graph *g, const TargetProfile *t)
{
    if (!t->winograd || t->part_ram <= 0)
        return t->winograd;
    Prediction p;
    return predict(g, false, false, t, &p) && p.arena <= t->part_ram;
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

bool target_check_budgets(Graph *g, const TargetProfile *t, const char *ram_budget,
                          const char *flash_budget, bool fuse_blocks, int64_t *ram_bytes,
                          bool *no_winograd)
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
    if (!predict(g, *no_winograd, fuse_blocks, t, &p))
        return false;
    bool switched = false;
    if (!fits(&p, ram, flash) && !*no_winograd) {
        wino = p;
        if (!predict(g, true, fuse_blocks, t, &p))
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

bool target_parse_bytes(const char *s, int64_t *out)
{
    return parse_bytes(s, out);
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
    int64_t blob;                       /* model.h's <P>_WEIGHTS_BYTES (--weights-object) */
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

/* What the generated header states: the training blocks' sizes (train),
 * the weights blob's (blob). */
static bool read_header(const char *path, bool train, bool blob, Measure *m)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    long long v;
    m->train_state = m->train_arena = m->blob = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "#define model_TRAIN_STATE_BYTES %lld", &v) == 1)
            m->train_state = v;
        if (sscanf(line, "#define model_TRAIN_ARENA_BYTES %lld", &v) == 1)
            m->train_arena = v;
        if (sscanf(line, "#define model_WEIGHTS_BYTES %lld", &v) == 1)
            m->blob = v;
    }
    fclose(f);
    return (!train || (m->train_state >= 0 && m->train_arena >= 0)) && (!blob || m->blob >= 0);
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

/* The compiler command for one file: cc, the profile's flags, the extra
 * ones (words of b->cflags, copied into *words), ours (dir for includes:
 * the .incbin of --weights-object). Caller frees the result and *words. */
static char **cc_argv(const TargetBuild *b, const char *dir, const char *src, const char *obj,
                      char **words)
{
    const char *common[] = {"-std=c99", "-ffunction-sections", "-fdata-sections",
                            "-fcallgraph-info=su", "-I", dir, "-c"};
    *words = xstrdup(b->cflags ? b->cflags : "");
    /* cc, its flags, at most one word per two bytes of cflags, ours, src -o obj NULL */
    size_t n = 0, cap = 1 + sizeof b->t->flags / sizeof b->t->flags[0] + strlen(*words) / 2 + 1 +
                         sizeof common / sizeof common[0] + 4;
    char **argv = xmalloc(sizeof *argv * cap);
    argv[n++] = (char *)b->t->cc;
    for (int i = 0; b->t->flags[i]; i++)
        argv[n++] = (char *)b->t->flags[i];
    for (char *w = strtok(*words, " \t"); w; w = strtok(NULL, " \t"))
        argv[n++] = w;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        argv[n++] = (char *)common[i];
    argv[n++] = (char *)src;
    argv[n++] = "-o";
    argv[n++] = (char *)obj;
    argv[n] = NULL;
    return argv;
}

/* Compiles src into obj with b's command; true if that worked. */
static bool compile(const TargetBuild *b, const char *dir, const char *src, const char *obj)
{
    char *words, **argv = cc_argv(b, dir, src, obj, &words);
    bool ok = run_tool(argv, NULL);
    free(argv);
    free(words);
    return ok;
}

/* Emits the model in dir (with --train code when train_batch > 0), its
 * weights in a translation unit of their own (--split-weights, as
 * docs/firmware.md builds it: the code cannot fold a small table into
 * instructions, so the weights' bytes are exactly the prediction; or the
 * assembler file of --weights-object), compiles both and fills *m. */
static bool measure(Graph *g, const TargetBuild *b, const char *dir, Measure *m)
{
    const TargetProfile *t = b->t;
    char *c = xasprintf("%s/model.c", dir), *o = xasprintf("%s/model.o", dir);
    char *h = xasprintf("%s/model.h", dir);
    char *wc = xasprintf("%s/model_weights.%s", dir, b->weights_object ? "S" : "c");
    char *wo = xasprintf("%s/model_weights.o", dir);
    char *ci = xasprintf("%s/model.ci", dir), *sizes = xasprintf("%s/model.size", dir);
    int train_batch = b->train_batch;
    EmitOptions opt = {.out_c = c, .prefix = "model", .batch = train_batch ? train_batch : 1,
                       .train = train_batch > 0, .split_weights = !b->weights_object,
                       .weights_object = b->weights_object, .no_winograd = b->no_winograd,
                       .fuse_blocks = b->fuse_blocks, .target = t, .hparams = b->hparams};
    char *size[] = {(char *)t->size, "-A", o, wo, NULL};
    bool ok = emit_c(g, &opt) && compile(b, dir, c, o) && compile(b, dir, wc, wo) &&
              run_tool(size, sizes);
    if (ok && !(read_sizes(sizes, m) && read_stack(ci, train_batch > 0, m) &&
                read_header(h, train_batch > 0, b->weights_object, m))) {
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

/* The line saying whether ram and flash fit the profile's typical part. */
static void print_fits(const TargetProfile *t, const char *what, int64_t ram, int64_t flash,
                       FILE *out)
{
    if (t->part_ram > 0)
        fprintf(out, "%sfits %lld KiB RAM, %lld KiB flash: %s\n", what,
                (long long)t->part_ram / 1024, (long long)t->part_flash / 1024,
                ram <= t->part_ram && flash <= t->part_flash ? "yes" : "no");
}

static void print_report(const TargetBuild *b, const Prediction *p, const Measure *m,
                         FILE *out)
{
    const TargetProfile *t = b->t;
    int train_batch = b->train_batch;
    fprintf(out, "target: %s (%s", t->name, t->cc);
    for (int i = 0; t->flags[i]; i++)
        fprintf(out, " %s", t->flags[i]);
    if (b->cflags && *b->cflags)
        fprintf(out, " %s", b->cflags);
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
            (long long)m->code, (long long)m->weights,
            (long long)(b->weights_object ? m->blob : p->weights),
            (long long)m->other, (long long)flash, (long long)p->arena, (long long)m->data,
            (long long)m->stack, (long long)ram);
    print_fits(t, "", ram, flash, out);
    info_layer_bound_print(p->arena, p->layer_bound, out);
    if (train_batch) {
        int64_t train_ram = m->train_state + m->train_arena + m->data + m->train_stack;
        fprintf(out, "train_batch: %d\n"
                     "ram_train_state_bytes: %lld\n"
                     "ram_train_arena_bytes: %lld\n"
                     "ram_train_stack_bytes: %lld\n"
                     "ram_train_bytes: %lld\n",
                train_batch, (long long)m->train_state, (long long)m->train_arena,
                (long long)m->train_stack, (long long)train_ram);
        print_fits(t, "training ", train_ram, flash, out);
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

bool target_report(Graph *g, const TargetBuild *b, FILE *out)
{
    Prediction p;
    if (!predict(g, b->no_winograd, b->fuse_blocks, b->t, &p))
        return false;
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/cnnc-target-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        diag_error((Loc){dir, 0, 0}, "cannot create a temporary folder: %s", strerror(errno));
        free(dir);
        return false;
    }
    Measure m = {0};
    bool ok = measure(g, b, dir, &m);
    if (ok)
        print_report(b, &p, &m, out);
    remove_dir(dir);
    free(dir);
    return ok;
}
