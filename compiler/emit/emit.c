/* emit.c: the code generator's driver. Takes a shaped Graph with weights;
 * gives OUT.c (the model: one static function per layer, the forward pass
 * over a caller's arena, the weights) and OUT.h (its documented API), plus
 * OUT_weights.c or a weights blob when asked, all written atomically.
 *
 * Each operator's emitter (OpInfo.emit, in ops/<family>_emit.c) writes the
 * body of its layer's function with every shape a literal; this file plans
 * the arena around them and writes the calls. The forward pass runs the
 * whole network on one sample at a time, so a sample's activations stay in
 * cache and the arena holds one sample (P_BATCH_MAX bounds n only). */
#define _POSIX_C_SOURCE 200809L
#include "emit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOB_HEADER_BYTES 64 /* the arena's first bytes hold the blob pointer */
#define HOST_UNROLL_TAPS 25  /* kernel windows up to 5x5 are unrolled */

/* ---- helpers for operator emitters ---- */

const char *emit_keep(Emit *e, char *s)
{
    grow_array(&e->strs, &e->strcap, e->nstrs + 1, sizeof *e->strs);
    e->strs[e->nstrs++] = s;
    return s;
}

void emit_unused(Emit *e, const char *name)
{
    emit_line(e, "%s_UNUSED(%s);", e->P, name);
}

