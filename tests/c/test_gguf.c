/* test_gguf.c — the GGUF reader, dequantiser and writer (runtime/io/gguf.c, gguf_quant.c).
 *
 * Covers: a valid file assembled byte by byte here (independently of recx's writer: every
 * section boundary is recorded) read through every getter, with tensor values checked against
 * values derived by hand from the block layouts (F32, Q8_0, Q4_K) and zero-copy loads; Q8_K and
 * the dequantiser's argument errors; the file truncated at every section boundary and at 300
 * random lengths; 24 targeted corruptions (bad magic, v1, a big-endian version, absurd counts and
 * lengths, unknown value/element/tensor types, bad bools, too many dims, zero/overflowing ne,
 * ne[0] not a block multiple, misaligned/overlapping/out-of-range offsets, duplicate keys and
 * names, NUL bytes in keys, a bad general.alignment, arrays nested too deeply), each failing with
 * a specific message; a deterministic fuzz loop (2000 files with random byte changes) that must
 * never crash (run it under ASan: -DRECX_SANITIZE=ON); the writer: every value type, empty arrays,
 * F32/F16/BF16 tensors from non-contiguous inputs (values against independently rounded
 * references), its byte layout, its argument errors and atomic replacement. All files live in a
 * fresh temporary folder.
 */
#include "check.h"
#include "files.h"

#include <stdlib.h>
#include <string.h>

/* ---- a byte builder -------------------------------------------------------------------------- */

typedef struct buf {
    unsigned char p[4096];
    size_t n;
} buf;

static void put(buf *b, const void *s, size_t n)
{
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void u8(buf *b, uint8_t v) { put(b, &v, 1); }
static void u16(buf *b, uint16_t v) { put(b, &v, 2); }
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s)
{
    u64(b, strlen(s));
    put(b, s, strlen(s));
}

/* Offsets recorded while building the valid file. */
static struct {
    size_t kv_start[6], info_start[3], info_type[3], info_offset[3], info_ne[3], data_start, end;
    size_t arr_count, arr_elem_type, bool_value, align_value, u32_type;
} at;

/* The valid file: 6 metadata entries and 3 tensors.
 *   general.alignment u32 32; a.u32 u32 7; a.arr arr[str] ["x", "yz"]; a.nst arr[arr[i16]]
 *   [[1, -2], [3]]; a.bol bool true; a.str str "héllo"
 *   w.f32 F32 ne [4, 2] at 0 (values 0.5 * i - 1); w.q80 Q8_0 ne [32] at 32 (d = 0.5, q_i = i - 16);
 *   w.q4k Q4_K ne [256] at 96 (d = 1, dmin = 0.5, scales 1..4 / mins 1 for sub-blocks 0..3,
 *   scale 1 / min 2 for 4..7; nibble of element 32*j + l = (l + j) % 16). */
static void build_valid(buf *b)
{
    memset(b, 0, sizeof *b);
    memset(&at, 0, sizeof at);
    put(b, "GGUF", 4);
    u32(b, 3);
    u64(b, 3); /* tensors */
    u64(b, 6); /* metadata */
    at.kv_start[0] = b->n;
    str(b, "general.alignment");
    u32(b, 4);
    at.align_value = b->n;
    u32(b, 32);
    at.kv_start[1] = b->n;
    str(b, "a.u32");
    at.u32_type = b->n;
    u32(b, 4);
    u32(b, 7);
    at.kv_start[2] = b->n;
    str(b, "a.arr");
    u32(b, 9);
    at.arr_elem_type = b->n;
    u32(b, 8);
    at.arr_count = b->n;
    u64(b, 2);
    str(b, "x");
    str(b, "yz");
    at.kv_start[3] = b->n;
    str(b, "a.nst");
    u32(b, 9);
    u32(b, 9);
    u64(b, 2);
    u32(b, 3);
    u64(b, 2);
    u16(b, 1);
    u16(b, (uint16_t)-2);
    u32(b, 3);
    u64(b, 1);
    u16(b, 3);
    at.kv_start[4] = b->n;
    str(b, "a.bol");
    u32(b, 7);
    at.bool_value = b->n;
    u8(b, 1);
    at.kv_start[5] = b->n;
    str(b, "a.str");
    u32(b, 8);
    str(b, "h\xc3\xa9llo");
    const char *names[3] = {"w.f32", "w.q80", "w.q4k"};
    uint64_t ne0[3] = {4, 32, 256}, ne1[3] = {2, 0, 0};
    uint32_t types[3] = {0, 8, 12};
    uint64_t offsets[3] = {0, 32, 96};
    for (int i = 0; i < 3; i++) {
        at.info_start[i] = b->n;
        str(b, names[i]);
        u32(b, ne1[i] ? 2 : 1);
        at.info_ne[i] = b->n;
        u64(b, ne0[i]);
        if (ne1[i]) u64(b, ne1[i]);
        at.info_type[i] = b->n;
        u32(b, types[i]);
        at.info_offset[i] = b->n;
        u64(b, offsets[i]);
    }
    while (b->n % 32) u8(b, 0);
    at.data_start = b->n;
    for (int i = 0; i < 8; i++) {
        float v = 0.5f * (float)i - 1.0f;
        put(b, &v, 4);
    }
    u16(b, 0x3800); /* Q8_0: d = 0.5 */
    for (int i = 0; i < 32; i++) u8(b, (uint8_t)(int8_t)(i - 16));
    while ((b->n - at.data_start) % 32) u8(b, 0);
    u16(b, 0x3C00); /* Q4_K: d = 1 */
    u16(b, 0x3800); /* dmin = 0.5 */
    uint8_t scales[12] = {1, 2, 3, 4, 1, 1, 1, 1, 0x21, 0x21, 0x21, 0x21};
    put(b, scales, 12);
    for (int c = 0; c < 4; c++) /* bytes 32c..32c+31: low nibble sub-block 2c, high 2c+1 */
        for (int l = 0; l < 32; l++) u8(b, (uint8_t)(((l + 2 * c) % 16) | ((l + 2 * c + 1) % 16) << 4));
    at.end = b->n;
}

