/* Model families as ribo_model_open sees them (no device): which family claims which config.json,
 * the refusals for a config no family claims (an unknown model_type, listing the families compiled
 * in; a plain BERT), a MosaicBERT config over plain BERT weights, and the seq_scale hook (ESM-2's
 * token-dropout rescaling; none for DNABERT-2, whose sequences scale by 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/graph/model.h"
#include "test_util.h"

/* A copy of fixture directory `from` named `name` in the tmpdir, with config.json replaced by
 * config (NULL: kept); returns its path (rotating buffer). */
static const char *model_copy(const char *from, const char *name, const char *config) {
    static const char *const files[] = {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"};
    const char *dir = ribo_test_tmp(name);
    mkdir(dir, 0755);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
        char src[1200], dst[1200];
        snprintf(src, sizeof src, "%s/%s", from, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        size_t n = 0;
        char *text = ribo_test_read_file(src, &n);
        if (i == 0 && config) CHECK(ribo_test_write_file(dst, config, strlen(config)), "write %s", dst);
        else if (text) CHECK(ribo_test_write_file(dst, text, n), "write %s", dst);
        free(text);
    }
    return dir;
}

/* ribo_model_open of dir must fail with status want and exactly the message want_msg. */
static void expect_open_failure(const char *dir, ribo_status want, const char *want_msg) {
    ribo_model m;
    ribo_error err = {0};
    ribo_status s = ribo_model_open(dir, &m, &err);
    CHECK_STATUS(s, want, &err);
    CHECK(strcmp(err.message, want_msg) == 0, "message\n  '%s'\nwant\n  '%s'", err.message, want_msg);
    if (s == RIBO_OK) ribo_model_close(&m);
}

/* The committed fixtures: each claimed by its family. */
static void test_detection(void) {
    const char *cases[][2] = {{"esm2_a", "esm2"}, {"esm2_c_sharded", "esm2"}, {"dnabert2_a", "dnabert2"},
                              {"dnabert2_b", "dnabert2"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        ribo_model m;
        ribo_error err = {0};
        ribo_status s = ribo_model_open(ribo_test_fixture(cases[i][0]), &m, &err);
        CHECK_STATUS(s, RIBO_OK, &err);
        if (s != RIBO_OK) continue;
        CHECK(strcmp(m.family->name, cases[i][1]) == 0, "%s: family %s, want %s", cases[i][0], m.family->name,
              cases[i][1]);
        ribo_model_close(&m);
    }
}

static void test_refusals(void) {
    const char *plain = ribo_test_fixture("bert_plain");
    char msg[2048], dir[1100];

    /* an unknown model_type (and none at all): named, with the families compiled in */
    snprintf(dir, sizeof dir, "%s", model_copy(plain, "gpt2", "{\"model_type\": \"gpt2\"}"));
    snprintf(msg, sizeof msg,
             "%s/config.json: model_type \"gpt2\" is not a supported architecture (supported: esm / ESM-2; "
             "DNABERT-2 / MosaicBERT)", dir);
    expect_open_failure(dir, RIBO_ERR_UNSUPPORTED, msg);
    snprintf(dir, sizeof dir, "%s", model_copy(plain, "untyped", "{\"hidden_size\": 32}"));
    snprintf(msg, sizeof msg,
             "%s/config.json: model_type \"(missing)\" is not a supported architecture (supported: esm / ESM-2; "
             "DNABERT-2 / MosaicBERT)", dir);
    expect_open_failure(dir, RIBO_ERR_UNSUPPORTED, msg);

    /* model_type "bert" that no family claims: a plain BERT, refused as such whatever else the
     * config holds (here not even num_hidden_layers) */
    const char *tail = "; ribo runs model_type \"bert\" only as DNABERT-2/MosaicBERT (ALiBi attention, fused "
                       "attention.self.Wqkv, GeGLU mlp.gated_layers)";
    snprintf(dir, sizeof dir, "%s", model_copy(plain, "bert_small", "{\"model_type\": \"bert\", \"hidden_size\": 32}"));
    snprintf(msg, sizeof msg, "%s: a plain BERT checkpoint (attention.self.query/key/value) is not supported%s", dir, tail);
    expect_open_failure(dir, RIBO_ERR_UNSUPPORTED, msg);
    snprintf(msg, sizeof msg, "%s: a plain BERT checkpoint (attention.self.query/key/value) is not supported%s", plain, tail);
    expect_open_failure(plain, RIBO_ERR_UNSUPPORTED, msg);

    /* a MosaicBERT config (alibi_starting_size) over plain BERT weights: claimed, then refused */
    char *cfg = ribo_test_read_file(ribo_test_fixture("bert_plain/config.json"), NULL);
    char *brace = cfg ? strchr(cfg, '{') : NULL;
    CHECK(brace != NULL, "bert_plain/config.json is not an object");
    if (brace) {
        size_t n = strlen(cfg) + 64;
        char *mosaic = malloc(n);
        snprintf(mosaic, n, "{\"alibi_starting_size\": 512,%s", brace + 1);
        snprintf(dir, sizeof dir, "%s", model_copy(plain, "mosaic_cfg", mosaic));
        snprintf(msg, sizeof msg,
                 "%s: config.json describes DNABERT-2/MosaicBERT (alibi_starting_size or an auto_map into bert_layers) "
                 "but the checkpoint has no attention.self.Wqkv / mlp.gated_layers tensors (it holds a plain BERT's "
                 "attention.self.query/key/value, which is not supported)", dir);
        expect_open_failure(dir, RIBO_ERR_UNSUPPORTED, msg);
        free(mosaic);
    }
    free(cfg);
}

/* Every family has a display name (the "supported:" list); the seq_scale hook as documented. */
static void test_hooks(void) {
    int n = 0;
    for (; ribo_model_families[n]; ++n)
        CHECK(ribo_model_families[n]->display_name && ribo_model_families[n]->display_name[0], "family %s: no display_name",
              ribo_model_families[n]->name);
    CHECK(n == 2, "%d families", n);
    ribo_model esm, dna;
    ribo_error err = {0};
    ribo_status se = ribo_model_open(ribo_test_fixture("esm2_a"), &esm, &err);
    CHECK_STATUS(se, RIBO_OK, &err);
    ribo_status sd = ribo_model_open(ribo_test_fixture("dnabert2_a"), &dna, &err);
    CHECK_STATUS(sd, RIBO_OK, &err);
    if (sd == RIBO_OK) {
        CHECK(dna.family->seq_scale == NULL, "dnabert2 has a seq_scale hook");
        ribo_model_close(&dna);
    }
    if (se != RIBO_OK) return;
    CHECK(esm.conv.token_dropout && esm.conv.mask_token_id == 32, "esm2_a: token_dropout with <mask> 32");
    CHECK(esm.family->seq_scale != NULL, "esm2 has no seq_scale hook");
    if (esm.family->seq_scale) {
        /* sequences of 4 tokens with one <mask>, 5 without, 4 with two: 0.88 / (1 - masked / n) */
        const int32_t tokens[] = {0, 32, 5, 2, 0, 5, 6, 7, 2, 0, 32, 32, 2};
        const int32_t cu[] = {0, 4, 9, 13};
        float out[3] = {0};
        esm.family->seq_scale(&esm.conv, tokens, cu, 3, out);
        const float want[] = {(float)(0.88 / 0.75), 0.88f, (float)(0.88 / 0.5)};
        for (int s = 0; s < 3; ++s)
            CHECK(fabsf(out[s] - want[s]) <= 1e-6f * want[s], "scale of sequence %d: %.9g, want %.9g", s, out[s], want[s]);
        ribo_model_conventions off = esm.conv;
        off.token_dropout = false;
        esm.family->seq_scale(&off, tokens, cu, 3, out);
        CHECK(out[0] == 1.0f && out[1] == 1.0f && out[2] == 1.0f, "without token_dropout: %g %g %g", out[0], out[1],
              out[2]);
    }
    ribo_model_close(&esm);
}

int main(void) {
    test_detection();
    test_refusals();
    test_hooks();
    return ribo_test_finish("test_model_families");
}