void emit_line(Emit *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *line = buf;
    if (n >= (int)sizeof buf) {
        line = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(line, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    const char *text = line + strspn(line, " ");
    if (text[0] == '}' && e->depth > 0)
        e->depth--;
    for (int i = 0; i < e->depth + 1; i++)
        sb_puts(e->body, "    ");
    sb_puts(e->body, line);
    sb_putc(e->body, '\n');
    if (n > 0 && line[n - 1] == '{')
        e->depth++;
    if (line != buf)
        free(line);
}

/* v as a C float literal that reads back exactly: hex, deterministic. */
static const char *fmt_float(char buf[40], float v)
{
    if (isnan(v))
        return "NAN";
    if (isinf(v))
        return v > 0 ? "INFINITY" : "(-INFINITY)";
    if (v == 0)
        return signbit(v) ? "-0.0f" : "0.0f";
    snprintf(buf, 40, "%af", (double)v);
    return buf;
}

const char *emit_float(Emit *e, float v)
{
    char buf[40];
    return emit_keep(e, xstrdup(fmt_float(buf, v)));
}

/* Appends bytes as a C string literal, 64 a line: printable characters as
 * themselves, the rest as octal escapes, '?' too (no trigraphs), and an
 * octal digit after an escape of fewer than three digits escaped as well
 * (it would extend that escape). Formatted by hand: ~50 MB for resnet18,
 * printf was most of cnnc's time. */
static void put_bytes_literal(StrBuf *b, const unsigned char *bytes, int64_t count)
{
    char line[8 + 64 * 4];
    int n = 0;
    bool after_short_escape = false;
    for (int64_t i = 0; i < count; i++) {
        unsigned c = bytes[i];
        if (n == 0) {
            memcpy(line, "    \"", 5);
            n = 5;
        }
        bool odigit = c >= '0' && c <= '7';
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"' && c != '?' &&
            !(odigit && after_short_escape)) {
            line[n++] = (char)c;
            after_short_escape = false;
        } else {
            line[n++] = '\\';
            if (c >= 0100)
                line[n++] = (char)('0' + (c >> 6));
            if (c >= 010)
                line[n++] = (char)('0' + ((c >> 3) & 7));
            line[n++] = (char)('0' + (c & 7));
            after_short_escape = c < 0100;
        }
        if (i % 64 == 63 || i + 1 == count) {
            memcpy(line + n, "\"\n", 3);
            sb_puts(b, line);
            n = 0;
            after_short_escape = false;
        }
    }
}

/* count floats as their little-endian bytes, whatever the host. */
static void float_le_bytes(unsigned char *bytes, const float *data, int64_t count)
{
    for (int64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        for (int k = 0; k < 4; k++)
            bytes[i * 4 + k] = (unsigned char)(u >> (8 * k));
    }
}

/* Appends data's bit patterns as uint32_t constants, eight a line, the
 * last followed by a comma when `more` come after them. */
static void put_float_bits(StrBuf *b, const float *data, int64_t count, bool more)
{
    static const char hex[] = "0123456789abcdef";
    for (int64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        char lit[] = "0x00000000";
        for (int k = 0; k < 8; k++)
            lit[2 + k] = hex[(u >> (28 - 4 * k)) & 15];
        sb_puts(b, i % 8 ? " " : "        ");
        sb_puts(b, lit);
        sb_puts(b, i + 1 == count && !more ? "\n" : i % 8 == 7 ? ",\n" : ",");
    }
}

/* An array's initialiser: its bytes as a string (#if) or its bit patterns
 * (#else). Split weights go to their file (sink.c) in chunks, so cnnc
 * never holds the whole text (resnet18's is 468 MB); the chunks are whole
 * lines of both forms, so the text is the same as in one piece. */
static void put_array_values(Emit *e, StrBuf *b, const float *data, int64_t count)
{
    enum { CHUNK = 1 << 14 }; /* floats: a multiple of 16 and of 8 */
    bool stream = e->mode == WEIGHTS_SPLIT;
    unsigned char *bytes = xmalloc(CHUNK * 4);
    sb_printf(b, "#if %s_WEIGHTS_AS_BYTES\n    .b =\n", e->P);
    for (int64_t i = 0; i < count; i += CHUNK) {
        int64_t k = count - i < CHUNK ? count - i : CHUNK;
        float_le_bytes(bytes, data + i, k);
        put_bytes_literal(b, bytes, k * 4);
        if (stream)
            sink_write(e, b);
    }
    free(bytes);
    sb_puts(b, "#else\n    .u = {\n");
    for (int64_t i = 0; i < count; i += CHUNK) {
        put_float_bits(b, data + i, count - i < CHUNK ? count - i : CHUNK, i + CHUNK < count);
        if (stream)
            sink_write(e, b);
    }
    sb_puts(b, "    }\n#endif\n};\n\n");
    if (stream)
        sink_write(e, b);
}

/* The layer's name as a C identifier fragment. */
static char *c_ident(const char *name)
{
    char *s = xstrdup(name);
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    return s;
}

/* Names the API and the plumbing of OUT.c take after the prefix: a layer
 * spelt like one of them (or like another layer, once made an identifier)
 * gets its index appended. */
static bool reserved_ident(const char *s)
{
    static const char *const words[] = {
        "forward", "layer_name", "set_weights", "image_to_input", "hparams", "tensor",
        "tensors", "mix", "arena_check", "ram_budget_check", "float_is_binary32",
        "header_check", "NONSTRING", "WEIGHTS_AS_BYTES", "PROFILE_BEGIN", "PROFILE_END",
        "INPUT_SIZE", "OUTPUT_SIZE", "INPUT_RANK", "INPUT_SHAPE", "OUTPUT_RANK", "OUTPUT_SHAPE",
        "BATCH_MAX", "ARENA_BYTES", "ARENA_ALIGN", "PARAM_COUNT", "LAYER_COUNT",
        "WEIGHTS_BYTES", "OPT_SGD", "OPT_ADAM", "H_INCLUDED", "forward_i8", "INPUT_SCALE",
        "INPUT_ZERO_POINT", "OUTPUT_SCALE", "OUTPUT_ZERO_POINT"};
    static const char *const prefixes[] = {"train", "TRAIN", "init", "AT_", "TA_"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    /* the weight arrays w<N>_..., the training functions t<N>, g<N> */
    return (s[0] == 'w' || s[0] == 't' || s[0] == 'g') && s[1] >= '0' && s[1] <= '9';
}

/* name as an identifier, taken in `taken` (which borrows it); a clash with
 * a name taken before or with the API gets "_<i>". */
static char *unique_ident(const char *name, NameMap *taken, int i)
{
    char *id = c_ident(name);
    int prev;
    if (reserved_ident(id) || (id[0] >= '0' && id[0] <= '9') ||
        !name_map_add(taken, id, i, &prev)) {
        char *unique = xasprintf("%s_%d", id, i);
        free(id);
        id = unique;
        name_map_add(taken, id, i, &prev);
    }
    return id;
}

static void name_layers(Emit *e)
{
    const Graph *g = e->g;
    NameMap layers = {0}, tensors = {0};
    e->layer_ident = xcalloc((size_t)(g->nn ? g->nn : 1), sizeof *e->layer_ident);
    e->at_ident = xcalloc((size_t)(g->nt ? g->nt : 1), sizeof *e->at_ident);
    for (int i = 0; i < g->nn; i++)
        e->layer_ident[i] = unique_ident(g->n[i].name, &layers, i);
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_ACT && t != g->input)
            e->at_ident[t] = unique_ident(g->t[t].name, &tensors, t);
    name_map_free(&layers);
    name_map_free(&tensors);
}

const char *emit_layer_ident(const Emit *e, int i)
{
    return e->layer_ident[i];
}

const char *emit_layer_fn(Emit *e, int i)
{
    return emit_keep(e, xasprintf("%s_%s", e->P, e->layer_ident[i]));
}

/* The name of the array emit_const defines for layer e->node's `what`. */
static char *const_name(const Emit *e, const char *what)
{
    char *layer = c_ident(e->g->n[e->node].name);
    char *name = xasprintf("%s_w%d_%s_%s", e->P, e->node, layer, what);
    free(layer);
    return name;
}

static const char *define_const(Emit *e, const char *what, const char *comment,
                                const float *data, int64_t count);

/* While the training code probes a layer (emit_train_init.c): the array's
 * expression and contents, recorded instead of defined. */
static const char *probe_const(Emit *e, const char *what, const float *data, int64_t count)
{
    grow_array(&e->probed, &e->probecap, e->nprobed + 1, sizeof *e->probed);
    char *name = const_name(e, what);
    ProbedConst *p = &e->probed[e->nprobed++];
    p->expr = emit_keep(e, xasprintf("%s.f", name));
    p->data = xmalloc((size_t)(count ? count : 1) * sizeof *p->data);
    memcpy(p->data, data, (size_t)count * sizeof *data);
    p->count = count;
    free(name);
    return p->expr;
}

const char *emit_const(Emit *e, const char *what, const char *comment, const float *data,
                       int64_t count)
{
    uint32_t hash = 0;
    const char *shared = emit_shared_find(e, "float", data, count * 4, &hash);
    if (shared)
        return shared;
    const char *expr = define_const(e, what, comment, data, count);
    emit_shared_add(e, hash, "float", data, count * 4, expr);
    return expr;
}

static const char *define_const(Emit *e, const char *what, const char *comment,
                                const float *data, int64_t count)
{
    if (e->probing)
        return probe_const(e, what, data, count);
    e->weight_bytes += count * 4;
    if (e->mode == WEIGHTS_COUNT)
        return "w";
    if (e->mode == WEIGHTS_BLOB || e->mode == WEIGHTS_OBJECT) {
        int64_t at = blob_append(e, data, count);
        e->uses_blob[e->node] = true;
        return emit_keep(e, xasprintf("(w + %lld) /* %s */", (long long)at, comment));
    }
    char *name = const_name(e, what);
    /* A union (its tag the array's name) so that the bytes can be given
     * as a string: see put_weights_preamble. */
    char *type = xasprintf("union %s { float f[%lld]; uint32_t u[%lld]; unsigned char b[%lld] "
                           "%s_NONSTRING; }",
                           name, (long long)count, (long long)count, (long long)count * 4, e->P);
    StrBuf *b = &e->weights;
    if (e->mode == WEIGHTS_SPLIT) {
        char *decl = xasprintf("/* %s */\nextern const %s %s;\n", comment, type, name);
        sb_puts(&e->weight_decls, decl);
        sb_printf(b, "%s/* %s: %lld floats */\nconst union %s %s = {\n", decl, comment,
                  (long long)count, name, name);
        free(decl);
    } else {
        sb_printf(b, "/* %s: %lld floats */\nstatic const %s %s = {\n", comment,
                  (long long)count, type, name);
    }
    put_array_values(e, b, data, count);
    free(type);
    const char *f = emit_keep(e, xasprintf("%s.f", name));
    free(name);
    return f;
}

static const char *define_typed_const(Emit *e, const char *what, const char *comment,
                                      const ConstArray *c);

const char *emit_typed_const(Emit *e, const char *what, const char *comment,
                             const ConstArray *c)
{
    uint32_t hash = 0;
    const char *shared = emit_shared_find(e, c->type, c->bytes, c->nbytes, &hash);
    if (shared)
        return shared;
    const char *expr = define_typed_const(e, what, comment, c);
    emit_shared_add(e, hash, c->type, c->bytes, c->nbytes, expr);
    return expr;
}

static const char *define_typed_const(Emit *e, const char *what, const char *comment,
                                      const ConstArray *c)
{
    e->weight_bytes += c->nbytes;
    if (e->mode == WEIGHTS_COUNT)
        return emit_keep(e, xasprintf("((const %s *)0)", c->type));
    if (e->mode == WEIGHTS_BLOB || e->mode == WEIGHTS_OBJECT) {
        int64_t at = blob_append_bytes(e, c->bytes, c->nbytes);
        e->uses_blob[e->node] = true;
        return emit_keep(e, xasprintf("((const %s *)(w + %lld)) /* %s */", c->type, (long long)at,
                                      comment));
    }
    char *layer = c_ident(e->g->n[e->node].name);
    char *name = xasprintf("%s_w%d_%s_%s", e->P, e->node, layer, what);
    free(layer);
    char *type = xasprintf("union %s { %s unsigned char b[%lld] %s_NONSTRING; }", name, c->members,
                           (long long)c->nbytes, e->P);
    StrBuf *b = &e->weights;
    if (e->mode == WEIGHTS_SPLIT) {
        char *decl = xasprintf("/* %s */\nextern const %s %s;\n", comment, type, name);
        sb_puts(&e->weight_decls, decl);
        sb_printf(b, "%s/* %s: %lld %s */\nconst union %s %s = {\n", decl, comment,
                  (long long)c->count, c->noun, name, name);
        free(decl);
    } else {
        sb_printf(b, "/* %s: %lld %s */\nstatic const %s %s = {\n", comment, (long long)c->count,
                  c->noun, type, name);
    }
    sb_printf(b, "#if %s_WEIGHTS_AS_BYTES\n    .b =\n", e->P);
    put_bytes_literal(b, c->bytes, c->nbytes);
    sb_printf(b, "#else\n    .%s = {\n", c->member);
    c->put_portable(b, c->data, c->count);
    sb_puts(b, "    }\n#endif\n};\n\n");
    if (e->mode == WEIGHTS_SPLIT)
        sink_write(e, b);
    free(type);
    const char *f = emit_keep(e, xasprintf("%s.%s", name, c->member));
    free(name);
    return f;
}

const char *emit_scratch(Emit *e, int64_t floats)
{
    if (floats > e->scratch[e->node])
        e->scratch[e->node] = floats;
    return "s";
}

void emit_unsupported(Emit *e, const Node *n, const char *why)
{
    diag_error(n->loc, "%s '%s': the code generator does not support %s", op_info(n->op)->name,
               n->name, why);
    e->failed = true;
}

Graph *emit_graph(Emit *e)
{
    return e->g;
}

const EmitOptions *emit_options(Emit *e)
{
    return e->opt;
}

bool emit_scalar_kernels(Emit *e)
{
    return e->opt->target && !e->opt->target->vector_ext;
}

int emit_unroll_taps(Emit *e)
{
    return e->opt->target ? e->opt->target->unroll_taps : HOST_UNROLL_TAPS;
}

/* ---- the layers ---- */

static bool is_view(const Node *n)
{
    return (op_info(n->op)->traits & OPT_VIEW) != 0;
}

/* Whether this build fuses inverted-residual blocks: --fuse-blocks,
 * inference only. Not by default: on a microcontroller profile (int8
 * layers, a part's RAM to save) the fused kernel saves RAM for
 * instructions (mobilenet_v2 int8 on the M4: 0.48x the arena, 1.45x the
 * instructions); on the host (float layers) every block the kernel takes
 * (conv_irb_f32.c: only where its expanded tensor outgrows L2 and fusing
 * is faster) is fused. */
static bool fuses_blocks(const Emit *e)
{
    const EmitOptions *o = e->opt;
    return o->fuse_blocks && !o->train;
}

/* A microcontroller profile's build, which fuses for RAM (int8 blocks). */
static bool fuses_for_ram(const Emit *e)
{
    return e->opt->target && e->opt->target->part_ram > 0;
}

/* Block b (its project conv at node b, expand b - 2, depthwise b - 1) runs
 * fused: the plan is told that the expanded tensor and the depthwise
 * output never exist and that the block's input is read until node b. */
static void fuse_block(Emit *e, int b, bool fuse)
{
    const Graph *g = e->g;
    size_t nt = (size_t)(g->nt ? g->nt : 1);
    if (!e->plan.hidden) {
        e->plan.hidden = xcalloc(nt, sizeof *e->plan.hidden);
        e->plan.read_until = xmalloc(nt * sizeof *e->plan.read_until);
        for (size_t t = 0; t < nt; t++)
            e->plan.read_until[t] = -1;
    }
    e->block_expand[b] = fuse ? b - 2 : -1;
    e->in_block[b - 2] = e->in_block[b - 1] = fuse;
    e->plan.hidden[g->n[b - 2].out] = e->plan.hidden[g->n[b - 1].out] = fuse;
    e->plan.read_until[g->n[b - 2].in[0]] = -1;
    for (int i = 0; i < g->nn; i++) /* blocks reading the same input */
        if (e->block_expand[i] >= 0 && g->n[i - 2].in[0] == g->n[b - 2].in[0])
            e->plan.read_until[g->n[i - 2].in[0]] = i;
}

/* Whether node b ends a block its operator's kernel takes (OpInfo.block)
 * as three consecutive nodes, whose kernel's scratch is smaller than the
 * expanded tensor it replaces. */
static bool block_candidate(const Emit *e, int b)
{
    const Graph *g = e->g;
    const BlockOps *k = op_info(g->n[b].op)->block;
    int x, d;
    if (b < 2 || !k || !k->match(g, b, &x, &d) || x != b - 2 || d != b - 1)
        return false;
    if (fuses_for_ram(e) != node_quantized(g, &g->n[b]))
        return false; /* the float kernel is the host's, the int8 one the parts' */
    const Tensor *t = &g->t[g->n[x].out];
    return k->scratch_bytes(g, d) < shape_numel(&t->shape) * dtype_bytes(tensor_dtype(t));
}

/* Whether none of block b's three nodes is in a fused block yet (a
 * depthwise-separable chain's pointwise conv projects one block and
 * expands the next). */
static bool block_free(const Emit *e, int b)
{
    for (int i = b - 2; i <= b; i++)
        if (e->in_block[i] || e->block_expand[i] >= 0)
            return false;
    return true;
}

/* The host's rule: every candidate block, first come first fused (the
 * float kernel takes only blocks where fusing is faster). */
static void fuse_every_candidate(Emit *e, const bool *candidate)
{
    for (int b = 0; b < e->g->nn; b++)
        if (candidate[b] && block_free(e, b))
            fuse_block(e, b, true);
}

/* A microcontroller's rule, fusing for RAM: as long as the activations
 * live at once peak at a step of an unfused candidate block (expand to
 * project) and fusing it lowers that peak, the block is fused and the
 * peak found again. A block away from the peak, or one of several equal
 * peaks (DS-CNN's blocks), stays three layers: fusing it would save no RAM
 * and cost instructions (its kernel is scalar C). */
static void fuse_at_peaks(Emit *e, const bool *candidate)
{
    const Graph *g = e->g;
    bool *live = xcalloc((size_t)(g->nt ? g->nt : 1), sizeof *live);
    for (;;) {
        int step, b;
        int64_t peak = plan_peak(g, &e->plan, 1, &step, live);
        for (b = step < 0 ? g->nn : step; b < g->nn && b <= step + 2; b++)
            if (candidate[b] && block_free(e, b))
                break;
        if (b >= g->nn || b > step + 2)
            break;
        fuse_block(e, b, true);
        if (plan_peak(g, &e->plan, 1, &step, live) >= peak) {
            fuse_block(e, b, false);
            break;
        }
    }
    free(live);
}

static void find_fused_blocks(Emit *e)
{
    const Graph *g = e->g;
    size_t nn = (size_t)(g->nn ? g->nn : 1);
    e->block_expand = xmalloc(nn * sizeof *e->block_expand);
    e->in_block = xcalloc(nn, sizeof *e->in_block);
    for (int i = 0; i < g->nn; i++)
        e->block_expand[i] = -1;
    if (!fuses_blocks(e))
        return;
    bool *candidate = xcalloc(nn, sizeof *candidate);
    for (int b = 0; b < g->nn; b++)
        candidate[b] = block_candidate(e, b);
    if (fuses_for_ram(e))
        fuse_at_peaks(e, candidate);
    else
        fuse_every_candidate(e, candidate);
    free(candidate);
}

/* Runs every operator's emitter into its own body. */
static void emit_layers(Emit *e)
{
    for (int i = 0; i < e->g->nn; i++) {
        const Node *n = &e->g->n[i];
        if (is_view(n) || e->in_block[i])
            continue;
        if (e->block_expand[i] >= 0) {
            e->node = i;
            e->body = &e->bodies[i];
            e->depth = 0;
            op_info(n->op)->block->emit(e, e->block_expand[i], i - 1, i); /* i - 2 .. i */
            continue;
        }
        const OpInfo *info = op_info(n->op);
        void (*emit)(Emit *, const Node *) = info->emit;
        if (node_quantized(e->g, n)) /* int8 builds: its integer form */
            emit = info->quant ? info->quant->emit : NULL;
        if (!emit) {
            emit_unsupported(e, n, "this operator yet");
            continue;
        }
        e->node = i;
        e->body = &e->bodies[i];
        e->depth = 0;
        emit(e, n);
    }
}

static void emit_setup(Emit *e, Graph *g, const EmitOptions *opt)
{
    memset(e, 0, sizeof *e);
    e->g = g;
    e->opt = opt;
    e->P = opt->prefix;
    e->mode = opt->weights_blob     ? WEIGHTS_BLOB
              : opt->weights_object ? WEIGHTS_OBJECT
              : opt->split_weights  ? WEIGHTS_SPLIT
              : opt->count_weights  ? WEIGHTS_COUNT
                                    : WEIGHTS_INLINE;
    size_t nn = (size_t)(g->nn ? g->nn : 1);
    e->bodies = xcalloc(nn, sizeof *e->bodies);
    e->scratch = xcalloc(nn, sizeof *e->scratch);
    e->uses_blob = xcalloc(nn, sizeof *e->uses_blob);
    plan_alias(g, &e->plan);
    find_fused_blocks(e);
    name_layers(e);
    emit_int8_setup(e);
}

static void emit_cleanup(Emit *e)
{
    for (int i = 0; i < e->g->nn; i++) {
        sb_free(&e->bodies[i]);
        free(e->layer_ident[i]);
    }
    for (int t = 0; t < e->g->nt; t++)
        free(e->at_ident[t]);
    free(e->layer_ident);
    free(e->at_ident);
    for (int i = 0; i < e->nstrs; i++)
        free(e->strs[i]);
    free(e->strs);
    free(e->bodies);
    free(e->scratch);
    free(e->uses_blob);
    free(e->block_expand);
    free(e->in_block);
    sink_discard(e);
    sb_free(&e->weights);
    sb_free(&e->weight_decls);
    plan_free(&e->plan);
    emit_train_free(e); /* traingen */
    emit_shared_free(e);
}

/* Compiles the model into e (bodies, weights, plan); false on error. */
static bool emit_model(Emit *e)
{
    Graph *g = e->g;
    if (g->input < 0 || g->output < 0) {
        diag_error((Loc){g->file, 0, 0}, "model has no input or output");
        return false;
    }
    emit_layers(e);
    if (e->failed)
        return false;
    if (e->opt->train && !emit_train_prepare(e)) /* traingen */
        return false;
    plan_pack(g, e->scratch, 1, &e->plan);
    return true;
}

/* ---- OUT.h ---- */

/* The parameters of the compiled layers: every parameter and constant a
 * node reads (not BatchNorm's running statistics), counted once. After
 * folding (BatchNorm into conv, ...) this is less than `cnnc info` counts
 * for the source model. */
static int64_t param_count(const Graph *g)
{
    bool *seen = xcalloc((size_t)(g->nt ? g->nt : 1), sizeof *seen);
    int64_t count = 0;
    for (int i = 0; i < g->nn; i++)
        for (int j = 0; j < g->n[i].nparam; j++) {
            int t = g->n[i].param[j];
            if (t < 0 || seen[t] || g->t[t].kind == T_BUFFER)
                continue;
            seen[t] = true;
            count += shape_numel(&g->t[t].shape);
        }
    free(seen);
    return count;
}

static int64_t arena_bytes(const Emit *e)
{
    return e->plan.arena_floats * 4 + (e->mode == WEIGHTS_BLOB ? BLOB_HEADER_BYTES : 0);
}

bool image_input(const Graph *g)
{
    return g->t[g->input].shape.rank == 3 && !g->whole; /* whole: no batch of images */
}

static void put_shape_macro(StrBuf *b, const char *P, const char *what, const Shape *s)
{
    sb_printf(b, "#define %s_%s_RANK %d\n#define %s_%s_SHAPE {", P, what, s->rank, P, what);
    for (int i = 0; i < s->rank; i++)
        sb_printf(b, i ? ", %lld" : "%lld", (long long)s->d[i]);
    sb_puts(b, "}\n");
}

/* Appends doc text with every "P_" spelled with the prefix. */
void put_doc(StrBuf *b, const char *P, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (p[0] == 'P' && p[1] == '_') {
            sb_printf(b, "%s_", P);
            p++;
        } else {
            sb_putc(b, *p);
        }
    }
}

