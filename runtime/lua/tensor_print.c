/* tensor_print.c — tensors as Lua values and text: item(), tolist(), and __tostring.
 *
 * Owns: reading elements into Lua (integers for integer dtypes, floats for float dtypes,
 * booleans for bool) and the PyTorch-style text form:
 *   tensor([[1., 2., 3.],
 *           [4., 5., 6.]])
 * Floats print with 4 decimals unless all values are integral ("1."), in scientific notation
 * when the magnitudes demand it (max/min > 1000, max > 1e8, or min < 1e-4); integers plainly;
 * bools as True/False. Every element of one tensor has the width of the widest. Vectors wrap at
 * 80 columns; tensors over 1000 elements show the first and last 3 entries of each dim around
 * "...". Suffixes: `device='cuda:0'` off the CPU, `dtype=bf16` for dtypes other than f32, i64
 * and bool, and for empty tensors `size=(0, 3)` (dims other than 1) and any dtype but f32.
 */
#include "recx_lua.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LINE_WIDTH 80
#define EDGE_ITEMS 3
#define SUMMARY_THRESHOLD 1000

enum { KIND_FLOAT, KIND_INT, KIND_BOOL };

/* Element access on a CPU tensor whose dtype is f32, f64, i32, i64, u8 or bool. */
typedef struct reader {
    const char *base; /* element 0 */
    rx_dtype dtype;
    int64_t esize;
    int ndim;
    const int64_t *shape;
    const int64_t *stride;
    int kind;
} reader;

/* Fills `slot` (a Lua-owned box) with t itself (retained) when a reader can read it, else with a
 * CPU copy (f16 and bf16 widened to f32, exactly). */
static rx_status host_readable(rx_tensor *t, rx_tensor **slot)
{
    rx_tensor *cpu = NULL;
    rx_status st = rx_to_device(t, rx_cpu(), &cpu);
    if (st != RX_OK) return st;
    rx_dtype d = rx_tensor_dtype(cpu);
    if (d == RX_F16 || d == RX_BF16) {
        st = rx_to_dtype(cpu, RX_F32, slot);
        rx_tensor_release(cpu);
        return st;
    }
    *slot = cpu;
    return RX_OK;
}

static void reader_init(reader *r, rx_tensor *h)
{
    r->base = rx_tensor_data_ptr(h);
    r->dtype = rx_tensor_dtype(h);
    r->esize = rx_dtype_size(r->dtype);
    r->ndim = rx_tensor_ndim(h);
    r->shape = rx_tensor_shape_ptr(h);
    r->stride = rx_tensor_strides_ptr(h);
    r->kind = (r->dtype == RX_F32 || r->dtype == RX_F64) ? KIND_FLOAT : r->dtype == RX_BOOL ? KIND_BOOL : KIND_INT;
}

