/* sort.c — CPU stable sort and top-k along rows (see sort_rows in backend/backend.h).
 *
 * Owns: the order. Every element becomes a (key, position) pair whose unsigned 64-bit key orders
 * like the value: floats by their bits (negatives flipped, -0 as +0, every NaN above +inf),
 * integers with the sign bit flipped; descending order complements the key. Pairs compare by key
 * and then by position, so equal values keep their input order in both directions (a stable
 * sort) and top-k breaks ties by the lower index. A full sort is a bottom-up merge sort; top-k
 * with k much smaller than N keeps the k best pairs in a bounded max-heap in one pass and then
 * sorts those. Outputs are contiguous (M, k') with k' >= k (only the first k columns are
 * written); values are copied bit for bit from the input. Rows run in parallel.
 */
#include "cpu_kernels.h"
#include "strided.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SORT_RUN 32 /* runs sorted by insertion before merging */

typedef struct pair {
    uint64_t key;
    int64_t idx;
} pair;

static inline bool pair_less(pair a, pair b) { return a.key < b.key || (a.key == b.key && a.idx < b.idx); }

static inline uint64_t key_of_double(double v)
{
    if (isnan(v)) return UINT64_MAX;
    if (v == 0) v = 0.0; /* -0 sorts equal to +0 */
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b >> 63) ? ~b : b | (1ull << 63);
}

/* Keys of n elements of a row starting at lo; `flip` complements them (descending). */
static void load_keys(const char *row, rx_dtype dt, int64_t lo, int64_t n, uint64_t flip, uint64_t *keys)
{
    const uint64_t sign = 1ull << 63;
    switch (dt) {
    case RX_F32:
        for (int64_t i = 0; i < n; i++) keys[i] = key_of_double(((const float *)row)[lo + i]) ^ flip;
        break;
    case RX_F64:
        for (int64_t i = 0; i < n; i++) keys[i] = key_of_double(((const double *)row)[lo + i]) ^ flip;
        break;
    case RX_F16:
        for (int64_t i = 0; i < n; i++)
            keys[i] = key_of_double(rx_f16_to_f32(((const uint16_t *)row)[lo + i])) ^ flip;
        break;
    case RX_BF16:
        for (int64_t i = 0; i < n; i++)
            keys[i] = key_of_double(rx_bf16_to_f32(((const uint16_t *)row)[lo + i])) ^ flip;
        break;
    case RX_I32:
        for (int64_t i = 0; i < n; i++)
            keys[i] = ((uint64_t)(int64_t)((const int32_t *)row)[lo + i] ^ sign) ^ flip;
        break;
    case RX_I64:
        for (int64_t i = 0; i < n; i++) keys[i] = ((uint64_t)((const int64_t *)row)[lo + i] ^ sign) ^ flip;
        break;
    case RX_U8:
        for (int64_t i = 0; i < n; i++) keys[i] = (uint64_t)((const uint8_t *)row)[lo + i] ^ flip;
        break;
    case RX_BOOL:
        for (int64_t i = 0; i < n; i++) keys[i] = (uint64_t)(((const uint8_t *)row)[lo + i] != 0) ^ flip;
        break;
    }
}

/* Sorts a[0..n) by pair_less using tmp (n pairs) as scratch. */
static void merge_sort(pair *a, pair *tmp, int64_t n)
{
    for (int64_t lo = 0; lo < n; lo += SORT_RUN) {
        int64_t hi = lo + SORT_RUN < n ? lo + SORT_RUN : n;
        for (int64_t i = lo + 1; i < hi; i++) {
            pair p = a[i];
            int64_t j = i;
            for (; j > lo && pair_less(p, a[j - 1]); j--) a[j] = a[j - 1];
            a[j] = p;
        }
    }
    pair *src = a, *dst = tmp;
    for (int64_t w = SORT_RUN; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = pair_less(src[j], src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        pair *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, (size_t)n * sizeof *a);
}

/* Restores the max-heap property (by pair_less) below position i of h[0..k). */
static void sift_down(pair *h, int64_t k, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, top = i;
        if (l < k && pair_less(h[top], h[l])) top = l;
        if (r < k && pair_less(h[top], h[r])) top = r;
        if (top == i) return;
        pair t = h[i];
        h[i] = h[top];
        h[top] = t;
        i = top;
    }
}

/* The k smallest pairs of a row (k < n), unordered, into h[0..k). */
static void select_k(const char *row, rx_dtype dt, int64_t n, int64_t k, uint64_t flip, pair *h)
{
    uint64_t keys[256];
    for (int64_t b = 0; b < n; b += 256) {
        int64_t len = n - b < 256 ? n - b : 256;
        load_keys(row, dt, b, len, flip, keys);
        for (int64_t i = 0; i < len; i++) {
            pair p = {keys[i], b + i};
            if (p.idx < k) {
                h[p.idx] = p;
                if (p.idx == k - 1)
                    for (int64_t j = k / 2 - 1; j >= 0; j--) sift_down(h, k, j);
            } else if (pair_less(p, h[0])) {
                h[0] = p;
                sift_down(h, k, 0);
            }
        }
    }
}

rx_status rx_cpu_sort_rows(rx_tensor *values, rx_tensor *indices, const rx_tensor *a, int64_t k,
                           int descending)
{
    int64_t m_rows = a->shape[0], n = a->shape[1];
    if (k <= 0 || m_rows == 0) return RX_OK;
    rx_dtype dt = a->dtype;
    int64_t es = rx_dtype_size(dt);
    uint64_t flip = descending ? UINT64_MAX : 0;
    bool heap = k < n && k <= n / 16;
    int64_t cap = heap ? k : n; /* pairs kept per row */
    const char *base = rx_tensor_bytes(a);
    char *vbase = values ? rx_tensor_bytes(values) : NULL;
    int64_t *ibase = indices ? (int64_t *)rx_tensor_bytes(indices) : NULL;
    int64_t vrow = values ? values->shape[1] : 0, irow = indices ? indices->shape[1] : 0;
    int failed = 0;
#pragma omp parallel if (m_rows > 1 && m_rows * n >= RX_PARALLEL_MIN)
    {
        pair *buf = malloc((size_t)cap * 2 * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t m = 0; m < m_rows; m++) {
            if (!buf) continue;
            const char *row = base + m * n * es;
            if (heap) {
                select_k(row, dt, n, k, flip, buf);
            } else {
                uint64_t keys[256];
                for (int64_t b = 0; b < n; b += 256) {
                    int64_t len = n - b < 256 ? n - b : 256;
                    load_keys(row, dt, b, len, flip, keys);
                    for (int64_t i = 0; i < len; i++) buf[b + i] = (pair){keys[i], b + i};
                }
            }
            merge_sort(buf, buf + cap, cap);
            for (int64_t i = 0; i < k; i++) {
                if (vbase) memcpy(vbase + (m * vrow + i) * es, row + buf[i].idx * es, (size_t)es);
                if (ibase) ibase[m * irow + i] = buf[i].idx;
            }
        }
        free(buf);
    }
    if (failed)
        return rx_fail(RX_ERR_NOMEM, "cpu sort: out of host memory for a row of %lld elements", (long long)n);
    return RX_OK;
}