/* The expected values of the three tensors (derived from the layouts above by hand). */
static double expect_f32(int i) { return 0.5 * i - 1.0; }
static double expect_q8(int i) { return 0.5 * (i - 16); }
static double expect_q4k(int k)
{
    int j = k / 32, l = k % 32;
    static const int sc[8] = {1, 2, 3, 4, 1, 1, 1, 1}, mn[8] = {1, 1, 1, 1, 2, 2, 2, 2};
    return 1.0 * sc[j] * ((l + j) % 16) - 0.5 * mn[j];
}

static rx_status open_bytes(const void *data, size_t n, rx_gguf **g)
{
    write_bytes(path_in("t.gguf"), data, n);
    return rx_gguf_open(path_in("t.gguf"), g);
}

/* ---- valid file ---------------------------------------------------------------------------- */

static void test_valid(void)
{
    buf b;
    build_valid(&b);
    rx_gguf *g = NULL;
    CHECK_OK(open_bytes(b.p, b.n, &g));
    if (!g) return;
    CHECK(rx_gguf_version(g) == 3);
    CHECK(rx_gguf_alignment(g) == 32);
    CHECK(rx_gguf_data_offset(g) == (int64_t)at.data_start);
    CHECK(rx_gguf_kv_count(g) == 6);
    CHECK(strcmp(rx_gguf_kv_key(g, 1), "a.u32") == 0);
    CHECK(rx_gguf_kv_key(g, 6) == NULL);
    CHECK(rx_gguf_find(g, "nope") == NULL);

    int64_t iv = 0;
    CHECK_OK(rx_gguf_get_int(g, "a.u32", &iv));
    CHECK(iv == 7);
    double dv = 0;
    CHECK_OK(rx_gguf_get_float(g, "a.u32", &dv));
    CHECK(dv == 7.0);
    int bv = 0;
    CHECK_OK(rx_gguf_get_bool(g, "a.bol", &bv));
    CHECK(bv == 1);
    const char *s = NULL;
    int64_t len = 0;
    CHECK_OK(rx_gguf_get_string(g, "a.str", &s, &len));
    CHECK(len == 6 && memcmp(s, "h\xc3\xa9llo", 6) == 0);

    const rx_gguf_value *arr = rx_gguf_find(g, "a.arr");
    CHECK(rx_gguf_value_type(arr) == RX_GGUF_ARR && rx_gguf_value_elem_type(arr) == RX_GGUF_STR);
    CHECK(rx_gguf_value_len(arr) == 2);
    CHECK_OK(rx_gguf_value_string(arr, 1, &s, &len));
    CHECK(len == 2 && memcmp(s, "yz", 2) == 0);
    CHECK_ERR(rx_gguf_value_string(arr, 2, &s, &len), RX_ERR_ARG, "key 'a.arr': value_string: element 2 out of range (array of 2)");
    CHECK_ERR(rx_gguf_value_int(arr, 0, &iv), RX_ERR_DTYPE, "key 'a.arr': expected an integer, got an element of type str");

    const rx_gguf_value *nst = rx_gguf_find(g, "a.nst"), *inner = NULL;
    CHECK(rx_gguf_value_elem_type(nst) == RX_GGUF_ARR && rx_gguf_value_len(nst) == 2);
    CHECK_OK(rx_gguf_value_array(nst, 0, &inner));
    CHECK(rx_gguf_value_len(inner) == 2 && rx_gguf_value_elem_type(inner) == RX_GGUF_I16);
    CHECK_OK(rx_gguf_value_int(inner, 1, &iv));
    CHECK(iv == -2);
    CHECK_OK(rx_gguf_value_array(nst, 1, &inner));
    CHECK_OK(rx_gguf_value_int(inner, 0, &iv));
    CHECK(iv == 3);
    CHECK_ERR(rx_gguf_value_array(arr, 0, &inner), RX_ERR_DTYPE, "expected an array of arrays");

    CHECK_ERR(rx_gguf_get_int(g, "a.str", &iv), RX_ERR_DTYPE, "gguf: ");
    CHECK_ERR(rx_gguf_get_int(g, "a.str", &iv), RX_ERR_DTYPE, "key 'a.str': expected an integer, got str");
    CHECK_ERR(rx_gguf_get_bool(g, "a.u32", &bv), RX_ERR_DTYPE, "key 'a.u32': expected a bool, got u32");
    CHECK_ERR(rx_gguf_get_string(g, "absent", &s, &len), RX_ERR_ARG, "key 'absent': not in the file");
    CHECK_ERR(rx_gguf_get_int(g, "a.arr", &iv), RX_ERR_DTYPE, "expected an integer");

    CHECK(rx_gguf_tensor_count(g) == 3);
    CHECK(rx_gguf_tensor_find(g, "w.q4k") == 2);
    CHECK(rx_gguf_tensor_find(g, "w.none") == -1);
    rx_gguf_tensor_info info;
    CHECK_OK(rx_gguf_tensor_info_at(g, 0, &info));
    CHECK(strcmp(info.name, "w.f32") == 0 && strcmp(info.type_name, "F32") == 0 && info.ggml_type == 0);
    CHECK(info.ndim == 2 && info.shape[0] == 2 && info.shape[1] == 4); /* ne [4, 2] reversed */
    CHECK(info.offset == (int64_t)at.data_start && info.nbytes == 32);
    CHECK_OK(rx_gguf_tensor_info_at(g, 2, &info));
    CHECK(info.nbytes == 144 && strcmp(info.type_name, "Q4_K") == 0);
    CHECK_ERR(rx_gguf_tensor_info_at(g, 3, &info), RX_ERR_ARG, "index 3 out of range (3 tensors)");

    /* F32 asked as f32 on the CPU: a view of the mapping, no allocation */
    rx_mem_stats before, after;
    rx_mem_get_stats(RX_CPU, &before);
    rx_tensor *t = NULL;
    CHECK_OK(rx_gguf_load(g, "w.f32", RX_F32, rx_cpu(), &t));
    rx_mem_get_stats(RX_CPU, &after);
    CHECK(after.live_bytes == before.live_bytes);
    CHECK(t && rx_tensor_data_ptr(t) == rx_gguf_tensor_data(g, 0));
    double ref[256];
    for (int i = 0; i < 8; i++) ref[i] = expect_f32(i);
    CHECK_TENSOR(t, 2, ((int64_t[]){2, 4}), ref, 0, 0);
    rx_tensor_release(t);

    CHECK_OK(rx_gguf_load(g, "w.q80", RX_F32, rx_cpu(), &t));
    for (int i = 0; i < 32; i++) ref[i] = expect_q8(i);
    CHECK_TENSOR(t, 1, ((int64_t[]){32}), ref, 0, 0);
    rx_tensor_release(t);

    CHECK_OK(rx_gguf_load(g, "w.q4k", RX_F32, rx_cpu(), &t));
    for (int i = 0; i < 256; i++) ref[i] = expect_q4k(i);
    CHECK_TENSOR(t, 1, ((int64_t[]){256}), ref, 0, 0);
    rx_tensor_release(t);

    /* converted: f16 of the Q4_K values (all exactly representable) and f64 of the F32 ones */
    CHECK_OK(rx_gguf_load(g, "w.q4k", RX_F16, rx_cpu(), &t));
    CHECK(t && rx_tensor_dtype(t) == RX_F16);
    CHECK_TENSOR(t, 1, ((int64_t[]){256}), ref, 0, 0);
    rx_tensor_release(t);
    CHECK_OK(rx_gguf_load(g, "w.f32", RX_F64, rx_cpu(), &t));
    CHECK(t && rx_tensor_dtype(t) == RX_F64);
    rx_tensor_release(t);

    t = (rx_tensor *)1;
    CHECK_ERR(rx_gguf_load(g, "w.none", RX_F32, rx_cpu(), &t), RX_ERR_ARG, "tensor 'w.none': no such tensor in the file");
    CHECK(t == NULL);
    CHECK_ERR(rx_gguf_load(g, "w.f32", (rx_dtype)42, rx_cpu(), &t), RX_ERR_ARG, "argument #3: unknown dtype 42");
    CHECK_ERR(rx_gguf_load(NULL, "w.f32", RX_F32, rx_cpu(), &t), RX_ERR_ARG, "argument #1");

    /* a tensor outlives its file */
    CHECK_OK(rx_gguf_load(g, "w.f32", RX_F32, rx_cpu(), &t));
    rx_gguf_close(g);
    for (int i = 0; i < 8; i++) ref[i] = expect_f32(i);
    CHECK_TENSOR(t, 2, ((int64_t[]){2, 4}), ref, 0, 0);
    rx_tensor_release(t);

    /* version 2 has the same layout */
    uint32_t v2 = 2;
    memcpy(b.p + 4, &v2, 4);
    CHECK_OK(open_bytes(b.p, b.n, &g));
    CHECK(rx_gguf_version(g) == 2);
    rx_gguf_close(g);
    check_no_leaks();
}