static void write_header(Emit *e, StrBuf *b, const char *guard)
{
    Graph *g = e->g;
    const char *P = e->P;
    const Shape *in = &g->t[g->input].shape, *out = &g->t[g->output].shape;
    sb_printf(b, "/* Generated by cnnc %s from %s: the model '%s'. Do not edit.\n", CNNC_VERSION,
              g->file ? g->file : "?", g->name ? g->name : "?");
    put_doc(b, P,
            " *\n"
            " * Tensors are float32, NCHW, one sample after another. Usage:\n"
            " *\n"
            " *     static float arena[(P_ARENA_BYTES + 3) / 4];  -- aligned to P_ARENA_ALIGN\n"
            " *     P_forward(arena, input, output, n);  -- n samples, 1 <= n <= P_BATCH_MAX\n"
            " *\n"
            " * P_forward uses no memory but the arena and reads the input (n *\n"
            " * P_INPUT_SIZE floats), writes the output (n * P_OUTPUT_SIZE floats). It\n"
            " * keeps no state between calls and writes no global, so two arenas are\n"
            " * two independent instances (threads). It runs the samples one by one.\n"
            " *\n"
            " * Profiling: compile the model's .c with P_PROFILE_BEGIN(layer, name) and\n"
            " * P_PROFILE_END(layer, name) defined (-D, or a file that defines them and\n"
            " * includes the .c) to run code around each layer; layer is its index in\n"
            " * [0, P_LAYER_COUNT), name a string literal. Both default to nothing.\n");
    if (e->mode == WEIGHTS_BLOB)
        put_doc(b, P,
                " *\n"
                " * Weights: this model reads its weights from the blob written with it\n"
                " * (P_WEIGHTS_BYTES bytes, float32 little-endian, in the order the code\n"
                " * reads them). Load it and call P_set_weights(arena, blob) once per arena\n"
                " * before P_forward; the blob must stay valid, aligned to 4 bytes (64 is\n"
                " * best). A big-endian host must swap the bytes first.\n");
    if (e->mode == WEIGHTS_OBJECT)
        put_doc(b, P,
                " *\n"
                " * Weights: P_weights, P_WEIGHTS_BYTES bytes of float32 little-endian in\n"
                " * the order the code reads them, read-only (flash), linked in from the\n"
                " * .bin file written with this model by the .S file beside it: build that\n"
                " * with the model (cc -c -I<its folder> ..._weights.S). Nothing to load.\n");
    if (image_input(g))
        put_doc(b, P,
                " *\n"
                " * P_image_to_input turns one camera-style image (uint8, H x W x C,\n"
                " * row-major, with the model's H, W and C) into one input sample: values\n"
                " * scaled to [0, 1], then (x - mean) / std per channel when the model\n"
                " * declares mean and std.\n");
    sb_printf(b, " */\n#ifndef %s\n#define %s\n\n#include <stddef.h>\n#include <stdint.h>\n\n", guard,
              guard);
    sb_printf(b, "#define %s_INPUT_SIZE %lld /* floats per sample */\n", P,
              (long long)shape_numel(in));
    sb_printf(b, "#define %s_OUTPUT_SIZE %lld /* floats per sample */\n", P,
              (long long)shape_numel(out));
    put_shape_macro(b, P, "INPUT", in);
    put_shape_macro(b, P, "OUTPUT", out);
    sb_printf(b, "#define %s_BATCH_MAX %d\n", P, e->opt->batch > 0 ? e->opt->batch : 1);
    sb_printf(b, "#define %s_ARENA_BYTES %lld /* working memory the caller provides */\n", P,
              (long long)arena_bytes(e));
    sb_printf(b, "#define %s_ARENA_ALIGN %d /* its alignment, in bytes */\n", P,
              PLAN_ALIGN_FLOATS * 4);
    sb_printf(b, "#define %s_PARAM_COUNT %lld /* parameters of the compiled layers */\n", P,
              (long long)param_count(g));
    sb_printf(b, "#define %s_LAYER_COUNT %d\n", P, g->nn);
    if (e->mode == WEIGHTS_BLOB || e->mode == WEIGHTS_OBJECT)
        sb_printf(b, "#define %s_WEIGHTS_BYTES %lld /* the blob's size */\n", P,
                  (long long)e->blob_floats * 4);
    sb_printf(b, "\n/* Runs n samples: input holds n * %s_INPUT_SIZE floats, output receives\n"
                 " * n * %s_OUTPUT_SIZE. */\n"
                 "void %s_forward(void *arena, const float *input, float *output, int n);\n",
              P, P, P);
    sb_printf(b, "/* The name of layer i (0 <= i < %s_LAYER_COUNT), NULL outside. */\n"
                 "const char *%s_layer_name(int i);\n",
              P, P);
    if (e->mode == WEIGHTS_BLOB)
        sb_printf(b, "/* Points the arena at the weights blob (see above). */\n"
                     "void %s_set_weights(void *arena, const void *blob);\n",
                  P);
    if (image_input(g))
        sb_printf(b, "/* One H x W x C uint8 image into one normalised C x H x W sample. */\n"
                     "void %s_image_to_input(const uint8_t *image, float *input);\n",
                  P);
    emit_int8_header(e, b);
    if (e->train) /* traingen */
        emit_train_header(e, b);
    sb_printf(b, "\n#endif\n");
}

