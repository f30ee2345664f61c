/* tokenizer.json parts around the BPE model: normalizer, pre-tokenizer, added tokens, post-processor.
 * Unsupported component types are refused (RIBO_ERR_UNSUPPORTED) naming the entry and the type. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenize/bpe.h"

const char *bpe_quote(char *buf, size_t cap, const char *s) {
    static const char hex[] = "0123456789abcdef";
    size_t k = 0, limit = cap > 12 ? cap - 8 : 0; /* room for \xHH, "...", the quotes and the NUL */
    if (cap < 16) {
        if (cap) buf[0] = '\0';
        return buf;
    }
    buf[k++] = '"';
    for (size_t i = 0; s[i]; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (k >= limit || i >= 48) {
            memcpy(buf + k, "...", 3);
            k += 3;
            break;
        }
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            buf[k++] = '\\';
            buf[k++] = 'x';
            buf[k++] = hex[c >> 4];
            buf[k++] = hex[c & 15];
        } else {
            buf[k++] = (char)c;
        }
    }
    buf[k++] = '"';
    buf[k] = '\0';
    return buf;
}

ribo_status bpe_json_bool(const cJSON *obj, const char *key, bool dflt, bool *out, const char *where,
                          const char *path, ribo_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return RIBO_OK;
    }
    if (!cJSON_IsBool(v))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s.%s is not true, false or null", path, where, key);
    *out = cJSON_IsTrue(v);
    return RIBO_OK;
}

/* The "type" string of a component object in *type. */
static ribo_status component_type(const cJSON *node, const char *where, const char **type, const char *path,
                                  ribo_error *err) {
    if (!cJSON_IsObject(node)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s is not an object or null", path, where);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(node, "type");
    if (!cJSON_IsString(t))
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED, "%s: %s has no \"type\" (not a supported component)", path,
                              where);
    *type = t->valuestring;
    return RIBO_OK;
}

/* The array member key of a Sequence component at where, or NULL after setting err. */
static const cJSON *sequence_items(const cJSON *node, const char *key, const char *where, const char *path,
                                   ribo_error *err) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(node, key);
    if (!cJSON_IsArray(items)) ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s.%s is not an array", path, where, key);
    return cJSON_IsArray(items) ? items : NULL;
}

/* One normalizer (recursing into Sequence); sets b->lowercase. */
static ribo_status normalizer_node(ribo_bpe *b, const cJSON *node, const char *where, const char *path,
                                   ribo_error *err) {
    const char *type = NULL;
    RIBO_TRY(component_type(node, where, &type, path, err));
    if (strcmp(type, "Lowercase") == 0) {
        b->lowercase = true;
        return RIBO_OK;
    }
    char q[BPE_QUOTE_CAP];
    if (strcmp(type, "Sequence") != 0)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: %s type %s is not supported (supported: null, Lowercase, Sequence)", path, where,
                              bpe_quote(q, sizeof q, type));
    const cJSON *items = sequence_items(node, "normalizers", where, path, err);
    if (!items) return RIBO_ERR_MODEL;
    int i = 0;
    for (const cJSON *e = items->child; e; e = e->next, ++i) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.normalizers[%d]", where, i);
        RIBO_TRY(normalizer_node(b, e, sub, path, err));
    }
    return RIBO_OK;
}

ribo_status bpe_load_normalizer(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err) {
    b->lowercase = false;
    return !node || cJSON_IsNull(node) ? RIBO_OK : normalizer_node(b, node, "normalizer", path, err);
}

/* One pre-tokenizer (recursing into Sequence). Whitespace after or before WhitespaceSplit splits
 * exactly as Whitespace alone, so the strongest one met is kept. */