static void test_dequantize(void)
{
    /* Q8_K: f32 d = 0.25, q_i = i - 128, 16 int16 sums (ignored) */
    unsigned char blk[292];
    float d = 0.25f;
    memcpy(blk, &d, 4);
    for (int i = 0; i < 256; i++) blk[4 + i] = (unsigned char)(int8_t)(i - 128);
    memset(blk + 260, 0x7F, 32);
    float out[256];
    CHECK_OK(rx_ggml_dequantize(15, blk, 256, out));
    int bad = 0;
    for (int i = 0; i < 256; i++) bad += out[i] != 0.25f * (float)(i - 128);
    CHECK(bad == 0);
    /* BF16 and F16 single elements */
    uint16_t h[2] = {0x3C00, 0xC000};
    CHECK_OK(rx_ggml_dequantize(1, h, 2, out));
    CHECK(out[0] == 1.0f && out[1] == -2.0f);
    CHECK_OK(rx_ggml_dequantize(30, h, 2, out));
    CHECK(out[0] == 0.0078125f && out[1] == -2.0f); /* bf16 0x3C00 = 2^-7 */
    CHECK(strcmp(rx_ggml_type_name(12), "Q4_K") == 0 && rx_ggml_type_name(4) == NULL);
    CHECK(rx_ggml_type_from_name("BF16") == 30 && rx_ggml_type_from_name("Q9") == -1);
    CHECK_ERR(rx_ggml_dequantize(99, blk, 32, out), RX_ERR_ARG, "unknown ggml type 99");
    CHECK_ERR(rx_ggml_dequantize(16, blk, 256, out), RX_ERR_UNSUPPORTED, "type IQ2_XXS cannot be dequantised by recx");
    CHECK_ERR(rx_ggml_dequantize(8, blk, 33, out), RX_ERR_ARG, "multiple of Q8_0's block of 32 elements, got 33");
}

