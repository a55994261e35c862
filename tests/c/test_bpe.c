/* test_bpe.c — the C tokenizer API on hand-made vocabularies whose results are worked out by
 * hand in the comments: merge order (best rank first, leftmost on ties), byte-level symbols, byte
 * fallback and unknown tokens, added tokens (longest match, lstrip/rstrip/single_word, special vs
 * parse_special), post-processor ids, decoders, GGUF metadata (gpt2 and llama, merges recovered
 * from scores), runtime special tokens, and the errors of bad input. (Parity with HF on real
 * vocabularies is in tests/lua/test_tokenizer*.lua.)
 */
#include "check.h"

#include <stdlib.h>
#include <string.h>

static rx_tokenizer *from_json(const char *json)
{
    rx_tokenizer *t = NULL;
    rx_status st = rx_tokenizer_from_json(json, (int64_t)strlen(json), "t.json", &t);
    if (st != RX_OK) check_fail(__FILE__, __LINE__, "from_json: %s", rx_last_error());
    return t;
}

/* Encodes s and compares with the n expected ids. */
static void expect_ids(rx_tokenizer *t, const char *s, int add_special, int parse_special, int n, const int32_t *want,
                       int line)
{
    int32_t *ids = NULL;
    int64_t got = -1;
    rx_status st = rx_tokenizer_encode(t, s, (int64_t)strlen(s), add_special, parse_special, &ids, &got);
    if (st != RX_OK) {
        check_fail(__FILE__, line, "encode(\"%s\"): %s", s, rx_last_error());
        return;
    }
    int same = got == n;
    for (int i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        char buf[512] = "";
        for (int64_t i = 0; i < got && i < 40; i++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%d ", ids[i]);
        check_fail(__FILE__, line, "encode(\"%s\") = [%s] (%lld ids), expected %d ids", s, buf, (long long)got, n);
    }
    rx_tokenizer_free_ids(ids);
}
#define EXPECT(t, s, as, ps, ...)                                                                 \
    do {                                                                                          \
        const int32_t w_[] = {__VA_ARGS__};                                                       \
        expect_ids((t), (s), (as), (ps), (int)(sizeof w_ / sizeof w_[0]), w_, __LINE__);          \
    } while (0)

static void expect_decode(rx_tokenizer *t, int n, const int32_t *ids, int skip, const char *want, int64_t want_len,
                          int line)
{
    char *s = NULL;
    int64_t len = -1;
    rx_status st = rx_tokenizer_decode(t, ids, n, skip, &s, &len);
    if (st != RX_OK) check_fail(__FILE__, line, "decode: %s", rx_last_error());
    else if (len != want_len || memcmp(s, want, (size_t)len) != 0)
        check_fail(__FILE__, line, "decode = \"%.*s\" (%lld bytes), expected \"%s\"", (int)len, s, (long long)len, want);
    rx_tokenizer_free_text(s);
}
#define DECODE(t, skip, want, ...)                                                                \
    do {                                                                                          \
        const int32_t i_[] = {__VA_ARGS__};                                                       \
        expect_decode((t), (int)(sizeof i_ / sizeof i_[0]), i_, (skip), (want), (int64_t)strlen(want), __LINE__); \
    } while (0)

/* a b c ab bc abc aa; merges ranked b+c, a+b, a+bc, a+a */
static const char *ABC = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, "
                         "\"bc\": 4, \"abc\": 5, \"aa\": 6}, \"merges\": [\"b c\", \"a b\", [\"a\", \"bc\"], \"a a\"]}}";

static void test_merge_order(void)
{
    rx_tokenizer *t = from_json(ABC);
    if (!t) return;
    EXPECT(t, "abc", 0, 1, 5);       /* b+c (rank 0) first, then a+bc: not a+b */
    EXPECT(t, "aaa", 0, 1, 6, 0);    /* a+a at 0 and 1: the leftmost merges */
    EXPECT(t, "abab", 0, 1, 3, 3);
    EXPECT(t, "cab", 0, 1, 2, 3);
    EXPECT(t, "aaaa", 0, 1, 6, 6);
    CHECK(rx_tokenizer_vocab_size(t) == 7);
    DECODE(t, 0, "abcaab", 5, 6, 1);  /* no decoder: the token strings joined */
    /* no unk_token: a character outside the vocabulary is an error */
    int32_t *ids;
    int64_t n;
    CHECK_ERR(rx_tokenizer_encode(t, "abd", 3, 0, 1, &ids, &n), RX_ERR_ARG, "no token");
    CHECK(ids == NULL && n == 0);
    rx_tokenizer_free(t);
}

static void test_unknown_and_fallback(void)
{
    /* unk with fuse_unk: "xyab" -> <unk> (fused) ab */
    rx_tokenizer *t = from_json("{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, "
                                "\"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \"ab\": 3}, \"merges\": [\"a b\"]}}");
    if (!t) return;
    EXPECT(t, "xyab", 0, 1, 0, 3);
    EXPECT(t, "xaby", 0, 1, 0, 3, 0);
    rx_tokenizer_free(t);
    /* byte fallback: é (C3 A9) becomes <0xC3> <0xA9>; decoded back by ByteFallback + Fuse */
    t = from_json("{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\", "
                  "\"vocab\": {\"<unk>\": 0, \"<0xC3>\": 1, \"<0xA9>\": 2, \"a\": 3}, \"merges\": []}, "
                  "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}]}}");
    if (!t) return;
    EXPECT(t, "a\xc3\xa9z", 0, 1, 3, 1, 2, 0); /* z has no byte token <0x7A>: unk */
    DECODE(t, 0, "a\xc3\xa9", 3, 1, 2);
    DECODE(t, 0, "\xa9\xc3", 2, 1); /* invalid UTF-8 kept byte-exact */
    rx_tokenizer_free(t);
}

/* Byte-level: " a" is "Ġa"; the GPT-2 regex splits words; ByteLevel decoder. */
static void test_byte_level(void)
{
    rx_tokenizer *t = from_json(
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"\xc4\xa0\": 2, \"\xc4\xa0" "a\": 3, "
        "\"ab\": 4, \"\xc4\x8a\": 5, \"1\": 6, \"2\": 7, \"12\": 8}, \"merges\": [\"\xc4\xa0 a\", \"a b\", \"1 2\"]}, "
        "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}, "
        "\"decoder\": {\"type\": \"ByteLevel\"}}");
    if (!t) return;
    EXPECT(t, "ab ab", 0, 1, 4, 3, 1);   /* "ab" | " ab": Ġ+a first (rank 0), then b */
    EXPECT(t, "a\nb", 0, 1, 0, 5, 1);    /* \n is Ċ (U+010A) */
    EXPECT(t, "12 12", 0, 1, 8, 2, 8);   /* " 12" is one word: Ġ 1 2 -> Ġ 12 */
    DECODE(t, 0, "ab ab\n", 4, 3, 1, 5);
    rx_tokenizer_free(t);
    /* Digits(individual) before ByteLevel keeps 1 and 2 apart */
    t = from_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"1\": 0, \"2\": 1, \"12\": 2}, \"merges\": [\"1 2\"]}, "
                  "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", "
                  "\"individual_digits\": true}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false}]}}");
    if (!t) return;
    EXPECT(t, "12", 0, 1, 0, 1);
    rx_tokenizer_free(t);
}

