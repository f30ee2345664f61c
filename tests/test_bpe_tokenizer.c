/* tokenizer.json BPE tokenizer: ids against the HuggingFace `tokenizers` library (fixtures made by
 * tests/fixtures/make_bpe_token_ids.py), encode rules, and one-line errors for bad files.
 *
 *   test_bpe_tokenizer                       the committed fixtures (what ctest runs)
 *   test_bpe_tokenizer --ids FILE [--tokenizer JSON]
 *                                            also compare every string of FILE (e.g. the 10,000-string
 *                                            set written by make_bpe_token_ids.py --full-out); the
 *                                            same through RIBO_BPE_FULL_IDS=FILE
 *   test_bpe_tokenizer --bench FILE [--tokenizer JSON] [--seconds S]
 *                                            only measure encoding throughput (MB/s, one thread) */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/input/seqset.h"
#include "engine/tokenize/tokenizer.h"
#include "test_util.h"

#define DNA_TOKENIZER "dna_tokenizer/tokenizer.json"

static const char *const VARIANTS[] = {"merges_str", "lowercase", "wsplit_fuse", "plain_ignore", "no_unk", "tricky"};

/* One fixture: strings and their reference ids. */
typedef struct id_fixture {
    size_t n;
    char **str;
    size_t *len;
    int32_t **ids;
    size_t *n_ids;
} id_fixture;

/* Decodes the fixture escapes (\\ \n \r \t \xHH) of line[0..n) into out; returns the length. */
static size_t unescape(const char *line, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
        if (line[i] != '\\' || i + 1 >= n) {
            out[k++] = line[i];
            continue;
        }
        char c = line[++i];
        if (c == 'n') out[k++] = '\n';
        else if (c == 'r') out[k++] = '\r';
        else if (c == 't') out[k++] = '\t';
        else if (c == 'x' && i + 2 < n) {
            char hex[3] = {line[i + 1], line[i + 2], 0};
            out[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else out[k++] = c;
    }
    return k;
}

/* Parses space-separated ids of line[0..n) into a malloc'd array. */
static int32_t *parse_ids(const char *line, size_t n, size_t *count) {
    int32_t *ids = malloc((n / 2 + 1) * sizeof *ids);
    size_t k = 0;
    const char *p = line, *end = line + n;
    while (ids && p < end) {
        char *next = NULL;
        long v = strtol(p, &next, 10);
        if (next == p) break;
        ids[k++] = (int32_t)v;
        p = next;
    }
    *count = k;
    return ids;
}

/* Reads a fixture file (a '#' comment line, then string line + ids line per record). */
static bool read_fixture(const char *path, id_fixture *fx) {
    memset(fx, 0, sizeof *fx);
    size_t size = 0;
    char *text = ribo_test_read_file(path, &size);
    if (!text) return false;
    size_t cap = 0, line_no = 0;
    const char *p = text, *end = text + size, *str_line = NULL;
    size_t str_n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (line_no++ == 0 && p[0] == '#') {
            p += n + 1;
            continue;
        }
        if (!str_line) {
            str_line = p;
            str_n = n;
        } else {
            if (fx->n == cap) {
                cap = cap ? cap * 2 : 256;
                fx->str = realloc(fx->str, cap * sizeof *fx->str);
                fx->len = realloc(fx->len, cap * sizeof *fx->len);
                fx->ids = realloc(fx->ids, cap * sizeof *fx->ids);
                fx->n_ids = realloc(fx->n_ids, cap * sizeof *fx->n_ids);
            }
            fx->str[fx->n] = malloc(str_n + 1);
            fx->len[fx->n] = unescape(str_line, str_n, fx->str[fx->n]);
            fx->str[fx->n][fx->len[fx->n]] = '\0';
            fx->ids[fx->n] = parse_ids(p, n, &fx->n_ids[fx->n]);
            ++fx->n;
            str_line = NULL;
        }
        p += n + 1;
    }
    free(text);
    return fx->n > 0 && !str_line;
}

static void free_fixture(id_fixture *fx) {
    for (size_t i = 0; i < fx->n; ++i) {
        free(fx->str[i]);
        free(fx->ids[i]);
    }
    free(fx->str);
    free(fx->len);
    free(fx->ids);
    free(fx->n_ids);
}