/* ---- OUT.c ---- */

/* s as a C string literal. */
void put_c_string(StrBuf *b, const char *s)
{
    sb_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_printf(b, "\\%c", *p);
        else if (*p < 32 || *p >= 127 || *p == '?')
            sb_printf(b, "\\%03o", *p);
        else
            sb_putc(b, (char)*p);
    }
    sb_putc(b, '"');
}

/* The arena expression of tensor t in the forward pass. */
static char *tensor_ptr(const Emit *e, int t)
{
    int r = e->plan.root[t];
    if (r == e->g->input)
        return xstrdup("in");
    if (tensor_dtype(&e->g->t[t]) == DT_I8)
        return xasprintf("(int8_t *)(A + %s_AT_%s)", e->P, e->at_ident[r]);
    return xasprintf("A + %s_AT_%s", e->P, e->at_ident[r]);
}

static bool writes_in_place(const Emit *e, const Node *n)
{
    for (int j = 0; j < n->nin; j++)
        if (e->plan.root[n->in[j]] == e->plan.root[n->out])
            return true;
    return false;
}

bool emit_in_place(Emit *e)
{
    return writes_in_place(e, &e->g->n[e->node]);
}

static void put_layer_comment(const Emit *e, StrBuf *b, const Node *n, const char *indent)
{
    char s0[128], s1[128];
    const Graph *g = e->g;
    sb_printf(b, "%s/* %s: %s", indent, n->name, op_info(n->op)->name);
    for (int j = 0; j < n->nin; j++)
        sb_printf(b, "%s%s", j ? ", " : " ", shape_str(&g->t[n->in[j]].shape, s0, sizeof s0));
    sb_printf(b, " -> %s", shape_str(&g->t[n->out].shape, s1, sizeof s1));
    if (act_present(node_epilogue(n)))
        sb_printf(b, ", then %s", act_name(n->act.kind));
    if (is_view(n))
        sb_puts(b, " (a view: no code)");
    sb_puts(b, " */\n");
}

