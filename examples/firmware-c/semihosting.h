/* Arm semihosting, as QEMU implements it with -semihosting-config enable=on. */
#ifndef FIRMWARE_SEMIHOSTING_H
#define FIRMWARE_SEMIHOSTING_H

#include <stdint.h>

static inline uint32_t semihosting_call(uint32_t op, uint32_t arg) {
    register uint32_t r0 __asm__("r0") = op;
    register uint32_t r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Prints a NUL-terminated string on the host (QEMU's stderr). */
static inline void semihosting_print(const char *text) {
    semihosting_call(0x04 /* SYS_WRITE0 */, (uint32_t)text);
}

/* Ends the emulation: QEMU exits with 0 when ok, 1 otherwise. */
__attribute__((noreturn)) static inline void semihosting_exit(int ok) {
    semihosting_call(0x18 /* SYS_EXIT */, ok ? 0x20026u /* ApplicationExit */
                                             : 0x20023u /* RunTimeErrorUnknown */);
    for (;;) {
    }
}

#endif
