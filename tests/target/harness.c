/* harness.c: runs a generated model on an emulated Cortex-M.
 * Takes the model (model.h, prefix `model`) and the inputs baked into
 * inputs.h by scripts/target-bench; gives, by semihosting, one line per
 * sample of outputs as the hex bits of each float (exact, no printf), the
 * SysTick ticks of one forward call and the deepest stack that call used. */
#include <stdint.h>

#include "inputs.h"
#include "model.h"
#include "print.h"
#include "probe.h"

#ifndef TARGET_RAM_BYTES
#define TARGET_RAM_BYTES (4u << 20) /* the RAM of every board in boards/ */
#endif

/* The firmware's own guard: a plan that outgrows the RAM stops the build
 * here, with this typedef's name in the message, not in the field. */
typedef char model_arena_fits_ram[(model_ARENA_BYTES <= TARGET_RAM_BYTES) ? 1 : -1];

/* The arena in its own section, so that its size shows in the map and
 * `size -A` agrees with model_ARENA_BYTES exactly. */
static float arena[model_ARENA_BYTES ? (model_ARENA_BYTES + 3) / 4 : 1]
    __attribute__((aligned(model_ARENA_ALIGN), section(".bss.arena")));
static float output[TEST_SAMPLES * model_OUTPUT_SIZE];

int main(void)
{
    int chunk = model_BATCH_MAX < TEST_SAMPLES ? model_BATCH_MAX : TEST_SAMPLES;
    for (int b = 0; b < TEST_SAMPLES; b += chunk) {
        int n = TEST_SAMPLES - b < chunk ? TEST_SAMPLES - b : chunk;
        model_forward(arena, test_input + b * model_INPUT_SIZE, output + b * model_OUTPUT_SIZE, n);
    }
    for (int b = 0; b < TEST_SAMPLES; b++) {
        put_str("out");
        for (int i = 0; i < model_OUTPUT_SIZE; i++) {
            put_char(' ');
            put_hex(float_bits(output[b * model_OUTPUT_SIZE + i]));
        }
        put_char('\n');
        flush();
    }

    /* One more forward on the first sample, timed and with a painted stack. */
    paint_stack();
    uintptr_t sp = stack_pointer();
    timer_start();
    model_forward(arena, test_input, output, 1);
    uint32_t ticks = timer_ticks();
    put_str("ticks ");
    put_dec(ticks);
    put_str("\nstack ");
    put_dec(stack_used(sp));
    put_str("\ndone\n");
    flush();
    return 0;
}
