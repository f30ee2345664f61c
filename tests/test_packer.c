/* Packer: plan invariants (coverage, limits, ordering), batch arrays, errors, density; random sets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/input/packer.h"
#include "test_util.h"

/* Builds a seqset in memory with the given token lengths; token values encode (row, position). */
static bool make_set(ribo_seqset *s, const int32_t *lens, size_t n) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->ids = calloc(n ? n : 1, sizeof *s->ids);
    s->offsets = malloc((n + 1) * sizeof *s->offsets);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += (size_t)lens[i];
    s->tokens = malloc((total ? total : 1) * sizeof *s->tokens);
    if (!s->ids || !s->offsets || !s->tokens) return false;
    s->offsets[0] = 0;
    for (size_t i = 0; i < n; ++i) {
        char name[32];
        snprintf(name, sizeof name, "s%zu", i);
        s->ids[i] = strdup(name);
        if (!s->ids[i]) return false;
        s->offsets[i + 1] = s->offsets[i] + lens[i];
        for (int32_t p = 0; p < lens[i]; ++p) s->tokens[s->offsets[i] + p] = (int32_t)(i * 10000 + (size_t)p);
        if ((size_t)lens[i] > s->max_len) s->max_len = (size_t)lens[i];
    }
    return true;
}

/* Allocates batch buffers for max_tokens tokens and max_seqs sequences. */
static bool alloc_batch(ribo_packed_batch *b, size_t max_tokens, size_t max_seqs) {
    b->tokens = malloc(max_tokens * sizeof *b->tokens);
    b->positions = malloc(max_tokens * sizeof *b->positions);
    b->seq_of_token = malloc(max_tokens * sizeof *b->seq_of_token);
    b->cu_seqlens = malloc((max_seqs + 1) * sizeof *b->cu_seqlens);
    b->rows = malloc(max_seqs * sizeof *b->rows);
    return b->tokens && b->positions && b->seq_of_token && b->cu_seqlens && b->rows;
}

static void free_batch(ribo_packed_batch *b) {
    free(b->tokens);
    free(b->positions);
    free(b->seq_of_token);
    free(b->cu_seqlens);
    free(b->rows);
}

