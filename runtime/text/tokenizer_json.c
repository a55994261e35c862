/* tokenizer_json.c — loading a tokenizer from HF's tokenizer.json (cJSON).
 *
 * Owns: the subset of tokenizer.json that byte-level BPE (GPT-2, SmolLM2, Llama-3, Qwen2 style)
 * and SentencePiece-style BPE with byte fallback (Llama-2, Mistral, TinyLlama) use; docs/formats.md
 * "tokenizer.json subset" lists it. model: BPE (vocab, merges as "a b" strings or [a, b] pairs,
 * unk_token, byte_fallback, fuse_unk, ignore_merges); added_tokens; normalizer: Sequence, Prepend,
 * Replace (literal), NFC; pre_tokenizer: Sequence, Split, Digits, ByteLevel, Metaspace;
 * post_processor: ByteLevel, TemplateProcessing (single sequence), Sequence; decoder: Sequence,
 * ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace. Anything else is an error naming the
 * JSON path ("tokenizer.json: model.type 'Unigram' is not supported").
 */
#include "text.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jctx {
    rx_tokenizer *t;
    const char *name;
} jctx;

static rx_status unsupported(const jctx *c, const char *path, const char *what)
{
    return rx_fail(RX_ERR_UNSUPPORTED, "%s: %s '%s' is not supported", c->name, path, what);
}

static rx_status bad(const jctx *c, const char *path, const char *expected)
{
    return rx_fail(RX_ERR_FORMAT, "%s: %s: expected %s", c->name, path, expected);
}

/* unsupported() for the field `field` of the node at `path` ("decoder.type"). */
static rx_status unsupported_at(const jctx *c, const char *path, const char *field, const char *what)
{
    char sub[160];
    snprintf(sub, sizeof sub, "%s.%s", path, field);
    return unsupported(c, sub, what);
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A boolean field; `def` when absent or null. */
static int jbool(const cJSON *o, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return def;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* {"String": "x"} or {"Regex": "x"}: the pattern and whether it is literal. */
static rx_status pattern_of(const jctx *c, const cJSON *o, const char *path, const char **pat, int *literal)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    *literal = 0;
    if ((*pat = jstr(p, "String"))) {
        *literal = 1;
        return RX_OK;
    }
    if ((*pat = jstr(p, "Regex"))) return RX_OK;
    return bad(c, path, "pattern {\"String\": ...} or {\"Regex\": ...}");
}

static rx_status prepend_scheme_of(const jctx *c, const cJSON *o, const char *path, rx_prepend_scheme *out)
{
    const char *s = jstr(o, "prepend_scheme");
    if (!s) {
        *out = jbool(o, "add_prefix_space", 1) ? RX_PREPEND_ALWAYS : RX_PREPEND_NEVER;
        return RX_OK;
    }
    if (!strcmp(s, "always")) *out = RX_PREPEND_ALWAYS;
    else if (!strcmp(s, "first")) *out = RX_PREPEND_FIRST;
    else if (!strcmp(s, "never")) *out = RX_PREPEND_NEVER;
    else return unsupported(c, path, s);
    return RX_OK;
}

/* A Replace step: a literal pattern (a regex is not supported) and a 'content' string. */
static rx_status replace_of(const jctx *c, const cJSON *o, const char *path, const char **pat, const char **content)
{
    int literal;
    RX_TRY(pattern_of(c, o, path, pat, &literal));
    if (!literal) return unsupported_at(c, path, "pattern.Regex", *pat);
    *content = jstr(o, "content");
    if (!*content) return bad(c, path, "a 'content' string");
    return RX_OK;
}

static rx_status replacement_of(const jctx *c, const cJSON *o, const char *path, char out[8])
{
    const char *r = jstr(o, "replacement");
    if (!r) r = "\xe2\x96\x81";
    if (strlen(r) == 0 || strlen(r) > 7) return bad(c, path, "a one-character replacement");
    strcpy(out, r);
    return RX_OK;
}

typedef rx_status (*node_loader)(jctx *c, const cJSON *n, const char *path);

/* A Sequence node: loads each item of the array n[key] with `load`, naming it path.key[i]. */
static rx_status load_sequence(jctx *c, const cJSON *n, const char *path, const char *key, node_loader load)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, key), *e;
    char sub[128];
    int i = 0;
    cJSON_ArrayForEach(e, list)
    {
        snprintf(sub, sizeof sub, "%s.%s[%d]", path, key, i++);
        RX_TRY(load(c, e, sub));
    }
    return RX_OK;
}