/* The tensor node i's function takes as input j: a fused block's own
 * input in place of the depthwise output its project conv reads (input
 * 1, a fused residual, stays). */
static int layer_input(const Emit *e, int i, int j)
{
    int x = e->block_expand[i];
    return x >= 0 && j == 0 ? e->g->n[x].in[0] : e->g->n[i].in[j];
}

/* Layer i's function, written into b; taken out again where a patched
 * build's earlier layer has the same one (emit_shared_function: its calls
 * go there). */
static void write_layer(Emit *e, StrBuf *b, int i)
{
    const Node *n = &e->g->n[i];
    const char *R = writes_in_place(e, n) ? "" : "restrict ";
    const Tensor *t = e->g->t;
    size_t start = b->len;
    put_layer_comment(e, b, n, "");
    sb_printf(b, "static void %s_%s", e->P, e->layer_ident[i]);
    size_t fn = b->len; /* the function after its name */
    sb_puts(b, "(");
    for (int j = 0; j < n->nin; j++)
        sb_printf(b, "const %s *%sx%d, ", emit_c_type(tensor_dtype(&t[layer_input(e, i, j)])),
                  R, j);
    sb_printf(b, "%s *%sy", emit_c_type(tensor_dtype(&t[n->out])), R);
    if (e->scratch[i] > 0)
        sb_printf(b, ", %s *restrict s", node_quantized(e->g, n) ? "int8_t" : "float");
    if (e->uses_blob[i])
        sb_printf(b, ", const float *restrict w");
    sb_printf(b, ")\n{\n%s}\n\n", e->bodies[i].s ? e->bodies[i].s : "");
    if (!emit_shared_function(e, i, b, fn)) {
        b->len = start;
        b->s[start] = '\0';
    }
}

/* The arena offsets (in floats from A, the arena's start) the forward pass
 * hands each layer, for one sample: each activation with storage of its own
 * (views and layers writing in place share it), each layer's scratch. */
static void write_offsets(const Emit *e, StrBuf *b)
{
    const Graph *g = e->g;
    char shape[128];
    /* Each root's aliases, in tensor order: aliases[t] is t's first,
     * next_alias[u] the one after u (-1 ends a list). */
    int *aliases = xmalloc((size_t)(g->nt ? g->nt : 1) * 2 * sizeof *aliases);
    int *next_alias = aliases + (g->nt ? g->nt : 1);
    for (int t = 0; t < g->nt; t++)
        aliases[t] = -1;
    for (int u = g->nt - 1; u >= 0; u--)
        if (e->at_ident[u] && e->plan.root[u] != u) {
            next_alias[u] = aliases[e->plan.root[u]];
            aliases[e->plan.root[u]] = u;
        }
    sb_puts(b, "/* Arena offsets, in floats from A (one sample's activations). */\n");
    for (int t = 0; t < g->nt; t++) {
        if (!e->at_ident[t] || e->plan.root[t] != t || e->plan.offset[t] < 0)
            continue;
        sb_printf(b, "#define %s_AT_%s %lld /* %s: %s", e->P, e->at_ident[t],
                  (long long)e->plan.offset[t], g->t[t].name,
                  shape_str(&g->t[t].shape, shape, sizeof shape));
        for (int u = aliases[t]; u >= 0; u = next_alias[u])
            sb_printf(b, "; %s too", g->t[u].name);
        sb_puts(b, " */\n");
    }
    free(aliases);
    for (int i = 0; i < g->nn; i++)
        if (e->scratch[i] > 0)
            sb_printf(b, "#define %s_AT_%s_scratch %lld /* %s's scratch: %lld floats */\n", e->P,
                      e->layer_ident[i], (long long)e->plan.scratch_offset[i], g->n[i].name,
                      (long long)e->scratch[i]);
    sb_putc(b, '\n');
}

/* The call of layer i in the forward pass, with its profiling hooks. */
static void write_call(Emit *e, StrBuf *b, int i)
{
    const Node *n = &e->g->n[i];
    const char *P = e->P;
    sb_printf(b, "        %s_PROFILE_BEGIN(%d, ", P, i);
    put_c_string(b, n->name);
    sb_printf(b, ");\n        %s_%s(", P, e->layer_ident[emit_shared_layer(e, i)]);
    for (int j = 0; j < n->nin; j++) {
        char *x = tensor_ptr(e, layer_input(e, i, j));
        sb_printf(b, "%s, ", x);
        free(x);
    }
    char *y = tensor_ptr(e, n->out);
    sb_printf(b, "%s", y);
    free(y);
    if (e->scratch[i] > 0)
        sb_printf(b, node_quantized(e->g, n) ? ", (int8_t *)(A + %s_AT_%s_scratch)"
                                             : ", A + %s_AT_%s_scratch",
                  P, e->layer_ident[i]);
    if (e->uses_blob[i])
        sb_puts(b, ", w");
    sb_printf(b, ");\n        %s_PROFILE_END(%d, ", P, i);
    put_c_string(b, n->name);
    sb_puts(b, ");\n");
}