/* Checks every documented invariant of a plan and of each filled batch; returns failures seen. */
static int check_plan(const ribo_seqset *s, const ribo_pack_plan *p, int max_tokens, int max_seqs) {
    int before = ribo_test_failures;
    CHECK(p->max_tokens == max_tokens && p->max_seqs == max_seqs, "limits kept");
    CHECK(p->batch_start[0] == 0 && p->batch_start[p->n_batches] == s->n, "batches cover the order");
    unsigned char *seen = calloc(s->n ? s->n : 1, 1);
    ribo_packed_batch b;
    bool ok = seen && alloc_batch(&b, (size_t)max_tokens, s->n ? s->n : 1);
    CHECK(ok, "alloc");
    size_t total = 0;
    for (size_t k = 0; ok && k < s->n; ++k) {
        size_t row = p->order[k];
        CHECK(row < s->n && !seen[row], "order entry %zu (row %zu) invalid or repeated", k, row);
        if (row < s->n) seen[row] = 1;
        if (k > 0) {
            int32_t prev = ribo_seqset_len(s, p->order[k - 1]), cur = ribo_seqset_len(s, row);
            CHECK(prev > cur || (prev == cur && p->order[k - 1] < row), "order not length-descending/stable at %zu",
                  k);
        }
        total += (size_t)ribo_seqset_len(s, row);
    }
    CHECK(total == p->total_tokens, "total_tokens %zu vs %zu", p->total_tokens, total);
    for (size_t bi = 0; ok && bi < p->n_batches; ++bi) {
        size_t first = p->batch_start[bi], end = p->batch_start[bi + 1];
        CHECK(end > first, "batch %zu empty", bi);
        CHECK(max_seqs == 0 || end - first <= (size_t)max_seqs, "batch %zu has %zu seqs", bi, end - first);
        ribo_pack_fill(s, p, bi, &b);
        CHECK(b.n_seqs == (int32_t)(end - first), "n_seqs");
        CHECK(b.n_tokens <= max_tokens, "batch %zu has %d tokens > %d", bi, b.n_tokens, max_tokens);
        /* greedy: the next batch's first sequence would not have fitted */
        if (bi + 1 < p->n_batches) {
            int32_t next = ribo_seqset_len(s, p->order[end]);
            CHECK(b.n_tokens + next > max_tokens || (max_seqs && b.n_seqs == max_seqs), "batch %zu closed early", bi);
        }
        CHECK(b.cu_seqlens[0] == 0 && b.cu_seqlens[b.n_seqs] == b.n_tokens, "cu_seqlens ends");
        int32_t maxlen = 0;
        for (int32_t j = 0; j < b.n_seqs; ++j) {
            size_t row = b.rows[j];
            int32_t len = b.cu_seqlens[j + 1] - b.cu_seqlens[j];
            CHECK(row == p->order[first + (size_t)j], "rows follow order");
            CHECK(len == ribo_seqset_len(s, row), "cu_seqlens length of row %zu", row);
            if (len > maxlen) maxlen = len;
            for (int32_t q = 0; q < len; ++q) {
                int32_t t = b.cu_seqlens[j] + q;
                if (b.positions[t] != q || b.seq_of_token[t] != j ||
                    b.tokens[t] != s->tokens[s->offsets[row] + q]) {
                    CHECK(false, "batch %zu token %d: pos %d seq %d tok %d", bi, t, b.positions[t], b.seq_of_token[t],
                          b.tokens[t]);
                    break;
                }
            }
        }
        CHECK(b.max_seqlen == maxlen, "max_seqlen %d vs %d", b.max_seqlen, maxlen);
    }
    for (size_t i = 0; ok && i < s->n; ++i) CHECK(seen[i], "row %zu missing", i);
    if (ok) free_batch(&b);
    free(seen);
    return ribo_test_failures - before;
}

static void test_basic(void) {
    const int32_t lens[] = {5, 9, 3, 9, 7, 2, 5};
    ribo_seqset s;
    CHECK(make_set(&s, lens, 7), "make_set");
    ribo_pack_plan p;
    ribo_error err;
    ribo_status st = ribo_pack_plan_make(&s, 16, 0, &p, &err);
    CHECK_STATUS(st, RIBO_OK, &err);
    if (st == RIBO_OK) {
        const size_t order[] = {1, 3, 4, 0, 6, 2, 5};
        CHECK(memcmp(p.order, order, sizeof order) == 0, "stable descending order");
        /* 9 | 9+7 | 5+5+3+2 */
        CHECK(p.n_batches == 3 && p.batch_start[1] == 1 && p.batch_start[2] == 3, "batches %zu", p.n_batches);
        CHECK(p.total_tokens == 40, "total %zu", p.total_tokens);
        double d = ribo_pack_plan_density(&p);
        CHECK(d > 40.0 / 48.0 - 1e-12 && d < 40.0 / 48.0 + 1e-12, "density %f", d);
        check_plan(&s, &p, 16, 0);
        ribo_pack_plan_free(&p);
        CHECK(p.order == NULL && p.n_batches == 0, "free clears");
        ribo_pack_plan_free(&p);
    }
    st = ribo_pack_plan_make(&s, 100, 2, &p, &err);
    CHECK(st == RIBO_OK && p.n_batches == 4, "max_seqs=2 gives 4 batches: %zu", p.n_batches);
    if (st == RIBO_OK) check_plan(&s, &p, 100, 2);
    ribo_pack_plan_free(&p);
    st = ribo_pack_plan_make(&s, 9, 0, &p, &err);
    CHECK(st == RIBO_OK && p.n_batches == 6, "exact fit at budget 9: %zu", p.n_batches);
    if (st == RIBO_OK) check_plan(&s, &p, 9, 0);
    ribo_pack_plan_free(&p);
    ribo_seqset_free(&s);
}

