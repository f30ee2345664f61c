/* Tiny ESM-2 model and random FASTA writers for the pipeline tests (see tiny_model.h). */
#include "tiny_model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

typedef struct tensor_spec {
    char name[128];
    int rows, cols; /* cols 0: 1-D */
} tensor_spec;

static uint64_t next_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* esm2_a's config.json with the given sizes and one layer. */
static char *esm2_config(int hidden, int heads, int intermediate) {
    char *text = ribo_test_read_file(ribo_test_fixture("esm2_a/config.json"), NULL);
    cJSON *c = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!c) return NULL;
    const char *keys[] = {"hidden_size", "num_attention_heads", "intermediate_size", "num_hidden_layers"};
    const int values[] = {hidden, heads, intermediate, 1};
    for (int k = 0; k < 4; ++k) cJSON_ReplaceItemInObject(c, keys[k], cJSON_CreateNumber(values[k]));
    char *out = cJSON_Print(c);
    cJSON_Delete(c);
    return out;
}

bool ribo_test_write_tiny_model(const char *dir, uint64_t seed) { return ribo_test_write_esm2_model(dir, seed, 8, 2, 16); }

bool ribo_test_write_esm2_model(const char *dir, uint64_t seed, int H, int heads, int I) {
    mkdir(dir, 0755);
    char path[1200];
    char *cfg = esm2_config(H, heads, I);
    char *vocab = ribo_test_read_file(ribo_test_fixture("esm2_a/vocab.txt"), NULL);
    if (!cfg || !vocab) return false;
    snprintf(path, sizeof path, "%s/config.json", dir);
    bool ok = ribo_test_write_file(path, cfg, strlen(cfg));
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    ok = ok && ribo_test_write_file(path, vocab, strlen(vocab));
    free(cfg);
    free(vocab);
    tensor_spec t[32];
    int n = 0;
    t[n++] = (tensor_spec){"esm.embeddings.word_embeddings.weight", 33, H};
    t[n++] = (tensor_spec){"esm.encoder.emb_layer_norm_after.weight", H, 0};
    t[n++] = (tensor_spec){"esm.encoder.emb_layer_norm_after.bias", H, 0};
    const char *l = "esm.encoder.layer.0.";
    const char *qkv[] = {"query", "key", "value"};
    for (int q = 0; q < 3; ++q) {
        tensor_spec w = {"", H, H}, b = {"", H, 0};
        snprintf(w.name, sizeof w.name, "%sattention.self.%s.weight", l, qkv[q]);
        snprintf(b.name, sizeof b.name, "%sattention.self.%s.bias", l, qkv[q]);
        t[n++] = w;
        t[n++] = b;
    }
    struct { const char *name; int rows, cols; } rest[] = {
        {"attention.output.dense.weight", H, H}, {"attention.output.dense.bias", H, 0},
        {"attention.LayerNorm.weight", H, 0},    {"attention.LayerNorm.bias", H, 0},
        {"intermediate.dense.weight", I, H},     {"intermediate.dense.bias", I, 0},
        {"output.dense.weight", H, I},           {"output.dense.bias", H, 0},
        {"LayerNorm.weight", H, 0},              {"LayerNorm.bias", H, 0}};
    for (size_t k = 0; k < sizeof rest / sizeof rest[0]; ++k) {
        snprintf(t[n].name, sizeof t[n].name, "%s%s", l, rest[k].name);
        t[n].rows = rest[k].rows;
        t[n++].cols = rest[k].cols;
    }
    char header[8192];
    size_t hl = 0, off = 0;
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "{");
    for (int k = 0; k < n; ++k) {
        size_t count = (size_t)t[k].rows * (size_t)(t[k].cols ? t[k].cols : 1);
        if (t[k].cols)
            hl += (size_t)snprintf(header + hl, sizeof header - hl,
                                   "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}", k ? "," : "",
                                   t[k].name, t[k].rows, t[k].cols, off, off + 4 * count);
        else
            hl += (size_t)snprintf(header + hl, sizeof header - hl,
                                   "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}", k ? "," : "",
                                   t[k].name, t[k].rows, off, off + 4 * count);
        off += 4 * count;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
    while (hl % 8) header[hl++] = ' ';
    unsigned char *file = malloc(8 + hl + off);
    if (!file) return false;
    uint64_t hl64 = hl;
    memcpy(file, &hl64, 8);
    memcpy(file + 8, header, hl);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < off / 4; ++i) {
        float v = ((float)(next_rand(&s) >> 40) / 16777216.0f - 0.5f);
        memcpy(file + 8 + hl + 4 * i, &v, 4);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ok = ok && ribo_test_write_file(path, file, 8 + hl + off);
    free(file);
    return ok;
}

bool ribo_test_write_random_fasta(const char *path, size_t n, int min_len, int max_len, const char *prefix,
                                  uint64_t seed) {
    static const char aa[] = "ACDEFGHIKLMNPQRSTVWY";
    FILE *f = fopen(path, "w");
    if (!f) return false;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    char seq[4096];
    for (size_t i = 0; i < n; ++i) {
        int len = min_len + (int)(next_rand(&s) % (uint64_t)(max_len - min_len + 1));
        for (int k = 0; k < len; ++k) seq[k] = aa[next_rand(&s) % 20];
        seq[len] = '\0';
        fprintf(f, ">%s%07zu\n%s\n", prefix, i, seq);
    }
    return fclose(f) == 0;
}
