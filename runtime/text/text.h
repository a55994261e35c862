/* text.h — private definitions of the tokenizer (runtime/text), shared by its files.
 *
 * Owns: the layout of rx_tokenizer (vocabulary, merges, added tokens, normalizer, pre-tokenizer,
 * decoder and post-processor steps), the small containers they use (a byte-string -> int32 hash
 * map, a growable byte buffer, a growable int32 list) and the internal entry points of each
 * file: utf8.c (UTF-8 and the GPT-2 byte <-> unicode alphabet), strmap.c (hash maps), bpe.c
 * (the merge loop and its word cache), pretokenize.c (PCRE2 splits, ByteLevel, Metaspace,
 * normalizers), added_tokens.c (splitting text on added tokens), tokenizer.c (the public API),
 * tokenizer_json.c and tokenizer_gguf.c (loaders).
 *
 * Token strings are kept as the model spells them: byte-level vocabularies in the GPT-2 alphabet
 * ("Ġthe"), SentencePiece-style ones with U+2581 for spaces ("▁the"). Ids are int32 (0-based).
 */
#ifndef RECX_TEXT_H
#define RECX_TEXT_H

#include "../core/core.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- containers ---- */
typedef struct rx_buf {
    char *data;
    int64_t len, cap;
} rx_buf;
rx_status rx_buf_reserve(rx_buf *b, int64_t extra);
rx_status rx_buf_append(rx_buf *b, const void *data, int64_t n);
void rx_buf_free(rx_buf *b);

typedef struct rx_ids {
    int32_t *data;
    int64_t len, cap;
} rx_ids;
rx_status rx_ids_push(rx_ids *l, int32_t id);
rx_status rx_ids_append(rx_ids *l, const int32_t *ids, int64_t n);
void rx_ids_free(rx_ids *l);

/* Open-addressing map from byte strings to int32 values. Keys are copied into the map. */
typedef struct rx_strmap {
    int64_t cap, count;       /* cap: a power of two */
    int64_t *slots;           /* index into keys/values, -1 empty */
    uint64_t *hashes;
    char **keys;              /* per entry: the key bytes (NUL-terminated copy) */
    int32_t *key_lens;
    int32_t *values;
    int64_t entries_cap;
} rx_strmap;
uint64_t rx_hash_bytes(const void *data, int64_t n);
/* Inserts or overwrites; *had_key (may be NULL) says whether the key was present. */
rx_status rx_strmap_put(rx_strmap *m, const char *key, int64_t n, int32_t value, int *had_key);
/* The value, or -1 when absent (values stored are >= 0). */
int32_t rx_strmap_get(const rx_strmap *m, const char *key, int64_t n);
void rx_strmap_free(rx_strmap *m);

