/* The input as ribo embed / ribo tokenize read it (the per-record step of seqset.c through the
 * streaming reader, here as one window): input order across files, empty/duplicate/too-long
 * records, truncation counts; six-frame translation and DNA input checks. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

/* Reads one or more files into set (callers copy paths, since ribo_test_tmp rotates its buffers). */
static ribo_status load(const ribo_tokenizer *t, const char *const *paths, int n, ribo_seqset_options o,
                        ribo_seqset *set, ribo_error *err) {
    return ribo_test_read_input(paths, n, t, &o, set, err);
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

    /* no files: refused (ribo embed / ribo tokenize refuse an empty --input list before reading) */
    s = load(t, NULL, 0, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK(set.n == 0 && set.ids == NULL, "no files: left empty");
}

/* Tokens of a protein string, for comparing a translated frame with its hand translation. */
static size_t encode(const ribo_tokenizer *t, const char *protein, int32_t *out, size_t cap) {
    size_t n = 0;
    ribo_encode_stats st = {0};
    ribo_error err;
    CHECK_STATUS(ribo_tokenizer_encode(t, protein, strlen(protein), 0, out, cap, &n, &st, &err), RIBO_OK, &err);
    return n;
}

/* Sequence i of the set holds exactly the tokens of `protein`. */
static void check_seq(const ribo_tokenizer *t, const ribo_seqset *set, size_t i, const char *id, const char *protein) {
    int32_t want[64];
    size_t n = encode(t, protein, want, 64);
    CHECK(i < set->n && strcmp(set->ids[i], id) == 0, "sequence %zu: id '%s', want '%s'", i,
          i < set->n ? set->ids[i] : "(none)", id);
    CHECK(i < set->n && (size_t)ribo_seqset_len(set, i) == n &&
              memcmp(set->tokens + set->offsets[i], want, n * sizeof *want) == 0,
          "sequence %zu ('%s'): tokens differ from '%s'", i, id, protein);
}

/* Six frames per record in order F1 F2 F3 R1 R2 R3, suffixed ids, short frames counted, '*' as <unk>. */
static void test_translate_frames(const ribo_tokenizer *t) {
    const char *p = write_tmp("dna.fa", ">d1 desc\nATGGCCATTGTAATGG\nGCCGCTGAAAGGGTGCCCGATAG\n>d2\nacgta\n>d3\nAC\n>d4\nACGT\n");
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022, .translate_frames = 6};
    ribo_status s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(set.n == 16, "n=%zu", set.n);
    check_seq(t, &set, 0, "d1_F1", "MAIVMGR*KGAR*");
    check_seq(t, &set, 1, "d1_F2", "WPL*WAAERVPD");
    check_seq(t, &set, 2, "d1_F3", "GHCNGPLKGCPI");
    check_seq(t, &set, 3, "d1_R1", "LSGTLSAAHYNGH");
    check_seq(t, &set, 4, "d1_R2", "YRAPFQRPITMA");
    check_seq(t, &set, 5, "d1_R3", "IGHPFSGPLQWP");
    const char *d2[] = {"T", "R", "V", "Y", "T", "R"}, *names[] = {"F1", "F2", "F3", "R1", "R2", "R3"};
    for (int f = 0; f < 6; ++f) {
        char id[16];
        snprintf(id, sizeof id, "d2_%s", names[f]);
        check_seq(t, &set, 6 + (size_t)f, id, d2[f]);
    }
    check_seq(t, &set, 12, "d4_F1", "T");
    check_seq(t, &set, 13, "d4_F2", "R");
    check_seq(t, &set, 14, "d4_R1", "T");
    check_seq(t, &set, 15, "d4_R2", "R");
    CHECK(set.n_short_frames == 8, "short=%zu (d3: 6, d4: 2)", set.n_short_frames);
    CHECK(set.n_unknown == 3 && set.n_stop_frames == 0 && set.n_lenient == 0, "unknown=%zu ('*' x3)", set.n_unknown);
    ribo_seqset_free(&set);

    o.drop_stop_frames = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    if (s != RIBO_OK) return;
    CHECK(set.n == 14 && set.n_stop_frames == 2 && set.n_unknown == 0, "drop: n=%zu stop=%zu", set.n, set.n_stop_frames);
    check_seq(t, &set, 0, "d1_F3", "GHCNGPLKGCPI");
    check_seq(t, &set, 1, "d1_R1", "LSGTLSAAHYNGH");
    check_seq(t, &set, 4, "d2_F1", "T");
    ribo_seqset_free(&set);

    /* translated proteins are truncated like any other (and the error names the frame's id) */
    o = (ribo_seqset_options){.max_residues = 12, .translate_frames = 6};
    s = load(t, &p, 1, o, &set, &err);
    CHECK(s == RIBO_OK && set.n_truncated == 2 && ribo_seqset_len(&set, 0) == 14, "truncated=%zu", set.n_truncated);
    ribo_seqset_free(&set);
    o.error_if_longer = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "dna.fa: record 1 ('d1_F1'): sequence has 13 residues, more than the limit of 12");
}

