/* ribo_tokenize through the streaming reader: the ids and token ids of every sequence, in input order,
 * are those the reference tokenizer wrote (tests/fixtures/proteins.{ids,tokens}.txt, from HuggingFace) for
 * windows of 1, 7 and the default number of sequences (several windows must not reorder or lose anything);
 * a duplicate id in a later window is refused naming both places; an input of only empty records skipped
 * with --skip-invalid ends in "no sequences to embed". */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct collected {
    char text[1 << 17]; /* "id\tt0 t1 ...\n" per sequence */
    size_t len;
    size_t n;
} collected;

static void collect(const char *id, const int32_t *ids, size_t n_ids, void *user) {
    collected *c = user;
    c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%s\t", id);
    for (size_t i = 0; i < n_ids && c->len < sizeof c->text; ++i)
        c->len += (size_t)snprintf(c->text + c->len, sizeof c->text - c->len, "%s%d", i ? " " : "", (int)ids[i]);
    if (c->len < sizeof c->text) c->text[c->len++] = '\n';
    ++c->n;
}

/* The reference lines: ids.txt and tokens.txt zipped into the same "id\ttokens\n" form. */
static char *reference(const char *stem) {
    char ids_name[64], tok_name[64];
    snprintf(ids_name, sizeof ids_name, "%s.ids.txt", stem);
    snprintf(tok_name, sizeof tok_name, "%s.tokens.txt", stem);
    char *ids = ribo_test_read_file(ribo_test_fixture(ids_name), NULL);
    char *toks = ribo_test_read_file(ribo_test_fixture(tok_name), NULL);
    if (!ids || !toks) return NULL;
    size_t cap = strlen(ids) + strlen(toks) + 16;
    char *out = malloc(cap), *ip = ids, *tp = toks;
    size_t len = 0;
    while (*ip && *tp) {
        char *ie = strchr(ip, '\n'), *te = strchr(tp, '\n');
        if (!ie || !te) break;
        len += (size_t)snprintf(out + len, cap - len, "%.*s\t%.*s\n", (int)(ie - ip), ip, (int)(te - tp), tp);
        ip = ie + 1;
        tp = te + 1;
    }
    out[len] = '\0';
    free(ids);
    free(toks);
    return out;
}

static ribo_status tokenize(const char *model, const char **inputs, int n, int window_seqs, bool skip_invalid,
                            collected *c, ribo_error *err) {
    ribo_embed_options o;
    ribo_embed_options_init(&o);
    o.model_dir = ribo_test_fixture(model);
    o.inputs = inputs;
    o.n_inputs = n;
    o.window_seqs = window_seqs;
    o.skip_invalid = skip_invalid;
    memset(c, 0, sizeof *c);
    return ribo_tokenize(&o, collect, c, err);
}

int main(void) {
    char *want = reference("proteins");
    CHECK(want != NULL, "reading the reference token files");
    const char *input = ribo_test_fixture("proteins.fasta");
    static collected c;
    const int windows[] = {1, 7, 0};
    for (int w = 0; want && w < 3; ++w) {
        ribo_error err = {0};
        CHECK_STATUS(tokenize("esm2_a", &input, 1, windows[w], false, &c, &err), RIBO_OK, &err);
        CHECK(c.n == 40, "window %d: %zu sequences", windows[w], c.n);
        CHECK(c.len == strlen(want) && memcmp(c.text, want, c.len) == 0,
              "window %d: ids/tokens differ from the reference (%zu vs %zu bytes)", windows[w], c.len, strlen(want));
    }
    free(want);

    /* a duplicate id in the third window of one sequence each */
    const char *dup = ribo_test_tmp("dup.fasta");
    const char *text = ">a\nMKV\n>b\nMKVL\n>a\nMK\n";
    CHECK(ribo_test_write_file(dup, text, strlen(text)), "writing %s", dup);
    ribo_error err = {0};
    CHECK_STATUS(tokenize("esm2_a", &dup, 1, 1, false, &c, &err), RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "'a'");
    CHECK(c.n == 2, "the two sequences before the duplicate were emitted (%zu)", c.n);

    /* only empty records, skipped */
    const char *empty = ribo_test_tmp("empty.fasta");
    const char *etext = ">x\n\n>y\n";
    CHECK(ribo_test_write_file(empty, etext, strlen(etext)), "writing %s", empty);
    CHECK_STATUS(tokenize("esm2_a", &empty, 1, 1, true, &c, &err), RIBO_ERR_INPUT, &err);
    CHECK_MESSAGE(&err, "no sequences to embed");
    CHECK(c.n == 0, "%zu sequences from an input of empty records", c.n);
    return ribo_test_finish("test_tokenize_stream");
}