/* ---- corruption -------------------------------------------------------------------------------- */

static void expect_fail(const buf *b, size_t n, const char *needle, int line)
{
    rx_gguf *g = (rx_gguf *)1;
    rx_status s = open_bytes(b->p, n, &g);
    if (s == RX_OK) {
        check_fail(__FILE__, line, "expected an error containing '%s', the file opened", needle);
        rx_gguf_close(g);
        return;
    }
    if (g != NULL) check_fail(__FILE__, line, "*out not NULL after a failure");
    if (s != RX_ERR_FORMAT) check_fail(__FILE__, line, "status %s, expected FORMAT: %s", rx_status_name(s), rx_last_error());
    if (!strstr(rx_last_error(), needle))
        check_fail(__FILE__, line, "message '%s' does not contain '%s'", rx_last_error(), needle);
    if (!strstr(rx_last_error(), "gguf: ") || !strstr(rx_last_error(), "t.gguf"))
        check_fail(__FILE__, line, "message '%s' does not name the file", rx_last_error());
}
#define EXPECT_FAIL(b, n, needle) expect_fail((b), (n), (needle), __LINE__)

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_truncated(void)
{
    buf b;
    build_valid(&b);
    EXPECT_FAIL(&b, 0, "shorter than the 24-byte GGUF header");
    EXPECT_FAIL(&b, 3, "shorter than the 24-byte GGUF header");
    EXPECT_FAIL(&b, 23, "shorter than the 24-byte GGUF header");
    size_t bounds[] = {4, 8, 16, 24, at.kv_start[1], at.kv_start[2], at.kv_start[3], at.kv_start[4], at.kv_start[5],
                       at.info_start[0], at.info_start[1], at.info_start[2], at.data_start, at.data_start + 32,
                       at.data_start + 96, at.end - 1};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        rx_gguf *g = NULL;
        rx_status s = open_bytes(b.p, bounds[i], &g);
        CHECK(s == RX_ERR_FORMAT);
        if (s == RX_OK) rx_gguf_close(g);
        const char *m = rx_last_error();
        CHECK(strstr(m, "beyond end of file") || strstr(m, "impossible") || strstr(m, "shorter than"));
    }
    /* the counts fit the file up to the tensor infos; from then on each part names what is cut */
    EXPECT_FAIL(&b, at.kv_start[5] + 20, "key 'a.str': string value");
    EXPECT_FAIL(&b, at.info_start[2] + 10, "tensor info #2: name of length 5");
    EXPECT_FAIL(&b, at.data_start, "tensor 'w.f32': data [");
    EXPECT_FAIL(&b, at.end - 1, "tensor 'w.q4k': data [");
    for (int k = 0; k < 300; k++) {
        size_t n = (size_t)(rnd() % at.end);
        rx_gguf *g = NULL;
        rx_status s = open_bytes(b.p, n, &g);
        if (s != RX_ERR_FORMAT) check_fail(__FILE__, __LINE__, "truncated at %zu: status %s", n, rx_status_name(s));
        if (s == RX_OK) rx_gguf_close(g);
    }
    check_no_leaks();
}

