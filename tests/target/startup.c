/* startup.c: the smallest start-up a Cortex-M4F needs, for the target test.
 * Takes the reset; gives main() a C world: .data copied from flash, .bss
 * zeroed, the FPU switched on (the generated code uses hard floats). Any
 * fault ends the run through semihosting with a non-zero status, so a
 * crash is a failed test, never a hang. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

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
    /* CPACR: full access to coprocessors 10 and 11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    semihost_exit(main());
}

static void fault_handler(void)
{
    semihost_puts("fault: the program took an exception\n");
    semihost_exit(1);
}

/* The vector table: initial stack pointer, reset, then the fault vectors
 * (NMI, HardFault, MemManage, BusFault, UsageFault). */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))__stack_top,
    reset_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
};
