/* harness.c: runs a generated model on the emulated Cortex-M4F.
 * Takes the model (model.h, prefix `model`) and the test inputs baked into
 * inputs.h by run_target.py; gives, by semihosting, one line per sample of
 * outputs as the hex bits of each float (exact, no printf), the timer
 * ticks of one forward call and the deepest stack that call used. */
#include <stdint.h>

#include "inputs.h"
#include "model.h"
#include "semihost.h"

#ifndef TARGET_RAM_BYTES
#define TARGET_RAM_BYTES (4u << 20) /* mps2-an386's SSRAM2&3 */
#endif

/* The firmware's own guard: a plan that outgrows the RAM stops the build
 * here, with this typedef's name in the message, not in the field. */
typedef char model_arena_fits_ram[(model_ARENA_BYTES <= TARGET_RAM_BYTES) ? 1 : -1];

/* The arena in its own section, so that its size shows in the map and
 * `size -A` agrees with model_ARENA_BYTES exactly. */
static float arena[model_ARENA_BYTES ? (model_ARENA_BYTES + 3) / 4 : 1]
    __attribute__((aligned(model_ARENA_ALIGN), section(".bss.arena")));
static float output[TEST_SAMPLES * model_OUTPUT_SIZE];

/* ---- text out, a line at a time ---- */

static char line[128];
static int line_len;

static void flush(void)
{
    line[line_len] = '\0';
    semihost_puts(line);
    line_len = 0;
}

static void put_char(char c)
{
    line[line_len++] = c;
    if (line_len == (int)sizeof line - 1)
        flush();
}

static void put_str(const char *s)
{
    while (*s)
        put_char(*s++);
}

static void put_hex(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4)
        put_char("0123456789abcdef"[(v >> shift) & 15]);
}

static void put_dec(uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put_char(digits[--n]);
}

static uint32_t float_bits(float f)
{
    union {
        float f;
        uint32_t u;
    } u = {f};
    return u.u;
}

/* ---- the CMSDK APB timer 0: a 32-bit down-counter at 25 MHz ---- */

#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008)

static void timer_start(void)
{
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1;
}

/* ---- stack high-water mark ---- */

#define STACK_PAINT 0xA5A5A5A5u
extern uint32_t __stack_limit[];

static inline uintptr_t stack_pointer(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

/* Paints the free stack below this function's frame (with a margin). */
__attribute__((noinline)) static void paint_stack(void)
{
    uint32_t *p = __stack_limit, *end = (uint32_t *)(stack_pointer() - 64);
    while (p < end)
        *p++ = STACK_PAINT;
}

/* The lowest stack address written since paint_stack. */
static uintptr_t stack_low_water(void)
{
    uint32_t *p = __stack_limit;
    while (*p == STACK_PAINT)
        p++;
    return (uintptr_t)p;
}

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
    uint32_t ticks = 0xFFFFFFFFu - TIMER0_VALUE;
    put_str("ticks ");
    put_dec(ticks);
    put_str("\nstack ");
    put_dec((uint32_t)(sp - stack_low_water()));
    put_str("\ndone\n");
    flush();
    return 0;
}