/* Loads a tokenizer.json; NULL (and a failure) when it does not load. */
static ribo_tokenizer *load(const char *path) {
    ribo_tokenizer *t = NULL;
    ribo_error err;
    ribo_status s = ribo_tokenizer_load_hf_json(path, &t, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    return t;
}

/* Prints a short, escaped head of s for a failure message. */
static void print_head(const char *s, size_t n) {
    fputs("  string: \"", stderr);
    for (size_t i = 0; i < n && i < 80; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fprintf(stderr, "%s\" (%zu chars)\n", n > 80 ? "..." : "", n);
}

/* Encodes every fixture string (out sized exactly len + specials: content never exceeds the
 * characters) and compares with the library's ids. Returns the number that matched. */
static size_t compare_fixture(const char *tok_path, const char *ids_path, size_t *n_total) {
    *n_total = 0;
    id_fixture fx;
    bool ok = read_fixture(ids_path, &fx);
    CHECK(ok, "cannot read fixture %s (made by tests/fixtures/make_bpe_token_ids.py)", ids_path);
    ribo_tokenizer *t = ok ? load(tok_path) : NULL;
    if (!t) {
        if (ok) free_fixture(&fx);
        return 0;
    }
    size_t before, after, matched = 0, reported = 0;
    ribo_tokenizer_added_counts(t, &before, &after);
    for (size_t i = 0; i < fx.n; ++i) {
        size_t cap = fx.len[i] + before + after, n = 0;
        int32_t *out = malloc((cap + 1) * sizeof *out);
        out[cap] = -12345;
        ribo_error err;
        ribo_encode_stats st;
        ribo_status s = ribo_tokenizer_encode(t, fx.str[i], fx.len[i], 0, out, cap, &n, &st, &err);
        bool eq = s == RIBO_OK && n == fx.n_ids[i] && memcmp(out, fx.ids[i], n * sizeof *out) == 0;
        CHECK(out[cap] == -12345, "%s record %zu: wrote past out_cap", ids_path, i + 1);
        if (eq) {
            ++matched;
        } else if (reported++ < 5) {
            CHECK(eq, "%s record %zu: %s, %zu ids, library %zu ids", ids_path, i + 1,
                  s == RIBO_OK ? "ok" : err.message, n, fx.n_ids[i]);
            print_head(fx.str[i], fx.len[i]);
            for (size_t k = 0; s == RIBO_OK && k < n && k < fx.n_ids[i]; ++k)
                if (out[k] != fx.ids[i][k]) {
                    fprintf(stderr, "  first difference at %zu: ours %d, library %d\n", k, out[k], fx.ids[i][k]);
                    break;
                }
        } else {
            ++ribo_test_failures;
        }
        free(out);
    }
    *n_total = fx.n;
    fprintf(stderr, "bpe: %s: %zu of %zu strings match the library\n", ids_path, matched, fx.n);
    ribo_tokenizer_free(t);
    free_fixture(&fx);
    return matched;
}

/* The committed samples: the DNA tokenizer and every variant. */
static void test_fixtures(void) {
    size_t total = 0;
    size_t matched = compare_fixture(ribo_test_fixture(DNA_TOKENIZER), ribo_test_fixture("dna_tokenizer/ids.sample.txt"),
                                     &total);
    CHECK(total >= 1000 && matched == total, "dna sample: %zu of %zu", matched, total);
    for (size_t v = 0; v < sizeof VARIANTS / sizeof *VARIANTS; ++v) {
        char tok_rel[128], ids_rel[128];
        snprintf(tok_rel, sizeof tok_rel, "bpe_variants/%s.tokenizer.json", VARIANTS[v]);
        snprintf(ids_rel, sizeof ids_rel, "bpe_variants/%s.ids.txt", VARIANTS[v]);
        matched = compare_fixture(ribo_test_fixture(tok_rel), ribo_test_fixture(ids_rel), &total);
        CHECK(total > 100 && matched == total, "variant %s: %zu of %zu", VARIANTS[v], matched, total);
    }
}

/* Vocabulary, specials and lookups of the DNA tokenizer. */
static void test_lookup(void) {
    ribo_tokenizer *t = load(ribo_test_fixture(DNA_TOKENIZER));
    if (!t) return;
    CHECK(strcmp(ribo_tokenizer_kind(t), "hf-bpe") == 0, "kind %s", ribo_tokenizer_kind(t));
    CHECK(ribo_tokenizer_vocab_size(t) == 4096, "vocab size %d", ribo_tokenizer_vocab_size(t));
    ribo_special_tokens sp = ribo_tokenizer_specials(t);
    CHECK(sp.unk == 0 && sp.cls == 1 && sp.eos == 2 && sp.pad == 3 && sp.mask == 4, "specials %d %d %d %d %d", sp.cls,
          sp.eos, sp.pad, sp.unk, sp.mask);
    CHECK(ribo_tokenizer_token_id(t, "[MASK]") == 4 && ribo_tokenizer_token_id(t, "A") >= 5, "token ids");
    CHECK(ribo_tokenizer_token_id(t, "N") == -1 && ribo_tokenizer_token_id(t, "a") == -1, "N and a are not tokens");
    int32_t id = ribo_tokenizer_token_id(t, "ACGT");
    const char *txt = ribo_tokenizer_token_text(t, id);
    CHECK(id < 0 || (txt && strcmp(txt, "ACGT") == 0), "text of ACGT");
    CHECK(ribo_tokenizer_token_text(t, 4096) == NULL && ribo_tokenizer_token_text(t, -1) == NULL, "text range");
    size_t before = 9, after = 9;
    ribo_tokenizer_added_counts(t, &before, &after);
    CHECK(before == 1 && after == 1, "added counts %zu %zu", before, after);
    ribo_tokenizer_free(t);

    /* a variant whose added token lies outside model.vocab, and one without [CLS] in its template */
    t = load(ribo_test_fixture("bpe_variants/lowercase.tokenizer.json"));
    if (t) {
        int n = ribo_tokenizer_vocab_size(t);
        CHECK(ribo_tokenizer_token_id(t, "[Gap]") == n - 1, "[Gap] is the last id (%d of %d)",
              ribo_tokenizer_token_id(t, "[Gap]"), n);
        ribo_tokenizer_free(t);
    }
    t = load(ribo_test_fixture("bpe_variants/no_unk.tokenizer.json"));
    if (t) {
        ribo_tokenizer_added_counts(t, &before, &after);
        CHECK(before == 0 && after == 1, "'$A [SEP]': %zu %zu", before, after);
        CHECK(ribo_tokenizer_specials(t).unk == 0, "no unk_token: [UNK] by name");
        ribo_tokenizer_free(t);
    }
}

/* Encodes s with the given limit and capacity; returns the status. */
static ribo_status enc(const ribo_tokenizer *t, const char *s, size_t max_res, int32_t *out, size_t cap, size_t *n,
                       ribo_encode_stats *st, ribo_error *err) {
    return ribo_tokenizer_encode(t, s, strlen(s), max_res, out, cap, n, st, err);
}

/* Truncation, unknown counts, output capacity, non-ASCII input. */
static void test_encode_rules(void) {
    ribo_tokenizer *t = load(ribo_test_fixture(DNA_TOKENIZER));
    if (!t) return;
    const char *seq = "ACGTTGCANNNNacgtACGTAGGCTAGCTAGGATCGATCGGGATCGATCGTAGCTAGCTAGCTTTTAGCGATCGA-ACGT";
    int32_t full[128], part[128];
    size_t n_full = 0, n = 0;
    ribo_encode_stats st, st2;
    ribo_error err;
    ribo_status s = enc(t, seq, 0, full, 128, &n_full, &st, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    size_t content = n_full - 2;
    CHECK(full[0] == 1 && full[n_full - 1] == 2, "[CLS] ... [SEP]");
    CHECK(st.n_residues_in == content && !st.truncated, "stats: %zu content, truncated %d", st.n_residues_in,
          st.truncated);
    size_t unk = 0;
    for (size_t i = 1; i + 1 < n_full; ++i) unk += full[i] == 0;
    CHECK(unk == 9 && st.n_unknown == 9, "NNNN, acgt and - are 9 [UNK]: %zu, n_unknown %zu", unk, st.n_unknown);

    /* truncation keeps the first k content tokens, as the library's truncation=True after tokenizing */
    for (size_t k = 1; k <= content + 1; ++k) {
        s = enc(t, seq, k, part, 128, &n, &st2, &err);
        size_t keep = k < content ? k : content;
        bool ok = s == RIBO_OK && n == keep + 2 && part[0] == 1 && part[n - 1] == 2 &&
                  memcmp(part + 1, full + 1, keep * sizeof *part) == 0;
        CHECK(ok, "truncated to %zu: %zu ids", k, n);
        CHECK(st2.n_residues_in == content && st2.truncated == (k < content), "truncation stats at %zu", k);
        size_t kept_unk = 0;
        for (size_t i = 1; i <= keep; ++i) kept_unk += full[i] == 0;
        CHECK(st2.n_unknown == kept_unk, "unknowns among the kept tokens at %zu: %zu vs %zu", k, st2.n_unknown,
              kept_unk);
    }

    /* out_cap: an error, never a write past it; exactly enough is fine */
    int32_t small[8];
    for (int i = 0; i < 8; ++i) small[i] = -7;
    s = enc(t, seq, 0, small, 4, &n, NULL, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK_MESSAGE(&err, "output holds 4 ids");
    CHECK(small[4] == -7, "no write past out_cap");
    s = enc(t, seq, 2, small, 4, &n, NULL, &err);
    CHECK(s == RIBO_OK && n == 4 && small[1] == full[1] && small[2] == full[2], "fits when truncated to 2");
    s = enc(t, "ACGT", 0, small, 1, &n, NULL, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    s = ribo_tokenizer_encode(t, "", 0, 0, small, 2, &n, &st, &err);
    CHECK(s == RIBO_OK && n == 2 && small[0] == 1 && small[1] == 2 && st.n_residues_in == 0, "empty sequence");
    s = enc(t, "   \t  ", 0, small, 8, &n, NULL, &err);
    CHECK(s == RIBO_OK && n == 2, "whitespace only");

    /* a literal special token is one token */
    s = enc(t, "[MASK]", 0, small, 8, &n, &st, &err);
    CHECK(s == RIBO_OK && n == 3 && small[1] == 4 && st.n_unknown == 0, "[MASK] literal");

    /* non-ASCII bytes are refused, naming the byte and position */
    s = enc(t, "ACG\xc3\xa9T", 0, part, 128, &n, NULL, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "0xc3 at position 4");
    ribo_tokenizer_free(t);
}

/* A 3000-character word in one piece: the heap merge must give the library's ids (checked in the
 * fixtures) and a long word must not be slow; here only that it works on 1 MB. */
static void test_long_word(void) {
    ribo_tokenizer *t = load(ribo_test_fixture(DNA_TOKENIZER));
    if (!t) return;
    size_t len = 1 << 20;
    char *s = malloc(len + 1);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s[i] = "ACGT"[x & 3];
    }
    s[len] = '\0';
    int32_t *out = malloc((len + 2) * sizeof *out);
    size_t n = 0;
    ribo_error err;
    ribo_encode_stats st;
    clock_t c0 = clock();
    ribo_status rc = ribo_tokenizer_encode(t, s, len, 0, out, len + 2, &n, &st, &err);
    double secs = (double)(clock() - c0) / CLOCKS_PER_SEC;
    CHECK_STATUS(rc, RIBO_OK, &err);
    CHECK(n > 2 && n < len / 2 && st.n_unknown == 0, "1 MB word: %zu tokens", n);
    fprintf(stderr, "bpe: one 1 MiB word: %zu tokens in %.3f s\n", n, secs);
    free(out);
    free(s);
    ribo_tokenizer_free(t);
}

/* FASTA through the input reader with the BPE tokenizer: offsets and truncation. */
static void test_seqset(void) {
    ribo_tokenizer *t = load(ribo_test_fixture(DNA_TOKENIZER));
    if (!t) return;
    const char *fa = ribo_test_tmp("dna.fasta");
    const char text[] = ">s1\nACGTACGTTTGACNNNN\nACGATCGATCGA\n>s2 desc\nAC\n>s3\nGGGGCCCCAAAATTTT\n";
    CHECK(ribo_test_write_file(fa, text, sizeof text - 1), "write");
    ribo_seqset set;
    ribo_seqset_options o = {.max_residues = 3};
    ribo_error err;
    ribo_status s = ribo_test_read_input(&fa, 1, t, &o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s == RIBO_OK) {
        CHECK(set.n == 3, "3 sequences");
        CHECK(ribo_seqset_len(&set, 0) <= 5 && ribo_seqset_len(&set, 1) >= 3, "lengths %d %d",
              ribo_seqset_len(&set, 0), ribo_seqset_len(&set, 1));
        CHECK(set.tokens[0] == 1 && set.tokens[set.offsets[1] - 1] == 2, "[CLS] ... [SEP]");
        ribo_seqset_free(&set);
    }
    ribo_tokenizer_free(t);
}

/* ---- bad files ---- */

/* Parts of a small valid tokenizer.json; a case replaces one of them. */
typedef struct json_parts {
    const char *version, *added, *normalizer, *pre, *post, *model_opts, *vocab, *merges;
} json_parts;

static json_parts good_parts(void) {
    return (json_parts){
        .version = "\"1.0\"",
        .added = "[{\"id\":0,\"content\":\"[UNK]\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
                 "\"normalized\":false,\"special\":true},"
                 "{\"id\":1,\"content\":\"[CLS]\",\"special\":true,\"normalized\":false},"
                 "{\"id\":2,\"content\":\"[SEP]\",\"special\":true,\"normalized\":false}]",
        .normalizer = "null",
        .pre = "{\"type\":\"Whitespace\"}",
        .post = "{\"type\":\"TemplateProcessing\","
                "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
                "\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
                "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]},"
                "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"[SEP]\"]}}}",
        .model_opts = "\"type\":\"BPE\",\"dropout\":null,\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":null,"
                      "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false",
        .vocab = "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"A\":3,\"C\":4,\"G\":5,\"T\":6,\"AC\":7,\"GT\":8,\"ACGT\":9}",
        .merges = "[[\"A\",\"C\"],[\"G\",\"T\"],[\"AC\",\"GT\"]]",
    };
}

/* Writes the parts as NAME.json in the tmpdir and returns its path. */
static const char *write_json(const char *name, const json_parts *p) {
    static char buf[8192];
    int k = snprintf(buf, sizeof buf,
                     "{\"version\":%s,\"truncation\":null,\"padding\":null,\"added_tokens\":%s,\"normalizer\":%s,"
                     "\"pre_tokenizer\":%s,\"post_processor\":%s,\"decoder\":null,"
                     "\"model\":{%s,\"vocab\":%s,\"merges\":%s}}",
                     p->version, p->added, p->normalizer, p->pre, p->post, p->model_opts, p->vocab,
                     p->merges);
    const char *path = ribo_test_tmp(name);
    CHECK(ribo_test_write_file(path, buf, (size_t)k), "write %s", path);
    return path;
}

/* Loads path expecting status want and a message naming the file and every needle. */
static void expect_error(const char *path, ribo_status want, const char *needle1, const char *needle2) {
    ribo_tokenizer *t = (ribo_tokenizer *)&t;
    ribo_error err;
    ribo_status s = ribo_tokenizer_load_hf_json(path, &t, &err);
    CHECK_STATUS(s, want, &err);
    CHECK(t == NULL, "%s: out cleared", path);
    CHECK_MESSAGE(&err, path);
    if (needle1) CHECK_MESSAGE(&err, needle1);
    if (needle2) CHECK_MESSAGE(&err, needle2);
    CHECK(!strchr(err.message, '\n'), "one line: %s", err.message);
    if (s == RIBO_OK) ribo_tokenizer_free(t);
}

/* The valid small file loads and encodes "ACGT" to [CLS] ACGT [SEP]. */
static void test_small_valid(void) {
    json_parts p = good_parts();
    ribo_tokenizer *t = load(write_json("good.json", &p));
    if (!t) return;
    int32_t out[16];
    size_t n = 0;
    ribo_error err;
    ribo_status s = ribo_tokenizer_encode(t, "ACGT ACG", 8, 0, out, 16, &n, NULL, &err);
    CHECK(s == RIBO_OK && n == 5 && out[0] == 1 && out[1] == 9 && out[2] == 7 && out[3] == 5 && out[4] == 2,
          "small encode: n=%zu", n);
    ribo_tokenizer_free(t);
}

static void test_bad_files(void) {
    const char *missing = ribo_test_tmp("no-such-tokenizer.json");
    ribo_tokenizer *t = NULL;
    ribo_error err;
    ribo_status s = ribo_tokenizer_load_hf_json(missing, &t, &err);
    CHECK(s == RIBO_ERR_IO || s == RIBO_ERR_MODEL, "missing file: %s", ribo_status_name(s));
    CHECK_MESSAGE(&err, missing);

    json_parts g = good_parts(), p;
    const char *good = write_json("trunc-src.json", &g);
    size_t size = 0;
    char *text = ribo_test_read_file(good, &size);
    const char *trunc = ribo_test_tmp("truncated.json");
    CHECK(text && ribo_test_write_file(trunc, text, size / 2), "write");
    free(text);
    expect_error(trunc, RIBO_ERR_MODEL, "not valid JSON (line 1, column", NULL);
    const char *garbage = ribo_test_tmp("garbage.json");
    CHECK(ribo_test_write_file(garbage, "{\"model\": {\n  \"type\": BPE}}", 27), "write");
    expect_error(garbage, RIBO_ERR_MODEL, "not valid JSON (line 2", NULL);
    const char *array = ribo_test_tmp("array.json");
    CHECK(ribo_test_write_file(array, "[1, 2]", 6), "write");
    expect_error(array, RIBO_ERR_MODEL, "not a JSON object", NULL);
    const char *nomodel = ribo_test_tmp("nomodel.json");
    CHECK(ribo_test_write_file(nomodel, "{\"version\": \"1.0\"}", 18), "write");
    expect_error(nomodel, RIBO_ERR_MODEL, "no \"model\"", NULL);

#define CASE(field, value, name, want, n1, n2) \
    p = g;                                     \
    p.field = value;                           \
    expect_error(write_json(name, &p), want, n1, n2)

    /* unsupported components */
    CASE(pre, "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}", "bytelevel.json", RIBO_ERR_UNSUPPORTED,
         "pre_tokenizer type \"ByteLevel\" is not supported", NULL);
    CASE(pre, "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Whitespace\"},{\"type\":\"Metaspace\"}]}",
         "metaspace.json", RIBO_ERR_UNSUPPORTED, "pre_tokenizer.pretokenizers[1] type \"Metaspace\"", NULL);
    CASE(pre, "{\"add_prefix_space\":true}", "untyped.json", RIBO_ERR_UNSUPPORTED, "pre_tokenizer has no \"type\"",
         NULL);
    CASE(normalizer, "{\"type\":\"NFC\"}", "nfc.json", RIBO_ERR_UNSUPPORTED, "normalizer type \"NFC\"", NULL);
    CASE(normalizer, "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},{\"type\":\"Uppercase\"}]}",
         "upper.json", RIBO_ERR_UNSUPPORTED, "normalizer.normalizers[1] type \"Uppercase\"", NULL);
    CASE(normalizer, "{\"type\":\"Sequence\"}", "seqnolist.json", RIBO_ERR_MODEL, "normalizer.normalizers", NULL);
    CASE(post, "{\"type\":\"RobertaProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]}", "roberta.json",
         RIBO_ERR_UNSUPPORTED, "post_processor type \"RobertaProcessing\"", NULL);
    CASE(model_opts, "\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\"", "wordpiece.json", RIBO_ERR_UNSUPPORTED,
         "model type \"WordPiece\" is not supported", NULL);
    CASE(model_opts, "\"type\":\"BPE\",\"unk_token\":\"[UNK]\",\"dropout\":0.1", "dropout.json", RIBO_ERR_UNSUPPORTED,
         "model.dropout 0.1 is not supported", NULL);
    CASE(model_opts, "\"type\":\"BPE\",\"unk_token\":\"[UNK]\",\"fuse_unk\":1", "fuse.json", RIBO_ERR_MODEL,
         "model.fuse_unk is not true, false or null", NULL);
    CASE(model_opts, "\"type\":\"BPE\",\"unk_token\":\"[UNK]\",\"byte_fallback\":true", "bytefb.json",
         RIBO_ERR_UNSUPPORTED, "model.byte_fallback", NULL);
    CASE(model_opts, "\"type\":\"BPE\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\"", "prefix.json",
         RIBO_ERR_UNSUPPORTED, "model.continuing_subword_prefix \"##\"", NULL);
    CASE(model_opts, "\"type\":\"BPE\",\"unk_token\":\"[UNK]\",\"end_of_word_suffix\":\"</w>\"", "suffix.json",
         RIBO_ERR_UNSUPPORTED, "model.end_of_word_suffix \"</w>\"", NULL);
    CASE(version, "\"2.0\"", "version.json", RIBO_ERR_UNSUPPORTED, "version \"2.0\"", NULL);

    /* vocabulary */
    CASE(vocab, "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"A\":3,\"C\":4,\"G\":5,\"T\":6,\"AC\":7,\"GT\":8,\"ACGT\":99}",
         "vocab-range.json", RIBO_ERR_MODEL, "model.vocab: token \"ACGT\" has id 99, out of range", NULL);
    CASE(vocab, "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"A\":3,\"C\":4,\"G\":5,\"T\":6,\"AC\":7,\"GT\":-8,\"ACGT\":9}",
         "vocab-neg.json", RIBO_ERR_MODEL, "token \"GT\" has a negative id", NULL);
    CASE(vocab, "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"A\":3,\"C\":4,\"G\":5,\"T\":6,\"AC\":7,\"GT\":7,\"ACGT\":9}",
         "vocab-dup.json", RIBO_ERR_MODEL, "tokens \"AC\" and \"GT\" both have id 7", NULL);
    CASE(vocab, "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"A\":3,\"C\":4,\"G\":5,\"T\":6,\"AC\":7,\"GT\":8.5,\"ACGT\":9}",
         "vocab-frac.json", RIBO_ERR_MODEL, "token \"GT\" has an id that is not an integer", NULL);
    CASE(vocab, "{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"A\":3,\"C\":4,\"G\":5,\"T\":6,\"AC\":7,\"GT\":8,\"A\":9}",
         "vocab-twice.json", RIBO_ERR_MODEL, "token \"A\" appears twice", NULL);
    CASE(vocab, "{}", "vocab-empty.json", RIBO_ERR_MODEL, "model.vocab is empty", NULL);
    CASE(vocab, "[]", "vocab-array.json", RIBO_ERR_MODEL, "model.vocab is missing or not an object", NULL);
    CASE(model_opts, "\"type\":\"BPE\",\"unk_token\":\"<unk>\"", "unk.json", RIBO_ERR_MODEL,
         "model.unk_token \"<unk>\" is not in model.vocab", NULL);

    /* merges */
    CASE(merges, "[[\"A\",\"C\"],[\"G\",\"X\"]]", "merge-tok.json", RIBO_ERR_MODEL,
         "model.merges[1] (\"G\" \"X\"): \"X\" is not in model.vocab", NULL);
    CASE(merges, "[\"A C\",\"C A\"]", "merge-new.json", RIBO_ERR_MODEL,
         "model.merges[1] (\"C\" \"A\"): the merged token \"CA\" is not in model.vocab", NULL);
    CASE(merges, "[\"A C\",\"GT\"]", "merge-space.json", RIBO_ERR_MODEL,
         "model.merges[1] \"GT\" is not two tokens separated by one space", NULL);
    CASE(merges, "[\"A C\",[\"G\",\"T\"]]", "merge-mixed.json", RIBO_ERR_MODEL, "model.merges[1]", "mix");
    CASE(merges, "[[\"A\",\"C\",\"G\"]]", "merge-three.json", RIBO_ERR_MODEL, "model.merges[0] is neither", NULL);
    CASE(merges, "{}", "merge-obj.json", RIBO_ERR_MODEL, "model.merges is missing or not an array", NULL);

    /* added tokens */
    CASE(added, "[{\"id\":0,\"content\":\"[UNK]\"},{\"id\":1,\"content\":\"[CLS]\"},{\"id\":77,\"content\":\"[SEP]\"}]",
         "added-range.json", RIBO_ERR_MODEL, "added_tokens[2] (\"[SEP]\"): id 77 is out of range", NULL);
    CASE(added, "[{\"id\":0,\"content\":\"[UNK]\"},{\"id\":2,\"content\":\"[CLS]\"},{\"id\":2,\"content\":\"[SEP]\"}]",
         "added-mismatch.json", RIBO_ERR_MODEL, "added_tokens[1] (\"[CLS]\"): id 2", "gives it id 1");
    CASE(added, "[{\"id\":0,\"content\":\"[UNK]\"},{\"id\":11,\"content\":\"[MASK]\"}]", "added-new.json",
         RIBO_ERR_MODEL, "added_tokens[1] (\"[MASK]\"): id 11", "gives it id 10");
    CASE(added, "[{\"id\":0,\"content\":\"[UNK]\"},{\"id\":0,\"content\":\"[UNK]\"}]", "added-twice.json",
         RIBO_ERR_MODEL, "added_tokens[1]: \"[UNK]\" appears twice", NULL);
    CASE(added, "[{\"id\":0}]", "added-nocontent.json", RIBO_ERR_MODEL, "added_tokens[0] is not an object", NULL);

    /* post-processor */
    CASE(post,
         "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[BOS]\",\"type_id\":0}},"
         "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":null,\"special_tokens\":{}}",
         "tpl-unknown.json", RIBO_ERR_MODEL, "post_processor.single[0]: special token \"[BOS]\" is not in", NULL);
    CASE(post,
         "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
         "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":null,"
         "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[12],\"tokens\":[\"[CLS]\"]}}}",
         "tpl-range.json", RIBO_ERR_MODEL, "post_processor.special_tokens[\"[CLS]\"].ids[0]", "id 12 is not a token id");
    CASE(post,
         "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
         "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}}],\"pair\":null,\"special_tokens\":{}}",
         "tpl-b.json", RIBO_ERR_UNSUPPORTED, "post_processor.single[1]: $B", NULL);
    CASE(post, "{\"type\":\"TemplateProcessing\",\"single\":[],\"pair\":null,\"special_tokens\":{}}", "tpl-noa.json",
         RIBO_ERR_UNSUPPORTED, "post_processor.single has 0 $A pieces", NULL);
    CASE(post,
         "{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
         "\"pair\":[{\"SpecialToken\":{\"id\":\"[EOS]\",\"type_id\":0}}],\"special_tokens\":{}}",
         "tpl-pair.json", RIBO_ERR_MODEL, "post_processor.pair[0]: special token \"[EOS]\"", NULL);
    CASE(post, "{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",40]}", "bert-range.json",
         RIBO_ERR_MODEL, "post_processor.cls: id 40 is not a token id", NULL);
    CASE(post, "{\"type\":\"BertProcessing\",\"sep\":\"[SEP]\",\"cls\":[\"[CLS]\",1]}", "bert-shape.json",
         RIBO_ERR_MODEL, "post_processor.sep is not [\"token\", id]", NULL);
#undef CASE
}

/* Seconds of the given clock since an arbitrary point. */
static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encodes every string of ids_path repeatedly for about seconds; prints MB/s (input bytes). */
static void bench(const char *tok_path, const char *ids_path, double seconds) {
    id_fixture fx;
    if (!read_fixture(ids_path, &fx)) {
        CHECK(false, "cannot read %s", ids_path);
        return;
    }
    ribo_tokenizer *t = load(tok_path);
    size_t max_len = 0, bytes = 0, tokens = 0;
    for (size_t i = 0; i < fx.n; ++i) {
        if (fx.len[i] > max_len) max_len = fx.len[i];
        bytes += fx.len[i];
    }
    int32_t *out = malloc((max_len + 16) * sizeof *out);
    double t0 = now(CLOCK_MONOTONIC), t1 = t0, c0 = now(CLOCK_THREAD_CPUTIME_ID);
    size_t passes = 0;
    while (t && out && (t1 - t0 < seconds || passes == 0)) {
        for (size_t i = 0; i < fx.n; ++i) {
            size_t n = 0;
            ribo_error err;
            ribo_status s = ribo_tokenizer_encode(t, fx.str[i], fx.len[i], 0, out, max_len + 16, &n, NULL, &err);
            if (s != RIBO_OK) CHECK_STATUS(s, RIBO_OK, &err);
            tokens += n;
        }
        ++passes;
        t1 = now(CLOCK_MONOTONIC);
    }
    double cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
    double mb = (double)bytes * (double)passes / 1e6;
    fprintf(stderr,
            "bpe bench: %s: %zu strings, %.2f MB per pass, %zu passes, %.3f s wall, %.3f s thread CPU: "
            "%.2f MB/s wall, %.2f MB/s CPU, %.2f M tokens/s CPU\n",
            ids_path, fx.n, (double)bytes / 1e6, passes, t1 - t0, cpu, mb / (t1 - t0), mb / cpu,
            (double)tokens / 1e6 / cpu);
    free(out);
    ribo_tokenizer_free(t);
    free_fixture(&fx);
}

int main(int argc, char **argv) {
    const char *ids = getenv("RIBO_BPE_FULL_IDS"), *tok = NULL, *bench_ids = NULL;
    double seconds = 3.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--ids") == 0) ids = argv[i + 1];
        else if (strcmp(argv[i], "--tokenizer") == 0) tok = argv[i + 1];
        else if (strcmp(argv[i], "--bench") == 0) bench_ids = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0) seconds = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--ids FILE] [--bench FILE] [--tokenizer JSON] [--seconds S]\n", argv[0]);
            return 2;
        }
    }
    char tok_buf[1024]; /* ribo_test_fixture's buffers are reused by later calls */
    snprintf(tok_buf, sizeof tok_buf, "%s", tok ? tok : ribo_test_fixture(DNA_TOKENIZER));
    tok = tok_buf;
    if (bench_ids) {
        bench(tok, bench_ids, seconds);
        return ribo_test_finish("bpe_tokenizer bench");
    }
    test_fixtures();
    test_lookup();
    test_encode_rules();
    test_long_word();
    test_seqset();
    test_small_valid();
    test_bad_files();
    if (ids && ids[0]) {
        size_t total = 0, matched = compare_fixture(tok, ids, &total);
        fprintf(stderr, "bpe: full set %s: %zu of %zu match\n", ids, matched, total);
        CHECK(total > 0 && matched == total, "full set: %zu of %zu", matched, total);
    }
    return ribo_test_finish("bpe_tokenizer");
}