static void test_corrupt(void)
{
    buf v, b;
    build_valid(&v);
#define MUT(stmt, needle)                \
    do {                                 \
        b = v;                           \
        stmt;                            \
        EXPECT_FAIL(&b, b.n, needle);    \
    } while (0)
#define SET32(off, val) do { uint32_t x_ = (val); memcpy(b.p + (off), &x_, 4); } while (0)
#define SET64(off, val) do { uint64_t x_ = (val); memcpy(b.p + (off), &x_, 8); } while (0)
    MUT(b.p[0] = 'X', "bad magic 58 47 55 46");
    MUT(SET32(4, 1), "GGUF version 1 is not supported (versions 2 and 3 are)");
    MUT(SET32(4, 0x03000000), "unsupported GGUF version 50331648 (versions 2 and 3 are; a big-endian file?)");
    MUT(SET64(16, UINT64_MAX), "metadata count 18446744073709551615 is impossible for a file of");
    MUT(SET64(8, 1ull << 40), "tensor count 1099511627776 is impossible");
    MUT(SET64(at.kv_start[1], UINT64_MAX), "kv #1: key of length 18446744073709551615 at offset");
    MUT(SET64(at.kv_start[1], 100000), "kv #1: key of length 100000 (100000 bytes at offset");
    MUT(SET32(at.u32_type, 13), "key 'a.u32': unknown value type 13");
    MUT(SET32(at.arr_elem_type, 99), "key 'a.arr': unknown array element type 99");
    MUT(SET64(at.arr_count, 1ull << 60), "key 'a.arr': array of 1152921504606846976 str elements");
    MUT(b.p[at.bool_value] = 2, "key 'a.bol': bool value 2");
    MUT(b.p[at.kv_start[1] + 9] = 0, "kv #1: key at offset");
    MUT(memcpy(b.p + at.kv_start[2] + 8, "a.u32", 5), "key 'a.u32': duplicate key");
    MUT(SET32(at.align_value, 24), "key 'general.alignment': alignment 24 is not a power of two");
    MUT(SET32(at.info_start[0] + 13, 5), "tensor 'w.f32': n_dims 5, at most 4 are supported");
    MUT(SET64(at.info_ne[0], 0), "tensor 'w.f32': ne[0] = 0 (expected 1 .. 2^63-1)");
    MUT({ SET64(at.info_ne[0], 1ull << 62); SET64(at.info_ne[0] + 8, 4); }, "tensor 'w.f32': element count overflows");
    MUT(SET32(at.info_type[1], 99), "tensor 'w.q80': unknown ggml type 99");
    MUT(SET64(at.info_ne[1], 48), "tensor 'w.q80': ne[0] = 48 is not a multiple of Q8_0's block of 32 elements");
    MUT(SET64(at.info_offset[1], 33), "tensor 'w.q80': offset 33 is not a multiple of the alignment 32");
    MUT(SET64(at.info_offset[1], 0), "overlaps tensor");
    MUT(SET64(at.info_offset[2], 4096), "tensor 'w.q4k': data [");
    MUT(SET64(at.info_offset[2], 1ull << 62), "beyond end of file (size");
    MUT(memcpy(b.p + at.info_start[1] + 8, "w.f32", 5), "tensor 'w.f32': duplicate tensor name");

    /* arrays nested 9 deep */
    memset(&b, 0, sizeof b);
    put(&b, "GGUF", 4);
    u32(&b, 3);
    u64(&b, 0);
    u64(&b, 1);
    str(&b, "deep");
    u32(&b, 9);
    for (int i = 0; i < 9; i++) {
        u32(&b, 9);
        u64(&b, 1);
    }
    u32(&b, 0);
    u64(&b, 0);
    EXPECT_FAIL(&b, b.n, "key 'deep': arrays nested deeper than 8 levels");
    check_no_leaks();
#undef MUT
#undef SET32
#undef SET64
}

