/* Polled transmit driver for the Arm CMSDK APB UART (UART0 of mps2-an386). */
#ifndef FIRMWARE_UART_H
#define FIRMWARE_UART_H

#include <stddef.h>
#include <stdint.h>

#define UART0_BASE 0x40004000u

void uart_init(uintptr_t base);
void uart_write(uintptr_t base, const uint8_t *bytes, size_t len);
/* Waits until the last byte has left the transmit buffer. */
void uart_flush(uintptr_t base);

#endif
