/* emit_train.c: the training half of `cnnc --train` (docs/training.md).
 * Takes the Emit of a compiled model (its forward layers already written)
 * and gives OUT.c the training step as specialised C: a forward pass in
 * training mode over the whole batch, the fused softmax cross-entropy, the
 * backward pass (each operator's OpInfo.emit_grad, ops/<family>_emit_grad.c)
 * and the optimizer update (runtime/train.c, pasted in as static
 * functions); OUT.h gets the documented API.
 *
 * Why layer by layer over the batch (the inference pass runs sample by
 * sample): BatchNorm normalises with the batch's statistics, so no layer
 * after it can run before every sample went through it. The train arena
 * therefore keeps every activation of up to P_BATCH_MAX samples.
 *
 * Memory. The state block (persistent): a header (hyperparameters, step,
 * dropout seed), each trainable parameter and buffer in PyTorch's layout,
 * then the optimizer's m and v per parameter. The train arena (scratch
 * between calls): the activations (views alias their input; Dropout gets
 * its own buffer, its mask differs from the identity), the activation
 * gradients packed by lifetime (the gradient of tensor t lives from the
 * backward of its last reader to that of its producer), the parameter
 * gradients, and the forward layers' scratch. */
#include "emit.h"
#include "../ops/ops.h"

#include <stdlib.h>
#include <string.h>

#define HEADER_BYTES 64
#define ALIGN_BYTES (PLAN_ALIGN_FLOATS * 4)

struct TrainPlan {
    int *root;        /* per tensor: the tensor whose value storage it uses */
    int64_t *val;     /* per root: arena float offset of its batch of values; -1: the input */
    bool *needs;      /* per tensor: depends on a trainable parameter */
    bool *active;     /* per node: its backward runs */
    int64_t *grad;    /* per root: arena float offset of its gradient; -1 none */
    int *zero_at;     /* per root: the node before whose backward its gradient is cleared */
    int64_t *pgrad;   /* per T_PARAM tensor: arena float offset of its gradient */
    int64_t *sofs;    /* per parameter/buffer: state float offset; -1 not in the state */
    int64_t *mofs, *vofs;
    int64_t scratch;  /* arena float offset of the forward layers' scratch */
    int64_t arena_floats, state_floats, act_floats, grad_floats, pgrad_floats;
    int64_t state_tensor_floats, moment_floats;
    int logits, last; /* the logits' tensor; the last node the backward visits */
    int64_t classes;
    int ntensors;     /* entries of the state's tensor table */
};

static bool is_view(const Node *n)
{
    return (op_info(n->op)->traits & OPT_VIEW) && n->op != OP_DROPOUT;
}

static bool in_state(const Tensor *t)
{
    return t->kind == T_PARAM || t->kind == T_BUFFER;
}

/* ---- helpers for the operator emitters ---- */

bool emit_grad_needs_dx(Emit *e, int j)
{
    return e->train->needs[e->g->n[e->node].in[j]];
}

bool emit_grad_has_dp(Emit *e, int slot)
{
    const Node *n = &e->g->n[e->node];
    return slot < n->nparam && n->param[slot] >= 0 && e->g->t[n->param[slot]].kind == T_PARAM;
}

void emit_grad_epilogue(Emit *e, const Node *n, int64_t per_sample)
{
    if (n->act.kind == ACT_NONE)
        return;
    emit_line(e, "{");
    emit_line(e, "int i;");
    emit_line(e, "for (i = 0; i < n * %lld; i++)", (long long)per_sample);
    emit_line(e, "    dy[i] *= %s;", emit_act_deriv(e, n->act, "y[i]", "y[i]"));
    emit_line(e, "}");
}

/* ---- the plan ---- */

/* The node whose input holds the logits when the model ends in softmax over
 * the class axis (the loss is fused with it), else -1; as interp/grad.c. */
static int fused_softmax(const Graph *g)
{
    int p = g->t[g->output].producer;
    if (p < 0 || g->n[p].op != OP_SOFTMAX || g->n[p].a.axis != 0)
        return -1;
    return p;
}

/* Views alias their input's storage (Dropout is no view here: its mask). */
static void plan_values(const Graph *g, TrainPlan *tp)
{
    for (int t = 0; t < g->nt; t++)
        tp->root[t] = t;
    for (int i = 0; i < g->nn; i++)
        if (is_view(&g->n[i]) && g->n[i].nin == 1)
            tp->root[g->n[i].out] = tp->root[g->n[i].in[0]];
}