/* P_forward, or (e->i8_pass) P_forward_i8: the same layers without the
 * entry quantize and the exit dequantize, on int8 samples (copied into the
 * entry's buffer, which the next layer may overwrite). */
static void write_forward(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    const char *P = e->P, *T = e->i8_pass ? "int8_t" : "float";
    sb_printf(b, "void %s_forward%s(void *arena, const %s *input, %s *output, int n)\n{\n", P,
              e->i8_pass ? "_i8" : "", T, T);
    bool blob = e->mode == WEIGHTS_BLOB;
    if (blob)
        sb_printf(b, "    float *A = (float *)((char *)arena + %d);\n"
                     "    const float *w;\n"
                     "    int b;\n"
                     "    memcpy(&w, arena, sizeof w);\n",
                  BLOB_HEADER_BYTES);
    else if (e->mode == WEIGHTS_OBJECT)
        sb_printf(b, "    float *A = (float *)arena;\n"
                     "    const float *w = %s_weights;\n"
                     "    int b;\n"
                     "    (void)A;\n",
                  P);
    else if (e->plan.arena_floats > 0)
        sb_printf(b, "    float *A = (float *)arena;\n    int b;\n");
    else
        sb_printf(b, "    int b;\n    (void)arena;\n");
    sb_printf(b, "    for (b = 0; b < n; b++) {\n"
                 "        const %s *in = input + (size_t)b * %s_INPUT_SIZE;\n",
              T, P);
    if (e->i8_pass) {
        char *entry = tensor_ptr(e, g->n[e->i8_entry].out);
        sb_printf(b, "        memcpy(%s, in, %s_INPUT_SIZE);\n", entry, P);
        free(entry);
    }
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (e->i8_pass && (i == e->i8_entry || i == e->i8_exit))
            continue;
        put_layer_comment(e, b, n, "        ");
        if (e->in_block[i])
            sb_puts(b, "        /* (runs inside the fused block below) */\n");
        else if (!is_view(n))
            write_call(e, b, i);
    }
    char *out = tensor_ptr(e, e->i8_pass ? g->n[e->i8_exit].in[0] : g->output);
    sb_printf(b, "        memcpy(output + (size_t)b * %s_OUTPUT_SIZE, %s, sizeof(%s) * %s_OUTPUT_SIZE);\n"
                 "    }\n}\n\n",
              P, out, T, P);
    free(out);
}

static void write_layer_names(Emit *e, StrBuf *b)
{
    sb_printf(b, "const char *%s_layer_name(int i)\n{\n    static const char *const names[] = {\n",
              e->P);
    for (int i = 0; i < e->g->nn; i++) {
        sb_puts(b, "        ");
        put_c_string(b, e->g->n[i].name);
        sb_puts(b, ",\n");
    }
    if (e->g->nn == 0)
        sb_puts(b, "        0\n");
    sb_printf(b, "    };\n    return i >= 0 && i < %d ? names[i] : NULL;\n}\n\n", e->g->nn);
}

static void write_set_weights(Emit *e, StrBuf *b)
{
    sb_printf(b, "void %s_set_weights(void *arena, const void *blob)\n{\n"
                 "    const float *w = (const float *)blob;\n"
                 "    memcpy(arena, &w, sizeof w);\n}\n\n",
              e->P);
}

/* The model's input normalisation as two static arrays, `mean` and
 * `inv_std` (1/std as a float, as P_image_to_input and runtime/image.c
 * multiply by it); false, writing nothing, when it declares none. */
bool put_image_norm(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    int64_t c, h, w;
    shape_chw(&g->t[g->input].shape, &c, &h, &w);
    if (!(g->nnorm == c && g->mean && g->std))
        return false;
    sb_printf(b, "    static const float mean[%lld] = {", (long long)c);
    for (int64_t i = 0; i < c; i++)
        sb_printf(b, "%s%s", i ? ", " : "", emit_float(e, g->mean[i]));
    sb_printf(b, "};\n    static const float inv_std[%lld] = {", (long long)c);
    for (int64_t i = 0; i < c; i++)
        sb_printf(b, "%s%s", i ? ", " : "", emit_float(e, 1.0f / g->std[i]));
    sb_puts(b, "};\n");
    return true;
}

static void write_image_to_input(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    int64_t c, h, w;
    shape_chw(&g->t[g->input].shape, &c, &h, &w);
    sb_printf(b, "void %s_image_to_input(const uint8_t *image, float *input)\n{\n", e->P);
    bool norm = put_image_norm(e, b);
    sb_printf(b, "    int c, p;\n"
                 "    for (c = 0; c < %lld; c++)\n"
                 "        for (p = 0; p < %lld; p++)\n",
              (long long)c, (long long)(h * w));
    if (norm)
        sb_printf(b, "            input[c * %lld + p] = ((float)image[p * %lld + c] / 255.0f - mean[c]) * inv_std[c];\n",
                  (long long)(h * w), (long long)c);
    else
        sb_printf(b, "            input[c * %lld + p] = (float)image[p * %lld + c] / 255.0f;\n",
                  (long long)(h * w), (long long)c);
    sb_puts(b, "}\n\n");
}

/* Compile-time checks (C99: an array type of negative size is an error):
 * the header's arena must hold the plan this code was generated for, so an
 * edited or stale header cannot silently under-size it; and, under
 * --ram-budget, the arena must stay within the budget. */
static void write_arena_checks(const Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b, "typedef char %s_arena_check[(%s_ARENA_BYTES >= %lld) ? 1 : -1];\n", P, P,
              (long long)arena_bytes(e));
    if (e->opt->ram_budget > 0)
        sb_printf(b, "typedef char %s_ram_budget_check[(%s_ARENA_BYTES <= %lld) ? 1 : -1];\n", P,
                  P, (long long)e->opt->ram_budget);
    sb_putc(b, '\n');
}

/* The kernels' fast path (ops/conv/conv_emit.c): GNU vector types, and FP
 * contraction for GCC, which turns it off in ISO mode (-std=c99) and so
 * would use no FMA. CNNC_V8_DEFINED marks the 8-float types (cnnc_v8, its
 * unaligned twin cnnc_v8u, the compare mask cnnc_v8i); CNNC_V16_DEFINED
 * the 16-float ones, where the target has AVX-512 (twice the FMA width of
 * AVX2 on the machines that run it at full width). -DCNNC_NO_VECTOR_EXT
 * keeps to plain C99 loops, -DCNNC_NO_V16 to 8 floats, -DCNNC_NO_FP_CONTRACT
 * to separate multiplies and adds. A target profile without SIMD for the
 * vector types (--target cortex-m4) makes the plain loops the default. */
static void write_speed_preamble(const Emit *e, StrBuf *b)
{
    const TargetProfile *t = e->opt->target;
    if (t && !t->vector_ext)
        sb_printf(b, "/* %s: the plain loops, the GNU vector types having no SIMD registers\n"
                     " * there (-DCNNC_VECTOR_EXT builds them all the same) */\n"
                     "#if !defined(CNNC_VECTOR_EXT) && !defined(CNNC_NO_VECTOR_EXT)\n"
                     "#define CNNC_NO_VECTOR_EXT\n#endif\n",
                  t->name);
    sb_puts(b, "#if defined(__GNUC__) && !defined(__clang__) && !defined(CNNC_NO_FP_CONTRACT)\n"
               "#pragma GCC optimize(\"fp-contract=fast\")\n#endif\n"
               "#if defined(__GNUC__) && !defined(CNNC_NO_VECTOR_EXT) && !defined(CNNC_V8_DEFINED)\n"
               "#define CNNC_V8_DEFINED\n"
               "typedef float cnnc_v8 __attribute__((vector_size(32)));\n"
               "typedef float cnnc_v8u __attribute__((vector_size(32), aligned(4))); /* unaligned */\n"
               "typedef int cnnc_v8i __attribute__((vector_size(32)));\n"
               "#if defined(__AVX512F__) && !defined(CNNC_NO_V16)\n"
               "#define CNNC_V16_DEFINED\n"
               "typedef float cnnc_v16 __attribute__((vector_size(64)));\n"
               "typedef float cnnc_v16u __attribute__((vector_size(64), aligned(4)));\n"
               "typedef int cnnc_v16i __attribute__((vector_size(64)));\n"
               "#endif\n"
               "#endif\n\n");
}

