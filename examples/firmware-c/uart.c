#include "uart.h"

typedef struct {
    volatile uint32_t data;
    volatile uint32_t state;
    volatile uint32_t ctrl;
    volatile uint32_t int_status;
    volatile uint32_t baud_div;
} cmsdk_uart;

#define STATE_TX_FULL 1u
#define CTRL_TX_ENABLE 1u
#define MIN_BAUD_DIV 16u /* the smallest the UART accepts; QEMU ignores the rate */

void uart_init(uintptr_t base) {
    cmsdk_uart *u = (cmsdk_uart *)base;
    u->baud_div = MIN_BAUD_DIV;
    u->ctrl = CTRL_TX_ENABLE;
}

void uart_write(uintptr_t base, const uint8_t *bytes, size_t len) {
    cmsdk_uart *u = (cmsdk_uart *)base;
    for (size_t i = 0; i < len; i++) {
        while (u->state & STATE_TX_FULL) {
        }
        u->data = bytes[i];
    }
}

void uart_flush(uintptr_t base) {
    const cmsdk_uart *u = (const cmsdk_uart *)base;
    while (u->state & STATE_TX_FULL) {
    }
}