/* Reads every value of a (fuzzed) file through the getters; returns how many were read. */
static int64_t read_all(const rx_gguf_value *v, int depth)
{
    int64_t n = rx_gguf_value_len(v), count = 0;
    rx_gguf_type et = rx_gguf_value_elem_type(v);
    for (int64_t j = 0; j < n; j++) {
        int64_t i;
        double d;
        int bo;
        const char *s;
        int64_t len;
        const rx_gguf_value *inner;
        if (et == RX_GGUF_ARR) {
            if (rx_gguf_value_array(v, j, &inner) == RX_OK && depth < 16) count += read_all(inner, depth + 1);
        } else if (et == RX_GGUF_STR) {
            if (rx_gguf_value_string(v, j, &s, &len) == RX_OK && len > 0) count += (unsigned char)s[len - 1] & 1;
        } else if (et == RX_GGUF_BOOL) {
            count += rx_gguf_value_bool(v, j, &bo) == RX_OK;
        } else {
            count += rx_gguf_value_float(v, j, &d) == RX_OK;
            rx_gguf_value_int(v, j, &i);
        }
    }
    return count;
}

static void test_fuzz(void)
{
    buf v, b;
    build_valid(&v);
    int opened = 0, loaded = 0;
    rng_state = 12345;
    for (int it = 0; it < 2000; it++) {
        b = v;
        int flips = 1 + (int)(rnd() % 8);
        for (int k = 0; k < flips; k++) {
            size_t pos = (size_t)(rnd() % b.n);
            b.p[pos] = (rnd() % 4 == 0) ? (unsigned char)(b.p[pos] ^ (1u << (rnd() % 8))) : (unsigned char)rnd();
        }
        size_t n = rnd() % 8 == 0 ? (size_t)(rnd() % b.n) : b.n;
        rx_gguf *g = NULL;
        rx_status s = open_bytes(b.p, n, &g);
        if (s != RX_OK) {
            if (s != RX_ERR_FORMAT)
                check_fail(__FILE__, __LINE__, "iteration %d: status %s: %s", it, rx_status_name(s), rx_last_error());
            continue;
        }
        opened++;
        for (int64_t i = 0; i < rx_gguf_kv_count(g); i++) read_all(rx_gguf_kv_value(g, i), 0);
        for (int64_t i = 0; i < rx_gguf_tensor_count(g); i++) {
            rx_gguf_tensor_info info;
            if (rx_gguf_tensor_info_at(g, i, &info) != RX_OK) continue;
            rx_tensor *t = NULL;
            if (rx_gguf_load(g, info.name, RX_F32, rx_cpu(), &t) == RX_OK) loaded++;
            rx_tensor_release(t);
        }
        rx_gguf_close(g);
    }
    printf("  fuzz: %d of 2000 changed files opened, %d tensors loaded\n", opened, loaded);
    CHECK(opened > 0 && opened < 2000);
    check_no_leaks();
}

/* ---- writer ------------------------------------------------------------------------------------ */

