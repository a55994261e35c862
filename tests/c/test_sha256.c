/* test_sha256.c — SHA-256 (runtime/net/sha256.c) against the FIPS 180-2 / NIST example vectors.
 *
 * Owns: the known digests of "", "abc", the 448-bit and 896-bit two-block messages and one
 * million 'a' (FIPS 180-2 appendix B and the NIST CSVP short/long examples); messages of every
 * length 0..130 hashed in one call and in uneven pieces (digests must agree: padding across the
 * 55/56/63/64-byte boundaries); hex formatting; rx_sha256_file on a written file against the
 * in-memory digest, and its error naming a missing file.
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hex_of(const void *data, size_t n, char hex[65])
{
    rx_sha256 s;
    uint8_t d[32];
    rx_sha256_init(&s);
    rx_sha256_update(&s, data, n);
    rx_sha256_final(&s, d);
    rx_sha256_hex(d, hex);
}

static void check_vector(const char *msg, const char *want)
{
    char hex[65];
    hex_of(msg, strlen(msg), hex);
    if (strcmp(hex, want) != 0) check_fail(__FILE__, __LINE__, "sha256(\"%.20s...\") = %s, want %s", msg, hex, want);
}

static void test_fips_vectors(void)
{
    check_vector("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_vector("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_vector("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    check_vector("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrs"
                 "tnopqrstu",
                 "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a(void)
{
    /* fed 1000 bytes at a time */
    char block[1000];
    memset(block, 'a', sizeof block);
    rx_sha256 s;
    uint8_t d[32];
    char hex[65];
    rx_sha256_init(&s);
    for (int i = 0; i < 1000; i++) rx_sha256_update(&s, block, sizeof block);
    rx_sha256_final(&s, d);
    rx_sha256_hex(d, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void test_pieces_agree(void)
{
    uint8_t msg[130];
    for (int i = 0; i < 130; i++) msg[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof msg; n++) {
        char one[65], pieces[65];
        hex_of(msg, n, one);
        rx_sha256 s;
        uint8_t d[32];
        rx_sha256_init(&s);
        size_t at = 0, step = 1;
        while (at < n) {
            size_t take = step < n - at ? step : n - at;
            rx_sha256_update(&s, msg + at, take);
            at += take;
            step = step * 3 % 67 + 1; /* 1, 4, 13, 40, 54, ... */
        }
        rx_sha256_final(&s, d);
        rx_sha256_hex(d, pieces);
        if (strcmp(one, pieces) != 0) check_fail(__FILE__, __LINE__, "length %zu: %s in one call, %s in pieces", n, one, pieces);
    }
    /* a 64-byte message (exactly one block before padding): NIST's value for 64 'a's */
    char a64[65];
    char buf[64];
    memset(buf, 'a', 64);
    hex_of(buf, 64, a64);
    CHECK(strcmp(a64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb") == 0);
}

static void test_hex_format(void)
{
    uint8_t d[32];
    for (int i = 0; i < 32; i++) d[i] = (uint8_t)(i * 8 + 7);
    char hex[65];
    memset(hex, 'x', sizeof hex);
    rx_sha256_hex(d, hex);
    CHECK(strlen(hex) == 64);
    CHECK(strncmp(hex, "070f171f", 8) == 0);
    CHECK(strcmp(hex + 56, "e7eff7ff") == 0);
}

static void test_file(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/recx_sha_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    /* 3 MiB + 5 bytes: crosses the reader's 1 MiB chunks */
    size_t n = (3u << 20) + 5;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 2654435761u >> 13);
    CHECK(write(fd, data, n) == (ssize_t)n);
    close(fd);
    char want[65], got[65];
    hex_of(data, n, want);
    CHECK_OK(rx_sha256_file(path, got));
    CHECK(strcmp(got, want) == 0);
    unlink(path);
    free(data);
    CHECK_ERR(rx_sha256_file(path, got), RX_ERR_IO, path);
    CHECK_ERR(rx_sha256_file(NULL, got), RX_ERR_ARG, "argument #1");
}

int main(void)
{
    RUN(test_fips_vectors);
    RUN(test_million_a);
    RUN(test_pieces_agree);
    RUN(test_hex_format);
    RUN(test_file);
    return check_finish();
}
