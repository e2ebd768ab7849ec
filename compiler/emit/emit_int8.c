/* emit_int8.c: what int8 builds add to the generated code (docs/int8.md).
 * Takes the Emit of a graph some of whose layers compute in integers
 * (passes/quantize.c); gives the integer constant arrays their emitters
 * declare (emit_const_i8, emit_const_i32: one byte per int8 weight), the
 * integer arithmetic OUT.c shares (kit/qmath.c), and the int8 API of OUT.h:
 * P_forward_i8, which takes and gives int8 samples, and the input's and
 * output's scales and zero points. P_forward keeps float32 in and out: its
 * first layer quantizes, its last dequantizes, the only float arithmetic of
 * an all-integer model. */
#include "emit.h"
#include "../kit/qmath.h"

#include <stdlib.h>
#include <string.h>

const char *emit_c_type(DType dt)
{
    return dt == DT_I8 ? "int8_t" : dt == DT_I32 ? "int32_t" : "float";
}

/* The portable initializer: decimal values, sixteen a line. */
static void put_ints(StrBuf *b, const int32_t *v, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        sb_printf(b, "%s%ld%s", i % 16 ? " " : "        ", (long)v[i],
                  i + 1 == count ? "\n" : i % 16 == 15 ? ",\n" : ",");
}

static void put_i8(StrBuf *b, const void *data, int64_t count)
{
    const int8_t *q = data;
    int32_t *v = xmalloc((size_t)(count ? count : 1) * sizeof *v);
    for (int64_t i = 0; i < count; i++)
        v[i] = q[i];
    put_ints(b, v, count);
    free(v);
}

static void put_i32(StrBuf *b, const void *data, int64_t count)
{
    put_ints(b, data, count);
}

const char *emit_const_i8(Emit *e, const char *what, const char *comment, const int8_t *data,
                          int64_t count)
{
    char *members = xasprintf("int8_t q[%lld];", (long long)count);
    ConstArray c = {"int8_t", "int8", members, "q", (const unsigned char *)data, count, data,
                    count, put_i8};
    const char *name = emit_typed_const(e, what, comment, &c);
    free(members);
    return name;
}

const char *emit_const_i32(Emit *e, const char *what, const char *comment, const int32_t *data,
                           int64_t count)
{
    unsigned char *bytes = xmalloc((size_t)count * 4 + 1);
    for (int64_t i = 0; i < count; i++)
        for (int k = 0; k < 4; k++)
            bytes[i * 4 + k] = (unsigned char)((uint32_t)data[i] >> (8 * k));
    char *members = xasprintf("int32_t i[%lld];", (long long)count);
    ConstArray c = {"int32_t", "int32", members, "i", bytes, count * 4, data, count, put_i32};
    const char *name = emit_typed_const(e, what, comment, &c);
    free(members);
    free(bytes);
    return name;
}

/* P_forward_i8 exists when the graph input goes to one quantize alone and
 * the output comes from a dequantize: the int8 samples are theirs. */
void emit_int8_setup(Emit *e)
{
    const Graph *g = e->g;
    e->i8_entry = e->i8_exit = -1;
    int entry = -1, p = g->output >= 0 ? g->t[g->output].producer : -1;
    if (g->input < 0 || graph_consumers(g, g->input, &entry, 1) != 1 || p < 0)
        return;
    if (g->n[entry].op == OP_QUANTIZE && g->n[p].op == OP_DEQUANTIZE && entry != p) {
        e->i8_entry = entry;
        e->i8_exit = p;
    }
}

/* Does a layer body call `name`? */
static bool body_calls(const void *ctx, const char *name)
{
    const Emit *e = ctx;
    char *call = xasprintf("%s(", name);
    bool found = false;
    for (int i = 0; i < e->g->nn && !found; i++)
        found = e->bodies[i].s && strstr(e->bodies[i].s, call);
    free(call);
    return found;
}

void emit_int8_preamble(const Emit *e, StrBuf *b)
{
    for (int i = 0; i < e->g->nn; i++)
        if (node_quantized(e->g, &e->g->n[i])) {
            qmath_emit_helpers(b, body_calls, e);
            return;
        }
}

void emit_int8_header(const Emit *e, StrBuf *b)
{
    if (e->i8_entry < 0)
        return;
    const Graph *g = e->g;
    const Quant *in = g->t[g->n[e->i8_entry].out].q, *out = g->t[g->n[e->i8_exit].in[0]].q;
    char sin[40], sout[40];
    snprintf(sin, sizeof sin, "%a", (double)q_scale(in));
    snprintf(sout, sizeof sout, "%a", (double)q_scale(out));
    put_doc(b, e->P,
            "\n/* int8: the model computes in integers. P_forward quantizes its float\n"
            " * input (q = round(x / P_INPUT_SCALE) + P_INPUT_ZERO_POINT, saturated to\n"
            " * [-128, 127]) and dequantizes its output (x = P_OUTPUT_SCALE * (q -\n"
            " * P_OUTPUT_ZERO_POINT)); P_forward_i8 takes and gives those int8 samples\n"
            " * themselves (a sensor's raw integers), n * P_INPUT_SIZE and n *\n"
            " * P_OUTPUT_SIZE of them, with the same arena. */\n");
    sb_printf(b, "#define %s_INPUT_SCALE %sf\n#define %s_INPUT_ZERO_POINT %ld\n", e->P, sin, e->P,
              (long)q_zero(in));
    sb_printf(b, "#define %s_OUTPUT_SCALE %sf\n#define %s_OUTPUT_ZERO_POINT %ld\n", e->P, sout,
              e->P, (long)q_zero(out));
    sb_printf(b, "void %s_forward_i8(void *arena, const int8_t *input, int8_t *output, int n);\n",
              e->P);
}
