/* Streaming input (engine/input/input_stream.c): windows hold exactly what one window over the whole
 * input holds, split at the documented limits; duplicate ids are found across windows and files with
 * the same message as within one window; with the id hash cut to a few bits (every id collides) the
 * exact re-read still reports only true duplicates. */
#include <stdlib.h>
#include <string.h>

#include "engine/input/input_stream.h"
#include "test_util.h"

static const char *const ESM_VOCAB =
    "<cls>\n<pad>\n<eos>\n<unk>\nL\nA\nG\nV\nS\nE\nR\nT\nI\nD\nP\nK\nQ\nN\nF\nY\nM\nH\nW\nC\nX\nB\nU\nZ\nO\n.\n-\n"
    "<null_1>\n<mask>\n";

static ribo_tokenizer *load_esm(void) {
    const char *path = ribo_test_tmp("vocab.txt");
    ribo_test_write_file(path, ESM_VOCAB, strlen(ESM_VOCAB));
    ribo_tokenizer *t = NULL;
    ribo_error err;
    CHECK_STATUS(ribo_tokenizer_load_esm_vocab(path, &t, &err), RIBO_OK, &err);
    return t;
}

/* Reads paths window by window and checks the windows against one window over the same files. */
static void check_windows(const ribo_tokenizer *tok, const char *const *paths, int n, size_t wt, size_t ws,
                          const size_t *want_sizes, int n_want) {
    ribo_seqset_options o = {.max_residues = 1022, .skip_invalid = true};
    ribo_seqset all;
    ribo_error err;
    CHECK_STATUS(ribo_test_read_input(paths, n, tok, &o, &all, &err), RIBO_OK, &err);
    ribo_input_config cfg = {.paths = paths, .n_paths = n, .tok = tok, .opts = &o, .window_tokens = wt, .window_seqs = ws};
    ribo_input *in = NULL;
    CHECK_STATUS(ribo_input_open(&cfg, &in, &err), RIBO_OK, &err);
    ribo_input_window w;
    memset(&w, 0, sizeof w);
    size_t row = 0, skipped = 0;
    int k = 0;
    for (bool has = true; in && has; ++k) {
        CHECK_STATUS(ribo_input_next(in, &w, &has, &err), RIBO_OK, &err);
        if (!has) break;
        CHECK(w.index == (size_t)k && w.row_begin == row, "window %d: index %zu row_begin %llu (want %zu)", k, w.index,
              (unsigned long long)w.row_begin, row);
        if (k < n_want) CHECK(w.set.n == want_sizes[k], "window %d holds %zu sequences, want %zu", k, w.set.n, want_sizes[k]);
        for (size_t i = 0; i < w.set.n && row + i < all.n; ++i) {
            CHECK(strcmp(w.set.ids[i], all.ids[row + i]) == 0, "window %d row %zu: id %s vs %s", k, i, w.set.ids[i],
                  all.ids[row + i]);
            int32_t len = ribo_seqset_len(&w.set, i);
            CHECK(len == ribo_seqset_len(&all, row + i) &&
                      memcmp(w.set.tokens + w.set.offsets[i], all.tokens + all.offsets[row + i], (size_t)len * 4) == 0,
                  "window %d row %zu: tokens differ", k, i);
        }
        row += w.set.n;
        skipped += w.set.n_skipped;
    }
    CHECK(k == n_want, "%d windows, want %d", k, n_want);
    CHECK(row == all.n && skipped == all.n_skipped, "windows hold %zu sequences (%zu skipped), the set %zu (%zu)", row,
          skipped, all.n, all.n_skipped);
    ribo_input_window_free(&w);
    ribo_input_close(in);
    ribo_seqset_free(&all);
}

