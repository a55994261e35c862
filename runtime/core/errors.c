/* errors.c — status codes and the per-thread error message.
 *
 * Owns: rx_fail (set a message and return a status), message context prefixes, rx_last_error,
 * and the interrupt flag that signal handlers raise and long-running ops poll.
 */
#include "core.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char rx_error_message[1024];
static volatile sig_atomic_t rx_interrupt_flag;

rx_status rx_fail(rx_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rx_error_message, sizeof rx_error_message, fmt, ap);
    va_end(ap);
    return status;
}

rx_status rx_fail_context(rx_status status, const char *fmt, ...)
{
    char prefix[256];
    char old[sizeof rx_error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, rx_error_message, sizeof old);
    snprintf(rx_error_message, sizeof rx_error_message, "%s: %s", prefix, old);
    return status;
}

const char *rx_last_error(void) { return rx_error_message; }

void rx_clear_error(void) { rx_error_message[0] = '\0'; }

const char *rx_status_name(rx_status status)
{
    switch (status) {
    case RX_OK: return "ok";
    case RX_ERR_ARG: return "bad argument";
    case RX_ERR_SHAPE: return "shape mismatch";
    case RX_ERR_DTYPE: return "dtype error";
    case RX_ERR_DEVICE: return "device error";
    case RX_ERR_NOMEM: return "out of memory";
    case RX_ERR_IO: return "i/o error";
    case RX_ERR_FORMAT: return "bad format";
    case RX_ERR_UNSUPPORTED: return "unsupported";
    case RX_ERR_INTERRUPTED: return "interrupted";
    case RX_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void rx_interrupt_request(void) { rx_interrupt_flag = 1; }
void rx_interrupt_clear(void) { rx_interrupt_flag = 0; }
int rx_interrupt_pending(void) { return rx_interrupt_flag != 0; }

rx_status rx_poll_interrupt(const char *op)
{
    if (!rx_interrupt_flag) return RX_OK;
    rx_interrupt_flag = 0;
    return rx_fail(RX_ERR_INTERRUPTED, "%s: interrupted", op);
}
