/* The session API (ribo.h) end to end on the test device:
 *   - the fixture proteins embedded in 1, 2 and 40 calls give rows byte-identical to ribo_embed on
 *     the FASTA file (mean, cls, per-residue through the callback, in input order with their ids),
 *     the pooling switched between calls on one session;
 *   - ribo_session_embed_files writes the bytes ribo_embed writes;
 *   - an empty sequence, a duplicate id, a control character, a callback that stops, a call made from
 *     inside a callback: the CLI's message (or a clear one) and a session that still works after;
 *   - 100 open/close cycles keep host memory flat (scripts/check_session_leaks.sh checks every block
 *     under valgrind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed_check.h"
#include "engine/io/fasta.h"
#include "test_util.h"

#define MAX_SEQS 64

static char *ids[MAX_SEQS], *seqs[MAX_SEQS];
static size_t n_seqs;

static void read_fixture(const char *path) {
    ribo_fasta_reader *r = NULL;
    ribo_error err = {0};
    if (ribo_fasta_open(path, &r, &err) != RIBO_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    for (;;) {
        ribo_fasta_record rec;
        bool has = false;
        if (ribo_fasta_next(r, &rec, &has, &err) != RIBO_OK || !has || n_seqs == MAX_SEQS) break;
        ids[n_seqs] = strdup(rec.id);
        seqs[n_seqs] = strdup(rec.seq);
        ++n_seqs;
    }
    ribo_fasta_close(r);
}

static void options(ribo_embed_options *o, const char *model, ribo_pool pool) {
    ribo_embed_options_init(o);
    o->model_dir = model;
    o->pool = pool;
    o->quiet = true;
    o->backend = ribo_test_backend();
}

/* ribo_embed on the fixture FASTA into name.npy; returns the array (exits on failure). */
static ribo_npy_array cli_rows(const char *model, const char *fasta, ribo_pool pool, const char *name) {
    ribo_embed_options o;
    options(&o, model, pool);
    o.inputs = &fasta;
    o.n_inputs = 1;
    o.output = ribo_test_tmp(name);
    ribo_error err = {0};
    ribo_status s = ribo_embed(&o, NULL, &err);
    if (s != RIBO_OK) {
        fprintf(stderr, "ribo_embed: %s\n", err.message);
        exit(1);
    }
    ribo_npy_array a;
    if (ribo_npy_read(o.output, &a, &err) != RIBO_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    return a;
}

/* What the rows callback saw. */
typedef struct collected {
    float *rows;           /* every row back to back */
    size_t n_floats, cap;
    char ids[MAX_SEQS * 8][64];
    uint64_t next_row;     /* rows must come in order: 0, 1, ... over the calls of one group */
    size_t n_calls;
    bool out_of_order;
    int stop_at;           /* >0: return 1 at this call */
    ribo_session *reenter; /* non-NULL: call ribo_session_embed from inside the callback */
    ribo_status reenter_status;
    ribo_error reenter_err;
} collected;

static int collect(void *user, uint64_t row, const char *id, const float *rows, size_t n_rows, size_t dim) {
    collected *c = user;
    if (row != c->next_row) c->out_of_order = true;
    c->next_row = row + 1;
    if (c->n_calls < MAX_SEQS * 8) snprintf(c->ids[c->n_calls], sizeof c->ids[0], "%s", id);
    ++c->n_calls;
    if (c->reenter) {
        const char *one_id = "x", *one_seq = "MKV";
        float v[4096];
        c->reenter_status =
            ribo_session_embed(c->reenter, &one_id, &one_seq, 1, NULL, v, 1, NULL, NULL, NULL, &c->reenter_err);
        c->reenter = NULL;
    }
    size_t n = n_rows * dim;
    if (c->n_floats + n > c->cap) {
        c->cap = (c->n_floats + n) * 2;
        c->rows = realloc(c->rows, c->cap * sizeof *c->rows);
    }
    memcpy(c->rows + c->n_floats, rows, n * sizeof *rows);
    c->n_floats += n;
    return c->stop_at > 0 && (int)c->n_calls == c->stop_at;
}

/* Embeds the fixture in calls of `per_call` sequences into a pooled buffer; byte-compares with ref. */
static void check_pooled_calls(ribo_session *s, const ribo_npy_array *ref, ribo_pool pool, size_t per_call,
                               const char *what) {
    size_t D = (size_t)ref->shape[1];
    float *out = calloc(n_seqs * D, sizeof *out);
    ribo_embed_options o;
    options(&o, NULL, pool);
    bool ok = true;
    size_t rows = 0;
    for (size_t at = 0; at < n_seqs && ok; at += per_call) {
        size_t n = n_seqs - at < per_call ? n_seqs - at : per_call;
        ribo_embed_summary sum;
        ribo_error err = {0};
        ribo_status st = ribo_session_embed(s, (const char *const *)ids + at, (const char *const *)seqs + at, n, &o,
                                            out + at * D, n, NULL, NULL, &sum, &err);
        CHECK_STATUS(st, RIBO_OK, &err);
        CHECK(sum.n_sequences == n, "%s: %zu rows for %zu sequences", what, sum.n_sequences, n);
        ok = st == RIBO_OK;
        rows += sum.n_sequences;
    }
    CHECK(ref->shape[0] == (int64_t)n_seqs && rows == n_seqs, "%s: %zu rows, reference %lld", what, rows,
          (long long)ref->shape[0]);
    CHECK(ok && memcmp(out, ref->data, n_seqs * D * sizeof *out) == 0, "%s: rows differ from ribo_embed's",
          what);
    free(out);
}

/* Resident set size now, in kB (/proc/self/statm). */
static size_t rss_kb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (size_t)resident * 4;
}

