/* train_harness.c: one generated training step (--train), on the emulated
 * Cortex-M4F and, compiled natively, on the host.
 * Takes the model (model.h, prefix `model`, built with --train) and the
 * batch and labels baked into inputs.h by run_train.py; gives, one line
 * each, the loss and every tensor of the state's table (parameters and
 * BatchNorm running statistics) after one step from the baked weights,
 * as hex float bits, for SGD (momentum and weight decay) and for Adam
 * (weight decay). On the target also the timer ticks and the deepest stack
 * of each step, and whether the step wrote any byte of flash or of RAM
 * outside the state block and the train arena: it must not. */
#include <stdint.h>

#include "inputs.h"
#include "model.h"
#include "print.h"

/* The two blocks of docs/training.md, each in a section of its own, so the
 * image's map shows them and the RAM check can leave them out. */
static unsigned char state[model_TRAIN_STATE_BYTES]
    __attribute__((aligned(model_ARENA_ALIGN), section(".bss.train_state")));
static unsigned char arena[model_TRAIN_ARENA_BYTES ? model_TRAIN_ARENA_BYTES : 1]
    __attribute__((aligned(model_ARENA_ALIGN), section(".bss.train_arena")));

#ifdef __arm__
#include "probe.h"

extern uint32_t __flash_start[], __flash_end[], __data_start[], __bss_end[];

/* FNV-1a over the words of [from, to), skipping [skip0, skip0 + n0) and
 * [skip1, skip1 + n1). */
static uint32_t hash_words(const uint32_t *from, const uint32_t *to, const void *skip0,
                           uint32_t n0, const void *skip1, uint32_t n1)
{
    uint32_t h = 2166136261u;
    for (const uint32_t *p = from; p < to; p++) {
        const unsigned char *c = (const unsigned char *)p;
        if ((c >= (const unsigned char *)skip0 && c < (const unsigned char *)skip0 + n0) ||
            (c >= (const unsigned char *)skip1 && c < (const unsigned char *)skip1 + n1))
            continue;
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

/* Flash (code, weights, constants) and every static byte of RAM but the
 * two blocks: the harness's own variables do not change during a step. */
static void snapshot(uint32_t *flash, uint32_t *ram)
{
    *flash = hash_words(__flash_start, __flash_end, 0, 0, 0, 0);
    *ram = hash_words(__data_start, __bss_end, state, sizeof state, arena, sizeof arena);
}
#endif

static void set_optimizer(int optimizer)
{
    model_hparams *h = model_train_hparams(state);
    h->optimizer = optimizer;
    h->lr = optimizer == model_OPT_ADAM ? 0.01f : 0.1f;
    h->momentum = optimizer == model_OPT_ADAM ? 0.0f : 0.9f;
    h->weight_decay = 0.01f;
    h->beta1 = 0.9f;
    h->beta2 = 0.999f;
    h->eps = 1e-8f;
}

static void one_step(int optimizer, const char *name)
{
    model_train_init(state);
    set_optimizer(optimizer);
#ifdef __arm__
    uint32_t flash0, ram0, flash1, ram1;
    snapshot(&flash0, &ram0);
    paint_stack();
    uintptr_t sp = stack_pointer();
    timer_start();
#endif
    double loss = model_train_step(state, arena, test_input, test_labels, TEST_SAMPLES);
#ifdef __arm__
    uint32_t ticks = timer_ticks();
    uint32_t stack = stack_used(sp);
    snapshot(&flash1, &ram1);
    put_str(name);
    put_str(" ticks ");
    put_dec(ticks);
    put_str(" stack ");
    put_dec(stack);
    put_str(flash0 == flash1 ? " flash same" : " flash WRITTEN");
    put_str(ram0 == ram1 ? " ram same\n" : " ram WRITTEN\n");
    flush();
#endif
    put_str(name);
    put_str(" loss ");
    put_hex(float_bits((float)loss));
    put_str(" steps ");
    put_dec((uint32_t)model_train_steps(state));
    put_char('\n');
    flush();
    for (int i = 0; i < model_TRAIN_TENSOR_COUNT; i++) {
        const model_tensor *t = model_train_tensor(i);
        const float *data = model_train_data(state, i);
        put_str(name);
        put_str(" tensor ");
        put_str(t->name);
        for (size_t k = 0; k < t->count; k++) {
            put_char(' ');
            put_hex(float_bits(data[k]));
        }
        put_char('\n');
        flush();
    }
}

int main(void)
{
    one_step(model_OPT_SGD, "sgd");
    one_step(model_OPT_ADAM, "adam");
    put_str("done\n");
    flush();
    return 0;
}
