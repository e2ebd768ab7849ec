/* board.c: the transfer example's firmware, for a Cortex-M4F (QEMU's
 * mps2-an386 in run_board.py) and, compiled natively, for the host.
 * Takes transfer.h (transfer.cnn built with --train --name transfer: the
 * frozen backbone, the new head, the training step) and samples.h
 * (run_board.py: the digits 5-9 in flash, a training and a validation
 * part); gives, through semihosting (stdout on the host), one line per
 * epoch and last `val_accuracy: X` of the trained head on the validation
 * samples; on the board, before it, the instructions a training step took
 * per sample (the SysTick under QEMU's -icount shift=0: tests/target/probe.h).
 * Everything is static: no heap, no printf (tests/target/print.h). */
#include <stdint.h>
#include <string.h>

#include "print.h"
#include "samples.h"
#include "transfer.h"
#if defined(__arm__)
#include "probe.h"
/* mps2-an386's 25 MHz: 40 instructions a tick under -icount shift=0. */
#define INSTRUCTIONS_PER_TICK 40
static uint64_t step_ticks; /* in transfer_train_step, over the run */
#endif

/* docs/training.md's two blocks, in sections of their own (the map shows them). */
static unsigned char state[transfer_TRAIN_STATE_BYTES]
    __attribute__((aligned(transfer_ARENA_ALIGN), section(".bss.train_state")));
static unsigned char arena[transfer_TRAIN_ARENA_BYTES]
    __attribute__((aligned(transfer_ARENA_ALIGN), section(".bss.train_arena")));

#define BATCH transfer_BATCH_MAX
static float batch_x[BATCH * transfer_INPUT_SIZE];
static int32_t batch_y[BATCH];
static float scores[BATCH * transfer_OUTPUT_SIZE];
static uint16_t order[TRAIN_SAMPLES];

/* xorshift32: the epochs' sample order (any fair shuffle does). */
static uint32_t next_random(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void shuffle(uint32_t *seed)
{
    for (int i = TRAIN_SAMPLES - 1; i > 0; i--) {
        int j = (int)(next_random(seed) % (uint32_t)(i + 1));
        uint16_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* One pass over the training part in shuffled batches; the mean loss. */
static float train_epoch(uint32_t *seed)
{
    double sum = 0;
    shuffle(seed);
    for (int at = 0; at < TRAIN_SAMPLES; at += BATCH) {
        int n = TRAIN_SAMPLES - at < BATCH ? TRAIN_SAMPLES - at : BATCH;
        for (int i = 0; i < n; i++) {
            memcpy(batch_x + i * transfer_INPUT_SIZE, train_x[order[at + i]],
                   sizeof train_x[0]);
            batch_y[i] = train_y[order[at + i]];
        }
#if defined(__arm__)
        timer_start();
#endif
        sum += transfer_train_step(state, arena, batch_x, batch_y, n) * n;
#if defined(__arm__)
        step_ticks += timer_ticks();
#endif
    }
    return (float)(sum / TRAIN_SAMPLES);
}

/* Validation samples the state's weights classify right. */
static int correct(void)
{
    int right = 0;
    for (int at = 0; at < VAL_SAMPLES; at += BATCH) {
        int n = VAL_SAMPLES - at < BATCH ? VAL_SAMPLES - at : BATCH;
        transfer_train_forward(state, arena, val_x[at], scores, n);
        for (int i = 0; i < n; i++) {
            const float *s = scores + i * transfer_OUTPUT_SIZE;
            int best = 0;
            for (int k = 1; k < transfer_OUTPUT_SIZE; k++)
                best = s[k] > s[best] ? k : best;
            right += best == val_y[at + i];
        }
    }
    return right;
}

/* "0.9777": num / den with four decimals, without printf. */
static void put_fraction(int num, int den)
{
    uint32_t x = (uint32_t)(((int64_t)num * 10000 + den / 2) / den);
    put_dec(x / 10000);
    put_char('.');
    for (uint32_t d = 1000; d; d /= 10)
        put_char((char)('0' + x / d % 10));
}

int main(void)
{
    transfer_train_init(state);
    for (int i = 0; i < TRAIN_SAMPLES; i++)
        order[i] = (uint16_t)i;
    uint32_t seed = 2463534242u;
    int right = 0;
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        float loss = train_epoch(&seed);
        right = correct();
        put_str("epoch ");
        put_dec((uint32_t)epoch);
        put_str(" loss ");
        put_fraction((int)(loss * 10000), 10000);
        put_str(" val ");
        put_dec((uint32_t)right);
        put_char('/');
        put_dec(VAL_SAMPLES);
        put_char('\n');
        flush();
    }
#if defined(__arm__)
    put_str("train_step: ");
    put_dec((uint32_t)(step_ticks * INSTRUCTIONS_PER_TICK / ((uint64_t)EPOCHS * TRAIN_SAMPLES)));
    put_str(" instructions a sample\n");
#endif
    put_str("val_accuracy: ");
    put_fraction(right, VAL_SAMPLES);
    put_char('\n');
    flush();
    return 0;
}