static void test_added_tokens(void)
{
    /* letters a..e and space, no merges; added: <s> (special), <m> (lstrip), <r> (rstrip), W (single_word) */
    rx_tokenizer *t = from_json(
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \" \": 2, \"<\": 3, \"s\": 4, \">\": 5, \"W\": 6}, "
        "\"merges\": []}, \"added_tokens\": ["
        "{\"id\": 10, \"content\": \"<s>\", \"special\": true},"
        "{\"id\": 11, \"content\": \"<m>\", \"special\": true, \"lstrip\": true},"
        "{\"id\": 12, \"content\": \"<r>\", \"special\": false, \"rstrip\": true, \"normalized\": false},"
        "{\"id\": 13, \"content\": \"W\", \"single_word\": true, \"normalized\": false},"
        "{\"id\": 14, \"content\": \"<s><s>\", \"special\": true}],"
        "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}, "
        "{\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"<s>\"}}], \"special_tokens\": {\"<s>\": "
        "{\"id\": \"<s>\", \"ids\": [10], \"tokens\": [\"<s>\"]}}}}");
    if (!t) return;
    EXPECT(t, "a<s>b", 0, 1, 0, 10, 1);
    EXPECT(t, "a<s><s>b", 0, 1, 0, 14, 1);    /* the longest match wins */
    EXPECT(t, "a<s>b", 0, 0, 0, 3, 4, 5, 1);  /* parse_special off: plain text */
    EXPECT(t, "a  <m>b", 0, 1, 0, 11, 1);     /* lstrip eats the spaces before */
    EXPECT(t, "a<r>  b", 0, 0, 0, 12, 1);     /* rstrip eats the spaces after; not special: parsed anyway */
    EXPECT(t, "a W b", 0, 1, 0, 2, 13, 2, 1); /* single word: matched */
    EXPECT(t, "aWb", 0, 1, 0, 6, 1);          /* inside a word: not matched, W is the model's */
    EXPECT(t, "ab", 1, 1, 10, 0, 1, 10);      /* template: <s> A <s> */
    CHECK(rx_tokenizer_adds_bos(t) && rx_tokenizer_adds_eos(t));
    CHECK(rx_tokenizer_is_special(t, 10) && !rx_tokenizer_is_special(t, 12) && !rx_tokenizer_is_special(t, 0));
    CHECK(rx_tokenizer_vocab_size(t) == 15);
    CHECK(rx_tokenizer_token_to_id(t, "<m>", 3) == 11);
    int64_t len;
    CHECK(strcmp(rx_tokenizer_id_to_token(t, 12, &len), "<r>") == 0 && len == 3);
    CHECK(rx_tokenizer_id_to_token(t, 9, NULL) == NULL); /* a hole between the vocab and the added ids */
    DECODE(t, 0, "<s>ab<s>", 10, 0, 1, 10);
    DECODE(t, 1, "ab<r>", 10, 0, 1, 12, 10);
    /* runtime special tokens: new ids after 14, existing ones keep theirs */
    const char *news[] = {"<user>", "<item>", "<s>"};
    int32_t ids[3];
    CHECK_OK(rx_tokenizer_add_special(t, 3, news, ids));
    CHECK(ids[0] == 15 && ids[1] == 16 && ids[2] == 10);
    CHECK(rx_tokenizer_vocab_size(t) == 17);
    EXPECT(t, "a<user>b<item>", 0, 1, 0, 15, 1, 16);
    int32_t bad_id = 99;
    char *s;
    CHECK_ERR(rx_tokenizer_decode(t, &bad_id, 1, 0, &s, &len), RX_ERR_ARG, "id 99 (index 1) is not in the vocabulary");
    const char *empty[] = {""};
    CHECK_ERR(rx_tokenizer_add_special(t, 1, empty, ids), RX_ERR_ARG, "token 1 is empty");
    rx_tokenizer_free(t);
}

