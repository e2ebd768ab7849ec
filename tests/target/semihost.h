/* semihost.h: Arm semihosting, the debugger calls QEMU answers when run
 * with -semihosting-config enable=on. Takes strings and an exit status;
 * gives text on QEMU's standard output and QEMU's own exit status. */
#ifndef SEMIHOST_H
#define SEMIHOST_H

#include <stdint.h>

enum {
    SYS_WRITE0 = 0x04, /* r1: a NUL-terminated string */
    SYS_EXIT = 0x18,   /* r1: a reason code */
    ADP_STOPPED_APPLICATION_EXIT = 0x20026, /* QEMU exits 0 */
    ADP_STOPPED_RUNTIME_ERROR = 0x20023,    /* QEMU exits 1 */
};

static inline uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static inline void semihost_puts(const char *s)
{
    semihost_call(SYS_WRITE0, s);
}

__attribute__((noreturn)) static inline void semihost_exit(int status)
{
    uint32_t reason = status == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR;
    semihost_call(SYS_EXIT, (const void *)(uintptr_t)reason);
    for (;;) /* not reached: QEMU has exited */
        ;
}

#endif