/* What the weight arrays (emit_const) need: with `defs`, where they are
 * defined, the choice of form. Each array is a union of its floats, their
 * bit patterns and their bytes. GNU C (gcc, clang) on a little-endian
 * target gets the bytes as one string literal, one tree node for gcc
 * where each float or integer literal is one (~4 us, ~200 bytes): gcc -O2
 * compiles resnet18's weights in 15 s of CPU, not 60 (docs/codegen.md,
 * "Weights"; the skipped fallback is 3 s of that). Elsewhere, or with
 * -DCNNC_PORTABLE_WEIGHTS, the bit patterns as uint32_t constants: C99 and
 * any byte order. Both are bit-exact (NaN payloads too) and read through
 * .f, the union's float member (C99 TC3 6.5.2.3: the bytes reinterpreted).
 * The string is exactly as long as the array (no room for a NUL: allowed in
 * C, marked nonstring for the compilers that warn) and longer than the
 * 4095 characters C99 requires compilers to take (gcc -pedantic warns:
 * silenced around the arrays). */
static void put_weights_preamble(const Emit *e, StrBuf *b, bool defs)
{
    const char *P = e->P;
    sb_printf(b, "#if defined(__has_attribute)\n#if __has_attribute(__nonstring__)\n"
                 "#define %s_NONSTRING __attribute__((__nonstring__))\n#endif\n#endif\n"
                 "#ifndef %s_NONSTRING\n#define %s_NONSTRING\n#endif\n",
              P, P, P);
    if (!defs)
        return;
    sb_printf(b, "#if defined(__GNUC__) && defined(__BYTE_ORDER__) && "
                 "defined(__ORDER_LITTLE_ENDIAN__) && !defined(CNNC_PORTABLE_WEIGHTS)\n"
                 "#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__\n"
                 "#define %s_WEIGHTS_AS_BYTES 1\n#endif\n#endif\n"
                 "#ifndef %s_WEIGHTS_AS_BYTES\n#define %s_WEIGHTS_AS_BYTES 0\n#endif\n"
                 "#if %s_WEIGHTS_AS_BYTES\n#pragma GCC diagnostic push\n"
                 "#pragma GCC diagnostic ignored \"-Woverlength-strings\"\n#endif\n"
                 "/* The weights' bits are IEEE 754 binary32. */\n"
                 "typedef char %s_float_is_binary32[FLT_RADIX == 2 && FLT_MANT_DIG == 24 && "
                 "FLT_MAX_EXP == 128 && sizeof(float) == 4 ? 1 : -1];\n\n",
              P, P, P, P, P);
}

static void put_weights_end(const Emit *e, StrBuf *b)
{
    sb_printf(b, "#if %s_WEIGHTS_AS_BYTES\n#pragma GCC diagnostic pop\n#endif\n\n", e->P);
}

static void write_source(Emit *e, StrBuf *b, const char *header_name)
{
    Graph *g = e->g;
    const char *P = e->P;
    sb_printf(b, "/* Generated by cnnc %s from %s: the model '%s'. Do not edit.\n"
                 " *\n"
                 " * Memory plan (one sample at a time): arena %lld bytes; lower bound %lld\n"
                 " * bytes (the largest sum of buffers live at once); weights %lld bytes as\n"
                 " * repacked for the loops; %lld parameters.\n */\n",
              CNNC_VERSION, g->file ? g->file : "?", g->name ? g->name : "?",
              (long long)arena_bytes(e), (long long)e->plan.bound_floats * 4,
              (long long)e->weight_bytes, (long long)param_count(g));
    if (e->opt->main) /* clock_gettime, for bench */
        sb_puts(b, "#if !defined(_POSIX_C_SOURCE) && !defined(_WIN32)\n"
                   "#define _POSIX_C_SOURCE 199309L\n#endif\n");
    sb_puts(b, "#include <float.h>\n#include <math.h>\n#include <stddef.h>\n#include <stdint.h>\n"
               "#include <string.h>\n\n");
    sb_puts(b, "#include ");
    put_c_string(b, header_name);
    sb_puts(b, "\n\n");
    sb_printf(b, "#ifndef %s_PROFILE_BEGIN\n#define %s_PROFILE_BEGIN(layer, name) ((void)0)\n#endif\n"
                 "#ifndef %s_PROFILE_END\n#define %s_PROFILE_END(layer, name) ((void)0)\n#endif\n"
                 "/* A name that some of a kernel's paths do not read. */\n"
                 "#define %s_UNUSED(x) ((void)(x))\n\n",
              P, P, P, P, P);
    write_arena_checks(e, b);
    write_speed_preamble(e, b);
    emit_int8_preamble(e, b);
    if (e->mode == WEIGHTS_INLINE && e->weights.s) {
        put_weights_preamble(e, b, true);
        sb_puts(b, e->weights.s);
        put_weights_end(e, b);
    }
    if (e->mode == WEIGHTS_SPLIT && e->weight_decls.s) {
        put_weights_preamble(e, b, false);
        sb_printf(b, "%s\n", e->weight_decls.s);
    }
    if (e->mode == WEIGHTS_OBJECT)
        sb_printf(b, "/* The weights, linked in by the _weights.S file written with this one. */\n"
                     "#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__\n"
                     "#error \"the weights file holds little-endian floats\"\n#endif\n"
                     "extern const float %s_weights[];\n\n",
                  P);
    for (int i = 0; i < g->nn; i++)
        if (!is_view(&g->n[i]) && !e->in_block[i])
            write_layer(e, b, i);
    write_offsets(e, b);
    write_forward(e, b);
    if (e->i8_entry >= 0) { /* int8 builds: P_forward_i8 */
        e->i8_pass = true;
        write_forward(e, b);
        e->i8_pass = false;
    }
    write_layer_names(e, b);
    if (e->mode == WEIGHTS_BLOB)
        write_set_weights(e, b);
    if (image_input(g))
        write_image_to_input(e, b);
    if (e->train) /* traingen */
        emit_train_source(e, b);
    if (e->opt->main)
        emit_main(e, b);
}

/* ---- files, written whole or not at all ---- */

typedef struct {
    char *path;
    char *tmp;
    const void *data;
    size_t size;
} OutFile;