static void test_writer(void)
{
    rx_gguf_writer *w = NULL;
    CHECK_OK(rx_gguf_writer_new(&w));
    if (!w) return;
    CHECK_OK(rx_gguf_writer_add_string(w, "general.architecture", "llama", -1));
    CHECK_OK(rx_gguf_writer_add_int(w, "u8", RX_GGUF_U8, 255));
    CHECK_OK(rx_gguf_writer_add_int(w, "i8", RX_GGUF_I8, -128));
    CHECK_OK(rx_gguf_writer_add_int(w, "u16", RX_GGUF_U16, 65535));
    CHECK_OK(rx_gguf_writer_add_int(w, "i16", RX_GGUF_I16, -32768));
    CHECK_OK(rx_gguf_writer_add_int(w, "u32", RX_GGUF_U32, 4294967295LL));
    CHECK_OK(rx_gguf_writer_add_int(w, "i32", RX_GGUF_I32, INT32_MIN));
    CHECK_OK(rx_gguf_writer_add_int(w, "u64", RX_GGUF_U64, INT64_MAX));
    CHECK_OK(rx_gguf_writer_add_int(w, "i64", RX_GGUF_I64, INT64_MIN));
    CHECK_OK(rx_gguf_writer_add_int(w, "bool", RX_GGUF_BOOL, 1));
    CHECK_OK(rx_gguf_writer_add_float(w, "f32", RX_GGUF_F32, 0.1));
    CHECK_OK(rx_gguf_writer_add_float(w, "f64", RX_GGUF_F64, 0.1));
    CHECK_OK(rx_gguf_writer_add_string(w, "nul", "a\0b", 3));
    int64_t ints[3] = {-1, 0, 1};
    double dbl[2] = {1.5, -2.25};
    const char *strs[3] = {"x", "", "zz"};
    CHECK_OK(rx_gguf_writer_add_int_array(w, "arr_i8", RX_GGUF_I8, 3, ints));
    CHECK_OK(rx_gguf_writer_add_int_array(w, "arr_empty", RX_GGUF_U32, 0, NULL));
    CHECK_OK(rx_gguf_writer_add_float_array(w, "arr_f64", RX_GGUF_F64, 2, dbl));
    CHECK_OK(rx_gguf_writer_add_float_array(w, "arr_f32_empty", RX_GGUF_F32, 0, NULL));
    CHECK_OK(rx_gguf_writer_add_string_array(w, "arr_str", 3, strs, NULL));
    CHECK_OK(rx_gguf_writer_add_string_array(w, "arr_str_empty", 0, NULL, NULL));
    /* errors leave the writer usable */
    CHECK_ERR(rx_gguf_writer_add_int(w, "bad", RX_GGUF_U8, 256), RX_ERR_ARG, "key 'bad': value 256 out of range for u8");
    CHECK_ERR(rx_gguf_writer_add_int(w, "bad", RX_GGUF_BOOL, 2), RX_ERR_ARG, "value 2 out of range for bool");
    CHECK_ERR(rx_gguf_writer_add_int(w, "bad", RX_GGUF_STR, 1), RX_ERR_ARG, "expected an integer or bool type, got str");
    CHECK_ERR(rx_gguf_writer_add_float(w, "bad", RX_GGUF_I32, 1), RX_ERR_ARG, "expected type f32 or f64, got i32");
    CHECK_ERR(rx_gguf_writer_add_int(w, "u8", RX_GGUF_U8, 1), RX_ERR_ARG, "key 'u8': duplicate key");
    CHECK_ERR(rx_gguf_writer_add_int(w, "", RX_GGUF_U8, 1), RX_ERR_ARG, "argument #2: expected a non-empty key");
    int64_t big[2] = {1, 1 << 20};
    CHECK_ERR(rx_gguf_writer_add_int_array(w, "bad", RX_GGUF_I16, 2, big), RX_ERR_ARG, "element 1 = 1048576 out of range for i16");
    CHECK_ERR(rx_gguf_writer_add_int_array(w, "bad", RX_GGUF_I16, 2, NULL), RX_ERR_ARG, "argument #5: expected 2 values");

    /* tensors: a transposed (non-contiguous) f64 input written as F32, F16 and BF16 */
    double vals[12];
    for (int i = 0; i < 12; i++) vals[i] = (i - 5) * 0.3371 + (i == 7 ? 70000.0 : 0.0);
    rx_tensor *base = t_from(2, (int64_t[]){3, 4}, RX_F64, vals), *tr = NULL;
    CHECK_OK(rx_transpose(base, 0, 1, &tr));
    CHECK_OK(rx_gguf_writer_add_tensor(w, "a.f32", tr, 0));
    CHECK_OK(rx_gguf_writer_add_tensor(w, "a.f16", tr, 1));
    CHECK_OK(rx_gguf_writer_add_tensor(w, "a.bf16", tr, 30));
    CHECK_ERR(rx_gguf_writer_add_tensor(w, "a.q", tr, 2), RX_ERR_UNSUPPORTED, "recx writes types F32, F16 and BF16, got Q4_0");
    CHECK_ERR(rx_gguf_writer_add_tensor(w, "a.f32", tr, 0), RX_ERR_ARG, "tensor 'a.f32': duplicate name");
    rx_tensor *five = t_zeros(5, (int64_t[]){1, 1, 1, 1, 2}, RX_F32), *empty = t_zeros(2, (int64_t[]){2, 0}, RX_F32);
    CHECK_ERR(rx_gguf_writer_add_tensor(w, "five", five, 0), RX_ERR_SHAPE, "5 dims, GGUF stores at most 4");
    CHECK_ERR(rx_gguf_writer_add_tensor(w, "empty", empty, 0), RX_ERR_SHAPE, "dim 1 has size 0");
    rx_tensor_release(five);
    rx_tensor_release(empty);
    rx_tensor_release(base);
    rx_tensor_release(tr); /* the writer holds its own reference */

    const char *path = path_in("w.gguf");
    write_bytes(path, "old", 3);
    CHECK_OK(rx_gguf_writer_write(w, path));
    CHECK_ERR(rx_gguf_writer_write(w, path_in("no/such/dir.gguf")), RX_ERR_IO, "cannot create a temporary file");
    CHECK_ERR(rx_gguf_writer_write(w, path_in("")), RX_ERR_ARG, "got a folder");
    rx_gguf_writer_free(w);

    /* byte layout */
    size_t n = 0;
    unsigned char *bytes = read_bytes(path, &n);
    CHECK(bytes && n > 64 && memcmp(bytes, "GGUF", 4) == 0);
    uint32_t ver;
    uint64_t nt, nkv;
    memcpy(&ver, bytes + 4, 4);
    memcpy(&nt, bytes + 8, 8);
    memcpy(&nkv, bytes + 16, 8);
    CHECK(ver == 3 && nt == 3 && nkv == 19);
    free(bytes);

    rx_gguf *g = NULL;
    CHECK_OK(rx_gguf_open(path, &g));
    if (!g) return;
    CHECK(rx_gguf_data_offset(g) % 32 == 0);
    CHECK(n == (size_t)(rx_gguf_data_offset(g) + 64 + 32 + 32)); /* 48, 24, 24 bytes, each padded to 32 */
    int64_t iv;
    double dv;
    struct { const char *key; int64_t want; } ik[] = {{"u8", 255}, {"i8", -128}, {"u16", 65535}, {"i16", -32768},
        {"u32", 4294967295LL}, {"i32", INT32_MIN}, {"u64", INT64_MAX}, {"i64", INT64_MIN}};
    for (size_t i = 0; i < sizeof ik / sizeof ik[0]; i++) {
        CHECK_OK(rx_gguf_get_int(g, ik[i].key, &iv));
        CHECK(iv == ik[i].want);
    }
    CHECK(rx_gguf_value_type(rx_gguf_find(g, "u16")) == RX_GGUF_U16);
    CHECK_OK(rx_gguf_get_float(g, "f32", &dv));
    CHECK(dv == (double)0.1f);
    CHECK_OK(rx_gguf_get_float(g, "f64", &dv));
    CHECK(dv == 0.1);
    int bv;
    CHECK_OK(rx_gguf_get_bool(g, "bool", &bv));
    CHECK(bv == 1);
    const char *s;
    int64_t len;
    CHECK_OK(rx_gguf_get_string(g, "nul", &s, &len));
    CHECK(len == 3 && memcmp(s, "a\0b", 3) == 0);
    const rx_gguf_value *a = rx_gguf_find(g, "arr_i8");
    CHECK(rx_gguf_value_len(a) == 3 && rx_gguf_value_elem_type(a) == RX_GGUF_I8);
    CHECK_OK(rx_gguf_value_int(a, 0, &iv));
    CHECK(iv == -1);
    a = rx_gguf_find(g, "arr_empty");
    CHECK(rx_gguf_value_type(a) == RX_GGUF_ARR && rx_gguf_value_len(a) == 0 && rx_gguf_value_elem_type(a) == RX_GGUF_U32);
    CHECK(rx_gguf_value_len(rx_gguf_find(g, "arr_str_empty")) == 0);
    CHECK(rx_gguf_value_len(rx_gguf_find(g, "arr_f32_empty")) == 0);
    a = rx_gguf_find(g, "arr_str");
    CHECK_OK(rx_gguf_value_string(a, 2, &s, &len));
    CHECK(len == 2 && memcmp(s, "zz", 2) == 0);
    CHECK_OK(rx_gguf_value_float(rx_gguf_find(g, "arr_f64"), 1, &dv));
    CHECK(dv == -2.25);

    double ref[12];
    rx_dtype dts[3] = {RX_F32, RX_F16, RX_BF16};
    const char *names[3] = {"a.f32", "a.f16", "a.bf16"};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++) ref[i * 3 + j] = ref_round(dts[k], vals[j * 4 + i]); /* transposed */
        rx_tensor *t = NULL;
        CHECK_OK(rx_gguf_load(g, names[k], dts[k], rx_cpu(), &t));
        CHECK(t && rx_tensor_dtype(t) == dts[k]);
        CHECK_TENSOR(t, 2, ((int64_t[]){4, 3}), ref, 0, 0);
        rx_tensor_release(t);
    }
    rx_gguf_tensor_info info;
    CHECK_OK(rx_gguf_tensor_info_at(g, 1, &info));
    CHECK(strcmp(info.type_name, "F16") == 0 && info.nbytes == 24);
    rx_gguf_close(g);
    check_no_leaks();
}

int main(void)
{
    if (!tmp_dir_create("recx_test_gguf")) return 2;
    RUN(test_valid);
    RUN(test_dequantize);
    RUN(test_truncated);
    RUN(test_corrupt);
    RUN(test_fuzz);
    RUN(test_writer);
    tmp_dir_remove();
    return check_finish();
}