static double read_float(const reader *r, int64_t off)
{
    const char *p = r->base + off * r->esize;
    if (r->dtype == RX_F64) {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    float v;
    memcpy(&v, p, 4);
    return v;
}

static int64_t read_int(const reader *r, int64_t off)
{
    const char *p = r->base + off * r->esize;
    switch (r->dtype) {
    case RX_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    case RX_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case RX_U8: return *(const uint8_t *)p;
    case RX_BOOL: return *(const uint8_t *)p != 0;
    default: return (int64_t)read_float(r, off);
    }
}

/* Float values that are whole numbers (|v| <= 2^53, not -0) come back as Lua integers, as in
 * torch7 where every number printed plainly: t:sum():item() prints 6, not 6.0. Arithmetic is
 * unaffected (Lua converts as needed). */
static void push_float(lua_State *L, double v)
{
    if (v == floor(v) && fabs(v) <= 9007199254740992.0 && !(v == 0 && signbit(v)))
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
}

static void push_element(lua_State *L, const reader *r, int64_t off)
{
    if (r->kind == KIND_FLOAT) push_float(L, read_float(r, off));
    else if (r->kind == KIND_BOOL) lua_pushboolean(L, read_int(r, off) != 0);
    else lua_pushinteger(L, read_int(r, off));
}

/* Pushes a host-readable copy of the tensor at idx (in a Lua-owned box) and inits r. */
static void push_readable(lua_State *L, int idx, reader *r)
{
    rx_tensor *t = rxl_check_tensor(L, idx);
    rx_tensor **slot = rxl_push_slot(L);
    rxl_check_status(L, host_readable(t, slot));
    reader_init(r, *slot);
}

/* Releases the box on top of the stack now instead of at the next collection. */
static void release_top(lua_State *L)
{
    rx_tensor **slot = lua_touserdata(L, -1);
    rx_tensor *t = *slot;
    *slot = NULL;
    rx_tensor_release(t);
}

/* ---- item, tolist ------------------------------------------------------------------------ */

static int print_item(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    if (rx_tensor_numel(t) != 1) {
        char buf[160];
        size_t k = (size_t)snprintf(buf, sizeof buf, "(");
        for (int i = 0; i < rx_tensor_ndim(t); i++)
            k += (size_t)snprintf(buf + k, sizeof buf - k, i ? ", %lld" : "%lld", (long long)rx_tensor_shape_ptr(t)[i]);
        snprintf(buf + k, sizeof buf - k, ")");
        return rxl_arg_error(L, 1, "expected a tensor with one element, got shape %s", buf);
    }
    reader r;
    push_readable(L, 1, &r);
    push_element(L, &r, 0);
    lua_insert(L, -2);
    release_top(L);
    lua_pop(L, 1);
    return 1;
}

static void push_list(lua_State *L, const reader *r, int level, int64_t off)
{
    if (level == r->ndim) {
        push_element(L, r, off);
        return;
    }
    luaL_checkstack(L, 4, "tolist: nested too deep");
    int64_t n = r->shape[level];
    lua_createtable(L, n > 0x7fffffff ? 0 : (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        push_list(L, r, level + 1, off + i * r->stride[level]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/* tolist() -> nested tables (a plain value for a 0-d tensor) */
static int print_tolist(lua_State *L)
{
    reader r;
    push_readable(L, 1, &r);
    push_list(L, &r, 0, 0);
    lua_insert(L, -2);
    release_top(L);
    lua_pop(L, 1);
    return 1;
}

/* ---- text -------------------------------------------------------------------------------- */

typedef struct formatter {
    int int_mode;
    int sci_mode;
    int width;
    /* scan state (floats) */
    int any;
    double min_abs, max_abs;
} formatter;

typedef struct printer {
    reader r;
    int summarize;
    formatter f;
} printer;

typedef void (*visit_fn)(printer *p, int64_t off);

/* Calls fn on every element that the text shows, in order. */
static void visit(printer *p, int level, int64_t off, visit_fn fn)
{
    if (level == p->r.ndim) {
        fn(p, off);
        return;
    }
    int64_t n = p->r.shape[level], stride = p->r.stride[level];
    int skip = p->summarize && n > 2 * EDGE_ITEMS;
    for (int64_t i = 0; i < n; i++) {
        if (skip && i == EDGE_ITEMS) i = n - EDGE_ITEMS;
        visit(p, level + 1, off + i * stride, fn);
    }
}

static int format_value(const printer *p, int64_t off, char *buf, size_t size)
{
    const reader *r = &p->r;
    if (r->kind == KIND_BOOL) return snprintf(buf, size, "%s", read_int(r, off) ? "True" : "False");
    if (r->kind == KIND_INT) return snprintf(buf, size, "%lld", (long long)read_int(r, off));
    double v = read_float(r, off);
    if (isnan(v)) return snprintf(buf, size, "nan");
    if (isinf(v)) return snprintf(buf, size, v > 0 ? "inf" : "-inf");
    if (p->f.sci_mode) return snprintf(buf, size, "%.4e", v);
    if (p->f.int_mode) return snprintf(buf, size, "%.0f.", v);
    return snprintf(buf, size, "%.4f", v);
}

static void scan_range(printer *p, int64_t off)
{
    double v = read_float(&p->r, off);
    if (!isfinite(v) || v == 0) return;
    double a = fabs(v);
    if (!p->f.any || a < p->f.min_abs) p->f.min_abs = a;
    if (!p->f.any || a > p->f.max_abs) p->f.max_abs = a;
    p->f.any = 1;
    if (v != ceil(v)) p->f.int_mode = 0;
}

static void scan_width(printer *p, int64_t off)
{
    if (p->r.kind == KIND_FLOAT) {
        double v = read_float(&p->r, off);
        if (!isfinite(v) || v == 0) return; /* widths come from the non-zero finite values */
    }
    char buf[64];
    int n = format_value(p, off, buf, sizeof buf);
    if (n > p->f.width) p->f.width = n;
}

static void formatter_init(printer *p)
{
    p->f.int_mode = 1;
    p->f.sci_mode = 0;
    p->f.width = 1;
    p->f.any = 0;
    if (p->r.kind == KIND_FLOAT) {
        visit(p, 0, 0, scan_range);
        if (p->f.any) {
            int wide = p->f.max_abs / p->f.min_abs > 1000.0 || p->f.max_abs > 1.0e8;
            p->f.sci_mode = p->f.int_mode ? wide : (wide || p->f.min_abs < 1.0e-4);
        }
    }
    visit(p, 0, 0, scan_width);
}

static void add_spaces(luaL_Buffer *b, int n)
{
    for (int i = 0; i < n; i++) luaL_addchar(b, ' ');
}

static void add_value(luaL_Buffer *b, const printer *p, int64_t off)
{
    char buf[64];
    int n = format_value(p, off, buf, sizeof buf);
    add_spaces(b, p->f.width - n);
    luaL_addlstring(b, buf, (size_t)n);
}

static void render(luaL_Buffer *b, const printer *p, int level, int64_t off, int indent)
{
    const reader *r = &p->r;
    if (r->ndim == 0) {
        add_value(b, p, off);
        return;
    }
    int64_t n = r->shape[level], stride = r->stride[level];
    int skip = p->summarize && n > 2 * EDGE_ITEMS;
    luaL_addchar(b, '[');
    if (level == r->ndim - 1) {
        int64_t per_line = (LINE_WIDTH - indent) / (p->f.width + 2);
        if (per_line < 1) per_line = 1;
        int64_t item = 0; /* position in the printed list, "..." included */
        for (int64_t i = 0; i < n; i++, item++) {
            if (item > 0) {
                if (item % per_line == 0) {
                    luaL_addstring(b, ",\n");
                    add_spaces(b, indent + 1);
                } else {
                    luaL_addstring(b, ", ");
                }
            }
            if (skip && i == EDGE_ITEMS) {
                luaL_addstring(b, " ...");
                i = n - EDGE_ITEMS - 1;
                continue;
            }
            add_value(b, p, off + i * stride);
        }
    } else {
        int newlines = r->ndim - level - 1;
        for (int64_t i = 0; i < n; i++) {
            if (i > 0) {
                luaL_addchar(b, ',');
                for (int k = 0; k < newlines; k++) luaL_addchar(b, '\n');
                add_spaces(b, indent + 1);
            }
            if (skip && i == EDGE_ITEMS) {
                luaL_addstring(b, "...");
                i = n - EDGE_ITEMS - 1;
                continue;
            }
            render(b, p, level + 1, off + i * stride, indent + 1);
        }
    }
    luaL_addchar(b, ']');
}

/* Appends ", suffix" or ",\n       suffix" when the line would pass 80 columns (as PyTorch). */
static void add_suffix(luaL_Buffer *b, const char *suffix, int indent)
{
    const char *s = luaL_buffaddr(b);
    size_t len = luaL_bufflen(b);
    long nl = -1;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == '\n') {
            nl = (long)(i - 1);
            break;
        }
    long last_line_len = (long)len - nl + 1;
    if (last_line_len + (long)strlen(suffix) + 2 > LINE_WIDTH) {
        luaL_addstring(b, ",\n");
        add_spaces(b, indent);
    } else {
        luaL_addstring(b, ", ");
    }
    luaL_addstring(b, suffix);
}

int rxl_tensor_tostring(lua_State *L)
{
    rx_tensor *t = rxl_check_tensor(L, 1);
    rx_dtype dtype = rx_tensor_dtype(t);
    rx_device device = rx_tensor_device(t);
    int ndim = rx_tensor_ndim(t);
    int64_t numel = rx_tensor_numel(t);
    printer p;
    memset(&p, 0, sizeof p);
    push_readable(L, 1, &p.r);
    p.summarize = numel > SUMMARY_THRESHOLD;
    if (numel > 0) formatter_init(&p);

    const char *prefix = "tensor(";
    int indent = (int)strlen(prefix);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, prefix);
    char suffix[160];
    if (numel == 0) luaL_addstring(&b, "[]");
    else render(&b, &p, 0, 0, indent);
    if (device.type != RX_CPU) {
        snprintf(suffix, sizeof suffix, "device='cuda:%d'", device.index);
        add_suffix(&b, suffix, indent);
    }
    if (numel == 0) {
        if (ndim != 1) {
            size_t k = (size_t)snprintf(suffix, sizeof suffix, "size=(");
            for (int i = 0; i < ndim; i++)
                k += (size_t)snprintf(suffix + k, sizeof suffix - k, i ? ", %lld" : "%lld",
                                      (long long)rx_tensor_shape_ptr(t)[i]);
            snprintf(suffix + k, sizeof suffix - k, ")");
            add_suffix(&b, suffix, indent);
        }
        if (dtype != RX_F32) {
            snprintf(suffix, sizeof suffix, "dtype=%s", rx_dtype_name(dtype));
            add_suffix(&b, suffix, indent);
        }
    } else if (dtype != RX_F32 && dtype != RX_I64 && dtype != RX_BOOL) {
        snprintf(suffix, sizeof suffix, "dtype=%s", rx_dtype_name(dtype));
        add_suffix(&b, suffix, indent);
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    lua_insert(L, -2);
    release_top(L);
    lua_pop(L, 1);
    return 1;
}

const luaL_Reg rxl_print_methods[] = {
    {"item", print_item},
    {"tolist", print_tolist},
    {"tostring", rxl_tensor_tostring},
    {NULL, NULL},
};
