/* ESM vocab.txt tokenizer: one token per residue character plus bracketed special tokens. */
#include "engine/tokenize/tokenizer.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenize/tokenizer_impl.h"

#define TOK_NONE (-1)    /* byte has no single-character token: <unk> */
#define TOK_BRACKET (-2) /* '<': may start a bracketed vocabulary token */

typedef struct esm_tokenizer {
    ribo_tokenizer base;    /* function table: esm_tokenizer_i */
    int n;                  /* vocabulary size */
    char **text;            /* [n] token strings */
    int32_t single[256];    /* byte -> id (lowercase folded), TOK_NONE or TOK_BRACKET */
    int32_t *bracket;       /* ids of tokens written as "<...>", longest first */
    int n_bracket;
    ribo_special_tokens sp;
} esm_tokenizer;

/* Removes leading and trailing spaces, tabs, CR and LF in place; returns the trimmed start. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') ++s;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/* Appends one token string (copied) to the vocabulary, growing the array. */
static ribo_status add_token(esm_tokenizer *t, int *cap, const char *s, const char *path, ribo_error *err) {
    if (t->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        char **p = realloc(t->text, (size_t)nc * sizeof *p);
        if (!p) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the vocabulary", path);
        t->text = p;
        *cap = nc;
    }
    t->text[t->n] = strdup(s);
    if (!t->text[t->n])
        return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory reading the vocabulary", path);
    ++t->n;
    return RIBO_OK;
}

/* Reads every line of the file as a token (trailing blank lines ignored, inner blank lines are errors). */
static ribo_status read_tokens(esm_tokenizer *t, FILE *f, const char *path, ribo_error *err) {
    char *line = NULL;
    size_t line_cap = 0;
    int cap = 0, blank_run = 0, first_blank = 0;
    ribo_status s = RIBO_OK;
    for (int lineno = 1; s == RIBO_OK && getline(&line, &line_cap, f) != -1; ++lineno) {
        char *tok = trim(line);
        if (!*tok) {
            if (!blank_run++) first_blank = lineno;
            continue;
        }
        if (blank_run)
            s = ribo_error_set(err, RIBO_ERR_MODEL, "%s: line %d: empty token (blank line inside the vocabulary)",
                               path, first_blank);
        else
            s = add_token(t, &cap, tok, path, err);
    }
    if (s == RIBO_OK && ferror(f))
        s = ribo_error_set(err, RIBO_ERR_IO, "%s: read failed: %s", path, strerror(errno));
    free(line);
    return s;
}

/* Id of a token string, or -1 (linear: ESM vocabularies have about 33 tokens). */
static int32_t esm_find(const esm_tokenizer *t, const char *token) {
    for (int i = 0; i < t->n; ++i)
        if (strcmp(t->text[i], token) == 0) return i;
    return -1;
}

/* Rejects duplicates (quadratic, vocabularies are small) and finds the special tokens. */
static ribo_status check_tokens(esm_tokenizer *t, const char *path, ribo_error *err) {
    if (t->n == 0) return ribo_error_set(err, RIBO_ERR_MODEL, "%s: empty vocabulary", path);
    for (int i = 1; i < t->n; ++i)
        for (int j = 0; j < i; ++j)
            if (strcmp(t->text[i], t->text[j]) == 0)
                return ribo_error_set(err, RIBO_ERR_MODEL, "%s: line %d: duplicate token '%s' (first on line %d)",
                                      path, i + 1, t->text[i], j + 1);
    t->sp.cls = esm_find(t, "<cls>");
    t->sp.eos = esm_find(t, "<eos>");
    t->sp.pad = esm_find(t, "<pad>");
    t->sp.unk = esm_find(t, "<unk>");
    t->sp.mask = esm_find(t, "<mask>");
    const char *need[] = {"<cls>", "<eos>", "<unk>", "<pad>"};
    int32_t have[] = {t->sp.cls, t->sp.eos, t->sp.unk, t->sp.pad};
    for (int i = 0; i < 4; ++i)
        if (have[i] < 0)
            return ribo_error_set(err, RIBO_ERR_MODEL, "%s: the vocabulary has no %s token (%d tokens read)", path,
                                  need[i], t->n);
    return RIBO_OK;
}

