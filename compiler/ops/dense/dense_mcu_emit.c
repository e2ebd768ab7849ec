/* dense_mcu_emit.c: the dense kernel of the microcontroller profiles
 * (--target cortex-m*; see dense.c for the formula). Blocks of OB outputs
 * whose sums are named variables, in the FPU's registers for the whole
 * input loop: per input one load of x, OB contiguous weights and OB
 * multiply-adds, about 2.1 instructions per MAC for OB = 8 (the plain
 * loop's accumulator array costs a load and a store around each). The
 * inputs go two at a time, halving the loop's overhead. Weights
 * [OUT/OB blocks][IN][OB], the last block only OUT % OB wide: no padding,
 * so flash holds exactly the layer's weights. */
#include "../ops.h"

#include <stdlib.h>

enum { MCU_OB = 8 }; /* outputs per block: 8 sums, 8 weights, 2 inputs */

/* The block of ob outputs from o0 (a C expression): y = act(b + W x). */
static void emit_block(Emit *e, const Node *n, int64_t in, int ob, const char *o0)
{
    emit_line(e, "{");
    emit_line(e, "const float *wb = weight + (%s) * %lld;", o0, (long long)in);
    for (int j = 0; j < ob; j++)
        emit_line(e, "float s%d = bias[(%s) + %d];", j, o0, j);
    emit_line(e, "int i = 0;");
    emit_line(e, "for (; i + 2 <= %lld; i += 2) {", (long long)in);
    emit_line(e, "const float xa = x0[i], xb = x0[i + 1];");
    emit_line(e, "const float *wa = wb + i * %d;", ob);
    for (int j = 0; j < ob; j++)
        emit_line(e, "s%d += wa[%d] * xa;", j, j);
    for (int j = 0; j < ob; j++)
        emit_line(e, "s%d += wa[%d] * xb;", j, ob + j);
    emit_line(e, "}");
    if (in % 2)
        for (int j = 0; j < ob; j++)
            emit_line(e, "s%d += wb[i * %d + %d] * x0[i];", j, ob, j);
    for (int j = 0; j < ob; j++) {
        char s[16];
        snprintf(s, sizeof s, "s%d", j);
        emit_line(e, "y[(%s) + %d] = %s;", o0, j, emit_act(e, n->act, s));
    }
    emit_line(e, "}");
}

void dense_emit_mcu(Emit *e, const Node *n)
{
    Graph *g = emit_graph(e);
    int64_t in = shape_numel(node_in_shape(g, n, 0)), out = shape_numel(node_out_shape(g, n));
    int64_t full = out / MCU_OB, last = out % MCU_OB;
    const float *w = node_param_data(g, n, 0);
    float *wr = xmalloc((size_t)(out * in) * sizeof *wr);
    float *zeros = n->a.bias ? NULL : xcalloc((size_t)out, sizeof *zeros);
    for (int64_t o = 0; o < out; o++) {
        int64_t o0 = o / MCU_OB * MCU_OB, ob = out - o0 < MCU_OB ? out - o0 : MCU_OB;
        for (int64_t i = 0; i < in; i++)
            wr[o0 * in + i * ob + o - o0] = w[o * in + i];
    }
    char *wc = xasprintf("%s.weight [%lld,%lld] as [OUT in blocks of %d][IN=%lld][block]",
                         n->name, (long long)out, (long long)in, MCU_OB, (long long)in);
    char *bc = xasprintf(n->a.bias ? "%s.bias" : "%s: no bias (zeros)", n->name);
    const char *W = emit_const(e, "weight", wc, wr, out * in);
    const char *B = emit_const(e, "bias", bc, n->a.bias ? node_param_data(g, n, 1) : zeros, out);
    free(wc);
    free(bc);
    free(wr);
    free(zeros);
    emit_line(e, "const float *weight = %s, *bias = %s;", W, B);
    if (full) {
        char o0[32];
        snprintf(o0, sizeof o0, "ob * %d", MCU_OB);
        emit_line(e, "for (int ob = 0; ob < %lld; ob++)", (long long)full);
        emit_block(e, n, in, MCU_OB, o0);
    }
    if (last) {
        char o0[32];
        snprintf(o0, sizeof o0, "%lld", (long long)(full * MCU_OB));
        emit_block(e, n, in, (int)last, o0);
    }
}

/* ---- training over the blocked weights (a frozen layer's, kept once) ----
 * With its weights frozen, a layer's training code reads them in the
 * array above (emit_frozen_packed) rather than in a second, PyTorch-ordered
 * copy: block k, outputs [8k, 8k + ob), is the matrix [IN][ob] at
 * W + 8k * IN, so each block is an ordinary product with ldb = ob. */

/* The product of block `k` (a C expression), ob outputs wide. */
static void emit_block_product(Emit *e, bool forward, const char *W, const char *k, int64_t in,
                               int64_t out, int64_t ob)
{
    char ins[32];
    snprintf(ins, sizeof ins, "%lld", (long long)in);
    emit_line(e, "{");
    emit_line(e, "const float *wk = %s + (size_t)(%s) * %lld;", W, k, (long long)(MCU_OB * in));
    if (forward) { /* y[b][8k + j] += sum_i x[b][i] W[i][j] */
        emit_line(e, "float *yk = y + (%s) * %d;", k, MCU_OB);
        emit_mm_nn(e, "yk", "x0", "wk", "n", ob, ins, out, in, 1, ob);
    } else { /* dx[b][i] += sum_j dy[b][8k + j] W[i][j] */
        emit_line(e, "const float *dyk = dy + (%s) * %d;", k, MCU_OB);
        emit_mm_nt(e, "dx0", "dyk", "wk", "n", in, ob, in, out, ob);
    }
    emit_line(e, "}");
}

/* The full blocks in a loop, then the narrower last one. */
static void emit_blocks(Emit *e, bool forward, const Node *n, const char *W)
{
    Graph *g = emit_graph(e);
    int64_t in = shape_numel(node_in_shape(g, n, 0)), out = shape_numel(node_out_shape(g, n));
    int64_t full = out / MCU_OB, last = out % MCU_OB;
    if (full) {
        emit_line(e, "for (int kb = 0; kb < %lld; kb++)", (long long)full);
        emit_block_product(e, forward, W, "kb", in, out, MCU_OB);
    }
    if (last) {
        char k[32];
        snprintf(k, sizeof k, "%lld", (long long)full);
        emit_block_product(e, forward, W, k, in, out, last);
    }
}

void dense_emit_mcu_train_forward(Emit *e, const Node *n, const char *W)
{
    emit_blocks(e, true, n, W);
}

void dense_emit_mcu_train_dx(Emit *e, const Node *n, const char *W)
{
    emit_blocks(e, false, n, W);
}