/* Grows an array of `n` steps of `size` bytes by one zeroed step at the end; NULL when out of memory
 * (the old array is then untouched). */
static void *grow_steps(void *steps, int n, size_t size)
{
    char *p = realloc(steps, (size_t)(n + 1) * size);
    if (p) memset(p + (size_t)n * size, 0, size);
    return p;
}

/* ---- model ---- */

static rx_status load_model(jctx *c, const cJSON *m)
{
    rx_tokenizer *t = c->t;
    if (!cJSON_IsObject(m)) return bad(c, "model", "an object");
    const char *type = jstr(m, "type");
    if (type && strcmp(type, "BPE") != 0) return unsupported(c, "model.type", type);
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (cJSON_IsNumber(drop) && drop->valuedouble > 0) return unsupported(c, "model.dropout", "> 0");
    const char *csp = jstr(m, "continuing_subword_prefix"), *eow = jstr(m, "end_of_word_suffix");
    if (csp && csp[0]) return unsupported(c, "model.continuing_subword_prefix", csp);
    if (eow && eow[0]) return unsupported(c, "model.end_of_word_suffix", eow);
    t->byte_fallback = jbool(m, "byte_fallback", 0);
    t->fuse_unk = jbool(m, "fuse_unk", 0);
    t->ignore_merges = jbool(m, "ignore_merges", 0);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(m, "vocab");
    if (!cJSON_IsObject(vocab)) return bad(c, "model.vocab", "an object of token -> id");
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab)
    {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > INT32_MAX || e->valuedouble != (int32_t)e->valuedouble)
            return rx_fail(RX_ERR_FORMAT, "%s: model.vocab['%s']: expected an id >= 0", c->name, e->string);
        RX_TRY(rx_tokenizer_set_token(t, (int32_t)e->valuedouble, e->string, (int64_t)strlen(e->string)));
    }
    const char *unk = jstr(m, "unk_token");
    if (unk) {
        t->model_unk_id = rx_strmap_get(&t->vocab, unk, (int64_t)strlen(unk));
        if (t->model_unk_id < 0) return rx_fail(RX_ERR_FORMAT, "%s: model.unk_token '%s' is not in model.vocab", c->name, unk);
        t->unk_id = t->model_unk_id;
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (merges && !cJSON_IsArray(merges)) return bad(c, "model.merges", "an array");
    int32_t rank = 0;
    char path[64];
    cJSON_ArrayForEach(e, merges)
    {
        snprintf(path, sizeof path, "%s: model.merges[%d]", c->name, rank);
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s + (s[0] ? 1 : 0), ' ');
            if (!sp) return rx_fail(RX_ERR_FORMAT, "%s: expected \"a b\", got '%s'", path, s);
            RX_TRY(rx_tokenizer_add_merge(t, s, sp - s, sp + 1, (int64_t)strlen(sp + 1), rank, path));
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
            RX_TRY(rx_tokenizer_add_merge(t, a, (int64_t)strlen(a), b, (int64_t)strlen(b), rank, path));
        } else {
            return rx_fail(RX_ERR_FORMAT, "%s: expected \"a b\" or [\"a\", \"b\"]", path);
        }
        rank++;
    }
    return RX_OK;
}

/* ---- normalizer ---- */

static rx_status add_norm(jctx *c, rx_norm_kind kind, const char *pattern, const char *content)
{
    rx_tokenizer *t = c->t;
    rx_norm_step *p = grow_steps(t->norm, t->n_norm, sizeof *p);
    if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    t->norm = p;
    rx_norm_step *s = &t->norm[t->n_norm];
    s->kind = kind;
    s->pattern = pattern ? dupstr(pattern) : NULL;
    s->content = dupstr(content);
    t->n_norm++;
    if ((pattern && !s->pattern) || !s->content) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    return RX_OK;
}