/* Orders bracket token ids longest text first so that the longest literal match wins. */
static int cmp_bracket_len(const void *a, const void *b, const esm_tokenizer *t) {
    size_t la = strlen(t->text[*(const int32_t *)a]), lb = strlen(t->text[*(const int32_t *)b]);
    return (la < lb) - (la > lb);
}

/* Builds the byte lookup table and the list of bracketed tokens. */
static ribo_status build_tables(esm_tokenizer *t, const char *path, ribo_error *err) {
    for (int c = 0; c < 256; ++c) t->single[c] = TOK_NONE;
    for (int i = 0; i < t->n; ++i)
        if (t->text[i][0] && !t->text[i][1]) t->single[(unsigned char)t->text[i][0]] = i;
    for (int c = 'a'; c <= 'z'; ++c)
        if (t->single[c] == TOK_NONE) t->single[c] = t->single[c - 'a' + 'A'];
    t->bracket = malloc((size_t)t->n * sizeof *t->bracket);
    if (!t->bracket) return ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < t->n; ++i) {
        size_t len = strlen(t->text[i]);
        if (len >= 2 && t->text[i][0] == '<' && t->text[i][len - 1] == '>') t->bracket[t->n_bracket++] = i;
    }
    /* insertion sort: few tokens, and qsort has no context argument in C17 */
    for (int i = 1; i < t->n_bracket; ++i)
        for (int j = i; j > 0 && cmp_bracket_len(&t->bracket[j - 1], &t->bracket[j], t) > 0; --j) {
            int32_t x = t->bracket[j];
            t->bracket[j] = t->bracket[j - 1];
            t->bracket[j - 1] = x;
        }
    if (t->n_bracket) t->single['<'] = TOK_BRACKET;
    return RIBO_OK;
}

static const ribo_tokenizer_i esm_tokenizer_i;

ribo_status ribo_tokenizer_load_esm_vocab(const char *vocab_path, ribo_tokenizer **out, ribo_error *err) {
    if (!vocab_path || !out)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_tokenizer_load_esm_vocab: NULL argument");
    *out = NULL;
    FILE *f = fopen(vocab_path, "r");
    if (!f) {
        int e = errno;
        return ribo_error_set(err, e == ENOENT ? RIBO_ERR_MODEL : RIBO_ERR_IO, "%s: cannot open the vocabulary: %s",
                              vocab_path, strerror(e));
    }
    esm_tokenizer *t = calloc(1, sizeof *t);
    ribo_status s = t ? RIBO_OK : ribo_error_set(err, RIBO_ERR_OUT_OF_MEMORY, "%s: out of memory", vocab_path);
    if (t) t->base.i = &esm_tokenizer_i;
    if (s == RIBO_OK) s = read_tokens(t, f, vocab_path, err);
    fclose(f);
    if (s == RIBO_OK) s = check_tokens(t, vocab_path, err);
    if (s == RIBO_OK) s = build_tables(t, vocab_path, err);
    if (s != RIBO_OK) {
        ribo_tokenizer_free(t ? &t->base : NULL);
        return s;
    }
    *out = &t->base;
    return RIBO_OK;
}

/* Number of tokens in vocab.txt. */
static int esm_vocab_size(const ribo_tokenizer *tok) { return ((const esm_tokenizer *)tok)->n; }

/* <cls> <eos> <pad> <unk> <mask> ids. */
static ribo_special_tokens esm_specials(const ribo_tokenizer *tok) { return ((const esm_tokenizer *)tok)->sp; }

/* Id of a token string, or -1. */
static int32_t esm_token_id(const ribo_tokenizer *tok, const char *token) {
    return esm_find((const esm_tokenizer *)tok, token);
}