/* Which nodes run backward and which tensors get a gradient. */
static void plan_backward_nodes(const Graph *g, TrainPlan *tp)
{
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        bool any = false;
        for (int s = 0; s < n->nparam; s++)
            any |= n->param[s] >= 0 && g->t[n->param[s]].kind == T_PARAM;
        for (int j = 0; j < n->nin; j++)
            any |= tp->needs[n->in[j]];
        tp->needs[n->out] = any;
    }
    bool *has = xcalloc((size_t)g->nt, sizeof *has);
    has[tp->root[tp->logits]] = true;
    for (int t = 0; t < g->nt; t++)
        tp->zero_at[t] = -1;
    for (int i = tp->last; i >= 0; i--) {
        const Node *n = &g->n[i];
        if (is_view(n) || !tp->needs[n->out] || !has[tp->root[n->out]])
            continue;
        tp->active[i] = true;
        for (int j = 0; j < n->nin; j++) {
            int r = tp->root[n->in[j]];
            if (!tp->needs[n->in[j]] || has[r])
                continue;
            has[r] = true;
            tp->zero_at[r] = i;
        }
    }
    for (int t = 0; t < g->nt; t++)
        if (!has[t])
            tp->needs[t] = tp->needs[t] && has[tp->root[t]];
    free(has);
}

/* The activation gradients, packed by lifetime: root r's gradient lives
 * over nodes [producer, zero_at] (the logits' from the loss on). */
static int64_t plan_grads(const Graph *g, TrainPlan *tp, int64_t base, int batch)
{
    int64_t *first = xmalloc((size_t)g->nt * sizeof *first), *last = xmalloc((size_t)g->nt * sizeof *last);
    int64_t end = base;
    for (int t = 0; t < g->nt; t++) {
        tp->grad[t] = -1;
        if (tp->root[t] != t || g->t[t].kind != T_ACT || t == g->input)
            continue;
        bool lg = t == tp->root[tp->logits];
        if (!lg && tp->zero_at[t] < 0)
            continue;
        first[t] = g->t[t].producer;
        last[t] = lg ? g->nn : tp->zero_at[t];
        int64_t size = plan_round_up(shape_numel(&g->t[t].shape) * batch);
        /* lowest offset clear of every placed, overlapping gradient */
        int64_t at = base;
        for (bool moved = true; moved;) {
            moved = false;
            for (int u = 0; u < t; u++) {
                if (tp->grad[u] < 0 || last[u] < first[t] || last[t] < first[u])
                    continue;
                int64_t usize = plan_round_up(shape_numel(&g->t[u].shape) * batch);
                if (at < tp->grad[u] + usize && tp->grad[u] < at + size) {
                    at = tp->grad[u] + usize;
                    moved = true;
                }
            }
        }
        tp->grad[t] = at;
        if (at + size > end)
            end = at + size;
    }
    free(first);
    free(last);
    return end;
}

static bool plan_train(Emit *e)
{
    Graph *g = e->g;
    TrainPlan *tp = e->train;
    int batch = e->opt->batch > 0 ? e->opt->batch : 1;
    size_t nt = (size_t)(g->nt ? g->nt : 1), nn = (size_t)(g->nn ? g->nn : 1);
    tp->root = xcalloc(nt, sizeof *tp->root);
    tp->val = xcalloc(nt, sizeof *tp->val);
    tp->needs = xcalloc(nt, sizeof *tp->needs);
    tp->active = xcalloc(nn, sizeof *tp->active);
    tp->grad = xcalloc(nt, sizeof *tp->grad);
    tp->zero_at = xcalloc(nt, sizeof *tp->zero_at);
    tp->pgrad = xcalloc(nt, sizeof *tp->pgrad);
    tp->sofs = xcalloc(nt, sizeof *tp->sofs);
    tp->mofs = xcalloc(nt, sizeof *tp->mofs);
    tp->vofs = xcalloc(nt, sizeof *tp->vofs);
    tp->classes = loss_classes(g);
    if (tp->classes < 0)
        return false;
    int sm = fused_softmax(g);
    tp->logits = sm >= 0 ? g->n[sm].in[0] : g->output;
    tp->last = g->t[tp->logits].producer;
    if (tp->last < 0) {
        diag_error((Loc){g->file, 0, 0}, "--train: the model has no layer to train");
        return false;
    }
    plan_values(g, tp);
    int64_t at = 0;
    for (int t = 0; t < g->nt; t++) {
        tp->val[t] = -1;
        if (g->t[t].kind != T_ACT || tp->root[t] != t || t == g->input)
            continue;
        tp->val[t] = at;
        at += plan_round_up(shape_numel(&g->t[t].shape) * batch);
    }
    tp->act_floats = at;
    plan_backward_nodes(g, tp);
    int64_t end = plan_grads(g, tp, at, batch);
    tp->grad_floats = end - at;
    at = end;
    int64_t s = HEADER_BYTES / 4;
    for (int t = 0; t < g->nt; t++) {
        tp->pgrad[t] = tp->sofs[t] = tp->mofs[t] = tp->vofs[t] = -1;
        if (!in_state(&g->t[t]))
            continue;
        tp->ntensors++;
        tp->sofs[t] = s;
        s += plan_round_up(shape_numel(&g->t[t].shape));
        if (g->t[t].kind != T_PARAM)
            continue;
        tp->pgrad[t] = at;
        at += plan_round_up(shape_numel(&g->t[t].shape));
    }
    tp->pgrad_floats = at - end;
    tp->state_tensor_floats = s - HEADER_BYTES / 4;
    int64_t m0 = s;
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM) {
            tp->mofs[t] = s;
            s += plan_round_up(shape_numel(&g->t[t].shape));
            tp->vofs[t] = s;
            s += plan_round_up(shape_numel(&g->t[t].shape));
        }
    tp->moment_floats = s - m0;
    tp->state_floats = s;
    int64_t scratch = 0;
    for (int i = 0; i < g->nn; i++) {
        if (e->scratch[i] > scratch)
            scratch = e->scratch[i];
        if (g->n[i].op == OP_CONV && conv_train_scratch(g, &g->n[i]) > scratch)
            scratch = conv_train_scratch(g, &g->n[i]);
    }
    tp->scratch = at;
    tp->arena_floats = at + plan_round_up(scratch);
    if (tp->ntensors == 0) {
        diag_error((Loc){g->file, 0, 0}, "--train: the model has no trainable parameter");
        return false;
    }
    return true;
}