static void test_errors(void) {
    const int32_t lens[] = {5, 12, 3, 30};
    ribo_seqset s;
    CHECK(make_set(&s, lens, 4), "make_set");
    ribo_pack_plan p;
    ribo_error err;
    ribo_status st = ribo_pack_plan_make(&s, 10, 0, &p, &err);
    CHECK_STATUS(st, RIBO_ERR_INVALID_ARGUMENT, &err);
    CHECK_MESSAGE(&err, "'s1'");
    CHECK_MESSAGE(&err, "12 tokens");
    CHECK_MESSAGE(&err, "--max-tokens 10");
    CHECK(p.order == NULL && p.n_batches == 0, "plan left empty");
    st = ribo_pack_plan_make(&s, 0, 0, &p, &err);
    CHECK_STATUS(st, RIBO_ERR_INVALID_ARGUMENT, &err);
    st = ribo_pack_plan_make(&s, 100, -1, &p, &err);
    CHECK_STATUS(st, RIBO_ERR_INVALID_ARGUMENT, &err);
    ribo_seqset_free(&s);

    ribo_seqset empty;
    CHECK(make_set(&empty, NULL, 0), "make_set");
    st = ribo_pack_plan_make(&empty, 10, 0, &p, &err);
    CHECK(st == RIBO_OK && p.n_batches == 0 && p.total_tokens == 0, "empty set");
    CHECK(ribo_pack_plan_density(&p) == 0.0, "density of nothing");
    ribo_pack_plan_free(&p);
    ribo_seqset_free(&empty);
}

/* Small deterministic generator (no global state). */
static uint32_t next_rand(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*state >> 33);
}

static void test_random(void) {
    uint64_t rng = 12345;
    int bad_sets = 0;
    for (int iter = 0; iter < 500 && bad_sets < 3; ++iter) {
        size_t n = next_rand(&rng) % 300;
        int max_tokens = 8 + (int)(next_rand(&rng) % 3000);
        int max_seqs = (next_rand(&rng) % 3) ? 0 : 1 + (int)(next_rand(&rng) % 40);
        int32_t *lens = malloc((n ? n : 1) * sizeof *lens);
        if (!lens) break;
        int spread = 1 + (int)(next_rand(&rng) % (unsigned)max_tokens);
        for (size_t i = 0; i < n; ++i) lens[i] = 3 + (int32_t)(next_rand(&rng) % (unsigned)spread);
        for (size_t i = 0; i < n; ++i)
            if (lens[i] > max_tokens) lens[i] = max_tokens;
        ribo_seqset s;
        ribo_pack_plan p;
        ribo_error err;
        bool made = make_set(&s, lens, n);
        CHECK(made, "make_set");
        ribo_status st = made ? ribo_pack_plan_make(&s, max_tokens, max_seqs, &p, &err) : RIBO_ERR_OUT_OF_MEMORY;
        CHECK_STATUS(st, RIBO_OK, &err);
        if (st == RIBO_OK) {
            int f = check_plan(&s, &p, max_tokens, max_seqs);
            if (f) {
                ++bad_sets;
                fprintf(stderr, "random set %d failed: n=%zu max_tokens=%d max_seqs=%d\n", iter, n, max_tokens,
                        max_seqs);
            }
            double d = ribo_pack_plan_density(&p);
            CHECK(n == 0 || (d > 0.0 && d <= 1.0), "density %f", d);
            ribo_pack_plan_free(&p);
        }
        ribo_seqset_free(&s);
        free(lens);
    }
}

int main(void) {
    test_basic();
    test_errors();
    test_random();
    return ribo_test_finish("packer");
}
