/* gpu_check.c — see gpu_check.h. */
#include "gpu_check.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static char what_buf[512];

const char *what(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what_buf, sizeof what_buf, fmt, ap);
    va_end(ap);
    return what_buf;
}

bool ok_(const char *file, int line, const char *expr, rx_status s)
{
    if (s == RX_OK) return true;
    check_fail(file, line, "%s -> %s: %s", expr, rx_status_name(s), rx_last_error());
    return false;
}

void rel(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) rx_tensor_release(va_arg(ap, rx_tensor *));
    va_end(ap);
}

rx_tensor *to_dev(rx_tensor *t, rx_device d)
{
    rx_tensor *o = NULL;
    if (t && rx_to_device(t, d, &o) != RX_OK)
        check_fail(__FILE__, __LINE__, "to %s: %s", d.type == RX_CPU ? "cpu" : "cuda", rx_last_error());
    return o;
}

void poison(int64_t nbytes)
{
    rx_tensor *t[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++)
        if (rx_empty(1, &nbytes, RX_U8, GPU, &t[i]) == RX_OK) rx_fill_(t[i], 255);
    rel(2, t[0], t[1]);
}

bool gpu_selected(const char *name)
{
    const char *only = getenv("RECX_GPU_TEST_ONLY");
    if (!only || !*only) return true;
    size_t n = strlen(name);
    for (const char *p = strstr(only, name); p; p = strstr(p + 1, name))
        if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return true;
    return false;
}