/* ---- the layers ---- */

/* Ops whose training forward is their own (they read the state). */
static void (*train_forward_emitter(const Node *n))(Emit *, const Node *)
{
    switch (n->op) {
    case OP_ADD: /* an operand B may be trainable */
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
        return elementwise_emit_train;
    case OP_CONV:
        return conv_emit_train;
    case OP_DENSE:
        return dense_emit_train;
    case OP_BATCHNORM:
        return batchnorm_emit_train;
    case OP_DROPOUT:
        return dropout_emit_train;
    case OP_PRELU: /* the slope is trainable */
        return prelu_emit_train;
    default:
        return NULL;
    }
}

/* The layers whose training functions get the arena's scratch (ws). */
static bool takes_scratch(const Node *n)
{
    return n->op == OP_CONV;
}

static void put_arg_uses(StrBuf *b, const Emit *e, const Node *n, bool grad)
{
    for (int j = 0; j < n->nin; j++)
        sb_printf(b, "    (void)x%d;\n", j);
    sb_puts(b, "    (void)y;\n");
    if (grad) {
        sb_puts(b, "    (void)dy;\n");
        for (int j = 0; j < n->nin; j++)
            if (e->train->needs[n->in[j]])
                sb_printf(b, "    (void)dx%d;\n", j);
    }
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0) {
            sb_printf(b, "    (void)p%d;\n", s);
            if (grad && e->g->t[n->param[s]].kind == T_PARAM)
                sb_printf(b, "    (void)dp%d;\n", s);
        }
    sb_puts(b, "    (void)n;\n    (void)mode;\n    (void)key;\n");
    if (takes_scratch(n))
        sb_puts(b, "    (void)ws;\n");
}

/* A parameter as an argument type: buffers (running statistics) are written. */
static const char *param_type(const Graph *g, int t)
{
    return g->t[t].kind == T_BUFFER ? "float *" : "const float *";
}

static void write_train_layer(Emit *e, StrBuf *b, int i, bool grad, StrBuf *body)
{
    const Graph *g = e->g;
    const Node *n = &g->n[i];
    sb_printf(b, "static void %s_%c%d(", e->P, grad ? 'g' : 't', i);
    for (int j = 0; j < n->nin; j++)
        sb_printf(b, "const float *x%d, ", j);
    sb_printf(b, grad ? "const float *y, float *dy, " : "float *y, ");
    if (grad)
        for (int j = 0; j < n->nin; j++)
            if (e->train->needs[n->in[j]])
                sb_printf(b, "float *dx%d, ", j);
    for (int s = 0; s < n->nparam; s++)
        if (n->param[s] >= 0) {
            sb_printf(b, "%sp%d, ", param_type(g, n->param[s]), s);
            if (grad && g->t[n->param[s]].kind == T_PARAM)
                sb_printf(b, "float *dp%d, ", s);
        }
    sb_puts(b, takes_scratch(n) ? "int n, int mode, uint64_t key, float *ws)\n{\n"
                                : "int n, int mode, uint64_t key)\n{\n");
    put_arg_uses(b, e, n, grad);
    sb_printf(b, "%s}\n\n", body->s ? body->s : "");
}

/* Emits every layer's training functions into b; false after an error. */
static bool emit_train_layers(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (is_view(n))
            continue;
        bool own = train_forward_emitter(n) != NULL;
        for (int s = 0; s < n->nparam && !own; s++)
            if (n->param[s] >= 0 && in_state(&g->t[n->param[s]]))
                emit_unsupported(e, n, "training a parameter of this operator");
        StrBuf body = {0};
        e->node = i;
        e->body = &body;
        e->depth = 0;
        if (own) {
            train_forward_emitter(n)(e, n);
            write_train_layer(e, b, i, false, &body);
        }
        sb_free(&body);
        if (!e->train->active[i])
            continue;
        const OpInfo *info = op_info(n->op);
        if (!info->emit_grad) {
            emit_unsupported(e, n, "the backward pass of this operator yet");
            continue;
        }
        memset(&body, 0, sizeof body);
        e->body = &body;
        e->depth = 0;
        info->emit_grad(e, n);
        write_train_layer(e, b, i, true, &body);
        sb_free(&body);
    }
    return !e->failed;
}