static void test_windows(const ribo_tokenizer *tok) {
    char a[600], b[600];
    snprintf(a, sizeof a, "%s", ribo_test_tmp("a.fa"));
    snprintf(b, sizeof b, "%s", ribo_test_tmp("b.fa"));
    /* token counts (residues + 2): a: 5 6 7 (empty) 4 ; b: 12 3 3 3 */
    const char *ta = ">a1\nMKV\n>a2\nMKVL\n>a3\nMKVLA\n>empty\n\n>a4\nMK\n";
    const char *tb = ">b1\nMKVLAMKVLA\n>b2\nM\n>b3\nK\n>b4\nV\n";
    ribo_test_write_file(a, ta, strlen(ta));
    ribo_test_write_file(b, tb, strlen(tb));
    const char *paths[] = {a, b};
    /* by sequences: windows of 3 across the file boundary */
    size_t by_seqs[] = {3, 3, 2};
    check_windows(tok, paths, 2, 1000, 3, by_seqs, 3);
    /* by tokens: a window closes once it holds >= 12 tokens (5+6+7 | 4+12 | 3+3+3) */
    size_t by_tokens[] = {3, 2, 3};
    check_windows(tok, paths, 2, 12, 100, by_tokens, 3);
    /* one window for everything */
    size_t one[] = {8};
    check_windows(tok, paths, 2, 1 << 20, 1 << 20, one, 1);
}

/* The error of reading paths window by window (RIBO_OK when none). */
static ribo_status read_all(const ribo_tokenizer *tok, const char *const *paths, int n, size_t ws, ribo_error *err) {
    ribo_seqset_options o = {.max_residues = 1022};
    ribo_input_config cfg = {.paths = paths, .n_paths = n, .tok = tok, .opts = &o, .window_tokens = 1 << 20, .window_seqs = ws};
    ribo_input *in = NULL;
    RIBO_TRY(ribo_input_open(&cfg, &in, err));
    ribo_input_window w;
    memset(&w, 0, sizeof w);
    ribo_status s = RIBO_OK;
    for (bool has = true; s == RIBO_OK && has;) s = ribo_input_next(in, &w, &has, err);
    ribo_input_window_free(&w);
    ribo_input_close(in);
    return s;
}

static void test_duplicates(const ribo_tokenizer *tok, const char *label) {
    char a[600], b[600];
    snprintf(a, sizeof a, "%s", ribo_test_tmp("da.fa"));
    snprintf(b, sizeof b, "%s", ribo_test_tmp("db.fa"));
    char text[8192];
    size_t k = 0;
    for (int i = 0; i < 40; ++i) k += (size_t)snprintf(text + k, sizeof text - k, ">id%02d\nMKV\n", i);
    ribo_test_write_file(a, text, k);
    const char *tb = ">z1\nMK\n>z2\nMK\n>id07\nMKV\n>z3\nM\n";
    ribo_test_write_file(b, tb, strlen(tb));
    const char *paths[] = {a, b};
    ribo_error e1, e2;
    /* no duplicate within a: 40 distinct ids, windows of 4 (with few hash bits every id collides) */
    CHECK_STATUS(read_all(tok, paths, 1, 4, &e1), RIBO_OK, &e1);
    /* id07 again in b (window 11 vs window 2): same message as within one window */
    CHECK_STATUS(read_all(tok, paths, 2, 1 << 20, &e2), RIBO_ERR_INPUT, &e2);
    CHECK_STATUS(read_all(tok, paths, 2, 4, &e1), RIBO_ERR_INPUT, &e1);
    CHECK(strcmp(e1.message, e2.message) == 0, "%s: windows of 4 say '%s', one window '%s'", label, e1.message,
          e2.message);
    CHECK_MESSAGE(&e1, "db.fa: record 3 ('id07'): duplicate id 'id07' (first seen in");
    CHECK_MESSAGE(&e1, "da.fa, record 8)");
    char want[1400];
    snprintf(want, sizeof want, "%s: record 3 ('id07'): duplicate id 'id07' (first seen in %s, record 8)", b, a);
    CHECK(strcmp(e1.message, want) == 0, "%s: message '%s', want '%s'", label, e1.message, want);
}

int main(void) {
    ribo_tokenizer *tok = load_esm();
    test_windows(tok);
    test_duplicates(tok, "full hashes");
    setenv("RIBO_TEST_ID_HASH_BITS", "3", 1); /* 8 hash values: collisions everywhere */
    test_duplicates(tok, "3-bit hashes");
    unsetenv("RIBO_TEST_ID_HASH_BITS");
    ribo_tokenizer_free(tok);
    return ribo_test_finish("test_input_stream");
}
