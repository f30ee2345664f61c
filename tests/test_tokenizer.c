/* ESM vocab.txt tokenizer: vocabulary errors, encoding rules, and ids against the reference fixture. */
#include <stdlib.h>
#include <string.h>

#include "engine/io/fasta.h"
#include "engine/tokenize/tokenizer.h"
#include "test_util.h"

static const char *const ESM_VOCAB[] = {"<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R",
                                        "T", "I", "D", "P", "K", "Q", "N", "F", "Y", "M", "H", "W", "C", "X",
                                        "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>"};
#define ESM_N ((int)(sizeof ESM_VOCAB / sizeof ESM_VOCAB[0]))

/* Writes a vocab file with one token per line and returns its path. */
static const char *write_vocab(const char *name, const char *const *tokens, int n, const char *eol) {
    char buf[4096];
    size_t k = 0;
    for (int i = 0; i < n; ++i) k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", tokens[i], eol);
    const char *path = ribo_test_tmp(name);
    CHECK(ribo_test_write_file(path, buf, k), "write %s", path);
    return path;
}

/* Loads the standard ESM vocabulary (written to a temp file). */
static ribo_tokenizer *load_esm(void) {
    const char *path = write_vocab("vocab.txt", ESM_VOCAB, ESM_N, "\n");
    ribo_tokenizer *t = NULL;
    ribo_error err;
    ribo_status s = ribo_tokenizer_load_esm_vocab(path, &t, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    return t;
}

static void test_vocab_errors(void) {
    ribo_tokenizer *t = (ribo_tokenizer *)&t;
    ribo_error err;
    const char *missing = ribo_test_tmp("no-such-vocab.txt");
    ribo_status s = ribo_tokenizer_load_esm_vocab(missing, &t, &err);
    CHECK(s == RIBO_ERR_MODEL || s == RIBO_ERR_IO, "missing file: %s", ribo_status_name(s));
    CHECK_MESSAGE(&err, missing);
    CHECK(t == NULL, "out cleared");

    const char *dup_tokens[] = {"<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "L"};
    const char *dup = write_vocab("dup.txt", dup_tokens, 7, "\n");
    s = ribo_tokenizer_load_esm_vocab(dup, &t, &err);
    CHECK_STATUS(s, RIBO_ERR_MODEL, &err);
    CHECK_MESSAGE(&err, "dup.txt: line 7: duplicate token 'L' (first on line 5)");

    const char *nocls_tokens[] = {"<pad>", "<eos>", "<unk>", "L", "A"};
    const char *nocls = write_vocab("nocls.txt", nocls_tokens, 5, "\n");
    s = ribo_tokenizer_load_esm_vocab(nocls, &t, &err);
    CHECK_STATUS(s, RIBO_ERR_MODEL, &err);
    CHECK_MESSAGE(&err, "nocls.txt");
    CHECK_MESSAGE(&err, "<cls>");

    const char *empty = ribo_test_tmp("empty-vocab.txt");
    CHECK(ribo_test_write_file(empty, "\n\n", 2), "write");
    s = ribo_tokenizer_load_esm_vocab(empty, &t, &err);
    CHECK_STATUS(s, RIBO_ERR_MODEL, &err);
    CHECK_MESSAGE(&err, "empty vocabulary");

    const char *hole = ribo_test_tmp("hole.txt");
    const char hole_text[] = "<cls>\n<pad>\n\n<eos>\n<unk>\n";
    CHECK(ribo_test_write_file(hole, hole_text, sizeof hole_text - 1), "write");
    s = ribo_tokenizer_load_esm_vocab(hole, &t, &err);
    CHECK_STATUS(s, RIBO_ERR_MODEL, &err);
    CHECK_MESSAGE(&err, "hole.txt: line 3");
}

static void test_vocab_lookup(void) {
    ribo_tokenizer *t = load_esm();
    if (!t) return;
    CHECK(ribo_tokenizer_vocab_size(t) == 33, "size %d", ribo_tokenizer_vocab_size(t));
    ribo_special_tokens sp = ribo_tokenizer_specials(t);
    CHECK(sp.cls == 0 && sp.pad == 1 && sp.eos == 2 && sp.unk == 3 && sp.mask == 32, "specials %d %d %d %d %d",
          sp.cls, sp.pad, sp.eos, sp.unk, sp.mask);
    CHECK(ribo_tokenizer_token_id(t, "L") == 4 && ribo_tokenizer_token_id(t, "-") == 30, "ids");
    CHECK(ribo_tokenizer_token_id(t, "J") == -1, "absent token");
    CHECK(strcmp(ribo_tokenizer_token_text(t, 31), "<null_1>") == 0, "text");
    CHECK(ribo_tokenizer_token_text(t, 33) == NULL && ribo_tokenizer_token_text(t, -1) == NULL, "text range");
    ribo_tokenizer_free(t);

    /* CRLF vocabulary files and one without <mask> */
    const char *path = write_vocab("crlf-vocab.txt", ESM_VOCAB, ESM_N - 1, "\r\n");
    ribo_error err;
    ribo_status s = ribo_tokenizer_load_esm_vocab(path, &t, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(ribo_tokenizer_token_id(t, "<cls>") == 0 && ribo_tokenizer_specials(t).mask == -1, "CRLF vocab");
    ribo_tokenizer_free(t);
}

/* Encodes s with the given limit into a fixed buffer; returns the count (0 on error). */
static size_t enc(const ribo_tokenizer *t, const char *s, size_t max_res, int32_t *out, ribo_encode_stats *st) {
    size_t n = 0;
    ribo_error err;
    ribo_status rc = ribo_tokenizer_encode(t, s, strlen(s), max_res, out, 256, &n, st, &err);
    CHECK_STATUS(rc, RIBO_OK, &err);
    return rc == RIBO_OK ? n : 0;
}

/* True when out[0..n) equals want[0..wn). */
static bool same_ids(const int32_t *out, size_t n, const int32_t *want, size_t wn) {
    return n == wn && memcmp(out, want, n * sizeof *out) == 0;
}

static void test_encode_rules(void) {
    ribo_tokenizer *t = load_esm();
    if (!t) return;
    int32_t out[256];
    ribo_encode_stats st;

    size_t n = enc(t, "MKV", 0, out, &st);
    const int32_t w1[] = {0, 20, 15, 7, 2};
    CHECK(same_ids(out, n, w1, 5), "MKV");
    CHECK(st.n_unknown == 0 && !st.truncated && st.n_residues_in == 3, "stats");

    n = enc(t, "mkV", 0, out, &st);
    CHECK(same_ids(out, n, w1, 5), "lowercase folded");

    n = enc(t, "A<mask>C", 0, out, &st);
    const int32_t w2[] = {0, 5, 32, 23, 2};
    CHECK(same_ids(out, n, w2, 5), "<mask> is one token");
    CHECK(st.n_residues_in == 3, "mask counts as one residue: %zu", st.n_residues_in);

    n = enc(t, "<null_1><cls>", 0, out, &st);
    const int32_t w3[] = {0, 31, 0, 2};
    CHECK(same_ids(out, n, w3, 4), "bracketed vocab tokens");

    n = enc(t, "AJ*1<foo>", 0, out, &st);
    /* A J * 1 < f o o > : J * 1 < > unknown; f o o folded to F O O */
    const int32_t w4[] = {0, 5, 3, 3, 3, 3, 18, 28, 28, 3, 2};
    CHECK(same_ids(out, n, w4, 11), "unknowns one per char");
    CHECK(st.n_unknown == 5, "n_unknown=%zu", st.n_unknown);

    n = enc(t, "<mask", 0, out, &st);
    CHECK(n == 7 && out[1] == 3 && out[2] == 20, "unterminated bracket is not a token");

    n = enc(t, "ACDEFG", 4, out, &st);
    const int32_t w5[] = {0, 5, 23, 13, 9, 2};
    CHECK(same_ids(out, n, w5, 6), "truncated to 4 residues");
    CHECK(st.truncated && st.n_residues_in == 6, "truncation stats %d %zu", st.truncated, st.n_residues_in);

    n = enc(t, "ACJJ", 2, out, &st);
    CHECK(n == 4 && st.n_unknown == 0, "unknowns past the cut are not counted: %zu", st.n_unknown);

    n = enc(t, "ACDE", 4, out, &st);
    CHECK(n == 6 && !st.truncated, "exactly at the limit is not truncated");

    n = enc(t, "", 0, out, &st);
    const int32_t w6[] = {0, 2};
    CHECK(same_ids(out, n, w6, 2), "empty sequence");

    /* output too small is an error, not an overflow */
    int32_t small[4] = {-7, -7, -7, -7};
    ribo_error err;
    size_t k = 0;
    ribo_status s = ribo_tokenizer_encode(t, "ACDEF", 5, 0, small, 3, &k, NULL, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK(small[3] == -7, "no write past out_cap");
    s = ribo_tokenizer_encode(t, "ACDEF", 5, 1, small, 3, &k, NULL, &err);
    CHECK(s == RIBO_OK && k == 3 && small[1] == 5, "fits when truncated to 1");

    /* all 256 byte values: never crashes, every non-vocab byte is one <unk> */
    char bytes[256];
    for (int i = 0; i < 255; ++i) bytes[i] = (char)(i + 1);
    bytes[255] = 0;
    int32_t big[300];
    s = ribo_tokenizer_encode(t, bytes, 255, 0, big, 300, &k, &st, &err);
    CHECK(s == RIBO_OK && k == 257, "all bytes: %zu", k);
    CHECK(st.n_unknown == 255 - 25 - 25 - 2, "n_unknown=%zu", st.n_unknown);
    ribo_tokenizer_free(t);
}

/* Parses one fixture line into ids (integers separated by spaces/tabs/commas). A leading
 * non-integer word is returned in *name (the record id), if any. Returns the count. */
static size_t parse_ids(char *line, int32_t *ids, size_t cap, const char **name) {
    size_t n = 0;
    *name = NULL;
    for (char *tok = strtok(line, " \t,\r\n[]"); tok; tok = strtok(NULL, " \t,\r\n[]")) {
        char *end = NULL;
        long v = strtol(tok, &end, 10);
        if (*end || end == tok) {
            if (n == 0 && !*name) *name = tok;
            continue;
        }
        if (n < cap) ids[n] = (int32_t)v;
        ++n;
    }
    return n;
}

/* Compares our ids to the reference ids (HF tokenizer, one line per record) of every record of stem.fasta. */
static void test_fixture_ids(const char *stem) {
    char fasta_rel[128], tokens_rel[128];
    snprintf(fasta_rel, sizeof fasta_rel, "%s.fasta", stem);
    snprintf(tokens_rel, sizeof tokens_rel, "%s.tokens.txt", stem);
    const char *fasta = ribo_test_fixture(fasta_rel);
    const char *tokens = ribo_test_fixture(tokens_rel);
    const char *vocab = ribo_test_fixture("esm2_a/vocab.txt");
    char *ref = ribo_test_read_file(tokens, NULL);
    CHECK(ref != NULL, "fixture %s is missing (generated with the reference tokenizer)", tokens);
    if (!ref) return;
    ribo_tokenizer *t = NULL;
    ribo_error err;
    ribo_status s = ribo_tokenizer_load_esm_vocab(vocab, &t, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    ribo_fasta_reader *rd = NULL;
    s = t ? ribo_fasta_open(fasta, &rd, &err) : s;
    CHECK_STATUS(s, RIBO_OK, &err);
    int32_t *ours = malloc(sizeof(int32_t) * 1100), *want = malloc(sizeof(int32_t) * 1100);
    size_t n_records = 0;
    char *save = NULL, *line = (rd && ours && want) ? strtok_r(ref, "\n", &save) : NULL;
    for (; line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        ribo_fasta_record rec;
        bool has = false;
        s = ribo_fasta_next(rd, &rec, &has, &err);
        CHECK(s == RIBO_OK && has, "fasta ended before the tokens file (record %zu): %s", n_records + 1, err.message);
        if (s != RIBO_OK || !has) break;
        ++n_records;
        const char *name = NULL;
        size_t wn = parse_ids(line, want, 1100, &name);
        CHECK(!name || strcmp(name, rec.id) == 0, "record %zu: tokens line names '%s', fasta '%s'", n_records, name,
              rec.id);
        size_t n = 0;
        s = ribo_tokenizer_encode(t, rec.seq, rec.seq_len, 1022, ours, 1100, &n, NULL, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        bool eq = s == RIBO_OK && same_ids(ours, n, want, wn);
        CHECK(eq, "record %zu ('%s'): %zu ids, reference %zu ids", n_records, rec.id, n, wn);
        for (size_t i = 0; !eq && i < n && i < wn; ++i)
            if (ours[i] != want[i]) {
                fprintf(stderr, "  first difference at %zu: ours %d, reference %d\n", i, ours[i], want[i]);
                break;
            }
    }
    if (rd) {
        ribo_fasta_record rec;
        bool has = false;
        s = ribo_fasta_next(rd, &rec, &has, &err);
        CHECK(s == RIBO_OK && !has, "fasta has more records than the tokens file (%zu)", n_records);
    }
    CHECK(n_records > 0, "no records compared");
    fprintf(stderr, "tokenizer: compared %zu records of %s\n", n_records, fasta_rel);
    ribo_fasta_close(rd);
    ribo_tokenizer_free(t);
    free(ours);
    free(want);
    free(ref);
}

int main(void) {
    test_vocab_errors();
    test_vocab_lookup();
    test_encode_rules();
    test_fixture_ids("proteins");
    test_fixture_ids("short");
    return ribo_test_finish("tokenizer");
}
