/* reduce.c — CPU row reductions and row prefix sums (see reduce_rows and cumsum_rows in
 * backend/backend.h).
 *
 * Owns: the accumulation rules. Rows are read in blocks converted to double (floats, and any/all
 * of every dtype) or to int64 (integer sums, products and extremes, exact at any magnitude).
 * Float sums run in double over 8 interleaved lanes combined in a fixed order; integer sums and
 * products wrap in 64 bits. A row longer than REDUCE_CHUNK is cut into fixed chunks that threads
 * reduce independently and that are then combined in chunk order, so a result depends only on
 * the data and N, never on the thread count or schedule. max/min propagate NaN (the first NaN
 * wins and its position is the index); ties keep the first position.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REDUCE_BLOCK 256   /* elements converted at once; a multiple of the 8 sum lanes */
#define REDUCE_CHUNK 32768 /* elements of a row reduced by one task */

/* Converts n elements of a row starting at `lo` to double. */
static void load_doubles(const char *row, rx_dtype dt, int64_t lo, int64_t n, double *buf)
{
    switch (dt) {
    case RX_F32:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const float *)row)[lo + i];
        break;
    case RX_F64: memcpy(buf, (const double *)row + lo, (size_t)n * sizeof(double)); break;
    case RX_F16:
        for (int64_t i = 0; i < n; i++) buf[i] = rx_f16_to_f32(((const uint16_t *)row)[lo + i]);
        break;
    case RX_BF16:
        for (int64_t i = 0; i < n; i++) buf[i] = rx_bf16_to_f32(((const uint16_t *)row)[lo + i]);
        break;
    case RX_I32:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const int32_t *)row)[lo + i];
        break;
    case RX_I64:
        for (int64_t i = 0; i < n; i++) buf[i] = (double)((const int64_t *)row)[lo + i];
        break;
    case RX_U8:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const uint8_t *)row)[lo + i];
        break;
    case RX_BOOL:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const uint8_t *)row)[lo + i] != 0;
        break;
    }
}

/* Converts n elements of an integer or bool row starting at `lo` to int64. */
static void load_ints(const char *row, rx_dtype dt, int64_t lo, int64_t n, int64_t *buf)
{
    switch (dt) {
    case RX_I32:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const int32_t *)row)[lo + i];
        break;
    case RX_I64: memcpy(buf, (const int64_t *)row + lo, (size_t)n * sizeof(int64_t)); break;
    case RX_U8:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const uint8_t *)row)[lo + i];
        break;
    case RX_BOOL:
        for (int64_t i = 0; i < n; i++) buf[i] = ((const uint8_t *)row)[lo + i] != 0;
        break;
    default: break;
    }
}

/* The partial result of a reduction over part of a row. */
typedef struct acc {
    double f;    /* float sum or product; float extreme */
    uint64_t u;  /* integer sum or product, wrapping */
    int64_t i;   /* integer extreme */
    int64_t idx; /* position of the extreme in the row; -1 before the first element */
    bool nan;    /* the float extreme is a NaN */
    bool b;      /* any / all */
} acc;

static acc acc_init(rx_reduce_op op)
{
    acc r = {.idx = -1, .b = op == RX_ALL};
    if (op == RX_PROD) {
        r.f = 1;
        r.u = 1;
    }
    return r;
}

static bool wants_max(rx_reduce_op op) { return op == RX_MAX || op == RX_ARGMAX; }

/* Is candidate (value v at a later position) a strictly better extreme than the current one? */
static inline bool better_f(double v, double best, bool want_max) { return want_max ? v > best : v < best; }