static ribo_status pre_tokenizer_node(ribo_bpe *b, const cJSON *node, const char *where, const char *path,
                                      ribo_error *err) {
    const char *type = NULL;
    RIBO_TRY(component_type(node, where, &type, path, err));
    if (strcmp(type, "Whitespace") == 0) {
        b->pretok = BPE_PRETOK_WHITESPACE;
        return RIBO_OK;
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        if (b->pretok < BPE_PRETOK_WHITESPACE_SPLIT) b->pretok = BPE_PRETOK_WHITESPACE_SPLIT;
        return RIBO_OK;
    }
    char q[BPE_QUOTE_CAP];
    if (strcmp(type, "Sequence") != 0)
        return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                              "%s: %s type %s is not supported (supported: null, Whitespace, WhitespaceSplit, Sequence)",
                              path, where, bpe_quote(q, sizeof q, type));
    const cJSON *items = sequence_items(node, "pretokenizers", where, path, err);
    if (!items) return RIBO_ERR_MODEL;
    int i = 0;
    for (const cJSON *e = items->child; e; e = e->next, ++i) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", where, i);
        RIBO_TRY(pre_tokenizer_node(b, e, sub, path, err));
    }
    return RIBO_OK;
}

ribo_status bpe_load_pre_tokenizer(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err) {
    b->pretok = BPE_PRETOK_NONE;
    return !node || cJSON_IsNull(node) ? RIBO_OK : pre_tokenizer_node(b, node, "pre_tokenizer", path, err);
}

/* Adds one added token to its matching set (pattern lowercased for a normalized token under Lowercase:
 * ASCII only, which is all the encoder accepts). */
static ribo_status add_to_set(ribo_bpe *b, const char *content, int32_t id, bool normalized, const bool flags[3],
                              const char *path, ribo_error *err) {
    int set = normalized ? BPE_SET_NORMALIZED : BPE_SET_RAW;
    bpe_added *a = &b->added[set][b->n_added[set]++];
    a->len = strlen(content);
    a->pattern = strdup(content);
    if (!a->pattern) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    if (normalized && b->lowercase)
        for (size_t k = 0; k < a->len; ++k) a->pattern[k] = bpe_ascii_lower(a->pattern[k]);
    a->id = id;
    a->single_word = flags[0];
    a->lstrip = flags[1];
    a->rstrip = flags[2];
    unsigned char first = (unsigned char)a->pattern[0];
    if (first < 0x80) b->added_start[set][first] = true;
    return RIBO_OK;
}

/* The id the tokenizers library gives an added token: its model.vocab id, else the next free id. */
static int32_t assign_id(ribo_bpe *b, const char *content, bool *is_new) {
    int32_t id = bpe_strmap_get(&b->ids, content, strlen(content));
    *is_new = id < 0;
    return id >= 0 ? id : b->n_total;
}

/* Reads one added_tokens entry. */
static ribo_status added_token(ribo_bpe *b, const cJSON *e, int idx, int n_items, const char *path,
                               ribo_error *err) {
    char where[64], q[BPE_QUOTE_CAP];
    snprintf(where, sizeof where, "added_tokens[%d]", idx);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(e, "id");
    if (!cJSON_IsObject(e) || !cJSON_IsString(content))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s is not an object with a string \"content\"", path, where);
    const char *text = content->valuestring;
    if (!cJSON_IsNumber(idv) || idv->valuedouble != floor(idv->valuedouble))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s (%s) has no integer \"id\"", path, where,
                              bpe_quote(q, sizeof q, text));
    bool flags[3], normalized, special;
    static const char *const flag_names[3] = {"single_word", "lstrip", "rstrip"};
    for (int k = 0; k < 3; ++k) RIBO_TRY(bpe_json_bool(e, flag_names[k], false, &flags[k], where, path, err));
    RIBO_TRY(bpe_json_bool(e, "normalized", true, &normalized, where, path, err));
    RIBO_TRY(bpe_json_bool(e, "special", false, &special, where, path, err));
    if (!text[0]) return RIBO_OK; /* the library ignores empty added tokens */
    for (int set = 0; set < BPE_N_SETS; ++set)
        for (int k = 0; k < b->n_added[set]; ++k)
            if (strcmp(b->text[b->added[set][k].id], text) == 0)
                return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s: %s appears twice in added_tokens", path, where,
                                      bpe_quote(q, sizeof q, text));
    bool is_new;
    int32_t id = assign_id(b, text, &is_new);
    double file_id = idv->valuedouble;
    int32_t max_id = b->n_model + n_items - 1;
    if (file_id < 0 || file_id > max_id)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s (%s): id %.0f is out of range (0..%d)", path, where,
                              bpe_quote(q, sizeof q, text), file_id, max_id);
    if (file_id != id)
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: %s (%s): id %.0f, but the tokenizers library gives it id %d (%s)", path, where,
                              bpe_quote(q, sizeof q, text), file_id, id,
                              is_new ? "the next id after the vocabulary and earlier added tokens"
                                     : "its id in the vocabulary");
    if (is_new) {
        b->text[id] = strdup(text);
        if (!b->text[id]) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        bpe_strmap_put(&b->ids, b->text[id], strlen(text), id);
        ++b->n_total;
    }
    return add_to_set(b, text, id, normalized, flags, path, err);
}

