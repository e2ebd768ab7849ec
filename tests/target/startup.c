/* startup.c: the smallest start-up a Cortex-M needs, for the target tests.
 * Takes the reset; gives main() a C world: .data copied from flash, .bss
 * zeroed, the FPU switched on where the core has one (the generated code
 * uses hard floats there). Any fault ends the run through semihosting
 * with a non-zero status, so a crash is a failed test, never a hang. The
 * SysTick's wraps are counted for probe.h. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

/* In a section of its own: see link.ld. */
__attribute__((section(".probe"))) volatile uint32_t systick_wraps;

int main(void);

/* Written in plain word loops, before the FPU is on: nothing here may
 * touch a floating-point register. */
void reset_handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end)
        *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end; dst++)
        *dst = 0;
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors 10 and 11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    semihost_exit(main());
}

static void fault_handler(void)
{
    semihost_puts("fault: the program took an exception\n");
    semihost_exit(1);
}

static void systick_handler(void)
{
    systick_wraps++;
}

/* The vector table: initial stack pointer, reset, then the fault vectors
 * (NMI, HardFault, MemManage, BusFault, UsageFault, SecureFault), and the
 * SysTick's at 15. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top,
    reset_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    [15] = systick_handler,
};