static rx_status load_normalizer(jctx *c, const cJSON *n, const char *path)
{
    if (!n || cJSON_IsNull(n)) return RX_OK;
    const char *type = jstr(n, "type");
    if (!type) return bad(c, path, "an object with a type");
    if (!strcmp(type, "Sequence")) return load_sequence(c, n, path, "normalizers", load_normalizer);
    if (!strcmp(type, "Prepend")) {
        const char *p = jstr(n, "prepend");
        if (!p) return bad(c, path, "a 'prepend' string");
        return add_norm(c, RX_NORM_PREPEND, NULL, p);
    }
    if (!strcmp(type, "Replace")) {
        const char *pat, *content;
        RX_TRY(replace_of(c, n, path, &pat, &content));
        return add_norm(c, RX_NORM_REPLACE, pat, content);
    }
    if (!strcmp(type, "NFC")) return add_norm(c, RX_NORM_NFC, NULL, "");
    return unsupported_at(c, path, "type", type);
}

/* ---- pre-tokenizer ---- */

static rx_status new_pre(jctx *c, rx_pre_step **out)
{
    rx_tokenizer *t = c->t;
    rx_pre_step *p = grow_steps(t->pre, t->n_pre, sizeof *p);
    if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    t->pre = p;
    *out = &t->pre[t->n_pre++];
    return RX_OK;
}

static rx_status split_behavior(const jctx *c, const char *s, const char *path, rx_split_behavior *out)
{
    if (!s) return bad(c, path, "a 'behavior'");
    if (!strcmp(s, "Removed")) *out = RX_SPLIT_REMOVED;
    else if (!strcmp(s, "Isolated")) *out = RX_SPLIT_ISOLATED;
    else if (!strcmp(s, "MergedWithPrevious")) *out = RX_SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext")) *out = RX_SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous")) *out = RX_SPLIT_CONTIGUOUS;
    else return unsupported_at(c, path, "behavior", s);
    return RX_OK;
}

static rx_status load_pre(jctx *c, const cJSON *n, const char *path)
{
    if (!n || cJSON_IsNull(n)) return RX_OK;
    const char *type = jstr(n, "type");
    char sub[128];
    if (!type) return bad(c, path, "an object with a type");
    if (c->t->byte_level)
        return rx_fail(RX_ERR_UNSUPPORTED, "%s: %s: a pre-tokenizer after ByteLevel is not supported", c->name, path);
    rx_pre_step *s = NULL;
    if (!strcmp(type, "Sequence")) return load_sequence(c, n, path, "pretokenizers", load_pre);
    if (!strcmp(type, "Split")) {
        const char *pat;
        int literal;
        rx_split_behavior beh = RX_SPLIT_ISOLATED;
        RX_TRY(pattern_of(c, n, path, &pat, &literal));
        RX_TRY(split_behavior(c, jstr(n, "behavior"), path, &beh));
        RX_TRY(new_pre(c, &s));
        s->kind = RX_PRE_SPLIT;
        s->behavior = beh;
        s->invert = jbool(n, "invert", 0);
        snprintf(sub, sizeof sub, "%s: %s.pattern", c->name, path);
        return rx_regex_compile(pat, (int64_t)strlen(pat), literal, sub, &s->re, &s->md);
    }
    if (!strcmp(type, "Digits")) {
        int individual = jbool(n, "individual_digits", 0);
        RX_TRY(new_pre(c, &s));
        s->kind = RX_PRE_SPLIT;
        s->behavior = individual ? RX_SPLIT_ISOLATED : RX_SPLIT_CONTIGUOUS;
        snprintf(sub, sizeof sub, "%s: %s", c->name, path);
        return rx_regex_compile("\\p{N}", 5, 0, sub, &s->re, &s->md);
    }
    if (!strcmp(type, "ByteLevel")) {
        RX_TRY(new_pre(c, &s));
        s->kind = RX_PRE_BYTELEVEL;
        s->add_prefix_space = jbool(n, "add_prefix_space", 1);
        s->behavior = RX_SPLIT_ISOLATED;
        c->t->byte_level = 1;
        if (!jbool(n, "use_regex", 1)) return RX_OK;
        snprintf(sub, sizeof sub, "%s: %s", c->name, path);
        return rx_regex_compile(rx_gpt2_pattern, (int64_t)strlen(rx_gpt2_pattern), 0, sub, &s->re, &s->md);
    }
    if (!strcmp(type, "Metaspace")) {
        RX_TRY(new_pre(c, &s));
        s->kind = RX_PRE_METASPACE;
        s->split = jbool(n, "split", 1);
        RX_TRY(replacement_of(c, n, path, s->replacement));
        return prepend_scheme_of(c, n, path, &s->prepend);
    }
    return unsupported_at(c, path, "type", type);
}

