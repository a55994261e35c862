/* sha256.c — SHA-256 as FIPS 180-4 defines it, written from the standard.
 *
 * Owns: the incremental hash (rx_sha256_init / update / final), hex formatting and the digest
 * of a whole file. The message is processed in 64-byte blocks of sixteen big-endian 32-bit
 * words; the final block appends the bit 1, zeros and the message length in bits (big-endian
 * 64-bit). Used to verify downloads (recx.hub) against the digests published by PyPI and the
 * Hugging Face hub.
 */
#include "../core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* One 64-byte block into the state (FIPS 180-4 section 6.2.2). */
static void compress(uint32_t state[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 | (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int t = 0; t < 64; t++) {
        uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

void rx_sha256_init(rx_sha256 *s)
{
    /* The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->state, h0, sizeof h0);
    s->nbytes = 0;
    s->block_len = 0;
}

void rx_sha256_update(rx_sha256 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->nbytes += n;
    if (s->block_len > 0) {
        size_t take = 64 - (size_t)s->block_len;
        if (take > n) take = n;
        memcpy(s->block + s->block_len, p, take);
        s->block_len += (int)take;
        p += take;
        n -= take;
        if (s->block_len < 64) return;
        compress(s->state, s->block);
        s->block_len = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress(s->state, p);
    memcpy(s->block, p, n);
    s->block_len = (int)n;
}

void rx_sha256_final(rx_sha256 *s, uint8_t digest[32])
{
    uint64_t bits = s->nbytes * 8;
    uint8_t pad[72];
    /* 0x80, then zeros up to 56 mod 64, then the 8-byte length */
    size_t padlen = (s->block_len < 56 ? 56 : 120) - (size_t)s->block_len;
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t keep = s->nbytes;
    rx_sha256_update(s, pad, padlen + 8);
    s->nbytes = keep;
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(s->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->state[i];
    }
}

void rx_sha256_hex(const uint8_t digest[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

rx_status rx_sha256_file(const char *path, char hex[65])
{
    if (!path) return rx_fail(RX_ERR_ARG, "sha256_file: argument #1: expected a path, got NULL");
    if (!hex) return rx_fail(RX_ERR_ARG, "sha256_file: argument #2: expected an output buffer, got NULL");
    hex[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rx_fail(RX_ERR_IO, "sha256: %s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        close(fd);
        return rx_fail(RX_ERR_NOMEM, "sha256: %s: cannot allocate a read buffer", path);
    }
    rx_sha256 s;
    rx_sha256_init(&s);
    rx_status st = RX_OK;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0) {
            if (errno == EINTR) continue;
            st = rx_fail(RX_ERR_IO, "sha256: %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0) break;
        rx_sha256_update(&s, buf, (size_t)n);
        if ((st = rx_poll_interrupt("sha256")) != RX_OK) break;
    }
    free(buf);
    close(fd);
    if (st != RX_OK) return st;
    uint8_t digest[32];
    rx_sha256_final(&s, digest);
    rx_sha256_hex(digest, hex);
    return RX_OK;
}