/* Reduces positions [lo, hi) of a row into r (r already holds the positions before lo, if any). */
static void reduce_span(rx_reduce_op op, rx_dtype dt, const char *row, int64_t lo, int64_t hi, acc *r)
{
    bool fl = rx_dtype_is_float(dt);
    double buf[REDUCE_BLOCK];
    int64_t ibuf[REDUCE_BLOCK];
    double lane[8] = {0};
    for (int64_t b = lo; b < hi; b += REDUCE_BLOCK) {
        int64_t n = hi - b < REDUCE_BLOCK ? hi - b : REDUCE_BLOCK;
        switch (op) {
        case RX_SUM:
        case RX_MEAN:
            if (fl) {
                load_doubles(row, dt, b, n, buf);
                int64_t i = 0;
                for (; i + 8 <= n; i += 8)
                    for (int k = 0; k < 8; k++) lane[k] += buf[i + k];
                for (; i < n; i++) lane[i & 7] += buf[i];
            } else {
                load_ints(row, dt, b, n, ibuf);
                uint64_t s = 0;
                for (int64_t i = 0; i < n; i++) s += (uint64_t)ibuf[i];
                r->u += s;
            }
            break;
        case RX_PROD:
            if (fl) {
                load_doubles(row, dt, b, n, buf);
                for (int64_t i = 0; i < n; i++) r->f *= buf[i];
            } else {
                load_ints(row, dt, b, n, ibuf);
                for (int64_t i = 0; i < n; i++) r->u *= (uint64_t)ibuf[i];
            }
            break;
        case RX_MAX:
        case RX_MIN:
        case RX_ARGMAX:
        case RX_ARGMIN: {
            bool mx = wants_max(op);
            if (fl) {
                if (r->nan) return;
                load_doubles(row, dt, b, n, buf);
                for (int64_t i = 0; i < n; i++) {
                    if (isnan(buf[i])) {
                        r->f = buf[i];
                        r->idx = b + i;
                        r->nan = true;
                        return;
                    }
                    if (r->idx < 0 || better_f(buf[i], r->f, mx)) {
                        r->f = buf[i];
                        r->idx = b + i;
                    }
                }
            } else {
                load_ints(row, dt, b, n, ibuf);
                for (int64_t i = 0; i < n; i++)
                    if (r->idx < 0 || (mx ? ibuf[i] > r->i : ibuf[i] < r->i)) {
                        r->i = ibuf[i];
                        r->idx = b + i;
                    }
            }
            break;
        }
        case RX_ANY:
        case RX_ALL:
            load_doubles(row, dt, b, n, buf);
            for (int64_t i = 0; i < n; i++)
                if ((buf[i] != 0) == (op == RX_ANY)) {
                    r->b = op == RX_ANY;
                    return;
                }
            break;
        default: break;
        }
    }
    if (op == RX_SUM || op == RX_MEAN)
        r->f += ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* Folds the partial result of the next chunk of a row into `into` (chunks in row order). */
static void acc_combine(rx_reduce_op op, rx_dtype dt, acc *into, const acc *next)
{
    switch (op) {
    case RX_SUM:
    case RX_MEAN:
        into->f += next->f;
        into->u += next->u;
        break;
    case RX_PROD:
        into->f *= next->f;
        into->u *= next->u;
        break;
    case RX_ANY: into->b = into->b || next->b; break;
    case RX_ALL: into->b = into->b && next->b; break;
    default: {
        bool mx = wants_max(op);
        if (into->nan || next->idx < 0) break;
        bool take = into->idx < 0 || next->nan ||
                    (rx_dtype_is_float(dt) ? better_f(next->f, into->f, mx)
                                           : (mx ? next->i > into->i : next->i < into->i));
        if (take) *into = *next;
        break;
    }
    }
}

/* Writes the result of row m. */
static void acc_finish(rx_reduce_op op, const acc *r, rx_tensor *out, rx_tensor *index, const char *row,
                       int64_t m, int64_t n, rx_dtype in_dt)
{
    char *o = rx_tensor_bytes(out);
    int64_t es = rx_dtype_size(out->dtype);
    switch (op) {
    case RX_SUM:
    case RX_PROD:
        if (out->dtype == RX_I64)
            ((int64_t *)o)[m] = (int64_t)r->u;
        else
            rx_store_double(o + m * es, out->dtype, r->f);
        break;
    case RX_MEAN: rx_store_double(o + m * es, out->dtype, r->f / (double)n); break;
    case RX_MAX:
    case RX_MIN:
        memcpy(o + m * es, row + r->idx * rx_dtype_size(in_dt), (size_t)es);
        if (index) ((int64_t *)rx_tensor_bytes(index))[m] = r->idx;
        break;
    case RX_ARGMAX:
    case RX_ARGMIN: ((int64_t *)o)[m] = r->idx; break;
    case RX_ANY:
    case RX_ALL: ((uint8_t *)o)[m] = r->b; break;
    default: break;
    }
}

rx_status rx_cpu_reduce_rows(rx_reduce_op op, rx_tensor *out, rx_tensor *index, const rx_tensor *a)
{
    int64_t m_rows = a->shape[0], n = a->shape[1];
    rx_dtype dt = a->dtype;
    bool extreme = op == RX_MAX || op == RX_MIN || op == RX_ARGMAX || op == RX_ARGMIN;
    if (extreme && n == 0)
        return rx_fail(RX_ERR_INTERNAL, "cpu reduce: %s over an empty row", rx_reduce_op_name(op));
    const char *base = rx_tensor_bytes(a);
    int64_t row_bytes = n * rx_dtype_size(dt);
    int64_t nchunks = n > REDUCE_CHUNK ? (n + REDUCE_CHUNK - 1) / REDUCE_CHUNK : 1;
    if (nchunks == 1) {
#pragma omp parallel for schedule(static) if (m_rows > 1 && m_rows * n >= RX_PARALLEL_MIN)
        for (int64_t m = 0; m < m_rows; m++) {
            const char *row = base + m * row_bytes;
            acc r = acc_init(op);
            reduce_span(op, dt, row, 0, n, &r);
            acc_finish(op, &r, out, index, row, m, n, dt);
        }
        return RX_OK;
    }
    int64_t ntasks = m_rows * nchunks;
    acc *part = malloc((size_t)ntasks * sizeof *part);
    if (!part)
        return rx_fail(RX_ERR_NOMEM, "cpu reduce: out of host memory for %lld partial results",
                       (long long)ntasks);
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < ntasks; t++) {
        int64_t m = t / nchunks, lo = (t % nchunks) * REDUCE_CHUNK;
        int64_t hi = lo + REDUCE_CHUNK < n ? lo + REDUCE_CHUNK : n;
        part[t] = acc_init(op);
        reduce_span(op, dt, base + m * row_bytes, lo, hi, &part[t]);
    }
#pragma omp parallel for schedule(static) if (m_rows >= 64)
    for (int64_t m = 0; m < m_rows; m++) {
        acc r = part[m * nchunks];
        for (int64_t c = 1; c < nchunks; c++) acc_combine(op, dt, &r, &part[m * nchunks + c]);
        acc_finish(op, &r, out, index, base + m * row_bytes, m, n, dt);
    }
    free(part);
    return RX_OK;
}

