/* Sequence set: input order across files, empty/duplicate/too-long records, truncation counts. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "engine/seqset.h"
#include "test_util.h"

static const char *const ESM_VOCAB =
    "<cls>\n<pad>\n<eos>\n<unk>\nL\nA\nG\nV\nS\nE\nR\nT\nI\nD\nP\nK\nQ\nN\nF\nY\nM\nH\nW\nC\nX\nB\nU\nZ\nO\n.\n-\n"
    "<null_1>\n<mask>\n";

/* Writes text to a temp file; returns its path (rotating static buffer). */
static const char *write_tmp(const char *name, const char *text) {
    const char *path = ribo_test_tmp(name);
    CHECK(ribo_test_write_file(path, text, strlen(text)), "write %s", path);
    return path;
}

static ribo_tokenizer *load_esm(void) {
    const char *path = write_tmp("vocab.txt", ESM_VOCAB);
    ribo_tokenizer *t = NULL;
    ribo_error err;
    CHECK_STATUS(ribo_tokenizer_load_esm_vocab(path, &t, &err), RIBO_OK, &err);
    return t;
}

/* Loads two or more files; paths are copied since ribo_test_tmp rotates its buffers. */
static ribo_status load(const ribo_tokenizer *t, const char *const *paths, int n, ribo_seqset_options o,
                        ribo_seqset *set, ribo_error *err) {
    return ribo_seqset_load(paths, n, t, &o, set, err);
}

static void test_order_and_ids(const ribo_tokenizer *t) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", write_tmp("a.fa", ">z1 first file\nMK\nV\n>a2\nLLLL\n"));
    /* second file gzip-compressed */
    snprintf(b, sizeof b, "%s", ribo_test_tmp("b.fa.gz"));
    gzFile g = gzopen(b, "wb");
    const char *text = ">m3|x  desc\nac\n>b4\nW<mask>W\n";
    CHECK(g && gzwrite(g, text, (unsigned)strlen(text)) == (int)strlen(text), "gzwrite");
    if (g) gzclose(g);
    const char *paths[] = {a, b};
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022};
    ribo_status s = load(t, paths, 2, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(set.n == 4, "n=%zu", set.n);
    const char *ids[] = {"z1", "a2", "m3|x", "b4"};
    const int32_t lens[] = {5, 6, 4, 5};
    for (size_t i = 0; i < 4 && i < set.n; ++i) {
        CHECK(strcmp(set.ids[i], ids[i]) == 0, "id %zu: %s", i, set.ids[i]);
        CHECK(ribo_seqset_len(&set, i) == lens[i], "len %zu: %d", i, ribo_seqset_len(&set, i));
        CHECK(set.tokens[set.offsets[i]] == 0 && set.tokens[set.offsets[i + 1] - 1] == 2, "cls/eos %zu", i);
    }
    const int32_t want[] = {0, 20, 15, 7, 2, 0, 4, 4, 4, 4, 2, 0, 5, 23, 2, 0, 22, 32, 22, 2};
    CHECK(set.offsets[0] == 0 && set.offsets[4] == 20 && memcmp(set.tokens, want, sizeof want) == 0, "tokens");
    CHECK(set.max_len == 6, "max_len=%zu", set.max_len);
    CHECK(set.n_unknown == 0 && set.n_truncated == 0 && set.n_skipped == 0, "counts");
    ribo_seqset_free(&set);
    CHECK(set.n == 0 && set.ids == NULL, "free clears");
    ribo_seqset_free(&set);
}

static void test_empty_records(const ribo_tokenizer *t) {
    const char *p = write_tmp("empty.fa", ">a\nMK\n>b\n\n>c x\nJJ\n>d\n");
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022};
    ribo_status s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "empty.fa: record 2 ('b'): empty sequence");
    CHECK(set.n == 0 && set.ids == NULL && set.tokens == NULL, "left empty on error");

    o.skip_invalid = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    CHECK(set.n == 2 && set.n_skipped == 2, "n=%zu skipped=%zu", set.n, set.n_skipped);
    CHECK(set.n == 2 && strcmp(set.ids[1], "c") == 0, "kept order");
    CHECK(set.n_unknown == 2, "unknown=%zu", set.n_unknown);
    ribo_seqset_free(&set);
}

