/* DNABERT-2 / MosaicBERT end to end against the float64 references of the published architecture
 * (tests/fixtures, made by make_dnabert2_fixtures.py): both fixture models (12 heads: the
 * non-power-of-two ALiBi rule; 6 heads, fp16 checkpoint), mean over all tokens (the family default),
 * cls and per-token states; fp16/bf16 where the device stores them; the token ids against the
 * `tokenizers` library; packed vs one-at-a-time; no cross-contamination; ALiBi slopes; plain BERT
 * and bad DNA refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "embed_check.h"
#include "models/alibi.h"

static const ribo_row_bounds pooled = {1e-4, 0.99999}, per_token = {2e-5, 0.99999};

static const char *reads[1];

/* fp32 (the device default) against every reference of one model, and the ids file. */
static void test_model_fp32(const char *model) {
    char ref[96], off[96], what[96];
    ribo_error err = {0};
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture(model), reads, 1, ribo_test_tmp("mean.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_OK, &err);
    snprintf(ref, sizeof ref, "%s.ref_mean.npy", model);
    snprintf(what, sizeof what, "%s mean (default pooling)", model);
    ribo_test_check_against(what, ribo_test_tmp("mean.npy"), ref, NULL, pooled);
    char *ids = ribo_test_read_file(ribo_test_tmp("mean.ids.txt"), NULL);
    char *want = ribo_test_read_file(ribo_test_fixture("dna_reads.ids.txt"), NULL);
    CHECK(ids && want && strcmp(ids, want) == 0, "%s: ids differ from dna_reads.ids.txt", model);
    free(ids);
    free(want);

    CHECK_STATUS(ribo_test_embed(ribo_test_fixture(model), reads, 1, ribo_test_tmp("cls.npy"), RIBO_POOL_CLS,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_OK, &err);
    snprintf(ref, sizeof ref, "%s.ref_cls.npy", model);
    snprintf(what, sizeof what, "%s cls", model);
    ribo_test_check_against(what, ribo_test_tmp("cls.npy"), ref, NULL, pooled);

    CHECK_STATUS(ribo_test_embed(ribo_test_fixture(model), reads, 1, ribo_test_tmp("tok.npy"), RIBO_POOL_NONE,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_OK, &err);
    snprintf(ref, sizeof ref, "%s.ref_tokens.npy", model);
    snprintf(off, sizeof off, "%s.ref_offsets.npy", model);
    snprintf(what, sizeof what, "%s per-token", model);
    ribo_test_check_against(what, ribo_test_tmp("tok.npy"), ref, off, per_token);
}

/* fp16 / bf16 storage, judged by cosine per read (skipped where the device is fp32-only). */
static void test_model_reduced(const char *model) {
    const ribo_dtype dtypes[] = {RIBO_DTYPE_FP16, RIBO_DTYPE_BF16};
    const double min_cos[] = {0.9999, 0.999};
    for (int d = 0; d < 2; ++d) {
        if (!ribo_test_supports_dtype(dtypes[d])) {
            fprintf(stderr, "note: %s skipped (the device cannot store it)\n", d ? "bf16" : "fp16");
            continue;
        }
        char ref[96], off[96], what[96];
        ribo_error err = {0};
        ribo_row_bounds b = {INFINITY, min_cos[d]};
        CHECK_STATUS(ribo_test_embed(ribo_test_fixture(model), reads, 1, ribo_test_tmp("r.npy"), RIBO_POOL_DEFAULT,
                                     dtypes[d], 0, &err), RIBO_OK, &err);
        snprintf(ref, sizeof ref, "%s.ref_mean.npy", model);
        snprintf(what, sizeof what, "%s mean %s", model, d ? "bf16" : "fp16");
        ribo_test_check_against(what, ribo_test_tmp("r.npy"), ref, NULL, b);
        CHECK_STATUS(ribo_test_embed(ribo_test_fixture(model), reads, 1, ribo_test_tmp("rt.npy"), RIBO_POOL_NONE,
                                     dtypes[d], 0, &err), RIBO_OK, &err);
        snprintf(ref, sizeof ref, "%s.ref_tokens.npy", model);
        snprintf(off, sizeof off, "%s.ref_offsets.npy", model);
        snprintf(what, sizeof what, "%s per-token %s", model, d ? "bf16" : "fp16");
        ribo_test_check_against(what, ribo_test_tmp("rt.npy"), ref, off, b);
    }
}

/* Collects ribo_tokenize's lines into one string like dna_reads.tokens.txt. */
typedef struct token_text {
    char *buf;
    size_t len, cap;
} token_text;

static void append_ids(const char *id, const int32_t *ids, size_t n, void *user) {
    token_text *t = user;
    for (size_t i = 0; i < n; ++i) {
        if (t->len + 16 > t->cap) {
            t->cap = t->cap ? 2 * t->cap : 4096;
            t->buf = realloc(t->buf, t->cap);
            if (!t->buf) abort();
        }
        t->len += (size_t)snprintf(t->buf + t->len, t->cap - t->len, i ? " %d" : "%d", (int)ids[i]);
    }
    if (t->len + 2 > t->cap) {
        t->cap += 16;
        t->buf = realloc(t->buf, t->cap);
        if (!t->buf) abort();
    }
    t->buf[t->len++] = '\n';
    t->buf[t->len] = 0;
}

/* The ids ribo feeds the model (lowercase folded, N as is) equal the `tokenizers` library's. */
static void test_token_ids(void) {
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    o.model_dir = ribo_test_fixture("dnabert2_a");
    o.inputs = reads;
    o.n_inputs = 1;
    token_text t = {0};
    ribo_error err = {0};
    CHECK_STATUS(ribo_tokenize(&o, append_ids, &t, &err), RIBO_OK, &err);
    char *want = ribo_test_read_file(ribo_test_fixture("dna_reads.tokens.txt"), NULL);
    CHECK(t.buf && want && strcmp(t.buf, want) == 0, "ribo_tokenize ids differ from dna_reads.tokens.txt");
    free(want);
    free(t.buf);
}

/* Packed batches equal one read per batch. */
static void test_packed_vs_single(void) {
    ribo_error err = {0};
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("dnabert2_a"), reads, 1, ribo_test_tmp("p.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_OK, &err);
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("dnabert2_a"), reads, 1, ribo_test_tmp("s.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 1, &err), RIBO_OK, &err);
    double d = ribo_test_npy_max_rel_diff(ribo_test_tmp("p.npy"), ribo_test_tmp("s.npy"));
    CHECK(d <= 1e-6, "packed vs one-at-a-time: max rel diff %g", d);
    fprintf(stderr, "dnabert2 packed vs one-at-a-time: max rel diff %.3g\n", d);
}

/* Number of ids on line k of a tokens file (-1 if absent). */
static int tokens_on_line(const char *text, int k) {
    for (int i = 0; i < k && text; ++i) text = strchr(text, '\n') ? strchr(text, '\n') + 1 : NULL;
    if (!text || !*text) return -1;
    int n = 1;
    for (; *text && *text != '\n'; ++text) n += *text == ' ';
    return n;
}

/* Replaces read i by read j's bases where both tokenize to the same length (so the packing is
 * unchanged): row i changes, every other row stays bit-identical. */
static void test_no_cross_contamination(void) {
    char *tok = ribo_test_read_file(ribo_test_fixture("dna_reads.tokens.txt"), NULL);
    CHECK(tok != NULL, "cannot read dna_reads.tokens.txt");
    if (!tok) return;
    int ri = -1, rj = -1;
    for (int i = 5; i < 40 && ri < 0; ++i)
        for (int j = i + 1; j < 40; ++j)
            if (tokens_on_line(tok, i) > 8 && tokens_on_line(tok, i) == tokens_on_line(tok, j)) {
                ri = i;
                rj = j;
                break;
            }
    free(tok);
    CHECK(ri >= 0, "no two reads with the same token count in the fixture");
    if (ri < 0) return;
    /* rebuild the FASTA with record ri's sequence replaced by record rj's (one line each) */
    size_t n = 0;
    char *text = ribo_test_read_file(ribo_test_fixture("dna_reads.fasta"), &n);
    char *out = malloc(2 * n + 1), *seqs[64] = {0}, *heads[64] = {0};
    int nrec = 0;
    for (char *line = strtok(text, "\r\n"); line && nrec <= 64; line = strtok(NULL, "\r\n")) {
        if (line[0] == '>') {
            heads[nrec++] = line;
            continue;
        }
        if (!nrec) continue;
        size_t have = seqs[nrec - 1] ? strlen(seqs[nrec - 1]) : 0;
        seqs[nrec - 1] = realloc(seqs[nrec - 1], have + strlen(line) + 1);
        strcpy(seqs[nrec - 1] + have, line);
    }
    size_t at = 0;
    for (int r = 0; r < nrec; ++r)
        at += (size_t)sprintf(out + at, "%s\n%s\n", heads[r], seqs[r == ri ? rj : r] ? seqs[r == ri ? rj : r] : "");
    ribo_test_write_file(ribo_test_tmp("mut.fasta"), out, at);
    const char *mut[] = {ribo_test_tmp("mut.fasta")};
    ribo_error err = {0};
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("dnabert2_b"), reads, 1, ribo_test_tmp("o.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_OK, &err);
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("dnabert2_b"), mut, 1, ribo_test_tmp("m.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_OK, &err);
    ribo_npy_array a = {0}, b = {0};
    if (ribo_npy_read(ribo_test_tmp("o.npy"), &a, &err) == RIBO_OK && ribo_npy_read(ribo_test_tmp("m.npy"), &b, &err) == RIBO_OK) {
        size_t D = (size_t)a.shape[1];
        for (size_t r = 0; r < (size_t)a.shape[0]; ++r) {
            bool same = memcmp((float *)a.data + r * D, (float *)b.data + r * D, D * 4) == 0;
            if ((int)r == ri) CHECK(!same, "the replaced read's embedding did not change");
            else CHECK(same, "row %zu changed although only read %d was edited", r, ri);
        }
    }
    ribo_npy_free(&a);
    ribo_npy_free(&b);
    for (int r = 0; r < nrec; ++r) free(seqs[r]);
    free(out);
    free(text);
}

/* ribo_alibi_slopes against the published formula's values for 1..16, 24, 32 heads. */
static void test_alibi_slopes(void) {
    char *text = ribo_test_read_file(ribo_test_fixture("alibi_slopes.txt"), NULL);
    CHECK(text != NULL, "cannot read alibi_slopes.txt");
    int lines = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        char *p = line;
        int n = (int)strtol(p, &p, 10);
        float got[64];
        ribo_alibi_slopes(n, got);
        for (int h = 0; h < n; ++h) {
            double want = strtod(p, &p);
            CHECK(fabs(got[h] - want) <= 1e-7 * want, "alibi slope %d of %d heads: %.9g, want %.9g", h, n, got[h], want);
        }
        ++lines;
    }
    CHECK(lines >= 18, "alibi_slopes.txt has %d lines", lines);
    free(text);
}

/* A plain BERT checkpoint and non-DNA input are refused with one clear line; info names the family. */
static void test_refusals_and_info(void) {
    ribo_error err = {0};
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("bert_plain"), reads, 1, ribo_test_tmp("x.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_ERR_UNSUPPORTED, &err);
    CHECK_MESSAGE(&err, "bert_plain");
    CHECK_MESSAGE(&err, "a plain BERT checkpoint (attention.self.query/key/value) is not supported");
    const char bad[] = ">ok\nACGTNacgtn\n>bad one\nACGTRACGT\n";
    ribo_test_write_file(ribo_test_tmp("bad.fasta"), bad, sizeof bad - 1);
    const char *in[] = {ribo_test_tmp("bad.fasta")};
    CHECK_STATUS(ribo_test_embed(ribo_test_fixture("dnabert2_a"), in, 1, ribo_test_tmp("y.npy"), RIBO_POOL_DEFAULT,
                                 RIBO_DTYPE_FP32, 0, &err), RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "record 2 ('bad')");
    CHECK_MESSAGE(&err, "'R' at position 5");
    char *y = ribo_test_read_file(ribo_test_tmp("y.npy"), NULL);
    CHECK(y == NULL, "output written despite the error");
    free(y);
    ribo_model_info info;
    CHECK_STATUS(ribo_model_describe(ribo_test_fixture("dnabert2_a"), &info, &err), RIBO_OK, &err);
    CHECK(strcmp(info.architecture, "dnabert2") == 0, "architecture '%s'", info.architecture);
    CHECK(strcmp(info.default_pool, "mean") == 0, "default pool '%s'", info.default_pool);
    CHECK(info.n_heads == 12 && info.head_dim == 16 && info.n_layers == 2, "dims %d x %d, %d layers", info.n_heads,
          info.head_dim, info.n_layers);
}

int main(void) {
    ribo_device *dev;
    ribo_stream *st;
    ribo_test_open_device(&dev, &st); /* skips cleanly without a device */
    ribo_test_close_device(dev, st);
    reads[0] = strdup(ribo_test_fixture("dna_reads.fasta")); /* ribo_test_fixture reuses its buffer */
    test_alibi_slopes();
    test_token_ids();
    test_model_fp32("dnabert2_a");
    test_model_fp32("dnabert2_b");
    test_model_reduced("dnabert2_a");
    test_model_reduced("dnabert2_b");
    test_packed_vs_single();
    test_no_cross_contamination();
    test_refusals_and_info();
    free((char *)reads[0]);
    return ribo_test_finish("test_dnabert2_model");
}