/* ---- the runtime and the --main command ---- */

/* runtime/train.c (loss, optimizers) as static functions in the model
 * part: it includes only what model code may include. */
static void put_train_runtime(StrBuf *b)
{
    sb_puts(b, "#ifndef CNNC_RT_API\n#define CNNC_RT_API static\n#endif\n");
    put_runtime(b, cnnc_rt_cnnc_rt_h);
    put_runtime(b, cnnc_rt_train_h);
    put_runtime(b, cnnc_rt_train_c);
    sb_puts(b, "\n");
}

/* Inside P_train_init: the runtime's functions the model does not call
 * are used once, so that their static copies raise no warning. */
static void put_train_runtime_uses(StrBuf *b)
{
    put_runtime_uses(b, cnnc_rt_train_h);
}

/* ---- the driver ---- */

static void put_val(const Emit *e, StrBuf *b, int t)
{
    int r = e->train->root[t];
    if (r == e->g->input)
        sb_puts(b, "input");
    else
        sb_printf(b, "A + %lld", (long long)e->train->val[r]);
}

static void put_state_ptr(const Emit *e, StrBuf *b, int t)
{
    sb_printf(b, "S + %lld", (long long)e->train->sofs[t]);
}

static void write_train_forward_pass(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    const char *P = e->P;
    sb_printf(b, "/* The forward pass over n samples, layer by layer; mode 0: inference\n"
                 " * (running statistics, no dropout), 1: grad (batch statistics left out of\n"
                 " * the running ones, no dropout), 2: a training step. */\n"
                 "static void %s_train_fwd(float *S, float *A, const float *input, int n, int mode, uint64_t key)\n{\n"
                 "    int b;\n    (void)S;\n    (void)b;\n",
              P);
    for (int i = 0; i < g->nn; i++) {
        const Node *n = &g->n[i];
        if (is_view(n))
            continue;
        int64_t osz = shape_numel(&g->t[n->out].shape);
        if (train_forward_emitter(n)) {
            sb_printf(b, "    %s_t%d(", P, i);
            for (int j = 0; j < n->nin; j++) {
                put_val(e, b, n->in[j]);
                sb_puts(b, ", ");
            }
            put_val(e, b, n->out);
            for (int s = 0; s < n->nparam; s++)
                if (n->param[s] >= 0) {
                    sb_puts(b, ", ");
                    if (in_state(&g->t[n->param[s]]))
                        put_state_ptr(e, b, n->param[s]);
                    else
                        sb_puts(b, "NULL");
                }
            sb_puts(b, ", n, mode, key");
            if (takes_scratch(n))
                sb_printf(b, ", A + %lld", (long long)e->train->scratch);
            sb_puts(b, ");\n");
            continue;
        }
        sb_printf(b, "    for (b = 0; b < n; b++)\n        %s(", emit_layer_fn(e, i));
        for (int j = 0; j < n->nin; j++) {
            put_val(e, b, n->in[j]);
            sb_printf(b, " + (size_t)b * %lld, ", (long long)shape_numel(&g->t[n->in[j]].shape));
        }
        put_val(e, b, n->out);
        sb_printf(b, " + (size_t)b * %lld", (long long)osz);
        if (e->scratch[i] > 0)
            sb_printf(b, ", A + %lld", (long long)e->train->scratch);
        sb_puts(b, ");\n");
    }
    sb_puts(b, "}\n\n");
}

static void write_backward_pass(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    TrainPlan *tp = e->train;
    const char *P = e->P;
    sb_printf(b, "static void %s_train_bwd(float *S, float *A, const float *input, int n, int mode, uint64_t key)\n{\n"
                 "    (void)S;\n    (void)input;\n    (void)mode;\n    (void)key;\n"
                 "    if (n < 1 || n > %s_BATCH_MAX) /* the plan's bound (and gcc's range) */\n        return;\n"
                 "    memset(A + %lld, 0, sizeof(float) * %lld); /* the parameters' gradients */\n",
              P, P, (long long)(tp->act_floats + tp->grad_floats),
              (long long)tp->pgrad_floats);
    for (int i = tp->last; i >= 0; i--) {
        const Node *n = &g->n[i];
        if (!tp->active[i])
            continue;
        for (int j = 0; j < n->nin; j++) {
            int r = tp->root[n->in[j]];
            bool first = true;
            for (int k = 0; k < j; k++)
                first &= tp->root[n->in[k]] != r;
            if (first && tp->needs[n->in[j]] && tp->zero_at[r] == i)
                sb_printf(b, "    memset(A + %lld, 0, sizeof(float) * %lld * (size_t)n);\n",
                          (long long)tp->grad[r], (long long)shape_numel(&g->t[r].shape));
        }
        sb_printf(b, "    %s_g%d(", P, i);
        for (int j = 0; j < n->nin; j++) {
            put_val(e, b, n->in[j]);
            sb_puts(b, ", ");
        }
        put_val(e, b, n->out);
        sb_printf(b, ", A + %lld, ", (long long)tp->grad[tp->root[n->out]]);
        for (int j = 0; j < n->nin; j++)
            if (tp->needs[n->in[j]])
                sb_printf(b, "A + %lld, ", (long long)tp->grad[tp->root[n->in[j]]]);
        for (int s = 0; s < n->nparam; s++) {
            int t = n->param[s];
            if (t < 0)
                continue;
            if (in_state(&g->t[t]))
                put_state_ptr(e, b, t);
            else
                sb_puts(b, "NULL");
            sb_puts(b, ", ");
            if (g->t[t].kind == T_PARAM)
                sb_printf(b, "A + %lld, ", (long long)tp->pgrad[t]);
        }
        sb_puts(b, "n, mode, key");
        if (takes_scratch(n))
            sb_printf(b, ", A + %lld", (long long)tp->scratch);
        sb_puts(b, ");\n");
    }
    sb_puts(b, "}\n\n");
}