/* Token string of an id, or NULL. */
static const char *esm_token_text(const ribo_tokenizer *tok, int32_t id) {
    const esm_tokenizer *t = (const esm_tokenizer *)tok;
    return id < 0 || id >= t->n ? NULL : t->text[id];
}

/* One <cls> before and one <eos> after the residues. */
static void esm_added_counts(const ribo_tokenizer *tok, size_t *before, size_t *after) {
    *before = 1;
    *after = 1;
}

/* Id of a bracketed token spelled at s (at most avail bytes), its length in *len; -1 if none. */
static int32_t match_bracket(const esm_tokenizer *t, const char *s, size_t avail, size_t *len) {
    for (int i = 0; i < t->n_bracket; ++i) {
        const char *txt = t->text[t->bracket[i]];
        size_t n = strlen(txt);
        if (n <= avail && memcmp(s, txt, n) == 0) {
            *len = n;
            return t->bracket[i];
        }
    }
    return -1;
}

/* Id of the token at seq[*i] (TOK_NONE for a byte outside the vocabulary); advances *i past it. */
static int32_t next_token(const esm_tokenizer *t, const char *seq, size_t len, size_t *i) {
    int32_t id = t->single[(unsigned char)seq[*i]];
    size_t step = 1;
    if (id == TOK_BRACKET) {
        id = match_bracket(t, seq + *i, len - *i, &step);
        if (id < 0) step = 1;
    }
    *i += step;
    return id;
}

/* <cls> residues <eos>, one token per character (see ribo_tokenizer_encode). */
static ribo_status esm_encode(const ribo_tokenizer *base, const char *seq, size_t len, size_t max_residues,
                              int32_t *out, size_t out_cap, size_t *n_out, ribo_encode_stats *stats, ribo_error *err) {
    const esm_tokenizer *tok = (const esm_tokenizer *)base;
    if (out_cap < 2)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT, "ribo_tokenizer_encode: output holds %zu ids, "
                              "at least 2 needed", out_cap);
    size_t limit = max_residues ? max_residues : SIZE_MAX;
    size_t stop = limit < out_cap - 2 ? limit : out_cap - 2; /* residues that fit in out */
    size_t i = 0, n_res = 0, n_unk = 0;
    int32_t *w = out;
    *w++ = tok->sp.cls;
    while (i < len && n_res < stop) {
        int32_t id = tok->single[(unsigned char)seq[i]];
        if (id >= 0) { /* fast path: a plain one-character token */
            ++i;
        } else if ((id = next_token(tok, seq, len, &i)) < 0) {
            id = tok->sp.unk;
            ++n_unk;
        }
        *w++ = id;
        ++n_res;
    }
    if (i < len && n_res < limit)
        return ribo_error_set(err, RIBO_ERR_INVALID_ARGUMENT,
                              "ribo_tokenizer_encode: output holds %zu ids, too few for the sequence", out_cap);
    for (; i < len; ++n_res) next_token(tok, seq, len, &i); /* past the truncation point: only count */
    *w++ = tok->sp.eos;
    *n_out = (size_t)(w - out);
    if (stats) {
        stats->n_unknown = n_unk;
        stats->n_residues_in = n_res;
        stats->truncated = n_res > limit;
    }
    return RIBO_OK;
}

/* Frees the token strings and tables. */
static void esm_free(ribo_tokenizer *base) {
    esm_tokenizer *tok = (esm_tokenizer *)base;
    for (int i = 0; i < tok->n; ++i) free(tok->text[i]);
    free(tok->text);
    free(tok->bracket);
    free(tok);
}

static const ribo_tokenizer_i esm_tokenizer_i = {
    .kind = "esm-vocab",
    .vocab_size = esm_vocab_size,
    .specials = esm_specials,
    .token_id = esm_token_id,
    .token_text = esm_token_text,
    .added_counts = esm_added_counts,
    .encode = esm_encode,
    .free = esm_free,
};
