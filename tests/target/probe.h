/* probe.h: what the target harnesses measure around a call on an emulated
 * Cortex-M: the SysTick's ticks and the deepest stack.
 * Takes the linker script's __stack_limit and startup.c's count of SysTick
 * wraps; gives timer_start/timer_ticks and paint_stack/stack_used. The
 * SysTick is in every Cortex-M core at the same address, so one harness
 * serves every board; it counts the processor clock, which QEMU derives
 * from its virtual clock: under -icount shift=0 one instruction is one
 * nanosecond, so the board's clock gives instructions per tick (target-bench
 * knows each board's). Target only. */
#ifndef PROBE_H
#define PROBE_H

#include <stdint.h>

/* ---- SysTick: a 24-bit down-counter; startup.c counts its wraps ---- */

#define SYST_CSR (*(volatile uint32_t *)0xE000E010)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018)
enum { SYST_ENABLE = 1, SYST_TICKINT = 2, SYST_CLKSOURCE_CPU = 4, SYST_PERIOD = 1 << 24 };

extern volatile uint32_t systick_wraps;

static void timer_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = SYST_PERIOD - 1;
    SYST_CVR = 0; /* any write clears it: counting starts from the reload */
    systick_wraps = 0;
    SYST_CSR = SYST_ENABLE | SYST_TICKINT | SYST_CLKSOURCE_CPU;
}

/* The ticks since timer_start: stops the counter first, and lets a wrap
 * that is pending be counted, so the two parts agree. */
static uint32_t timer_ticks(void)
{
    SYST_CSR = SYST_TICKINT | SYST_CLKSOURCE_CPU;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    uint32_t left = SYST_CVR;
    return systick_wraps * (uint32_t)SYST_PERIOD + (SYST_PERIOD - 1 - left);
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
