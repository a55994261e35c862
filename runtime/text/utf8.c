/* utf8.c — UTF-8 walking and GPT-2's byte <-> unicode alphabet for the tokenizer.
 *
 * Owns: rx_utf8_len/decode/encode (lenient: an invalid byte is a one-byte unit, so every byte
 * string survives a round trip), the byte-level alphabet (printable Latin-1 bytes map to
 * themselves, the other 68 bytes to U+0100.. in byte order) and Unicode White_Space.
 */
#include "text.h"

int rx_utf8_len(const unsigned char *s, int64_t avail)
{
    unsigned char c = s[0];
    int n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3;
    else if (c >= 0xF0 && c <= 0xF4) n = 4;
    else return 1;
    if (n > avail) return 1;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 1;
    if (n == 3) {
        if (c == 0xE0 && s[1] < 0xA0) return 1;        /* overlong */
        if (c == 0xED && s[1] >= 0xA0) return 1;       /* surrogates */
    } else if (n == 4) {
        if (c == 0xF0 && s[1] < 0x90) return 1;
        if (c == 0xF4 && s[1] >= 0x90) return 1;
    }
    return n;
}

uint32_t rx_utf8_decode(const unsigned char *s, int n)
{
    switch (n) {
    case 1: return s[0] < 0x80 ? s[0] : 0xFFFD;
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
               (s[3] & 0x3F);
    }
}

int rx_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes that GPT-2 keeps as their own code point: '!'..'~', 0xA1..0xAC, 0xAE..0xFF. */
static int byte_is_printable(int b)
{
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t rx_byte_to_unicode(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    int k = 0; /* rank of b among the non-printable bytes */
    for (int i = 0; i < b; i++)
        if (!byte_is_printable(i)) k++;
    return 256u + (uint32_t)k;
}

int rx_unicode_to_byte(uint32_t cp)
{
    if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    int k = (int)cp - 256;
    for (int i = 0; i < 256; i++)
        if (!byte_is_printable(i) && k-- == 0) return i;
    return -1;
}

int rx_unicode_is_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}