static bool write_temp(OutFile *f)
{
    f->tmp = xasprintf("%s.tmp-XXXXXX", f->path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        diag_error((Loc){f->path, 0, 0}, "cannot write: %s", strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return false;
    }
    /* mkstemp makes the file 0600; an output is an ordinary file (umask). */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FILE *fp = fdopen(fd, "wb");
    bool ok = fp && fwrite(f->data, 1, f->size, fp) == f->size;
    if (fp)
        ok = (fclose(fp) == 0) && ok;
    else
        close(fd);
    if (!ok)
        diag_error((Loc){f->path, 0, 0}, "cannot write: %s", strerror(errno));
    return ok;
}

/* Writes every file to a temporary beside it (unless written already:
 * tmp set), then renames them all. */
static bool write_files(OutFile *files, int n)
{
    bool ok = true;
    for (int i = 0; i < n && ok; i++)
        ok = files[i].tmp || write_temp(&files[i]);
    for (int i = 0; i < n && ok; i++)
        if (rename(files[i].tmp, files[i].path) != 0) {
            diag_error((Loc){files[i].path, 0, 0}, "cannot write: %s", strerror(errno));
            ok = false;
        }
    for (int i = 0; i < n; i++) {
        if (files[i].tmp && !ok)
            remove(files[i].tmp);
        free(files[i].tmp);
        files[i].tmp = NULL;
    }
    return ok;
}

/* OUT with its ".c" replaced by `suffix`. */
static char *sibling(const char *out_c, const char *suffix)
{
    size_t n = strlen(out_c);
    if (n > 2 && strcmp(out_c + n - 2, ".c") == 0)
        n -= 2;
    char *stem = xstrndup(out_c, n);
    char *s = xasprintf("%s%s", stem, suffix);
    free(stem);
    return s;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static char *header_guard(const char *P)
{
    char *g = xasprintf("%s_H_INCLUDED", P);
    for (char *p = g; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return g;
}

/* The start of OUT_weights.c; the arrays follow as they are emitted. */
static void write_weights_head(Emit *e)
{
    StrBuf b = {0};
    sb_printf(&b, "/* Generated by cnnc %s from %s: the weights of the model '%s', repacked\n"
                  " * in the order its code reads them. Do not edit. */\n\n"
                  "#include <float.h>\n#include <stdint.h>\n\n",
              CNNC_VERSION, e->g->file ? e->g->file : "?", e->g->name ? e->g->name : "?");
    put_weights_preamble(e, &b, true);
    sink_write(e, &b);
    sb_free(&b);
}

static void write_weights_tail(Emit *e)
{
    StrBuf b = {0};
    put_weights_end(e, &b);
    sink_write(e, &b);
    sb_free(&b);
}

/* The path of the weights' own file: OUT_weights.c beside OUT.c
 * (--split-weights), --weights-blob's, or OUT_weights.bin
 * (--weights-object); NULL when they are in OUT.c. */
static char *sink_path(const Emit *e)
{
    return e->mode == WEIGHTS_SPLIT    ? sibling(e->opt->out_c, "_weights.c")
           : e->mode == WEIGHTS_BLOB   ? xstrdup(e->opt->weights_blob)
           : e->mode == WEIGHTS_OBJECT ? sibling(e->opt->out_c, "_weights.bin")
                                       : NULL;
}

/* OUT.h, OUT.c and the weights' files, in files[]; their number. */
static int write_outputs(Emit *e, OutFile *files, StrBuf *h, StrBuf *c, StrBuf *w)
{
    const EmitOptions *opt = e->opt;
    char *h_path = sibling(opt->out_c, ".h"), *guard = header_guard(opt->prefix);
    write_header(e, h, guard);
    write_source(e, c, base_name(h_path));
    free(guard);
    int n = 0;
    files[n++] = (OutFile){h_path, NULL, h->s, h->len};
    files[n++] = (OutFile){xstrdup(opt->out_c), NULL, c->s, c->len};
    if (e->mode == WEIGHTS_OBJECT) {
        char *bin = sibling(base_name(opt->out_c), "_weights.bin");
        blob_write_asm(e, w, bin);
        free(bin);
        files[n++] = (OutFile){sibling(opt->out_c, "_weights.S"), NULL, w->s, w->len};
    }
    return n;
}

/* Emits the model, its weights streamed to their own file if they have
 * one (e->sink_tmp, for emit_write to rename into place). */
static bool emit_streaming(Emit *e)
{
    char *sink = sink_path(e);
    bool ok = !sink || sink_open(e, sink);
    if (ok && e->mode == WEIGHTS_SPLIT)
        write_weights_head(e);
    ok = ok && emit_model(e);
    if (ok && e->mode == WEIGHTS_SPLIT)
        write_weights_tail(e);
    ok = ok && (!sink || sink_close(e, sink));
    free(sink);
    return ok;
}

Emit *emit_plan(Graph *g, const EmitOptions *opt)
{
    Emit *e = xmalloc(sizeof *e);
    emit_setup(e, g, opt);
    if (emit_streaming(e))
        return e;
    emit_free(e);
    return NULL;
}

bool emit_write(Emit *e)
{
    StrBuf c = {0}, h = {0}, w = {0};
    OutFile files[4];
    int nfiles = write_outputs(e, files, &h, &c, &w);
    if (e->sink_tmp) { /* write_files renames it, or removes it, and frees the name */
        files[nfiles++] = (OutFile){sink_path(e), e->sink_tmp, NULL, 0};
        e->sink_tmp = NULL;
    }
    bool ok = write_files(files, nfiles);
    for (int i = 0; i < nfiles; i++)
        free(files[i].path);
    sb_free(&c);
    sb_free(&h);
    sb_free(&w);
    return ok;
}

void emit_free(Emit *e)
{
    if (!e)
        return;
    emit_cleanup(e);
    free(e);
}

bool emit_c(Graph *g, const EmitOptions *opt)
{
    Emit *e = emit_plan(g, opt);
    bool ok = e && emit_write(e);
    emit_free(e);
    return ok;
}

/* The model's layer-wise bound: the unbanded graph's where "patch" ran. */
static int64_t layer_bound_floats(const Graph *g)
{
    return g->unbanded_layer_bound ? g->unbanded_layer_bound : plan_layer_bound(g, 1);
}

MemoryFigures emit_figures(const Emit *e)
{
    return (MemoryFigures){.arena_bytes = arena_bytes(e),
                           .bound_bytes = e->plan.bound_floats * 4,
                           .weights_bytes = e->weight_bytes,
                           .layer_bound_bytes = layer_bound_floats(e->g) * 4};
}

bool emit_memory(Graph *g, bool no_winograd, bool fuse_blocks, const TargetProfile *target,
                 MemoryFigures *out)
{
    EmitOptions opt = {.out_c = "", .prefix = "m", .batch = 1, .no_winograd = no_winograd,
                       .count_weights = true, .target = target, .fuse_blocks = fuse_blocks};
    Emit *e = emit_plan(g, &opt);
    if (e)
        *out = emit_figures(e);
    emit_free(e);
    return e != NULL;
}

void emit_dump_plan(const Emit *e, FILE *out)
{
    const Graph *g = e->g;
    char buf[128];
    MemoryFigures m = emit_figures(e);
    fprintf(out, "plan %s: arena %lld bytes, bound %lld, weights %lld\n",
            g->name ? g->name : "?", (long long)m.arena_bytes, (long long)m.bound_bytes,
            (long long)m.weights_bytes);
    for (int t = 0; t < g->nt; t++) {
        if (g->t[t].kind != T_ACT || t == g->input)
            continue;
        int r = e->plan.root[t];
        if (e->plan.hidden && e->plan.hidden[r]) {
            fprintf(out, "%s: %s inside a fused block, never in the arena\n", g->t[t].name,
                    shape_str(&g->t[t].shape, buf, sizeof buf));
            continue;
        }
        fprintf(out, "%s: %s at %lld", g->t[t].name, shape_str(&g->t[t].shape, buf, sizeof buf),
                (long long)e->plan.offset[t]);
        if (r != t)
            fprintf(out, " (storage of %s)", g->t[r].name);
        fputc('\n', out);
    }
    for (int i = 0; i < g->nn; i++)
        if (e->plan.scratch_offset[i] >= 0)
            fprintf(out, "%s scratch: %lld floats at %lld\n", g->n[i].name,
                    (long long)e->scratch[i], (long long)e->plan.scratch_offset[i]);
}

void emit_dump_api(Emit *e, FILE *out)
{
    StrBuf h = {0};
    char *guard = header_guard(e->opt->prefix);
    write_header(e, &h, guard);
    fputs(h.s ? h.s : "", out);
    sb_free(&h);
    free(guard);
}