/* SentencePiece-style from GGUF metadata, merges recovered from the scores. */
static void test_gguf_llama(void)
{
    const char *tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab", "<0x0A>"};
    float scores_a[] = {0, 0, 0, 0, 0, 0, -1, -2, 0}; /* ▁a beats ab */
    float scores_b[] = {0, 0, 0, 0, 0, 0, -2, -1, 0}; /* ab beats ▁a */
    int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 6};
    rx_tokenizer_gguf m = {.model = "llama", .n_tokens = 9, .tokens = tokens, .scores = scores_a, .token_types = types,
                           .bos_id = 1, .eos_id = 2, .unk_id = 0, .pad_id = -1, .add_bos = -1, .add_eos = -1,
                           .add_space_prefix = -1};
    rx_tokenizer *t = NULL;
    CHECK_OK(rx_tokenizer_from_gguf(&m, &t));
    if (!t) return;
    /* "ab" -> "▁ab": ▁+a (best score) then nothing: [▁a, b]; BOS by default for llama */
    EXPECT(t, "ab", 1, 1, 1, 6, 5);
    EXPECT(t, "a\nb", 0, 1, 6, 8, 5); /* \n by byte fallback */
    DECODE(t, 0, "<s> ab\n", 1, 6, 5, 8); /* Replace ▁, ByteFallback, Fuse; Strip finds no leading space */
    DECODE(t, 1, "ab", 1, 6, 5);
    CHECK(rx_tokenizer_special_id(t, RX_TOKEN_BOS) == 1 && rx_tokenizer_special_id(t, RX_TOKEN_PAD) == -1);
    rx_tokenizer_free(t);
    m.scores = scores_b;
    t = NULL;
    CHECK_OK(rx_tokenizer_from_gguf(&m, &t));
    if (!t) return;
    EXPECT(t, "ab", 0, 1, 3, 7); /* a+b first: [▁, ab] */
    rx_tokenizer_free(t);
}

