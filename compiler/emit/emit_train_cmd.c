/* emit_train_cmd.c: the `train DATA.npy LABELS.npy [options]` command of a
 * `--main --train` program (contract, section 3). Takes the Emit of a model
 * compiled with --train; appends runtime/train_report.c, train_plot.c and
 * train_loop.c (static, like the rest of the pasted runtime) and a
 * main_train() that wraps the training API of docs/training.md in the
 * loop's CnncTrainModel interface. The loop itself (options, epochs,
 * split, k-fold, metrics, saving, --plot) is ordinary C in runtime/. */
#include "emit.h"

/* The model's train section gives the defaults; the command line wins.
 * The learning rate is the state's (P_train_init sets it from the train
 * section or cnnc's --lr). */
static void put_defaults(Emit *e, StrBuf *b)
{
    const TrainCfg *t = &e->g->train;
    int epochs = t->present ? t->epochs : 10;
    int batch = t->present ? t->batch : e->opt->batch;
    sb_printf(b,
              "    memset(&o, 0, sizeof o);\n"
              "    o.epochs = %d;\n"
              "    o.batch = %d;\n"
              "    o.lr = %s_train_hparams(t.state)->lr;\n"
              "    o.seed = %lluu;\n"
              "    o.val_split = 0.2;\n"
              "    o.sched.kind = CNNC_SCHED_CONSTANT;\n"
              "    o.sched.gamma = 0.1;\n",
              epochs, batch, e->P, (unsigned long long)(t->present ? t->seed : 0));
}

/* The step and eval adapters over P_train_step and P_train_forward, or
 * (suffix "_features") their feature cache's forms. The batch's outputs
 * for the training accuracy come from an inference forward just before
 * the step: the step keeps its logits to itself. */
static void put_step_eval(Emit *e, StrBuf *b, const char *suffix)
{
    const char *P = e->P, *x = *suffix ? "f" : "x";
    sb_printf(b,
              "static int main_train_step%s(void *ctx, const float *%s, const int32_t *y, int n,\n"
              "                           double lr, float *logits, double *loss)\n"
              "{\n"
              "    MainTrain *t = ctx;\n"
              "    %s_train_forward%s(t->state, t->arena, %s, logits, n);\n"
              "    %s_train_hparams(t->state)->lr = (float)lr;\n"
              "    *loss = %s_train_step%s(t->state, t->arena, %s, y, n);\n"
              "    return main_train_finite(t);\n"
              "}\n\n"
              "static void main_train_eval%s(void *ctx, const float *%s, int n, float *scores)\n"
              "{\n"
              "    MainTrain *t = ctx;\n"
              "    %s_train_forward%s(t->state, t->arena, %s, scores, n);\n"
              "}\n\n",
              suffix, x, P, suffix, x, P, P, suffix, x, suffix, x, P, suffix, x);
    if (*suffix)
        sb_printf(b,
                  "static void main_train_features(void *ctx, const float *x, int n, float *f)\n"
                  "{\n"
                  "    MainTrain *t = ctx;\n"
                  "    %s_train_features(t->state, t->arena, x, f, n);\n"
                  "}\n\n",
                  P);
}

/* The adapters from CnncTrainModel's calls to P_train_*. */
static void put_adapters(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    sb_printf(b,
              "/* The train command's model: the training state and a train arena. */\n"
              "typedef struct {\n"
              "    void *state, *arena;\n"
              "} MainTrain;\n\n"
              "static float *main_train_tensor(void *ctx, int i)\n"
              "{\n"
              "    return %s_train_data(((MainTrain *)ctx)->state, i);\n"
              "}\n\n"
              "/* After a step: 0, or -1 when a trained parameter is not finite (the step\n"
              " * keeps no gradient: a non-finite one left its parameter so). */\n"
              "static int main_train_finite(MainTrain *t)\n"
              "{\n"
              "    int i;\n"
              "    for (i = 0; i < %s_TRAIN_TENSOR_COUNT; i++)\n"
              "        if (%s_train_tensor(i)->kind == 0 &&\n"
              "            cnnc_find_nonfinite(%s_train_data(t->state, i), %s_train_tensor(i)->count) >= 0)\n"
              "            return -1;\n"
              "    return 0;\n"
              "}\n\n"
              "static void main_train_restart(void *ctx)\n"
              "{\n"
              "    %s_train_init(((MainTrain *)ctx)->state);\n"
              "}\n\n",
              P, P, P, P, P, P);
    put_step_eval(e, b, "");
    if (emit_train_cut(e)->cut >= 0)
        put_step_eval(e, b, "_features");
}