rx_status rx_cpu_cumsum_rows(rx_tensor *out, const rx_tensor *a)
{
    int64_t m_rows = a->shape[0], n = a->shape[1];
    rx_dtype dt = a->dtype, odt = out->dtype;
    bool fl = rx_dtype_is_float(dt);
    const char *base = rx_tensor_bytes(a);
    char *obase = rx_tensor_bytes(out);
    int64_t row_bytes = n * rx_dtype_size(dt), orow_bytes = n * rx_dtype_size(odt);
#pragma omp parallel for schedule(static) if (m_rows > 1 && m_rows * n >= RX_PARALLEL_MIN)
    for (int64_t m = 0; m < m_rows; m++) {
        const char *row = base + m * row_bytes;
        char *orow = obase + m * orow_bytes;
        double buf[REDUCE_BLOCK], s = 0;
        int64_t ibuf[REDUCE_BLOCK];
        uint64_t u = 0;
        for (int64_t b = 0; b < n; b += REDUCE_BLOCK) {
            int64_t len = n - b < REDUCE_BLOCK ? n - b : REDUCE_BLOCK;
            if (!fl) {
                load_ints(row, dt, b, len, ibuf);
                for (int64_t i = 0; i < len; i++) {
                    u += (uint64_t)ibuf[i];
                    ((int64_t *)orow)[b + i] = (int64_t)u;
                }
                continue;
            }
            load_doubles(row, dt, b, len, buf);
            switch (odt) {
            case RX_F32:
                for (int64_t i = 0; i < len; i++) ((float *)orow)[b + i] = (float)(s += buf[i]);
                break;
            case RX_F64:
                for (int64_t i = 0; i < len; i++) ((double *)orow)[b + i] = s += buf[i];
                break;
            case RX_F16:
                for (int64_t i = 0; i < len; i++)
                    ((uint16_t *)orow)[b + i] = rx_f32_to_f16((float)(s += buf[i]));
                break;
            default:
                for (int64_t i = 0; i < len; i++)
                    ((uint16_t *)orow)[b + i] = rx_f32_to_bf16((float)(s += buf[i]));
                break;
            }
        }
    }
    return RX_OK;
}