static void test_gguf_gpt2(void)
{
    /* gpt2: tokens in the byte alphabet; a control token; pre "llama-bpe" picks the Llama-3 split,
     * which keeps up to 3 digits together */
    const char *tokens[] = {"1", "2", "3", "4", "12", "123", "<|x|>", "\xc4\xa0"};
    const char *merges[] = {"1 2", "12 3"};
    int32_t types[] = {1, 1, 1, 1, 1, 1, 3, 1};
    rx_tokenizer_gguf m = {.model = "gpt2", .pre = "llama-bpe", .n_tokens = 8, .tokens = tokens, .token_types = types,
                           .n_merges = 2, .merges = merges, .bos_id = 6, .eos_id = 6, .unk_id = -1, .pad_id = -1,
                           .add_bos = 1, .add_eos = 0, .add_space_prefix = 0};
    rx_tokenizer *t = NULL;
    CHECK_OK(rx_tokenizer_from_gguf(&m, &t));
    if (!t) return;
    EXPECT(t, "1234", 1, 1, 6, 5, 3);  /* \p{N}{1,3}: "123" "4" */
    EXPECT(t, "<|x|>12", 0, 1, 6, 4);
    CHECK(rx_tokenizer_is_special(t, 6));
    rx_tokenizer_free(t);
    m.pre = "smollm"; /* GPT-2 regex: "1234" is one word */
    t = NULL;
    CHECK_OK(rx_tokenizer_from_gguf(&m, &t));
    if (t) EXPECT(t, "1234", 0, 1, 5, 3);
    rx_tokenizer_free(t);
    m.model = "t5";
    CHECK_ERR(rx_tokenizer_from_gguf(&m, &t), RX_ERR_UNSUPPORTED, "tokenizer.ggml.model 't5' is not supported");
    m.model = "gpt2";
    m.n_merges = 0;
    CHECK_ERR(rx_tokenizer_from_gguf(&m, &t), RX_ERR_ARG, "needs tokenizer.ggml.merges");
    const char *bad_merges[] = {"1 9"};
    m.merges = bad_merges;
    m.n_merges = 1;
    CHECK_ERR(rx_tokenizer_from_gguf(&m, &t), RX_ERR_FORMAT, "token '9' is not in the vocabulary");
    CHECK(t == NULL);
}

static void test_json_errors(void)
{
    rx_tokenizer *t = NULL;
    const char *cases[][2] = {
        {"{\"model\": {\"type\": \"Unigram\"}}", "t.json: model.type 'Unigram' is not supported"},
        {"{\"model\": {\"type\": \"WordPiece\"}}", "model.type 'WordPiece' is not supported"},
        {"{\"model\": {\"vocab\": {\"a\": 0}}, \"normalizer\": {\"type\": \"NFKC\"}}", "normalizer.type 'NFKC' is not supported"},
        {"{\"model\": {\"vocab\": {\"a\": 0}}, \"decoder\": {\"type\": \"WordPiece\"}}", "decoder.type 'WordPiece'"},
        {"{\"model\": {\"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, "
         "\"behavior\": \"Isolated\"}}", "pre_tokenizer.pattern: cannot compile the pattern"},
        {"{\"model\": {\"vocab\": {\"a\": -1}}}", "model.vocab['a']: expected an id >= 0"},
        {"{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", "model.merges[0]: expected \"a b\""},
        {"{\"model\": {\"vocab\": {\"a\": 0}, \"unk_token\": \"<unk>\"}}", "model.unk_token '<unk>' is not in model.vocab"},
        {"{\"model\": {\"vocab\": {}}}", "the vocabulary is empty"},
        {"[1, 2", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rx_status st = rx_tokenizer_from_json(cases[i][0], (int64_t)strlen(cases[i][0]), "t.json", &t);
        CHECK(st != RX_OK && t == NULL);
        if (st != RX_OK && !strstr(rx_last_error(), cases[i][1]))
            check_fail(__FILE__, __LINE__, "case %zu: message \"%s\" lacks \"%s\"", i, rx_last_error(), cases[i][1]);
    }
    CHECK_ERR(rx_tokenizer_load_json("/no/such/tokenizer.json", &t), RX_ERR_IO, "cannot open '/no/such/tokenizer.json'");
}

int main(void)
{
    RUN(test_merge_order);
    RUN(test_unknown_and_fallback);
    RUN(test_byte_level);
    RUN(test_added_tokens);
    RUN(test_gguf_llama);
    RUN(test_gguf_gpt2);
    RUN(test_json_errors);
    return check_finish();
}