/* A DNA record with a character outside ACGTN names the file, record, id, character and position. */
static void test_translate_errors(const ribo_tokenizer *t) {
    const char *p = write_tmp("bad.fa", ">ok\nACGT\n>bad one\nACGTn\nacRT\n");
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022, .translate_frames = 6};
    ribo_status s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "bad.fa: record 2 ('bad'): invalid DNA character 'R' at position 8");
    CHECK(set.n == 0 && set.ids == NULL, "left empty");

    /* lenient: counted, read as N (its codons become X) */
    o.lenient = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    CHECK(set.n == 10 && set.n_lenient == 1, "lenient: n=%zu lenient=%zu", set.n, set.n_lenient);
    if (set.n == 10) check_seq(t, &set, 4, "bad_F1", "TXX"); /* ACG TNA CRT */
    ribo_seqset_free(&set);

    const char *bin = write_tmp("high.fa", ">h\nAC\xc3\xa9GT\n");
    o.lenient = false;
    s = load(t, &bin, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "high.fa: record 1 ('h'): invalid DNA character byte 0xc3 at position 3");

    /* empty records behave as without translation */
    const char *empty = write_tmp("empty_dna.fa", ">a\nACGT\n>e\n>c\nAAA\n");
    s = load(t, &empty, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "empty_dna.fa: record 2 ('e'): empty sequence");
    o.skip_invalid = true;
    s = load(t, &empty, 1, o, &set, &err);
    CHECK(s == RIBO_OK && set.n == 6 && set.n_skipped == 1, "skip: n=%zu", set.n); /* 4 + 2 frames */
    ribo_seqset_free(&set);

    /* duplicate checks see the suffixed ids */
    o.skip_invalid = false;
    const char *dup2 = write_tmp("dup2.fa", ">x\nACGT\n>y\nAAA\n>x\nCCC\n");
    s = load(t, &dup2, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "dup2.fa: record 3 ('x'): duplicate id 'x_F1' (first seen in");
    CHECK_MESSAGE(&err, "record 1)");

    /* bad option combinations */
    o.translate_frames = 5;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    o.translate_frames = 6;
    o.dna_input = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK_MESSAGE(&err, "--translate needs a protein model");
}

/* A DNA model's input: ACGTN (folded), anything else an error or, lenient, passed on as unknown. */
static void test_dna_input(const ribo_tokenizer *t) {
    const char *p = write_tmp("dnain.fa", ">a\nacgtn\n>b x\nACG\nXT\n");
    ribo_seqset set;
    ribo_error err;
    ribo_seqset_options o = {.max_residues = 1022, .dna_input = true};
    ribo_status s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "dnain.fa: record 2 ('b'): invalid DNA character 'X' at position 4");
    o.lenient = true;
    s = load(t, &p, 1, o, &set, &err);
    CHECK_STATUS(s, RIBO_OK, &err);
    CHECK(set.n == 2 && set.n_lenient == 1, "n=%zu lenient=%zu", set.n, set.n_lenient);
    check_seq(t, &set, 0, "a", "ACGTN");
    check_seq(t, &set, 1, "b", "ACGXT");
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
        test_translate_frames(t);
        test_translate_errors(t);
        test_dna_input(t);
    }
    ribo_tokenizer_free(t);
    return ribo_test_finish("seqset");
}
