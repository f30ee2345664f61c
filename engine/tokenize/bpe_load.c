/* Loads a HuggingFace tokenizer.json with a BPE model: the file, the top level and the model
 * (vocab, merges, options). Normalizer, pre-tokenizer, added tokens and post-processor are read by
 * bpe_load_parts.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenize/bpe.h"
#include "engine/base/fileutil.h"

#define BPE_MAX_FILE_BYTES ((size_t)1 << 30) /* a larger tokenizer.json is not a tokenizer file */
#define BPE_MAX_VOCAB (1 << 26)

/* Line and column (1-based) of byte offset at in text. */
static void line_col(const char *text, size_t at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; ++i) {
        if (text[i] == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

/* Reads an optional string member that must be null, absent or "" (a non-empty value is unsupported). */
static ribo_status empty_string_only(const cJSON *model, const char *key, const char *path, ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0')) return RIBO_OK;
    char q[BPE_QUOTE_CAP];
    if (cJSON_IsString(v))
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: model.%s %s is not supported (only null or \"\")", path,
                              key, bpe_quote(q, sizeof q, v->valuestring));
    return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.%s is not a string or null", path, key);
}

/* Checks the model's options: type, dropout, byte_fallback, prefix/suffix, fuse_unk, ignore_merges. */
static ribo_status load_options(ribo_bpe *b, const cJSON *model, const char *path, ribo_error *err) {
    char q[BPE_QUOTE_CAP];
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && !cJSON_IsString(type))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.type is not a string", path);
    if (type && strcmp(type->valuestring, "BPE") != 0)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: model type %s is not supported (only BPE)", path,
                              bpe_quote(q, sizeof q, type->valuestring));
    if (!type && !cJSON_GetObjectItemCaseSensitive(model, "merges"))
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: model has no \"type\" and no merges: only BPE models are supported", path);
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout)) {
        if (!cJSON_IsNumber(dropout))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.dropout is not a number or null", path);
        if (dropout->valuedouble != 0.0)
            return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: model.dropout %g is not supported (only null)", path,
                                  dropout->valuedouble);
    }
    RIBO_TRY(empty_string_only(model, "continuing_subword_prefix", path, err));
    RIBO_TRY(empty_string_only(model, "end_of_word_suffix", path, err));
    bool byte_fallback = false;
    RIBO_TRY(bpe_json_bool(model, "byte_fallback", false, &byte_fallback, "model", path, err));
    if (byte_fallback)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: model.byte_fallback true is not supported", path);
    RIBO_TRY(bpe_json_bool(model, "fuse_unk", false, &b->fuse_unk, "model", path, err));
    return bpe_json_bool(model, "ignore_merges", false, &b->ignore_merges, "model", path, err);
}

/* Reads model.vocab (token -> id): ids must be exactly 0..n-1, each once, each token once. */
static ribo_status load_vocab(ribo_bpe *b, const cJSON *vocab, int n_added_max, const char *path,
                              ribo_error *err) {
    char q[BPE_QUOTE_CAP], q2[BPE_QUOTE_CAP];
    if (!cJSON_IsObject(vocab))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab is missing or not an object", path);
    int n = cJSON_GetArraySize(vocab);
    if (n == 0) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab is empty", path);
    if (n > BPE_MAX_VOCAB)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab has %d tokens, more than %d", path, n,
                              BPE_MAX_VOCAB);
    b->n_model = b->n_total = n;
    b->text = calloc((size_t)n + (size_t)n_added_max, sizeof *b->text);
    if (!b->text || !bpe_strmap_init(&b->ids, (size_t)n + (size_t)n_added_max))
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory for %d tokens", path, n);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        const char *tok = e->string;
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab: token %s has an id that is not an integer",
                                  path, bpe_quote(q, sizeof q, tok));
        double v = e->valuedouble;
        if (v < 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab: token %s has a negative id (%.0f)", path,
                                  bpe_quote(q, sizeof q, tok), v);
        if (v >= n)
            return ribo_error_set(err, RIBO_ERR_MODEL,
                                  "%s: model.vocab: token %s has id %.0f, out of range (%d tokens: ids 0..%d)", path,
                                  bpe_quote(q, sizeof q, tok), v, n, n - 1);
        int32_t id = (int32_t)v;
        if (b->text[id])
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab: tokens %s and %s both have id %d", path,
                                  bpe_quote(q, sizeof q, b->text[id]), bpe_quote(q2, sizeof q2, tok), id);
        b->text[id] = strdup(tok);
        if (!b->text[id]) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        if (bpe_strmap_put(&b->ids, b->text[id], strlen(tok), id) >= 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.vocab: token %s appears twice", path,
                                  bpe_quote(q, sizeof q, tok));
    }
    for (int c = 0; c < 128; ++c) {
        char one = (char)c;
        b->char_id[c] = bpe_strmap_get(&b->ids, &one, 1);
    }
    return RIBO_OK;
}