/* The baked initial values of the state's tensors, PyTorch's layout. */
static void write_initial_values(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    for (int t = 0; t < g->nt; t++) {
        if (!in_state(&g->t[t]))
            continue;
        int64_t count = shape_numel(&g->t[t].shape);
        sb_printf(b, "/* %s */\nstatic const float %s_init%d[%lld] = {\n", g->t[t].name, e->P, t,
                  (long long)count);
        for (int64_t i = 0; i < count; i++)
            sb_printf(b, "%s%s%s", i % 8 ? " " : "    ", emit_float(e, g->t[t].data[i]),
                      i + 1 < count ? (i % 8 == 7 ? ",\n" : ",") : "\n");
        sb_puts(b, "};\n\n");
    }
}

/* The tensor table (the escaped file name as cnnc_npy_param_path writes it). */
static void write_tensor_table(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    TrainPlan *tp = e->train;
    sb_printf(b, "static const %s_tensor %s_tensors[%d] = {\n", e->P, e->P, tp->ntensors);
    for (int t = 0; t < g->nt; t++) {
        const Tensor *x = &g->t[t];
        if (!in_state(x))
            continue;
        sb_puts(b, "    {");
        put_c_string(b, x->name);
        sb_puts(b, ", \"");
        for (const unsigned char *p = (const unsigned char *)x->name; *p; p++) {
            bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                         (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
            sb_printf(b, plain ? "%c" : "%%%02X", *p);
        }
        sb_printf(b, ".npy\", %d, %d, {", x->kind == T_PARAM ? 0 : 1, x->shape.rank);
        for (int i = 0; i < 4; i++)
            sb_printf(b, "%s%lld", i ? ", " : "", (long long)(i < x->shape.rank ? x->shape.d[i] : 0));
        sb_printf(b, "}, %lld, %lld, %lld},\n", (long long)shape_numel(&x->shape),
                  (long long)tp->sofs[t] * 4, (long long)(x->kind == T_PARAM ? tp->pgrad[t] * 4 : 0));
    }
    sb_puts(b, "};\n\n");
}

TrainCfg train_defaults(const Graph *g)
{
    if (g->train.present)
        return g->train;
    return (TrainCfg){.optim = OPT_SGD, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
}

static void write_api(Emit *e, StrBuf *b)
{
    Graph *g = e->g;
    TrainPlan *tp = e->train;
    const char *P = e->P;
    TrainCfg c0 = e->opt->hparams ? *e->opt->hparams : train_defaults(g);
    const TrainCfg *c = &c0;
    sb_printf(b, "typedef struct {\n    %s_hparams h;\n    int64_t step;\n    uint64_t seed;\n} %s_train_header;\n"
                 "typedef char %s_header_check[sizeof(%s_train_header) <= %d ? 1 : -1];\n"
                 "typedef char %s_train_arena_check[(%s_TRAIN_ARENA_BYTES >= %lld) ? 1 : -1];\n\n",
              P, P, P, P, HEADER_BYTES, P, P, (long long)tp->arena_floats * 4);
    sb_printf(b, "static uint64_t %s_mix(uint64_t z)\n{\n"
                 "    z += 0x9E3779B97F4A7C15u;\n"
                 "    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;\n"
                 "    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;\n"
                 "    return z ^ (z >> 31);\n}\n\n",
              P);
    write_tensor_table(e, b);
    sb_printf(b, "void %s_train_init(void *state)\n{\n"
                 "    %s_train_header *hd = (%s_train_header *)state;\n"
                 "    float *S = (float *)state;\n",
              P, P, P);
    put_train_runtime_uses(b);
    sb_printf(b, "    memset(state, 0, %s_TRAIN_STATE_BYTES);\n"
                 "    hd->h.optimizer = %d;\n    hd->h.lr = %s;\n    hd->h.momentum = %s;\n"
                 "    hd->h.weight_decay = %s;\n    hd->h.beta1 = %s;\n    hd->h.beta2 = %s;\n"
                 "    hd->h.eps = %s;\n    hd->seed = %lluu;\n",
              P, c->optim == OPT_ADAM ? 1 : 0, emit_float(e, c->lr), emit_float(e, c->momentum),
              emit_float(e, c->weight_decay), emit_float(e, c->beta1), emit_float(e, c->beta2),
              emit_float(e, c->eps), (unsigned long long)c->seed);
    for (int t = 0; t < g->nt; t++)
        if (in_state(&g->t[t]))
            sb_printf(b, "    memcpy(S + %lld, %s_init%d, sizeof %s_init%d);\n",
                      (long long)tp->sofs[t], P, t, P, t);
    sb_puts(b, "}\n\n");
    sb_printf(b, "%s_hparams *%s_train_hparams(void *state)\n{\n    return &((%s_train_header *)state)->h;\n}\n\n"
                 "int64_t %s_train_steps(const void *state)\n{\n    return ((const %s_train_header *)state)->step;\n}\n\n"
                 "const %s_tensor *%s_train_tensor(int i)\n{\n    return i >= 0 && i < %d ? &%s_tensors[i] : NULL;\n}\n\n"
                 "float *%s_train_data(void *state, int i)\n{\n"
                 "    return i >= 0 && i < %d ? (float *)((char *)state + %s_tensors[i].offset) : NULL;\n}\n\n"
                 "const float *%s_train_gradient(const void *arena, int i)\n{\n"
                 "    if (i < 0 || i >= %d || %s_tensors[i].kind != 0)\n        return NULL;\n"
                 "    return (const float *)((const char *)arena + %s_tensors[i].grad_offset);\n}\n\n",
              P, P, P, P, P, P, P, tp->ntensors, P, P, tp->ntensors, P, P, tp->ntensors, P, P);
    /* the forward from the state */
    sb_printf(b, "void %s_train_forward(const void *state, void *arena, const float *input, float *output, int n)\n{\n"
                 "    float *A = (float *)arena;\n"
                 "    %s_train_fwd((float *)(uintptr_t)state, A, input, n, 0, 0);\n"
                 "    memcpy(output, ",
              P, P);
    put_val(e, b, g->output);
    sb_printf(b, ", sizeof(float) * %s_OUTPUT_SIZE * (size_t)n);\n}\n\n", P);
    /* loss, backward, update */
    sb_printf(b, "static double %s_train_run(void *state, void *arena, const float *input, const int32_t *labels, int n, int mode)\n{\n"
                 "    %s_train_header *hd = (%s_train_header *)state;\n"
                 "    float *S = (float *)state, *A = (float *)arena;\n"
                 "    uint64_t key = mode == 2 ? %s_mix(hd->seed ^ %s_mix((uint64_t)hd->step)) : 0;\n"
                 "    double loss;\n"
                 "    %s_train_fwd(S, A, input, n, mode, key);\n"
                 "    loss = cnnc_softmax_xent(",
              P, P, P, P, P, P);
    put_val(e, b, tp->logits);
    sb_printf(b, ", labels, n, %lld, A + %lld);\n", (long long)tp->classes,
              (long long)tp->grad[tp->root[tp->logits]]);
    sb_printf(b, "    %s_train_bwd(S, A, input, n, mode, key);\n"
                 "    if (mode == 2) {\n"
                 "        CnncOptim o;\n"
                 "        o.kind = hd->h.optimizer == 1 ? CNNC_ADAM : CNNC_SGD;\n"
                 "        o.lr = hd->h.lr;\n        o.momentum = hd->h.momentum;\n"
                 "        o.weight_decay = hd->h.weight_decay;\n        o.beta1 = hd->h.beta1;\n"
                 "        o.beta2 = hd->h.beta2;\n        o.eps = hd->h.eps;\n"
                 "        hd->step++;\n",
              P);
    for (int t = 0; t < g->nt; t++)
        if (g->t[t].kind == T_PARAM)
            sb_printf(b, "        cnnc_optim_step(&o, hd->step, S + %lld, A + %lld, S + %lld, S + %lld, %lld);\n",
                      (long long)tp->sofs[t], (long long)tp->pgrad[t], (long long)tp->mofs[t],
                      (long long)tp->vofs[t], (long long)shape_numel(&g->t[t].shape));
    sb_puts(b, "    }\n    return loss;\n}\n\n");
    sb_printf(b, "double %s_train_step(void *state, void *arena, const float *input, const int32_t *labels, int n)\n{\n"
                 "    return %s_train_run(state, arena, input, labels, n, 2);\n}\n\n"
                 "double %s_train_grad(void *state, void *arena, const float *input, const int32_t *labels, int n)\n{\n"
                 "    return %s_train_run(state, arena, input, labels, n, 1);\n}\n\n",
              P, P, P, P);
}

/* ---- entry points (emit.c, emit_main.c) ---- */

bool emit_train_prepare(Emit *e)
{
    e->train = xcalloc(1, sizeof *e->train);
    if (e->mode == WEIGHTS_BLOB) {
        diag_error((Loc){e->g->file, 0, 0}, "--train does not support --weights-blob yet");
        return false;
    }
    if (!plan_train(e))
        return false;
    StrBuf probe = {0};
    bool ok = emit_train_layers(e, &probe);
    sb_free(&probe);
    return ok;
}

void emit_train_source(Emit *e, StrBuf *b)
{
    sb_puts(b, "/* ---- training (cnnc --train; docs/training.md) ---- */\n");
    put_train_runtime(b);
    write_initial_values(e, b);
    emit_train_layers(e, b);
    write_train_forward_pass(e, b);
    write_backward_pass(e, b);
    write_api(e, b);
}

void emit_train_header(Emit *e, StrBuf *b)
{
    TrainPlan *tp = e->train;
    const char *P = e->P;
    sb_printf(b, "\n/* ---- training (--train): see docs/training.md ----\n"
                 " * Memory: the state (persistent) holds the parameters, buffers and the\n"
                 " * optimizer's moments; the train arena (scratch) the batch's activations\n"
                 " * (%lld bytes), their gradients (%lld bytes, packed by lifetime), the\n"
                 " * parameters' gradients (%lld bytes) and scratch. Both aligned to\n"
                 " * %s_ARENA_ALIGN. */\n",
              (long long)tp->act_floats * 4, (long long)tp->grad_floats * 4,
              (long long)tp->pgrad_floats * 4, P);
    sb_printf(b, "#define %s_TRAIN_STATE_BYTES %lld /* header %d, tensors %lld, optimizer %lld */\n"
                 "#define %s_TRAIN_ARENA_BYTES %lld\n"
                 "#define %s_TRAIN_TENSOR_COUNT %d\n"
                 "#define %s_OPT_SGD 0\n#define %s_OPT_ADAM 1\n\n",
              P, (long long)tp->state_floats * 4, HEADER_BYTES, (long long)tp->state_tensor_floats * 4,
              (long long)tp->moment_floats * 4, P, (long long)tp->arena_floats * 4, P, tp->ntensors, P, P);
    sb_printf(b, "/* The optimizer's hyperparameters, read at every step (PyTorch 1.13's SGD\n"
                 " * with momentum and L2 weight decay, or Adam). */\n"
                 "typedef struct {\n    int optimizer; /* %s_OPT_SGD or %s_OPT_ADAM */\n"
                 "    float lr, momentum, weight_decay, beta1, beta2, eps;\n} %s_hparams;\n\n",
              P, P, P);
    sb_printf(b, "/* One entry per parameter and buffer in the state. */\n"
                 "typedef struct {\n"
                 "    const char *name;   /* as cnnc names it (contract, section 5) */\n"
                 "    const char *file;   /* \"<name>.npy\", escaped with %%XX */\n"
                 "    int kind;           /* 0: trainable parameter, 1: buffer (running statistics) */\n"
                 "    int rank;\n"
                 "    int64_t shape[4];   /* PyTorch's layout */\n"
                 "    size_t count;       /* floats */\n"
                 "    size_t offset;      /* bytes from the state's start */\n"
                 "    size_t grad_offset; /* parameters: bytes from the train arena's start */\n"
                 "} %s_tensor;\n\n",
              P);
    put_doc(b, P,
                 "/* Fills the state (P_TRAIN_STATE_BYTES, aligned to P_ARENA_ALIGN): the baked\n"
                 " * weights and buffers, zero optimizer state, step 0, the hyperparameters and\n"
                 " * dropout seed of the model's train section (or cnnc's command line). */\n"
                 "void P_train_init(void *state);\n"
                 "/* The hyperparameters in the state: change them between steps (schedules). */\n"
                 "P_hparams *P_train_hparams(void *state);\n"
                 "/* Optimizer steps taken. */\n"
                 "int64_t P_train_steps(const void *state);\n"
                 "/* Entry i of the tensor table (0 <= i < P_TRAIN_TENSOR_COUNT), else NULL. */\n"
                 "const P_tensor *P_train_tensor(int i);\n"
                 "/* Tensor i's floats in the state (read them to save, write them to restore). */\n"
                 "float *P_train_data(void *state, int i);\n"
                 "/* dLoss/dParameter of tensor i after P_train_step or P_train_grad on this\n"
                 " * arena (until its next use); NULL for a buffer. */\n"
                 "const float *P_train_gradient(const void *arena, int i);\n"
                 "/* One training step on n samples (1 <= n <= P_BATCH_MAX, labels in\n"
                 " * [0, classes)): forward in training mode (BatchNorm batch statistics,\n"
                 " * running statistics updated; Dropout with its seeded mask), mean softmax\n"
                 " * cross-entropy, backward, optimizer update. Returns the loss before the\n"
                 " * update. The train arena holds P_TRAIN_ARENA_BYTES. */\n"
                 "double P_train_step(void *state, void *arena, const float *input, const int32_t *labels, int n);\n"
                 "/* The loss and gradients alone (cnnc grad): Dropout the identity, the state\n"
                 " * left unchanged. */\n"
                 "double P_train_grad(void *state, void *arena, const float *input, const int32_t *labels, int n);\n"
                 "/* Inference with the state's weights (running statistics, no dropout) on\n"
                 " * n <= P_BATCH_MAX samples, in the train arena. */\n"
                 "void P_train_forward(const void *state, void *arena, const float *input, float *output, int n);\n");
}

void emit_train_free(Emit *e)
{
    TrainPlan *tp = e->train;
    if (!tp)
        return;
    free(tp->root);
    free(tp->val);
    free(tp->needs);
    free(tp->active);
    free(tp->grad);
    free(tp->zero_at);
    free(tp->pgrad);
    free(tp->sofs);
    free(tp->mofs);
    free(tp->vofs);
    free(tp);
    e->train = NULL;
}

void emit_train_main_grad(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b,
              "/* grad IN.npy LABELS.npy DIR: the loss and dLoss/dParameter of the baked\n"
              " * weights on IN (at most %s_BATCH_MAX samples), as `cnnc grad` writes them. */\n"
              "static int main_grad(int argc, char **argv)\n"
              "{\n"
              "    static const int64_t no_shape[1] = {0};\n"
              "    char err[CNNC_NPY_ERR_SIZE], msg[4096];\n"
              "    CnncNpy in, lab;\n"
              "    int32_t *labels = NULL;\n"
              "    void *sraw = NULL, *araw = NULL, *state, *arena;\n"
              "    float loss;\n"
              "    int64_t n;\n"
              "    int i, rc = 0;\n"
              "    if (argc != 5)\n"
              "        return main_error(argv[0], \"usage: grad IN.npy LABELS.npy DIR\");\n"
              "    if (main_read_input(argv[2], &in) != 0)\n"
              "        return 1;\n"
              "    n = in.shape[0];\n"
              "    if (n > %s_BATCH_MAX || n < 1) {\n"
              "        snprintf(msg, sizeof msg, \"%%lld samples, but the program takes 1 to %%d at once (the batch maximum; compile with --batch)\", (long long)n, %s_BATCH_MAX);\n"
              "        cnnc_npy_free(&in);\n"
              "        return main_error(argv[2], msg);\n"
              "    }\n"
              "    if (cnnc_npy_read(argv[3], &lab, err, sizeof err) != 0) {\n"
              "        cnnc_npy_free(&in);\n"
              "        return main_error(argv[3], err);\n"
              "    }\n"
              "    labels = malloc((size_t)(lab.count > 0 ? lab.count : 1) * sizeof *labels);\n"
              "    if (!labels || cnnc_npy_labels(&lab, labels, %lld, err, sizeof err) != 0 || lab.count != n) {\n"
              "        if (labels && lab.count != n && !err[0])\n"
              "            snprintf(err, sizeof err, \"%%lld labels for %%lld samples\", (long long)lab.count, (long long)n);\n"
              "        rc = main_error(argv[3], labels ? err : \"out of memory\");\n"
              "        goto done;\n"
              "    }\n"
              "    sraw = malloc((size_t)%s_TRAIN_STATE_BYTES + %s_ARENA_ALIGN);\n"
              "    araw = malloc((size_t)%s_TRAIN_ARENA_BYTES + %s_ARENA_ALIGN);\n"
              "    if (!sraw || !araw) {\n"
              "        rc = main_error(argv[0], \"out of memory\");\n"
              "        goto done;\n"
              "    }\n"
              "    state = (void *)(((uintptr_t)sraw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "    arena = (void *)(((uintptr_t)araw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "    %s_train_init(state);\n"
              "    loss = (float)%s_train_grad(state, arena, (const float *)in.data, labels, (int)n);\n"
              "    snprintf(msg, sizeof msg, \"%%s/loss.npy\", argv[4]);\n"
              "    if (cnnc_npy_write_f32(msg, &loss, 0, no_shape, err, sizeof err) != 0) {\n"
              "        rc = main_error(msg, err);\n"
              "        goto done;\n"
              "    }\n"
              "    for (i = 0; i < %s_TRAIN_TENSOR_COUNT; i++) {\n"
              "        const %s_tensor *t = %s_train_tensor(i);\n"
              "        if (t->kind != 0)\n"
              "            continue;\n"
              "        snprintf(msg, sizeof msg, \"%%s/%%s\", argv[4], t->file);\n"
              "        if (cnnc_npy_write_f32(msg, %s_train_gradient(arena, i), t->rank, t->shape, err, sizeof err) != 0) {\n"
              "            rc = main_error(msg, err);\n"
              "            goto done;\n"
              "        }\n"
              "    }\n"
              "done:\n"
              "    free(labels);\n"
              "    free(sraw);\n"
              "    free(araw);\n"
              "    cnnc_npy_free(&lab);\n"
              "    cnnc_npy_free(&in);\n"
              "    return rc;\n"
              "}\n\n",
              P, P, P, (long long)e->train->classes, P, P, P, P, P, P, P, P, P, P, P, P, P, P);
}