/* Open-addressing map from a pair of ids (a << 32 | b) to a merge (rank, merged id). */
typedef struct rx_merge {
    uint64_t key;
    int32_t rank, id;
} rx_merge;
typedef struct rx_mergemap {
    int64_t cap, count;
    rx_merge *slots; /* key == UINT64_MAX: empty */
} rx_mergemap;
rx_status rx_mergemap_put(rx_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const rx_merge *rx_mergemap_get(const rx_mergemap *m, int32_t a, int32_t b);
void rx_mergemap_free(rx_mergemap *m);

/* ---- UTF-8 and the GPT-2 alphabet (utf8.c) ---- */
/* Length of the UTF-8 sequence starting at s (1..4); invalid or truncated sequences count as
 * 1 byte, so any byte string is walked without loss. */
int rx_utf8_len(const unsigned char *s, int64_t avail);
/* Decodes one code point (after rx_utf8_len said it has n bytes); invalid bytes decode to
 * 0xFFFD. */
uint32_t rx_utf8_decode(const unsigned char *s, int n);
int rx_utf8_encode(uint32_t cp, char *out); /* returns 1..4 */
/* GPT-2's byte -> code point table and its inverse (-1 for code points outside the alphabet). */
uint32_t rx_byte_to_unicode(uint8_t b);
int rx_unicode_to_byte(uint32_t cp);
/* Unicode White_Space (char::is_whitespace in Rust) and word characters (\w). */
int rx_unicode_is_space(uint32_t cp);

/* ---- tokenizer layout ---- */
typedef enum rx_pre_kind {
    RX_PRE_SPLIT = 0,   /* regex or literal split with a delimiter behaviour */
    RX_PRE_BYTELEVEL,   /* optional prefix space + (use_regex) the GPT-2 split */
    RX_PRE_METASPACE    /* spaces -> U+2581, prepend per scheme, optional split */
} rx_pre_kind;

typedef enum rx_split_behavior {
    RX_SPLIT_REMOVED = 0, RX_SPLIT_ISOLATED, RX_SPLIT_MERGED_PREV, RX_SPLIT_MERGED_NEXT, RX_SPLIT_CONTIGUOUS
} rx_split_behavior;

typedef enum rx_prepend_scheme { RX_PREPEND_ALWAYS = 0, RX_PREPEND_FIRST, RX_PREPEND_NEVER } rx_prepend_scheme;

typedef struct rx_pre_step {
    rx_pre_kind kind;
    pcre2_code *re;              /* SPLIT (and BYTELEVEL with use_regex) */
    pcre2_match_data *md;
    rx_split_behavior behavior;
    int invert;
    int add_prefix_space;        /* BYTELEVEL */
    rx_prepend_scheme prepend;   /* METASPACE */
    int split;                   /* METASPACE */
    char replacement[8];         /* METASPACE: UTF-8 of the replacement char */
} rx_pre_step;

typedef enum rx_norm_kind { RX_NORM_PREPEND = 0, RX_NORM_REPLACE } rx_norm_kind;
typedef struct rx_norm_step {
    rx_norm_kind kind;
    char *pattern;  /* REPLACE: literal pattern */
    char *content;  /* PREPEND: the prefix; REPLACE: the replacement */
} rx_norm_step;

typedef enum rx_dec_kind {
    RX_DEC_BYTELEVEL = 0, RX_DEC_REPLACE, RX_DEC_BYTEFALLBACK, RX_DEC_FUSE, RX_DEC_STRIP, RX_DEC_METASPACE
} rx_dec_kind;
typedef struct rx_dec_step {
    rx_dec_kind kind;
    char *pattern, *content;   /* REPLACE; STRIP: content (one char) */
    int64_t start, stop;       /* STRIP */
    rx_prepend_scheme prepend; /* METASPACE */
    char replacement[8];       /* METASPACE */
} rx_dec_step;

typedef struct rx_added_token {
    char *content;
    int64_t len;
    char *match;       /* what is matched: content, or for normalized tokens the normalized content */
    int64_t match_len;
    int32_t id;
    int special, lstrip, rstrip, single_word, normalized;
} rx_added_token;

/* Word cache: pre-token bytes -> ids (bpe.c). Cleared when full. */
typedef struct rx_word_cache {
    rx_strmap index;        /* word -> entry number */
    rx_ids ids;             /* concatenated results */
    int64_t *starts;        /* entry -> [start, start + count) in ids */
    int32_t *counts;
    int64_t n, cap;
} rx_word_cache;

#define RX_WORD_CACHE_MAX 65536
#define RX_WORD_CACHE_MAX_LEN 128

struct rx_tokenizer {
    /* model */
    int64_t n_vocab;           /* model vocabulary: ids 0..n_vocab-1 may have a string */
    char **tokens;             /* id -> model token string (NULL for holes) */
    int32_t *token_lens;
    rx_strmap vocab;           /* model token string -> id */
    rx_mergemap merges;
    int byte_level;            /* initial symbols are bytes through the GPT-2 alphabet */
    int byte_fallback;         /* unknown chars become <0xXX> tokens */
    int ignore_merges;         /* a word found whole in the vocabulary is one token */
    int fuse_unk;
    int32_t byte_ids[256];     /* byte_level: id of each byte's char; byte_fallback: <0xXX> ids */
    int32_t model_unk_id;      /* model.unk_token id or -1 */
    /* added tokens (id order of addition); first-byte buckets for matching */
    rx_added_token *added;
    int64_t n_added, cap_added;
    rx_strmap added_index;     /* content -> index in added */
    int64_t vocab_size;        /* 1 + max id over model and added tokens */
    /* pipeline */
    rx_norm_step *norm;
    int n_norm;
    rx_pre_step *pre;
    int n_pre;
    rx_dec_step *dec;
    int n_dec;
    rx_ids prefix, suffix;     /* post-processor: ids around a single sequence */
    /* special ids (-1 when absent) and config */
    int32_t bos_id, eos_id, unk_id, pad_id;
    int add_bos, add_eos;
    rx_word_cache cache;
};

/* ---- internal entry points ---- */
rx_tokenizer *rx_tokenizer_alloc(void);
/* Adds a model token (loaders). Duplicates keep the first id, as HF does. */
rx_status rx_tokenizer_set_token(rx_tokenizer *t, int32_t id, const char *s, int64_t n);
/* Registers a merge of two token strings (rank = order of calls); errors name `where`. */
rx_status rx_tokenizer_add_merge(rx_tokenizer *t, const char *a, int64_t na, const char *b, int64_t nb,
                                 int32_t rank, const char *where);
/* Finishes a loaded model: byte tables, vocab_size. */
rx_status rx_tokenizer_finish(rx_tokenizer *t, const char *where);
rx_status rx_tokenizer_add_added(rx_tokenizer *t, const char *content, int64_t len, int32_t id, int special,
                                 int lstrip, int rstrip, int single_word, int normalized);
/* A compiled PCRE2 pattern (UTF + UCP, JIT when available); literal when `literal`. */
rx_status rx_regex_compile(const char *pattern, int64_t len, int literal, const char *where, pcre2_code **re,
                           pcre2_match_data **md);
extern const char rx_gpt2_pattern[];

/* One piece of text flowing through the pipeline: bytes at [off, off + len) of an arena, and the
 * offset in the original text where it started (for Metaspace's "first" scheme). */
typedef struct rx_piece {
    int64_t off, len;
    int64_t orig;
} rx_piece;
typedef struct rx_pieces {
    rx_piece *data;
    int64_t len, cap;
} rx_pieces;
rx_status rx_pieces_push(rx_pieces *p, int64_t off, int64_t len, int64_t orig);

/* Normalizes arena[piece] into new arena bytes, replacing *piece (pretokenize.c). */
rx_status rx_normalize(const rx_tokenizer *t, rx_buf *arena, rx_piece *piece);
/* Runs the pre-tokenizer steps over `in` (pieces of arena), producing the words in *out. */
rx_status rx_pretokenize(const rx_tokenizer *t, rx_buf *arena, const rx_pieces *in, rx_pieces *out);
/* BPE of one word (bytes) appended to ids (bpe.c); uses and fills the word cache. */
rx_status rx_bpe_word(rx_tokenizer *t, const char *word, int64_t n, rx_ids *ids);
void rx_word_cache_free(rx_word_cache *c);
void rx_word_cache_clear(rx_word_cache *c);
/* Splits text[0..n) on added tokens: pieces with id >= 0 are tokens, -1 are text
 * (added_tokens.c). `normalized` picks which tokens take part (HF matches non-normalized tokens
 * on the raw text, normalized ones after the normalizer). */
typedef struct rx_span {
    int64_t start, end;
    int32_t id;
} rx_span;
rx_status rx_split_added(const rx_tokenizer *t, const char *text, int64_t n, int normalized, int parse_special,
                         rx_span **spans, int64_t *n_spans);

#endif /* RECX_TEXT_H */