/* Splits merge entry e into its two tokens (pointers into e, lengths); *skip for a "#version" line. */
static ribo_status merge_parts(const cJSON *e, int idx, int *style, const char **a, size_t *la, const char **bb,
                               size_t *lb, bool *skip, const char *path, ribo_error *err) {
    char q[BPE_QUOTE_CAP];
    *skip = false;
    int this_style = cJSON_IsString(e) ? 1 : 2;
    if (cJSON_IsString(e)) {
        const char *s = e->valuestring, *sp = strchr(s, ' ');
        if (strncmp(s, "#version", 8) == 0) {
            *skip = true;
            return RIBO_OK;
        }
        if (!sp || strchr(sp + 1, ' '))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.merges[%d] %s is not two tokens separated by one space",
                                  path, idx, bpe_quote(q, sizeof q, s));
        *a = s;
        *la = (size_t)(sp - s);
        *bb = sp + 1;
        *lb = strlen(sp + 1);
    } else {
        const cJSON *x = cJSON_IsArray(e) ? e->child : NULL, *y = x ? x->next : NULL;
        if (!cJSON_IsString(x) || !cJSON_IsString(y) || y->next)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]",
                                  path, idx);
        *a = x->valuestring;
        *la = strlen(*a);
        *bb = y->valuestring;
        *lb = strlen(*bb);
    }
    if (*style && *style != this_style)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: model.merges[%d]: merges mix \"a b\" strings and [\"a\", \"b\"] pairs", path, idx);
    *style = this_style;
    return RIBO_OK;
}

/* Model id of s[0..n), or -1 (added tokens outside the model vocabulary do not count). */
static int32_t model_id(const ribo_bpe *b, const char *s, size_t n) {
    int32_t id = bpe_strmap_get(&b->ids, s, n);
    return id < b->n_model ? id : -1;
}

/* Reads model.merges: rank = position (without "#version" lines); both parts and their
 * concatenation must be model tokens. */
static ribo_status load_merges(ribo_bpe *b, const cJSON *merges, const char *path, ribo_error *err) {
    if (!cJSON_IsArray(merges))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.merges is missing or not an array", path);
    size_t n = (size_t)cJSON_GetArraySize(merges), max_len = 0;
    b->merge_new = malloc((n ? n : 1) * sizeof *b->merge_new);
    for (int32_t i = 0; i < b->n_model; ++i)
        if (strlen(b->text[i]) > max_len) max_len = strlen(b->text[i]);
    char *cat = malloc(max_len + 1);
    if (!b->merge_new || !cat || !bpe_pairmap_init(&b->merges, n)) {
        free(cat);
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu merges", path, n);
    }
    int style = 0, idx = 0;
    ribo_status s = RIBO_OK;
    char q[BPE_QUOTE_CAP], q2[BPE_QUOTE_CAP], q3[BPE_QUOTE_CAP];
    for (const cJSON *e = merges->child; e && s == RIBO_OK; e = e->next, ++idx) {
        const char *a = NULL, *c = NULL;
        size_t la = 0, lc = 0;
        bool skip = false;
        s = merge_parts(e, idx, &style, &a, &la, &c, &lc, &skip, path, err);
        if (s != RIBO_OK || skip) continue;
        int32_t ia = model_id(b, a, la), ic = model_id(b, c, lc), inew = -1;
        if (la + lc <= max_len) {
            memcpy(cat, a, la);
            memcpy(cat + la, c, lc);
            inew = model_id(b, cat, la + lc);
        }
        snprintf(q, sizeof q, "%.*s", (int)la, a);
        snprintf(q2, sizeof q2, "%.*s", (int)lc, c);
        char qa[BPE_QUOTE_CAP], qc[BPE_QUOTE_CAP], qm[BPE_QUOTE_CAP];
        bpe_quote(qa, sizeof qa, q);
        bpe_quote(qc, sizeof qc, q2);
        if (ia < 0 || ic < 0) {
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.merges[%d] (%s %s): %s is not in model.vocab", path, idx,
                               qa, qc, ia < 0 ? qa : qc);
        } else if (inew < 0) {
            snprintf(q3, sizeof q3, "%s%s", q, q2);
            s = ribo_error_set(err, RIBO_ERR_MODEL,
                               "%s: model.merges[%d] (%s %s): the merged token %s is not in model.vocab", path, idx,
                               qa, qc, bpe_quote(qm, sizeof qm, q3));
        } else {
            b->merge_new[b->n_merges] = inew;
            bpe_pairmap_put(&b->merges, ia, ic, b->n_merges);
            ++b->n_merges;
        }
    }
    free(cat);
    return s;
}