int main(void) {
    ribo_device *dev = NULL;
    ribo_stream *stream = NULL;
    ribo_test_open_device(&dev, &stream); /* skips cleanly without a device */
    ribo_test_close_device(dev, stream);
    const char *model = ribo_test_fixture("esm2_a");
    char fasta[4096];
    snprintf(fasta, sizeof fasta, "%s", ribo_test_fixture("proteins.fasta"));
    read_fixture(fasta);
    CHECK(n_seqs == 40, "fixture: %zu sequences", n_seqs);
    ribo_npy_array mean = cli_rows(model, fasta, RIBO_POOL_MEAN, "mean.npy");
    ribo_npy_array cls = cli_rows(model, fasta, RIBO_POOL_CLS, "cls.npy");
    ribo_npy_array none = cli_rows(model, fasta, RIBO_POOL_NONE, "none.npy");

    ribo_embed_options so;
    options(&so, model, RIBO_POOL_DEFAULT);
    ribo_session *s = NULL;
    ribo_error err = {0};
    ribo_status st = ribo_session_open(&so, &s, &err);
    CHECK_STATUS(st, RIBO_OK, &err);
    if (st != RIBO_OK) return ribo_test_finish("test_session");
    ribo_session_info info;
    CHECK_STATUS(ribo_session_describe(s, &info, &err), RIBO_OK, &err);
    CHECK(info.embedding_dim == (int)mean.shape[1] && info.n_devices == 1 && strcmp(info.model.architecture, "esm2") == 0,
          "describe: dim %d devices %d arch %s", info.embedding_dim, info.n_devices, info.model.architecture);

    check_pooled_calls(s, &mean, RIBO_POOL_DEFAULT, n_seqs, "mean, 1 call");
    check_pooled_calls(s, &mean, RIBO_POOL_MEAN, 20, "mean, 2 calls");
    check_pooled_calls(s, &mean, RIBO_POOL_MEAN, 1, "mean, 40 calls");
    check_pooled_calls(s, &cls, RIBO_POOL_CLS, n_seqs, "cls, 1 call");
    check_pooled_calls(s, &cls, RIBO_POOL_CLS, 6, "cls, 7 calls");

    /* per-residue through the callback, in input order, ids included, in 1 and 3 calls */
    for (size_t per_call = n_seqs; per_call >= 14; per_call = per_call == n_seqs ? 14 : 0) {
        collected c = {0};
        ribo_embed_options o;
        options(&o, NULL, RIBO_POOL_NONE);
        for (size_t at = 0; at < n_seqs; at += per_call) {
            size_t n = n_seqs - at < per_call ? n_seqs - at : per_call;
            c.next_row = 0;
            ribo_status e = ribo_session_embed(s, (const char *const *)ids + at, (const char *const *)seqs + at, n, &o,
                                               NULL, 0, collect, &c, NULL, &err);
            CHECK_STATUS(e, RIBO_OK, &err);
        }
        CHECK(!c.out_of_order, "per-residue: rows out of order");
        CHECK(c.n_calls == n_seqs, "per-residue: %zu callbacks", c.n_calls);
        for (size_t i = 0; i < c.n_calls && i < n_seqs; ++i)
            CHECK(strcmp(c.ids[i], ids[i]) == 0, "per-residue: row %zu id '%s', want '%s'", i, c.ids[i], ids[i]);
        CHECK(c.n_floats == none.n_elements && memcmp(c.rows, none.data, c.n_floats * sizeof(float)) == 0,
              "per-residue (%zu per call): %zu floats differ from ribo_embed's %zu", per_call, c.n_floats,
              none.n_elements);
        free(c.rows);
    }
    /* and back to mean on the same session */
    check_pooled_calls(s, &mean, RIBO_POOL_MEAN, 7, "mean after per-residue");

    /* a file run on the session writes ribo_embed's bytes */
    {
        ribo_embed_options o;
        options(&o, NULL, RIBO_POOL_MEAN);
        const char *in = fasta;
        o.inputs = &in;
        o.n_inputs = 1;
        o.output = ribo_test_tmp("session_files.npy");
        CHECK_STATUS(ribo_session_embed_files(s, &o, NULL, &err), RIBO_OK, &err);
        size_t n1 = 0, n2 = 0;
        char *a = ribo_test_read_file(o.output, &n1), *b = ribo_test_read_file(ribo_test_tmp("mean.npy"), &n2);
        CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "embed_files: %zu bytes vs ribo_embed's %zu", n1, n2);
        free(a);
        free(b);
    }

    /* bad input: the CLI's message, then the session still works */
    {
        const char *bid[3] = {"p1", "p2", "p3"}, *bseq[3] = {"MKTAYIAK", "", "MKV"};
        float out[3 * 4096];
        ribo_embed_options o;
        options(&o, NULL, RIBO_POOL_MEAN);
        st = ribo_session_embed(s, bid, bseq, 3, &o, out, 3, NULL, NULL, NULL, &err);
        CHECK_STATUS(st, RIBO_ERR_INPUT, &err);
        CHECK_MESSAGE(&err, "sequences: record 2 ('p2'): empty sequence (--skip-invalid skips such");
        o.skip_invalid = true;
        ribo_embed_summary sum;
        st = ribo_session_embed(s, bid, bseq, 3, &o, out, 3, NULL, NULL, &sum, &err);
        CHECK_STATUS(st, RIBO_OK, &err);
        CHECK(sum.n_sequences == 2 && sum.n_skipped == 1, "skip-invalid: %zu rows, %zu skipped", sum.n_sequences,
              sum.n_skipped);
        o.skip_invalid = false;
        const char *did[3] = {"a", "b", "a"}, *dseq[3] = {"MKV", "MKT", "MKW"};
        st = ribo_session_embed(s, did, dseq, 3, &o, out, 3, NULL, NULL, NULL, &err);
        CHECK_STATUS(st, RIBO_ERR_INPUT, &err);
        CHECK_MESSAGE(&err, "sequences: record 3 ('a'): duplicate id 'a' (first seen in sequences, record 1)");
        const char *cid[1] = {"c"}, *cseq[1] = {"MK\x01V"};
        st = ribo_session_embed(s, cid, cseq, 1, &o, out, 1, NULL, NULL, NULL, &err);
        CHECK_STATUS(st, RIBO_ERR_INPUT, &err);
        CHECK_MESSAGE(&err, "sequences: record 1 ('c'): control character 0x01 at position 3");
        const char *wid[1] = {"w"}, *wseq[1] = {"MKT AYI\nAK"}, *wplain[1] = {"MKTAYIAK"};
        float w1[4096], w2[4096];
        CHECK_STATUS(ribo_session_embed(s, wid, wseq, 1, &o, w1, 1, NULL, NULL, NULL, &err), RIBO_OK, &err);
        CHECK_STATUS(ribo_session_embed(s, wid, wplain, 1, &o, w2, 1, NULL, NULL, NULL, &err), RIBO_OK, &err);
        CHECK(memcmp(w1, w2, (size_t)info.embedding_dim * sizeof(float)) == 0, "whitespace inside a sequence is not dropped");
        st = ribo_session_embed(s, (const char *const *)ids, (const char *const *)seqs, n_seqs, &o, out, 2, NULL,
                                NULL, NULL, &err);
        CHECK_STATUS(st, RIBO_ERR_INVALID_ARGUMENT, &err);
        CHECK_MESSAGE(&err, "output buffer holds 2 rows");
        /* a callback that stops, and one that calls back into the session */
        collected c = {.stop_at = 3};
        st = ribo_session_embed(s, (const char *const *)ids, (const char *const *)seqs, n_seqs, &o, NULL, 0, collect,
                                &c, NULL, &err);
        CHECK_STATUS(st, RIBO_ERR_INVALID_ARGUMENT, &err);
        CHECK_MESSAGE(&err, "stopped by the caller");
        CHECK(c.n_calls == 3, "stopped callback called %zu times", c.n_calls);
        free(c.rows);
        collected r = {.reenter = s};
        st = ribo_session_embed(s, (const char *const *)ids, (const char *const *)seqs, 4, &o, NULL, 0, collect, &r,
                                NULL, &err);
        CHECK_STATUS(st, RIBO_OK, &err);
        CHECK(r.reenter_status == RIBO_ERR_INVALID_ARGUMENT && ribo_test_message_has(&r.reenter_err, "already running"),
              "a call from inside a callback: %s", r.reenter_err.message);
        free(r.rows);
    }
    check_pooled_calls(s, &mean, RIBO_POOL_MEAN, n_seqs, "mean after the failed calls");
    ribo_session_close(s);

    /* open/close cycles: host memory flat. PoCL grows ~110 kB per cycle by itself (its kernel caches:
     * valgrind shows no block of ribo's lost); a leaked session (model, weights, staging) is more. */
    setenv("RIBO_WARMUP", "0", 1);
    ribo_embed_options lo;
    options(&lo, model, RIBO_POOL_MEAN);
    lo.max_tokens = 2048;
    size_t rss_after_10 = 0;
    for (int i = 0; i < 100; ++i) {
        ribo_session *t = NULL;
        st = ribo_session_open(&lo, &t, &err);
        if (st != RIBO_OK) {
            CHECK_STATUS(st, RIBO_OK, &err);
            break;
        }
        float v[4096];
        if (i % 25 == 0)
            CHECK_STATUS(ribo_session_embed(t, (const char *const *)ids, (const char *const *)seqs, 1, NULL, v, 1, NULL,
                                            NULL, NULL, &err),
                         RIBO_OK, &err);
        ribo_session_close(t);
        if (i == 9) rss_after_10 = rss_kb();
    }
    size_t rss_end = rss_kb();
    fprintf(stderr, "open/close: RSS %zu kB after 10 cycles, %zu kB after 100\n", rss_after_10, rss_end);
    CHECK(rss_end < rss_after_10 + 40 * 1024, "open/close 100 times: RSS grew from %zu kB to %zu kB", rss_after_10,
          rss_end);

    ribo_npy_free(&mean);
    ribo_npy_free(&cls);
    ribo_npy_free(&none);
    for (size_t i = 0; i < n_seqs; ++i) {
        free(ids[i]);
        free(seqs[i]);
    }
    return ribo_test_finish("test_session");
}