ribo_status bpe_load_added_tokens(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err) {
    if (!node || cJSON_IsNull(node)) return RIBO_OK;
    if (!cJSON_IsArray(node)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: added_tokens is not an array", path);
    int n = cJSON_GetArraySize(node), idx = 0;
    for (int set = 0; set < BPE_N_SETS; ++set) {
        b->added[set] = calloc(n ? (size_t)n : 1, sizeof *b->added[set]);
        if (!b->added[set]) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (const cJSON *e = node->child; e; e = e->next, ++idx) RIBO_TRY(added_token(b, e, idx, n, path, err));
    return RIBO_OK;
}

/* Appends id to the before (or after) list, checking that it is a token id. */
static ribo_status push_special(ribo_bpe *b, bool after, double id, const char *where, const char *path,
                                ribo_error *err) {
    if (id != floor(id) || id < 0 || id >= b->n_total)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s: id %g is not a token id (0..%d)", path, where, id,
                              b->n_total - 1);
    int32_t **list = after ? &b->after : &b->before;
    size_t *n = after ? &b->n_after : &b->n_before;
    int32_t *p = realloc(*list, (*n + 1) * sizeof *p);
    if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    p[(*n)++] = (int32_t)id;
    *list = p;
    return RIBO_OK;
}

/* The "ids" array of the special_tokens entry named name in *ids. */
static ribo_status template_special(const cJSON *specials, const char *name, const char *where, const cJSON **ids,
                                    const char *path, ribo_error *err) {
    char q[BPE_QUOTE_CAP];
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(specials, name);
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(sp, "tokens");
    *ids = cJSON_GetObjectItemCaseSensitive(sp, "ids");
    if (!sp)
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s: special token %s is not in post_processor.special_tokens",
                              path, where, bpe_quote(q, sizeof q, name));
    if (!cJSON_IsArray(*ids) || !cJSON_IsArray(toks) || cJSON_GetArraySize(*ids) != cJSON_GetArraySize(toks))
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: post_processor.special_tokens[%s] has no \"ids\" and \"tokens\" arrays of equal "
                              "length",
                              path, bpe_quote(q, sizeof q, name));
    return RIBO_OK;
}

/* Reads one template piece ({"SpecialToken": {"id": ...}} or {"Sequence": {"id": "A"}}) of template
 * name; with emit, appends its ids (before or after $A, as *seen_a says). */
