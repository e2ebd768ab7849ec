/* probe.h: what the target harnesses measure around a call on the
 * emulated Cortex-M4F: the CMSDK timer's ticks and the deepest stack.
 * Takes the linker script's __stack_limit; gives timer_start/timer_ticks and
 * paint_stack/stack_used. Target only. */
#ifndef PROBE_H
#define PROBE_H

#include <stdint.h>

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

static uint32_t timer_ticks(void)
{
    return 0xFFFFFFFFu - TIMER0_VALUE;
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

/* The bytes below `sp` written since paint_stack. */
static uint32_t stack_used(uintptr_t sp)
{
    uint32_t *p = __stack_limit;
    while (*p == STACK_PAINT)
        p++;
    return (uint32_t)(sp - (uintptr_t)p);
}

#endif