static void test_duplicates(const ribo_tokenizer *t) {
    char a[512];
    snprintf(a, sizeof a, "%s", write_tmp("one.fa", ">P1\nMK\n>P2 x\nMK\n>P3\nA\n"));
    const char *b = write_tmp("two.fa", ">Q1\nMK\n>P2 other description\nMKV\n");
    const char *paths[] = {a, b};
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022};
    ribo_status s = load(t, paths, 2, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "two.fa: record 2 ('P2')");
    CHECK_MESSAGE(&err, "duplicate id");
    CHECK_MESSAGE(&err, "one.fa, record 2");
    CHECK(set.n == 0 && set.ids == NULL, "left empty");

    const char *same = write_tmp("same.fa", ">X\nA\n>Y\nA\n>X\nA\n");
    s = load(t, &same, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "same.fa: record 3 ('X'): duplicate id 'X' (first seen in");
    CHECK_MESSAGE(&err, "record 1)");
}

/* Many ids: the hash set stays correct through many resizes, and a late duplicate is found. */
static void test_many_ids(const ribo_tokenizer *t) {
    size_t n = 200000;
    size_t cap = n * 24 + 64;
    char *text = malloc(cap);
    CHECK(text != NULL, "malloc");
    if (!text) return;
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) k += (size_t)snprintf(text + k, cap - k, ">seq%zu\nMKV\n", i);
    const char *p = ribo_test_tmp("many.fa");
    CHECK(ribo_test_write_file(p, text, k), "write");
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022};
    ribo_status s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    CHECK(set.n == n && set.n > 0 && strcmp(set.ids[n - 1], "seq199999") == 0, "n=%zu", set.n);
    ribo_seqset_free(&set);
    k += (size_t)snprintf(text + k, cap - k, ">seq123456 again\nA\n");
    CHECK(ribo_test_write_file(p, text, k), "write");
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "record 200001 ('seq123456')");
    CHECK_MESSAGE(&err, "record 123457)");
    free(text);
}

static void test_truncation(const ribo_tokenizer *t) {
    const char *p = write_tmp("long.fa", ">short\nACDE\n>long\nACDEFGHIK\n>exact\nACDEF\n");
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 5};
    ribo_status s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    CHECK(set.n == 3 && set.n_truncated == 1, "truncated=%zu", set.n_truncated);
    CHECK(set.n == 3 && ribo_seqset_len(&set, 1) == 7 && set.max_len == 7, "kept first 5 residues");
    const int32_t want[] = {0, 5, 23, 13, 9, 18, 2};
    CHECK(set.n == 3 && memcmp(set.tokens + set.offsets[1], want, sizeof want) == 0, "truncated tokens");
    ribo_seqset_free(&set);

    o.error_if_longer = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "long.fa: record 2 ('long')");
    CHECK_MESSAGE(&err, "9 residues");
    CHECK_MESSAGE(&err, "limit of 5");
    CHECK_MESSAGE(&err, "--truncate N");
    CHECK(set.n == 0 && set.tokens == NULL, "left empty");

    o.max_residues = 0; /* no limit at all */
    s = load(t, &p, 1, o, &set, &err);
    CHECK(s == RIBO_OK && set.n_truncated == 0 && set.max_len == 11, "no limit: %s", err.message);
    ribo_seqset_free(&set);
}

static void test_reader_errors(const ribo_tokenizer *t) {
    char ok[512];
    snprintf(ok, sizeof ok, "%s", write_tmp("ok.fa", ">a\nMK\n"));
    const char *missing = ribo_test_tmp("missing.fa");
    const char *paths[] = {ok, missing};
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022};
    ribo_status s = load(t, paths, 2, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_IO, &err);
    CHECK_MESSAGE(&err, "missing.fa");
    CHECK(set.n == 0, "left empty");

    const char *bad = write_tmp("bad.fa", "hello\n");
    s = load(t, &bad, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "bad.fa: line 1: not FASTA");

    s = load(t, NULL, 0, o, &set, &err);
    CHECK(s == RIBO_OK && set.n == 0, "no files: empty set");
    ribo_seqset_free(&set);
}

int main(void) {
    ribo_tokenizer *t = load_esm();
    if (t) {
        test_order_and_ids(t);
        test_empty_records(t);
        test_duplicates(t);
        test_many_ids(t);
        test_truncation(t);
        test_reader_errors(t);
    }
    ribo_tokenizer_free(t);
    return ribo_test_finish("seqset");
}
