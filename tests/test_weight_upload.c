/* The weights' upload (engine/graph/weight_upload.c) cut into many small chunks on several threads
 * gives byte-identical embeddings to the default upload, for F32 (copied) and BF16 (converted)
 * checkpoints, sharded checkpoints and a DNA model; a NaN is reported with the same tensor and
 * element whichever thread met it, the first in checkpoint order when there are several. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

static char errbuf[8192];

static int run_with(const char *slot_bytes, const char *threads, const char *args) {
    if (slot_bytes) setenv("RIBO_LOAD_SLOT_BYTES", slot_bytes, 1);
    else unsetenv("RIBO_LOAD_SLOT_BYTES");
    if (threads) setenv("RIBO_LOAD_THREADS", threads, 1);
    else unsetenv("RIBO_LOAD_THREADS");
    int rc = ribo_test_run_cli(args, errbuf, sizeof errbuf);
    unsetenv("RIBO_LOAD_SLOT_BYTES");
    unsetenv("RIBO_LOAD_THREADS");
    return rc;
}

static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = ribo_test_read_file(a, &na), *y = ribo_test_read_file(b, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void test_chunked_same_bytes(void) {
    static const struct {
        const char *model, *input;
    } cases[] = {
        {"esm2_a", "short.fasta"},          /* F32 checkpoint: copied */
        {"esm2_b", "short.fasta"},          /* BF16 checkpoint: converted */
        {"esm2_c_sharded", "short.fasta"},  /* two shards */
        {"dnabert2_a", "dna_reads.fasta"},  /* DNA model, fused QKV sources */
    };
    char ref[1100], out[1100], args[4096];
    snprintf(ref, sizeof ref, "%s", ribo_test_tmp("wref.npy"));
    snprintf(out, sizeof out, "%s", ribo_test_tmp("wout.npy"));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        char model[1100];
        snprintf(model, sizeof model, "%s", ribo_test_fixture(cases[c].model));
        snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", model,
                 ribo_test_fixture(cases[c].input), ref);
        CHECK(run_with(NULL, NULL, args) == 0, "%s: reference: %s", cases[c].model, errbuf);
        snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", model,
                 ribo_test_fixture(cases[c].input), out);
        static const char *const threads[] = {"1", "7"};
        for (int t = 0; t < 2; ++t) {
            /* 96-byte slots: thousands of chunks, most tensors split in many */
            CHECK(run_with("96", threads[t], args) == 0, "%s: 96-byte slots, %s threads: %s", cases[c].model, threads[t],
                  errbuf);
            CHECK(same_file(ref, out), "%s: 96-byte slots on %s threads give other embeddings", cases[c].model,
                  threads[t]);
        }
    }
}

/* Copies fixture model dir `name` to dir with NaN written at the given elements of tensor `tensor`. */
static bool write_nan_model(const char *name, const char *dir, const char *tensor, const size_t *elements, int n) {
    mkdir(dir, 0755);
    static const char *const files[] = {"config.json", "vocab.txt", "tokenizer_config.json"};
    char src[1200], dst[1200];
    for (int i = 0; i < 3; ++i) {
        snprintf(src, sizeof src, "%s/%s", ribo_test_fixture(name), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        size_t len = 0;
        char *b = ribo_test_read_file(src, &len);
        if (!b || !ribo_test_write_file(dst, b, len)) return false;
        free(b);
    }
    snprintf(src, sizeof src, "%s/%s/model.safetensors", ribo_test_fixture(""), name);
    size_t len = 0;
    unsigned char *st = (unsigned char *)ribo_test_read_file(src, &len);
    if (!st || len < 8) return false;
    uint64_t hl;
    memcpy(&hl, st, 8);
    char *json = malloc(hl + 1);
    memcpy(json, st + 8, hl);
    json[hl] = 0;
    cJSON *h = cJSON_Parse(json);
    free(json);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(h, tensor);
    const char *dtype = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dtype"));
    cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    bool ok = e && dtype && off;
    size_t begin = ok ? (size_t)cJSON_GetArrayItem(off, 0)->valuedouble : 0;
    for (int i = 0; ok && i < n; ++i) {
        unsigned char *p = st + 8 + hl + begin;
        if (strcmp(dtype, "F32") == 0) {
            const uint32_t nan = 0x7fc00000u;
            memcpy(p + 4 * elements[i], &nan, 4);
        } else {
            const uint16_t nan = 0x7fc0u; /* BF16 */
            memcpy(p + 2 * elements[i], &nan, 2);
        }
    }
    cJSON_Delete(h);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    ok = ok && ribo_test_write_file(dst, st, len);
    free(st);
    return ok;
}

static void test_nan_named(void) {
    char dir[1100], out[1100], args[4096];
    snprintf(out, sizeof out, "%s", ribo_test_tmp("wnan.npy"));
    static const char *const models[] = {"esm2_a", "esm2_b"};
    for (int m = 0; m < 2; ++m) {
        snprintf(dir, sizeof dir, "%s", ribo_test_tmp(m ? "wnan_bf16" : "wnan_f32"));
        /* the query weight of layer 1 is [64, 64]: NaN at 3001 and 4000 */
        const size_t at[] = {4000, 3001};
        CHECK(write_nan_model(models[m], dir, "esm.encoder.layer.1.attention.self.query.weight", at, 2), "%s: writing %s",
              models[m], dir);
        snprintf(args, sizeof args, "embed -q --model '%s' --input '%s' --output '%s'", dir,
                 ribo_test_fixture("short.fasta"), out);
        const char *want = "tensor 'encoder.layer.1.attention.self.query.weight' holds a non-finite value (element 3001)";
        CHECK(run_with(NULL, NULL, args) == 1 && strstr(errbuf, want), "%s: default upload: %s", models[m], errbuf);
        for (int rep = 0; rep < 3; ++rep) {
            CHECK(run_with("64", "7", args) == 1 && strstr(errbuf, want), "%s: 64-byte slots, 7 threads (%d): %s",
                  models[m], rep, errbuf);
            struct stat sb;
            CHECK(stat(out, &sb) != 0, "%s: an output exists after the failed load", models[m]);
        }
    }
}

int main(void) {
    ribo_device *dev;
    ribo_stream *st;
    ribo_test_open_device(&dev, &st); /* the CLI runs need a device: skip cleanly without one */
    ribo_test_close_device(dev, st);
    test_chunked_same_bytes();
    test_nan_named();
    return ribo_test_finish("test_weight_upload");
}