static ribo_status template_piece(ribo_bpe *b, const cJSON *piece, const cJSON *specials, const char *where,
                                  bool emit, int *seen_a, const char *path, ribo_error *err) {
    char q[BPE_QUOTE_CAP];
    const cJSON *kind = cJSON_IsObject(piece) ? piece->child : NULL;
    const cJSON *id = kind ? cJSON_GetObjectItemCaseSensitive(kind, "id") : NULL;
    if (!kind || kind->next || !cJSON_IsString(id) ||
        (strcmp(kind->string, "SpecialToken") != 0 && strcmp(kind->string, "Sequence") != 0))
        return ribo_error_set(err, RIBO_ERR_MODEL,
                              "%s: %s is not {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": {\"id\": ...}}",
                              path, where);
    if (strcmp(kind->string, "Sequence") == 0) {
        if (strcmp(id->valuestring, "A") != 0 && strcmp(id->valuestring, "B") != 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s: sequence %s is not A or B", path, where,
                                  bpe_quote(q, sizeof q, id->valuestring));
        if (emit && strcmp(id->valuestring, "B") == 0)
            return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                                  "%s: %s: $B in the single-sequence template is not supported", path, where);
        if (emit) ++*seen_a;
        return RIBO_OK;
    }
    const cJSON *ids = NULL;
    RIBO_TRY(template_special(specials, id->valuestring, where, &ids, path, err));
    int k = 0;
    for (const cJSON *e = ids->child; emit && e; e = e->next, ++k) {
        char sub[BPE_QUOTE_CAP + 64];
        snprintf(sub, sizeof sub, "post_processor.special_tokens[%s].ids[%d]", bpe_quote(q, sizeof q, id->valuestring),
                 k);
        if (!cJSON_IsNumber(e)) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s is not a number", path, sub);
        RIBO_TRY(push_special(b, *seen_a > 0, e->valuedouble, sub, path, err));
    }
    return RIBO_OK;
}

/* TemplateProcessing: the single template gives the ids around $A; the pair template is only
 * checked for special tokens that do not exist (as the library does when loading). */
static ribo_status template_processing(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err) {
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(node, "special_tokens");
    if (!cJSON_IsObject(specials))
        return ribo_error_set(err, RIBO_ERR_MODEL, "%s: post_processor.special_tokens is missing or not an object",
                              path);
    static const char *const names[2] = {"single", "pair"};
    for (int t = 0; t < 2; ++t) {
        const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(node, names[t]);
        if (t == 1 && (!tpl || cJSON_IsNull(tpl))) continue;
        if (!cJSON_IsArray(tpl))
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: post_processor.%s is missing or not an array", path,
                                  names[t]);
        int seen_a = 0, i = 0;
        for (const cJSON *piece = tpl->child; piece; piece = piece->next, ++i) {
            char where[64];
            snprintf(where, sizeof where, "post_processor.%s[%d]", names[t], i);
            RIBO_TRY(template_piece(b, piece, specials, where, t == 0, &seen_a, path, err));
        }
        if (t == 0 && seen_a != 1)
            return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                                  "%s: post_processor.single has %d $A pieces (exactly one is supported)", path, seen_a);
    }
    return RIBO_OK;
}

/* BertProcessing: {"cls": ["[CLS]", id], "sep": ["[SEP]", id]} -> cls $A sep. */
static ribo_status bert_processing(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err) {
    static const char *const keys[2] = {"cls", "sep"};
    for (int k = 0; k < 2; ++k) {
        const cJSON *pair = cJSON_GetObjectItemCaseSensitive(node, keys[k]);
        const cJSON *name = cJSON_IsArray(pair) ? pair->child : NULL, *id = name ? name->next : NULL;
        char where[64];
        snprintf(where, sizeof where, "post_processor.%s", keys[k]);
        if (!cJSON_IsString(name) || !cJSON_IsNumber(id) || id->next)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: %s is not [\"token\", id]", path, where);
        RIBO_TRY(push_special(b, k == 1, id->valuedouble, where, path, err));
    }
    return RIBO_OK;
}

ribo_status bpe_load_post_processor(ribo_bpe *b, const cJSON *node, const char *path, ribo_error *err) {
    if (!node || cJSON_IsNull(node)) return RIBO_OK;
    const char *type = NULL;
    RIBO_TRY(component_type(node, "post_processor", &type, path, err));
    if (strcmp(type, "TemplateProcessing") == 0) return template_processing(b, node, path, err);
    if (strcmp(type, "BertProcessing") == 0) return bert_processing(b, node, path, err);
    char q[BPE_QUOTE_CAP];
    return ribo_error_set(err, RIBO_ERR_UNSUPPORTED,
                          "%s: post_processor type %s is not supported (supported: null, TemplateProcessing, "
                          "BertProcessing)",
                          path, bpe_quote(q, sizeof q, type));
}