/* ---- post-processor ---- */

static rx_status load_template(jctx *c, const cJSON *n, const char *path)
{
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(n, "single"), *specials =
        cJSON_GetObjectItemCaseSensitive(n, "special_tokens"), *e;
    if (!cJSON_IsArray(single)) return bad(c, path, "a 'single' array");
    int seen_seq = 0, i = 0;
    char sub[160];
    cJSON_ArrayForEach(e, single)
    {
        snprintf(sub, sizeof sub, "%s.single[%d]", path, i++);
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) {
            seen_seq = 1;
            continue;
        }
        const char *name = jstr(sp, "id");
        if (!name) return bad(c, sub, "{\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}");
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(specials, name);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(tok, "ids"), *id;
        if (!cJSON_IsArray(ids)) return rx_fail(RX_ERR_FORMAT, "%s: %s: special token '%s' is not in special_tokens",
                                                c->name, sub, name);
        cJSON_ArrayForEach(id, ids)
        {
            if (!cJSON_IsNumber(id) || id->valuedouble < 0) return bad(c, sub, "special token ids >= 0");
            RX_TRY(rx_ids_push(seen_seq ? &c->t->suffix : &c->t->prefix, (int32_t)id->valuedouble));
        }
    }
    return RX_OK;
}

static rx_status load_post(jctx *c, const cJSON *n, const char *path)
{
    if (!n || cJSON_IsNull(n)) return RX_OK;
    const char *type = jstr(n, "type");
    if (!type) return bad(c, path, "an object with a type");
    if (!strcmp(type, "ByteLevel")) return RX_OK; /* offsets only */
    if (!strcmp(type, "TemplateProcessing")) return load_template(c, n, path);
    if (!strcmp(type, "Sequence")) return load_sequence(c, n, path, "processors", load_post);
    return unsupported_at(c, path, "type", type);
}

/* ---- decoder ---- */

static rx_status new_dec(jctx *c, rx_dec_kind kind, rx_dec_step **out)
{
    rx_tokenizer *t = c->t;
    rx_dec_step *p = grow_steps(t->dec, t->n_dec, sizeof *p);
    if (!p) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
    t->dec = p;
    *out = &t->dec[t->n_dec++];
    (*out)->kind = kind;
    return RX_OK;
}

static rx_status load_decoder(jctx *c, const cJSON *n, const char *path)
{
    if (!n || cJSON_IsNull(n)) return RX_OK;
    const char *type = jstr(n, "type");
    rx_dec_step *d = NULL;
    if (!type) return bad(c, path, "an object with a type");
    if (!strcmp(type, "Sequence")) return load_sequence(c, n, path, "decoders", load_decoder);
    if (!strcmp(type, "ByteLevel")) return new_dec(c, RX_DEC_BYTELEVEL, &d);
    if (!strcmp(type, "ByteFallback")) return new_dec(c, RX_DEC_BYTEFALLBACK, &d);
    if (!strcmp(type, "Fuse")) return new_dec(c, RX_DEC_FUSE, &d);
    if (!strcmp(type, "Replace")) {
        const char *pat, *content;
        RX_TRY(replace_of(c, n, path, &pat, &content));
        RX_TRY(new_dec(c, RX_DEC_REPLACE, &d));
        d->pattern = dupstr(pat);
        d->content = dupstr(content);
        if (!d->pattern || !d->content) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
        return RX_OK;
    }
    if (!strcmp(type, "Strip")) {
        const char *content = jstr(n, "content");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(n, "start"), *b = cJSON_GetObjectItemCaseSensitive(n, "stop");
        if (!content || !cJSON_IsNumber(a) || !cJSON_IsNumber(b)) return bad(c, path, "content, start and stop");
        RX_TRY(new_dec(c, RX_DEC_STRIP, &d));
        d->start = (int64_t)a->valuedouble;
        d->stop = (int64_t)b->valuedouble;
        d->content = dupstr(content);
        if (!d->content) return rx_fail(RX_ERR_NOMEM, "tokenizer: out of memory");
        return RX_OK;
    }
    if (!strcmp(type, "Metaspace")) {
        RX_TRY(new_dec(c, RX_DEC_METASPACE, &d));
        RX_TRY(replacement_of(c, n, path, d->replacement));
        return prepend_scheme_of(c, n, path, &d->prepend);
    }
    return unsupported_at(c, path, "type", type);
}