/* The model's feature cache for --cache-features, or why it has none. */
static void put_cache(Emit *e, StrBuf *b)
{
    const FeatureCut *fc = emit_train_cut(e);
    if (fc->cut >= 0) {
        sb_printf(b,
                  "    m.feature_size = %s_FEATURE_SIZE;\n"
                  "    m.features = main_train_features;\n"
                  "    m.step_features = main_train_step_features;\n"
                  "    m.eval_features = main_train_eval_features;\n",
                  e->P);
        return;
    }
    sb_puts(b, "    m.no_cache = ");
    put_c_string(b, fc->refusal);
    sb_puts(b, ";\n");
}

void emit_main_train(Emit *e, StrBuf *b)
{
    const char *P = e->P;
    put_runtime(b, cnnc_rt_train_report_h);
    put_runtime(b, cnnc_rt_train_report_c);
    put_runtime(b, cnnc_rt_train_plot_h);
    put_runtime(b, cnnc_rt_train_plot_c);
    put_runtime(b, cnnc_rt_train_loop_h);
    put_runtime(b, cnnc_rt_train_loop_c);
    sb_puts(b, "\n");
    put_adapters(e, b);
    emit_train_frozen_save(e, b);
    sb_printf(b,
              "/* train DATA.npy LABELS.npy [options]: runtime/train_loop.c's command. */\n"
              "static int main_train(int argc, char **argv)\n"
              "{\n"
              "    static const int64_t ishape[] = %s_INPUT_SHAPE;\n"
              "    CnncTensorDesc desc[%s_TRAIN_TENSOR_COUNT + 1], frozen[MAIN_FROZEN_COUNT + 1];\n"
              "    CnncTrainModel m;\n"
              "    CnncTrainOptions o;\n"
              "    MainTrain t;\n"
              "    void *sraw = malloc((size_t)%s_TRAIN_STATE_BYTES + %s_ARENA_ALIGN);\n"
              "    void *araw = malloc((size_t)%s_TRAIN_ARENA_BYTES + %s_ARENA_ALIGN);\n"
              "    int i, rc;\n",
              P, P, P, P, P, P);
    put_runtime_uses(b, cnnc_rt_train_report_h);
    put_runtime_uses(b, cnnc_rt_train_plot_h);
    put_runtime_uses(b, cnnc_rt_train_loop_h);
    sb_printf(b,
              "    if (!sraw || !araw) {\n"
              "        free(sraw);\n"
              "        free(araw);\n"
              "        return main_error(argv[0], \"out of memory\");\n"
              "    }\n"
              "    t.state = (void *)(((uintptr_t)sraw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "    t.arena = (void *)(((uintptr_t)araw + %s_ARENA_ALIGN - 1) & ~(uintptr_t)(%s_ARENA_ALIGN - 1));\n"
              "    %s_train_init(t.state);\n"
              "    for (i = 0; i < %s_TRAIN_TENSOR_COUNT; i++) {\n"
              "        const %s_tensor *d = %s_train_tensor(i);\n"
              "        desc[i].name = d->name;\n"
              "        desc[i].rank = d->rank;\n"
              "        desc[i].shape = d->shape;\n"
              "        desc[i].count = d->count;\n"
              "    }\n"
              "    for (i = 0; i < MAIN_FROZEN_COUNT; i++) {\n"
              "        frozen[i].name = main_frozen_tensors[i].name;\n"
              "        frozen[i].rank = main_frozen_tensors[i].rank;\n"
              "        frozen[i].shape = main_frozen_tensors[i].shape;\n"
              "        frozen[i].count = main_frozen_tensors[i].count;\n"
              "    }\n"
              "    memset(&m, 0, sizeof m);\n"
              "    m.ctx = &t;\n"
              "    m.input_rank = %s_INPUT_RANK;\n"
              "    m.input_shape = ishape;\n"
              "    m.input_size = %s_INPUT_SIZE;\n"
              "    m.classes = %s_OUTPUT_SIZE;\n"
              "    m.batch_max = %s_BATCH_MAX;\n"
              "    m.ntensors = %s_TRAIN_TENSOR_COUNT;\n"
              "    m.tensors = desc;\n"
              "    m.tensor = main_train_tensor;\n"
              "    m.nfrozen = MAIN_FROZEN_COUNT;\n"
              "    m.frozen = frozen;\n"
              "    m.frozen_data = main_train_frozen;\n"
              "    m.step = main_train_step;\n"
              "    m.eval = main_train_eval;\n"
              "    m.restart = main_train_restart;\n",
              P, P, P, P, P, P, P, P, P, P, P, P, P);
    put_cache(e, b);
    put_defaults(e, b);
    sb_puts(b, "    rc = cnnc_train_main(&m, &o, argc, argv);\n"
               "    free(sraw);\n"
               "    free(araw);\n"
               "    return rc;\n"
               "}\n\n");
}