/* Reads model: options, vocab, merges, unk_token. */
static ribo_status load_model(ribo_bpe *b, const cJSON *model, int n_added_max, const char *path,
                              ribo_error *err) {
    if (!model || cJSON_IsNull(model))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: no \"model\" (the tokenizer model) in the file", path);
    if (!cJSON_IsObject(model)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model is not an object", path);
    RIBO_TRY(load_options(b, model, path, err));
    RIBO_TRY(load_vocab(b, cJSON_GetObjectItemCaseSensitive(model, "vocab"), n_added_max, path, err));
    RIBO_TRY(load_merges(b, cJSON_GetObjectItemCaseSensitive(model, "merges"), path, err));
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    b->unk = -1;
    if (unk && !cJSON_IsNull(unk)) {
        char q[BPE_QUOTE_CAP];
        if (!cJSON_IsString(unk))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.unk_token is not a string or null", path);
        b->unk = model_id(b, unk->valuestring, strlen(unk->valuestring));
        if (b->unk < 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: model.unk_token %s is not in model.vocab", path,
                                  bpe_quote(q, sizeof q, unk->valuestring));
    }
    return RIBO_OK;
}

/* Id of a token string in the whole vocabulary, or -1. */
static int32_t any_id(const ribo_bpe *b, const char *s) { return bpe_strmap_get(&b->ids, s, strlen(s)); }

/* Everything after parsing: the model, then the parts that depend on it, then the special ids. */
static ribo_status load_tokenizer(ribo_bpe *b, const cJSON *root, const char *path, ribo_error *err) {
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (version && !(cJSON_IsString(version) && strcmp(version->valuestring, "1.0") == 0)) {
        char q[BPE_QUOTE_CAP];
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: version %s is not supported (only \"1.0\")", path,
                              cJSON_IsString(version) ? bpe_quote(q, sizeof q, version->valuestring) : "(not a string)");
    }
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    int n_added_max = cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0;
    RIBO_TRY(load_model(b, cJSON_GetObjectItemCaseSensitive(root, "model"), n_added_max, path, err));
    RIBO_TRY(bpe_load_normalizer(b, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), path, err));
    RIBO_TRY(bpe_load_pre_tokenizer(b, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), path, err));
    RIBO_TRY(bpe_load_added_tokens(b, added, path, err));
    RIBO_TRY(bpe_load_post_processor(b, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), path, err));
    ribo_special_tokens *sp = &b->sp;
    sp->cls = any_id(b, "[CLS]");
    if (sp->cls < 0 && b->n_before) sp->cls = b->before[0];
    sp->eos = any_id(b, "[SEP]");
    if (sp->eos < 0 && b->n_after) sp->eos = b->after[b->n_after - 1];
    sp->pad = any_id(b, "[PAD]");
    sp->unk = b->unk >= 0 ? b->unk : any_id(b, "[UNK]");
    sp->mask = any_id(b, "[MASK]");
    return RIBO_OK;
}

ribo_status ribo_tokenizer_load_hf_json(const char *path, ribo_tokenizer **out, ribo_error *err) {
    if (!path || !out)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_tokenizer_load_hf_json: NULL argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    RIBO_TRY(ribo_read_small_file(path, BPE_MAX_FILE_BYTES, &text, &len, err));
    /* parse_end: where parsing stopped (the error position), without cJSON's process-wide error state */
    const char *parse_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &parse_end, 0);
    if (!root) {
        int line, col;
        size_t at = parse_end && parse_end >= text ? (size_t)(parse_end - text) : 0;
        line_col(text, at < len ? at : len, &line, &col);
        free(text);
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: not valid JSON (line %d, column %d)", path, line, col);
    }
    free(text);
    ribo_bpe *b = cJSON_IsObject(root) ? calloc(1, sizeof *b) : NULL;
    ribo_status s = b ? RIBO_OK
                      : cJSON_IsObject(root) ? ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path)
                                             : ribo_error_set(err, RIBO_ERR_MODEL, "%s: not a JSON object", path);
    if (b) {
        b->base.i = &ribo_bpe_tokenizer_i;
        b->unk = -1;
        s = load_tokenizer(b, root, path, err);
    }
    cJSON_Delete(root);
    if (s != RIBO_OK) {
        ribo_tokenizer_free(b ? &b->base : NULL);
        return s;
    }
    *out = &b->base;
    return RIBO_OK;
}