/* ---- added tokens ---- */

static rx_status load_added(jctx *c, const cJSON *list)
{
    if (!list || cJSON_IsNull(list)) return RX_OK;
    if (!cJSON_IsArray(list)) return bad(c, "added_tokens", "an array");
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, list)
    {
        const char *content = jstr(e, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        if (!content || !cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX)
            return rx_fail(RX_ERR_FORMAT, "%s: added_tokens[%d]: expected 'id' (>= 0) and 'content'", c->name, i);
        int special = jbool(e, "special", 0);
        RX_TRY(rx_tokenizer_add_added(c->t, content, (int64_t)strlen(content), (int32_t)id->valuedouble, special,
                                      jbool(e, "lstrip", 0), jbool(e, "rstrip", 0), jbool(e, "single_word", 0),
                                      jbool(e, "normalized", !special)));
        i++;
    }
    return RX_OK;
}

rx_status rx_tokenizer_from_json(const char *json, int64_t len, const char *name, rx_tokenizer **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "tokenizer_from_json: the output pointer is NULL");
    *out = NULL;
    if (!json) return rx_fail(RX_ERR_ARG, "tokenizer_from_json: argument #1: text is NULL");
    if (!name) name = "tokenizer.json";
    cJSON *root = cJSON_ParseWithLength(json, (size_t)len);
    if (!root) return rx_fail(RX_ERR_FORMAT, "%s: invalid JSON near byte %lld", name,
                              (long long)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : 0));
    jctx c = {rx_tokenizer_alloc(), name};
    rx_status st = c.t ? RX_OK : RX_ERR_NOMEM;
    if (st == RX_OK && !cJSON_IsObject(root)) st = bad(&c, "(root)", "an object");
    if (st == RX_OK) st = load_model(&c, cJSON_GetObjectItemCaseSensitive(root, "model"));
    if (st == RX_OK) st = load_normalizer(&c, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer");
    if (st == RX_OK) st = load_pre(&c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), "pre_tokenizer");
    if (st == RX_OK) st = load_post(&c, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), "post_processor");
    if (st == RX_OK) st = load_decoder(&c, cJSON_GetObjectItemCaseSensitive(root, "decoder"), "decoder");
    if (st == RX_OK) st = load_added(&c, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"));
    if (st == RX_OK) st = rx_tokenizer_finish(c.t, name);
    cJSON_Delete(root);
    if (st != RX_OK) {
        rx_tokenizer_free(c.t);
        return st;
    }
    rx_tokenizer *t = c.t;
    for (int64_t i = 0; i < t->prefix.len + t->suffix.len; i++) {
        int32_t id = i < t->prefix.len ? t->prefix.data[i] : t->suffix.data[i - t->prefix.len];
        if (id >= t->vocab_size) {
            rx_tokenizer_free(t);
            return rx_fail(RX_ERR_FORMAT, "%s: post_processor: special token id %d is not in the vocabulary", name, id);
        }
    }
    t->add_bos = t->prefix.len > 0;
    t->add_eos = t->suffix.len > 0;
    if (t->prefix.len) t->bos_id = t->prefix.data[0];
    if (t->suffix.len) t->eos_id = t->suffix.data[t->suffix.len - 1];
    *out = t;
    return RX_OK;
}

rx_status rx_tokenizer_load_json(const char *path, rx_tokenizer **out)
{
    if (!out) return rx_fail(RX_ERR_ARG, "tokenizer_load_json: the output pointer is NULL");
    *out = NULL;
    if (!path) return rx_fail(RX_ERR_ARG, "tokenizer_load_json: argument #1: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return rx_fail(RX_ERR_IO, "tokenizer: cannot open '%s'", path);
    rx_buf b = {0};
    char chunk[65536];
    size_t n;
    rx_status st = RX_OK;
    while (st == RX_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) st = rx_buf_append(&b, chunk, (int64_t)n);
    if (st == RX_OK && ferror(f)) st = rx_fail(RX_ERR_IO, "tokenizer: cannot read '%s'", path);
    fclose(f);
    if (st == RX_OK) st = rx_tokenizer_from_json(b.data ? b.data : "", b.len, path, out);
    rx_buf_free(&b);
    return st;
}
